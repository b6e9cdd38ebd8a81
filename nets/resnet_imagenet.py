"""ResNet v1 for ImageNet-sized inputs: ResNet-18/34 (basic blocks) and ResNet-50 (bottlenecks).

Post-activation (v1) like ``nets/resnet_cifar.py``, for the same reasons (BN folding, pruning
surgery). ResNet-50 puts the stride on the 3x3 convolution of its bottleneck ("v1.5", as
torchvision and the TF-official ResNet do). Shortcuts are 1x1 conv + BN projections wherever the
shape changes. Layer names follow the CIFAR ResNet: ``stem_conv``, ``stem_pool``,
``stage3_block1_conv2``, ``stage3_block1_shortcut_conv``, ``logits``.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.blocks import basic_block, classifier_head, conv_bn, projection_shortcut

# depth -> (blocks per stage, uses bottleneck blocks)
IMAGENET_RESNET_STAGES: dict[int, tuple[tuple[int, ...], bool]] = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
}
IMAGENET_RESNET_BASE_FILTERS = 64
BOTTLENECK_EXPANSION = 4


def bottleneck_block(x: keras.KerasTensor, filters: int, strides: int, *,
                     name: str) -> keras.KerasTensor:
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand (x4), shortcut added before the last ReLU.

    Args:
        x: block input.
        filters: channels of the two inner convolutions; the output has ``4 * filters``.
        strides: stride of the 3x3 convolution (and of the projection shortcut).
        name: name prefix, e.g. ``stage2_block1``.
    """
    shortcut = projection_shortcut(x, BOTTLENECK_EXPANSION * filters, strides, name=name)
    x = conv_bn(x, filters, 1, name=name, suffix="1")
    x = conv_bn(x, filters, 3, name=name, suffix="2", strides=strides)
    x = conv_bn(x, BOTTLENECK_EXPANSION * filters, 1, name=name, suffix="3", activation=None)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_relu3")(x)


def validate_imagenet_resnet_size(resnet_size: int) -> None:
    """Raises ``ValueError`` if ``resnet_size`` is not one of the supported ImageNet depths."""
    if resnet_size not in IMAGENET_RESNET_STAGES or isinstance(resnet_size, bool):
        sizes = ", ".join(str(size) for size in IMAGENET_RESNET_STAGES)
        raise ValueError(f"Expected resnet_size in {{{sizes}}} for ImageNet ResNets. "
                         f"Received: resnet_size={resnet_size!r}")


def build_resnet_imagenet(input_shape: tuple[int, int, int], nb_classes: int, *,
                          resnet_size: int = 18,
                          base_filters: int = IMAGENET_RESNET_BASE_FILTERS,
                          name: str | None = None) -> keras.Model:
    """Builds ResNet-18/34/50 v1.

    A 7x7/2 conv-BN-ReLU stem and a 3x3/2 max-pool, four stages (widths ``base_filters`` x 1, 2,
    4, 8; strides 1, 2, 2, 2), global average pooling and a Dense classifier producing logits.
    Any input of at least 32x32 works (the last stage is then 1x1).

    Args:
        input_shape: ``(height, width, channels)``, channels last.
        nb_classes: number of output logits (1001 for the original's ILSVRC-12 labels).
        resnet_size: 18, 34 or 50.
        base_filters: channels of the stem and the first stage (64 in the paper).
        name: model name; ``resnet_<resnet_size>`` by default.

    Raises:
        ValueError: for an unsupported ``resnet_size``.
    """
    validate_imagenet_resnet_size(resnet_size)
    blocks_per_stage, use_bottleneck = IMAGENET_RESNET_STAGES[resnet_size]
    block = bottleneck_block if use_bottleneck else basic_block
    inputs = keras.Input(input_shape, name="images")
    x = conv_bn(inputs, base_filters, 7, name="stem", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage_index, nb_blocks in enumerate(blocks_per_stage, start=1):
        filters = base_filters * 2 ** (stage_index - 1)
        for block_index in range(1, nb_blocks + 1):
            strides = 2 if stage_index > 1 and block_index == 1 else 1
            x = block(x, filters, strides, name=f"stage{stage_index}_block{block_index}")
    outputs = classifier_head(x, nb_classes)
    return keras.Model(inputs, outputs, name=name or f"resnet_{resnet_size}")
