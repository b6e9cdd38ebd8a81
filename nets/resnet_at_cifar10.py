"""ResNet (v1, 6n+2 layers) at CIFAR-10."""

from __future__ import annotations

import keras

from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults
from nets.resnet_cifar import (
    CIFAR_RESNET_FILTERS,
    TINY_CIFAR_RESNET_FILTERS,
    build_resnet_cifar,
    validate_cifar_resnet_size,
)

DEFAULT_RESNET_SIZE = 20
TINY_RESNET_SIZE = 8


@MODEL_HELPERS.register("resnet_at_cifar10")
class ResnetAtCifar10(ModelHelper):
    """ResNet-``resnet_size`` (default 20) at CIFAR-10; tiny: ResNet-8 with 4/8/16 filters.

    Raises:
        ValueError: at construction, if ``config.resnet_size`` is not ``6n + 2``.
    """

    name = "resnet_at_cifar10"
    default_dataset = "cifar10"

    def __init__(self, config):
        super().__init__(config)
        validate_cifar_resnet_size(self.resnet_size)

    @property
    def resnet_size(self) -> int:
        """The depth: ``config.resnet_size``, else 20 (8 for the tiny variant)."""
        if self.config.resnet_size is not None:
            return self.config.resnet_size
        return TINY_RESNET_SIZE if self.config.tiny else DEFAULT_RESNET_SIZE

    @property
    def model_name(self) -> str:
        prefix = "tiny_" if self.config.tiny else ""
        return f"{prefix}resnet_{self.resnet_size}"

    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        filters = TINY_CIFAR_RESNET_FILTERS if self.config.tiny else CIFAR_RESNET_FILTERS
        return build_resnet_cifar(input_shape, nb_classes, resnet_size=self.resnet_size,
                                  filters=filters, name=self.model_name)

    def train_defaults(self) -> TrainDefaults:
        # The original trained 250 epochs with x0.1 decays at 100/150/200. He et al.'s schedule
        # (64k iterations at batch 128: ~164 epochs, decays at 82/123) is enough for ResNet-20,
        # so we default to 160 epochs decayed at 80/120; `--nb_epochs_rat` scales the
        # epochs and the boundaries together (e.g. 250/160 restores the original's budget).
        return TrainDefaults(epochs=160, learning_rate=0.1, reference_batch_size=128, momentum=0.9,
                             weight_decay=2e-4, decay_boundaries=(80, 120),
                             decay_rates=(1.0, 0.1, 0.01), batch_size=128,
                             batch_size_eval=100)
