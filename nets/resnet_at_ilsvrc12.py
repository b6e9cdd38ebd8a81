"""ResNet (v1, 18/34/50 layers) at ILSVRC-12."""

from __future__ import annotations

import keras

from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults
from nets.resnet_imagenet import build_resnet_imagenet, validate_imagenet_resnet_size

DEFAULT_RESNET_SIZE = 18
TINY_BASE_FILTERS = 8


@MODEL_HELPERS.register("resnet_at_ilsvrc12")
class ResnetAtIlsvrc12(ModelHelper):
    """ResNet-``resnet_size`` (default 18) at ILSVRC-12; the tiny variant has 8 base filters.

    Raises:
        ValueError: at construction, if ``config.resnet_size`` is not 18, 34 or 50.
    """

    name = "resnet_at_ilsvrc12"
    default_dataset = "ilsvrc12"

    def __init__(self, config):
        super().__init__(config)
        validate_imagenet_resnet_size(self.resnet_size)

    @property
    def resnet_size(self) -> int:
        """The depth: ``config.resnet_size``, else 18."""
        return self.config.resnet_size or DEFAULT_RESNET_SIZE

    @property
    def model_name(self) -> str:
        prefix = "tiny_" if self.config.tiny else ""
        return f"{prefix}resnet_{self.resnet_size}"

    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        if self.config.tiny:
            return build_resnet_imagenet(input_shape, nb_classes, resnet_size=self.resnet_size,
                                         base_filters=TINY_BASE_FILTERS, name=self.model_name)
        return build_resnet_imagenet(input_shape, nb_classes, resnet_size=self.resnet_size,
                                     name=self.model_name)

    def train_defaults(self) -> TrainDefaults:
        # The original's schedule: 100 epochs, x0.1 at 30/60/80/90, 0.1 per 256 images.
        return TrainDefaults(epochs=100, learning_rate=0.1, reference_batch_size=256, momentum=0.9,
                             weight_decay=1e-4, decay_boundaries=(30, 60, 80, 90),
                             decay_rates=(1.0, 0.1, 0.01, 0.001, 0.0001), batch_size=64,
                             batch_size_eval=100)
