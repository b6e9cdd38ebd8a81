"""Building blocks shared by the nets: conv-BN-activation, residual blocks, classifier head."""

from __future__ import annotations

import keras
from keras import layers

# BatchNorm settings shared by every net here. A momentum of 0.9 (PyTorch's 0.1) lets the moving
# statistics follow the weights within a few hundred steps, which short fine-tuning runs after
# pruning or quantization need; epsilon follows the TF-official ResNet.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5
KERNEL_INITIALIZER = "he_normal"

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
