"""The original's example ConvNet for Fashion-MNIST, without the softmax inside.

conv5x5(32, same) + ReLU + max-pool, conv5x5(64) + ReLU + max-pool, FC 1024 + ReLU, FC logits:
the LeNet-like topology of ``nets/lenet.py`` with a wider hidden layer, so it reuses that builder.
"""

from __future__ import annotations

import keras

from nets.lenet import build_lenet

CONVNET_FILTERS = (32, 64)
CONVNET_UNITS = 1024


def build_convnet(input_shape: tuple[int, int, int], nb_classes: int, *,
                  filters: tuple[int, int] = CONVNET_FILTERS, units: int = CONVNET_UNITS,
                  name: str = "convnet") -> keras.Model:
    """Builds the ConvNet (layers ``conv1``, ``pool1``, ``conv2``, ``pool2``, ``flatten``, ``fc3``,
    ``logits``).

    Args:
        input_shape: ``(height, width, channels)``, e.g. ``(28, 28, 1)``.
        nb_classes: number of output logits.
        filters: filters of the two 5x5 convolutions.
        units: width of the hidden dense layer.
        name: model name.
    """
    return build_lenet(input_shape, nb_classes, filters=filters, units=units, name=name)
