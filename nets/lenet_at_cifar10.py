"""LeNet at CIFAR-10 (the original's ``lenet_at_cifar10``)."""

from __future__ import annotations

import keras

from nets.lenet import build_lenet
from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults

TINY_FILTERS = (4, 8)
TINY_UNITS = 16


@MODEL_HELPERS.register("lenet_at_cifar10")
class LenetAtCifar10(ModelHelper):
    """LeNet (conv 32/64, FC 256) at CIFAR-10; the tiny variant has 4/8 filters and 16 units.

    ``LenetAtMnist`` reuses this network and schedule for MNIST.
    """

    name = "lenet_at_cifar10"
    default_dataset = "cifar10"

    @property
    def model_name(self) -> str:
        return "tiny_lenet" if self.config.tiny else "lenet"

    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        if self.config.tiny:
            return build_lenet(input_shape, nb_classes, filters=TINY_FILTERS, units=TINY_UNITS,
                               name=self.model_name)
        return build_lenet(input_shape, nb_classes, name=self.model_name)

    def train_defaults(self) -> TrainDefaults:
        # The original's schedule: 250 epochs, x0.1 at 100/150/200.
        return TrainDefaults(epochs=250, learning_rate=1e-2, reference_batch_size=128, momentum=0.9,
                             weight_decay=5e-4, decay_boundaries=(100, 150, 200),
                             decay_rates=(1.0, 0.1, 0.01, 0.001), batch_size=128,
                             batch_size_eval=100)
