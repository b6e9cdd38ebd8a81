"""ConvNet at Fashion-MNIST (the original's ``examples/convnet_at_fmnist``)."""

from __future__ import annotations

import keras

from nets.convnet import build_convnet
from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults

TINY_FILTERS = (4, 8)
TINY_UNITS = 16


@MODEL_HELPERS.register("convnet_at_fmnist")
class ConvnetAtFmnist(ModelHelper):
    """The 4-layer ConvNet at Fashion-MNIST; the tiny variant has 4/8 filters, 16 hidden units."""

    name = "convnet_at_fmnist"
    default_dataset = "fmnist"

    @property
    def model_name(self) -> str:
        return "tiny_convnet" if self.config.tiny else "convnet"

    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        if self.config.tiny:
            return build_convnet(input_shape, nb_classes, filters=TINY_FILTERS, units=TINY_UNITS,
                                 name=self.model_name)
        return build_convnet(input_shape, nb_classes, name=self.model_name)

    def train_defaults(self) -> TrainDefaults:
        # The original's schedule: 160 epochs, x0.1 at 40/80/120.
        return TrainDefaults(epochs=160, learning_rate=0.1, reference_batch_size=128, momentum=0.9,
                             weight_decay=3e-4, decay_boundaries=(40, 80, 120),
                             decay_rates=(1.0, 0.1, 0.01, 0.001), batch_size=128,
                             batch_size_eval=100)
