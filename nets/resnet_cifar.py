"""ResNet v1 (post-activation) for 32x32 inputs, and the conv-BN-activation blocks the nets share.

The original PocketFlow used the TF-official pre-activation (v2) ResNet. We build v1 instead
(conv -> BN -> ReLU, the residual added before the last ReLU) because a BatchNorm that directly
follows its convolution folds into it for int8 TFLite, and conv-BN-ReLU chains are what channel
pruning surgery slices most simply. Downsampling blocks use a 1x1 convolution + BN projection
shortcut (He et al. 2016, option B).

Layer names are stable and readable so that compression plans can refer to them:
``stem_conv``, ``stage2_block1_conv1``, ``stage2_block1_bn1``, ``stage2_block1_relu1``,
``stage2_block1_shortcut_conv``, ``stage2_block1_add``, ``stage2_block1_relu2``, ``avg_pool``,
``logits``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

# BatchNorm settings shared by every net here. A momentum of 0.9 (PyTorch's 0.1) lets the moving
# statistics follow the weights within a few hundred steps, which short fine-tuning runs after
# pruning or quantization need; epsilon follows the TF-official ResNet.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5
KERNEL_INITIALIZER = "he_normal"

CIFAR_RESNET_FILTERS = (16, 32, 64)
TINY_CIFAR_RESNET_FILTERS = (4, 8, 16)
COMMON_CIFAR_RESNET_SIZES = (20, 32, 44, 56, 110)


def batch_norm_activation(x: keras.KerasTensor, *, name: str, suffix: str = "",
                          activation: str | None = "relu") -> keras.KerasTensor:
    """BatchNorm then an optional ReLU / ReLU6 (``<name>_bn<suffix>``, ``<name>_relu<suffix>``).

    Args:
        x: input tensor.
        name: name prefix of the block, e.g. ``stage2_block1``.
        suffix: appended to each layer's kind, e.g. ``"1"`` -> ``stage2_block1_bn1``.
        activation: ``"relu"``, ``"relu6"`` or ``None`` (linear, e.g. before a residual add).

    Raises:
        ValueError: for an unknown activation.
    """
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON,
                                  name=f"{name}_bn{suffix}")(x)
    if activation is None:
        return x
    if activation == "relu":
        return layers.ReLU(name=f"{name}_relu{suffix}")(x)
    if activation == "relu6":
        # ReLU(max_value=6) lowers to TFLite's fused RELU6.
        return layers.ReLU(max_value=6.0, name=f"{name}_relu6{suffix}")(x)
    raise ValueError(f"Expected `activation` in ('relu', 'relu6', None). Received: {activation!r}")


def conv_bn(x: keras.KerasTensor, filters: int, kernel_size: int, *, name: str, suffix: str = "",
            strides: int = 1, activation: str | None = "relu") -> keras.KerasTensor:
    """Conv2D (no bias, ``same`` padding) -> BatchNorm -> optional activation.

    Layers are named ``<name>_conv<suffix>``, ``<name>_bn<suffix>`` and
    ``<name>_<activation><suffix>``.

    Args:
        x: input tensor.
        filters: output channels.
        kernel_size: square kernel size.
        name: name prefix of the block.
        suffix: appended to each layer's kind.
        strides: convolution stride.
        activation: ``"relu"``, ``"relu6"`` or ``None``.
    """
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer=KERNEL_INITIALIZER, name=f"{name}_conv{suffix}")(x)
    return batch_norm_activation(x, name=name, suffix=suffix, activation=activation)


def projection_shortcut(x: keras.KerasTensor, filters: int, strides: int, *,
                        name: str) -> keras.KerasTensor:
    """The residual branch's identity, or a 1x1 conv + BN projection when the shape changes.

    Args:
        x: block input.
        filters: channels of the block output.
        strides: stride of the block.
        name: name prefix of the block; the projection is ``<name>_shortcut_conv`` / ``_bn``.
    """
    if strides == 1 and x.shape[-1] == filters:
        return x
    return conv_bn(x, filters, 1, name=f"{name}_shortcut", strides=strides, activation=None)


def basic_block(x: keras.KerasTensor, filters: int, strides: int, *,
                name: str) -> keras.KerasTensor:
    """Two 3x3 conv-BN, the shortcut added before the last ReLU (ResNet v1 basic block).

    Args:
        x: block input.
        filters: channels of both convolutions.
        strides: stride of the first convolution (and of the projection shortcut).
        name: name prefix, e.g. ``stage2_block1``.
    """
    shortcut = projection_shortcut(x, filters, strides, name=name)
    x = conv_bn(x, filters, 3, name=name, suffix="1", strides=strides)
    x = conv_bn(x, filters, 3, name=name, suffix="2", activation=None)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_relu2")(x)


def classifier_head(x: keras.KerasTensor, nb_classes: int) -> keras.KerasTensor:
    """Global average pooling then the ``logits`` Dense layer (no softmax)."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(nb_classes, name="logits")(x)


def validate_cifar_resnet_size(resnet_size: int) -> int:
    """Returns the number of blocks per stage, ``n`` for a depth ``6n + 2``.

    Raises:
        ValueError: if ``resnet_size`` is not ``6n + 2`` with ``n >= 1``.
    """
    if isinstance(resnet_size, bool) or not isinstance(resnet_size, int) \
            or resnet_size < 8 or (resnet_size - 2) % 6:
        sizes = ", ".join(str(size) for size in COMMON_CIFAR_RESNET_SIZES)
        raise ValueError(f"Expected resnet_size in {{{sizes}, ...}} (6n+2 with n >= 1) for "
                         f"CIFAR ResNets. Received: resnet_size={resnet_size!r}")
    return (resnet_size - 2) // 6


def build_resnet_cifar(input_shape: tuple[int, int, int], nb_classes: int, *,
                       resnet_size: int = 20, filters: Sequence[int] = CIFAR_RESNET_FILTERS,
                       name: str | None = None) -> keras.Model:
    """Builds a CIFAR ResNet v1 of depth ``6n + 2``.

    A 3x3 conv-BN-ReLU stem, three stages of ``n`` basic blocks (strides 1, 2, 2), global average
    pooling and a Dense classifier producing logits.

    Args:
        input_shape: ``(height, width, channels)``, channels last.
        nb_classes: number of output logits.
        resnet_size: depth, ``6n + 2`` (20, 32, 44, 56, 110, ...).
        filters: channels of the three stages (the stem has ``filters[0]``).
        name: model name; ``resnet_<resnet_size>`` by default.

    Raises:
        ValueError: if ``resnet_size`` is not ``6n + 2`` or ``filters`` does not have 3 entries.
    """
    blocks_per_stage = validate_cifar_resnet_size(resnet_size)
    if len(filters) != 3:
        raise ValueError(f"Expected 3 stage widths in `filters`. Received: filters={filters}")
    inputs = keras.Input(input_shape, name="images")
    x = conv_bn(inputs, filters[0], 3, name="stem")
    for stage_index, stage_filters in enumerate(filters, start=1):
        for block_index in range(1, blocks_per_stage + 1):
            strides = 2 if stage_index > 1 and block_index == 1 else 1
            x = basic_block(x, stage_filters, strides,
                            name=f"stage{stage_index}_block{block_index}")
    outputs = classifier_head(x, nb_classes)
    return keras.Model(inputs, outputs, name=name or f"resnet_{resnet_size}")
