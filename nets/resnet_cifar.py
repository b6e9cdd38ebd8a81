"""ResNet v1 (post-activation) for 32x32 inputs (CIFAR-10).

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

from nets.blocks import basic_block, classifier_head, conv_bn

CIFAR_RESNET_FILTERS = (16, 32, 64)
TINY_CIFAR_RESNET_FILTERS = (4, 8, 16)
COMMON_CIFAR_RESNET_SIZES = (20, 32, 44, 56, 110)


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
