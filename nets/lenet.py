"""LeNet-like network (the original's ``lenet_at_cifar10``), without the softmax inside."""

from __future__ import annotations

import keras
from keras import layers


def build_lenet(input_shape: tuple[int, int, int], nb_classes: int, *, filters=(32, 64),
                units: int = 256, name: str = "lenet") -> keras.Model:
    """conv5x5 -> ReLU -> max-pool, twice, then a hidden dense layer and the classifier.

    Args:
        input_shape: ``(height, width, channels)``.
        nb_classes: number of output logits.
        filters: filters of the two convolutions.
        units: width of the hidden dense layer.
        name: model name.
    """
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, nb_filters in enumerate(filters, start=1):
        x = layers.Conv2D(nb_filters, 5, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="fc3")(x)
    outputs = layers.Dense(nb_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
