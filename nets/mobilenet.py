"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018) with a depth (width) multiplier.

Channel counts are scaled as in the papers' reference code: v1 keeps ``max(int(c * mult), 8)``
(slim's ``min_depth``); v2 rounds ``c * mult`` to a multiple of 8 (``make_divisible``) and widens
its last 1x1 convolution beyond 1280 only for multipliers above 1. The stride-2 convolutions use
``same`` padding (TF's bottom/right padding), which TFLite runs without an extra pad op.

Layer names: ``stem_conv``/``stem_bn``/``stem_relu6``, then per block ``block<i>_expand_*`` (v2),
``block<i>_depthwise`` + ``block<i>_depthwise_bn``/``_relu6``, ``block<i>_project_*`` (v2) or
``block<i>_pointwise_*`` (v1), ``block<i>_add`` (v2 residuals), ``head_conv`` (v2), ``avg_pool``,
``logits``.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.blocks import KERNEL_INITIALIZER, batch_norm_activation, classifier_head, conv_bn

# (output channels, stride) of MobileNet v1's 13 depthwise-separable blocks (paper, Table 1).
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
MOBILENET_V1_STEM_CHANNELS = 32
MOBILENET_V1_MIN_CHANNELS = 8

# (expansion t, output channels c, repeats n, first stride s) of MobileNet v2 (paper, Table 2).
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
MOBILENET_V2_STEM_CHANNELS = 32
MOBILENET_V2_HEAD_CHANNELS = 1280
MOBILENET_V2_DIVISOR = 8


def make_divisible(value: float, divisor: int = MOBILENET_V2_DIVISOR) -> int:
    """Rounds ``value`` to the nearest multiple of ``divisor``, losing at most 10 % of it.

    The rule of the MobileNet v2 reference code (slim ``_make_divisible``).
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def depthwise_bn(x: keras.KerasTensor, strides: int, *, name: str,
                 activation: str | None = "relu6") -> keras.KerasTensor:
    """3x3 DepthwiseConv2D (no bias) -> BN -> activation, named ``<name>_depthwise[_bn|_relu6]``."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               depthwise_initializer=KERNEL_INITIALIZER,
                               name=f"{name}_depthwise")(x)
    return batch_norm_activation(x, name=f"{name}_depthwise", activation=activation)


def _validate_depth_multiplier(depth_multiplier: float) -> None:
    if depth_multiplier <= 0:
        raise ValueError("Expected `depth_multiplier` > 0. "
                         f"Received: depth_multiplier={depth_multiplier}")


def build_mobilenet_v1(input_shape: tuple[int, int, int], nb_classes: int, *,
                       depth_multiplier: float = 1.0, activation: str = "relu6",
                       name: str = "mobilenet_v1") -> keras.Model:
    """Builds MobileNet v1: a 3x3/2 conv, 13 depthwise-separable blocks, GAP and a Dense classifier.

    Args:
        input_shape: ``(height, width, channels)``, channels last (any size >= 32).
        nb_classes: number of output logits (1001 for the original's ILSVRC-12 labels).
        depth_multiplier: width multiplier; channels become ``max(int(c * mult), 8)``.
        activation: ``"relu6"`` (the reference) or ``"relu"``.
        name: model name.

    Raises:
        ValueError: if ``depth_multiplier`` is not positive.
    """
    _validate_depth_multiplier(depth_multiplier)

    def scaled(channels: int) -> int:
        return max(int(channels * depth_multiplier), MOBILENET_V1_MIN_CHANNELS)

    inputs = keras.Input(input_shape, name="images")
    x = conv_bn(inputs, scaled(MOBILENET_V1_STEM_CHANNELS), 3, name="stem", strides=2,
                activation=activation)
    for index, (channels, strides) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        block_name = f"block{index}"
        x = depthwise_bn(x, strides, name=block_name, activation=activation)
        x = conv_bn(x, scaled(channels), 1, name=f"{block_name}_pointwise", activation=activation)
    outputs = classifier_head(x, nb_classes)
    return keras.Model(inputs, outputs, name=name)


def inverted_residual_block(x: keras.KerasTensor, expansion: int, channels: int, strides: int, *,
                            name: str) -> keras.KerasTensor:
    """MobileNet v2 block: 1x1 expand -> 3x3 depthwise -> linear 1x1 project (+ residual).

    The expansion convolution is omitted when ``expansion == 1``; the input is added back when
    the stride is 1 and the channel count is unchanged.

    Args:
        x: block input.
        expansion: expansion factor of the hidden width.
        channels: output channels.
        strides: stride of the depthwise convolution.
        name: name prefix, e.g. ``block3``.
    """
    inputs = x
    if expansion != 1:
        x = conv_bn(x, expansion * x.shape[-1], 1, name=f"{name}_expand", activation="relu6")
    x = depthwise_bn(x, strides, name=name)
    x = conv_bn(x, channels, 1, name=f"{name}_project", activation=None)
    if strides == 1 and inputs.shape[-1] == channels:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def build_mobilenet_v2(input_shape: tuple[int, int, int], nb_classes: int, *,
                       depth_multiplier: float = 1.0, head_channels: int | None = None,
                       name: str = "mobilenet_v2") -> keras.Model:
    """Builds MobileNet v2: a 3x3/2 conv, 17 inverted residual blocks, a 1x1 conv, GAP and Dense.

    Args:
        input_shape: ``(height, width, channels)``, channels last (any size >= 32).
        nb_classes: number of output logits.
        depth_multiplier: width multiplier; channels become ``make_divisible(c * mult, 8)``.
        head_channels: channels of the last 1x1 convolution; by default 1280, scaled (rounded
            to 8) when ``depth_multiplier > 1`` as in the paper.
        name: model name.

    Raises:
        ValueError: if ``depth_multiplier`` is not positive.
    """
    _validate_depth_multiplier(depth_multiplier)
    if head_channels is None:
        head_channels = MOBILENET_V2_HEAD_CHANNELS
        if depth_multiplier > 1.0:
            head_channels = make_divisible(MOBILENET_V2_HEAD_CHANNELS * depth_multiplier)

    inputs = keras.Input(input_shape, name="images")
    x = conv_bn(inputs, make_divisible(MOBILENET_V2_STEM_CHANNELS * depth_multiplier), 3,
                name="stem", strides=2, activation="relu6")
    index = 0
    for expansion, channels, repeats, first_stride in MOBILENET_V2_STAGES:
        for repeat in range(repeats):
            index += 1
            x = inverted_residual_block(x, expansion, make_divisible(channels * depth_multiplier),
                                        first_stride if repeat == 0 else 1, name=f"block{index}")
    x = conv_bn(x, head_channels, 1, name="head", activation="relu6")
    outputs = classifier_head(x, nb_classes)
    return keras.Model(inputs, outputs, name=name)
