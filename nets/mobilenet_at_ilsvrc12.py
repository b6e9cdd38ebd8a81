"""MobileNet v1 / v2 at ILSVRC-12."""

from __future__ import annotations

import keras

from nets.mobilenet import build_mobilenet_v1, build_mobilenet_v2
from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults

# The tiny variants keep every block but only a few channels per layer.
TINY_V1_DEPTH_MULTIPLIER = 0.125
TINY_V2_DEPTH_MULTIPLIER = 0.25
TINY_V2_HEAD_CHANNELS = 64

# MobileNet v2's original schedule: 412 epochs, the rate multiplied by 0.98 ** 2.5 every 2.5
# epochs (staircase exponential decay, i.e. 0.98 per epoch).
V2_NB_EPOCHS = 412
V2_DECAY_EPOCHS = 2.5
V2_DECAY_RATE = 0.98 ** 2.5


@MODEL_HELPERS.register("mobilenet_at_ilsvrc12")
class MobilenetAtIlsvrc12(ModelHelper):
    """MobileNet ``config.mobilenet_version`` at width ``config.mobilenet_depth_mult``.

    The tiny variants ignore the multiplier: v1 at 0.125, v2 at 0.25 with a 64-channel head.
    """

    name = "mobilenet_at_ilsvrc12"
    default_dataset = "ilsvrc12"

    @property
    def model_name(self) -> str:
        """``mobilenet_v<version>``, with ``_<multiplier>`` appended when it is not 1."""
        if self.config.tiny:
            return f"tiny_mobilenet_v{self.config.mobilenet_version}"
        name = f"mobilenet_v{self.config.mobilenet_version}"
        if self.config.mobilenet_depth_mult != 1.0:
            name += f"_{self.config.mobilenet_depth_mult:g}"
        return name

    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        if self.config.mobilenet_version == 1:
            multiplier = (TINY_V1_DEPTH_MULTIPLIER if self.config.tiny
                          else self.config.mobilenet_depth_mult)
            return build_mobilenet_v1(input_shape, nb_classes, depth_multiplier=multiplier,
                                      name=self.model_name)
        if self.config.tiny:
            return build_mobilenet_v2(input_shape, nb_classes,
                                      depth_multiplier=TINY_V2_DEPTH_MULTIPLIER,
                                      head_channels=TINY_V2_HEAD_CHANNELS, name=self.model_name)
        return build_mobilenet_v2(input_shape, nb_classes,
                                  depth_multiplier=self.config.mobilenet_depth_mult,
                                  name=self.model_name)

    def train_defaults(self) -> TrainDefaults:
        common = {"learning_rate": 0.045, "reference_batch_size": 96, "momentum": 0.9,
                  "weight_decay": 4e-5, "batch_size": 64, "batch_size_eval": 100}
        if self.config.mobilenet_version == 1:
            return TrainDefaults(epochs=100, decay_boundaries=(30, 60, 80, 90),
                                 decay_rates=(1.0, 0.1, 0.01, 0.001, 0.0001), **common)
        return TrainDefaults(epochs=V2_NB_EPOCHS, learning_rate_schedule="exponential",
                             decay_epochs=V2_DECAY_EPOCHS, decay_rate=V2_DECAY_RATE,
                             decay_boundaries=(), decay_rates=(1.0,), **common)
