"""ResNet at CIFAR-10: architecture, parameter count by hand, depth validation, defaults."""

import pytest

from nets import NetConfig, create_model_helper


def _resnet_cifar_params(blocks_per_stage: int, widths=(16, 32, 64), nb_classes: int = 10) -> int:
    """Parameters of a v1 CIFAR ResNet with 1x1 projection shortcuts, counted layer by layer.

    Convolutions have no bias; each BatchNorm holds 4 values per channel (gamma, beta, moving mean
    and variance); the classifier is a Dense with bias.
    """
    def bn(channels):
        return 4 * channels

    total = 3 * 3 * 3 * widths[0] + bn(widths[0])  # stem conv 3x3, 3 -> 16
    in_channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            total += 3 * 3 * in_channels * width + bn(width)  # conv1
            total += 3 * 3 * width * width + bn(width)  # conv2
            if in_channels != width:  # first block of stages 2 and 3: 1x1 projection
                total += in_channels * width + bn(width)
            in_channels = width
    return total + widths[-1] * nb_classes + nb_classes


def test_resnet20_parameter_count_matches_hand_count():
    model = create_model_helper("resnet_at_cifar10", NetConfig()).build_model((32, 32, 3), 10)
    # Written out: convs 432 + 6*2304 + (4608 + 9216 + 512) + 4*9216 + (18432 + 36864 + 2048)
    # + 4*36864 = 270,256; BN 4*(16*7 + 32*7 + 64*7) = 3,136; Dense 64*10 + 10 = 650.
    assert _resnet_cifar_params(3) == 270_256 + 3_136 + 650 == 274_042
    assert model.count_params() == 274_042
    assert model.name == "resnet_20"
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("resnet_size", [32, 56])
def test_deeper_resnets_parameter_count(resnet_size):
    helper = create_model_helper("resnet_at_cifar10", NetConfig(resnet_size=resnet_size))
    model = helper.build_model((32, 32, 3), 10)
    assert helper.model_name == f"resnet_{resnet_size}"
    assert model.count_params() == _resnet_cifar_params((resnet_size - 2) // 6)


def test_resnet20_layer_names_are_stable():
    model = create_model_helper("resnet_at_cifar10", NetConfig()).build_model((32, 32, 3), 10)
    names = {layer.name for layer in model.layers}
    expected = {"images", "stem_conv", "stem_bn", "stem_relu", "stage1_block1_conv1",
                "stage2_block1_conv1", "stage2_block1_bn1", "stage2_block1_relu1",
                "stage2_block1_conv2", "stage2_block1_bn2", "stage2_block1_shortcut_conv",
                "stage2_block1_shortcut_bn", "stage2_block1_add", "stage2_block1_relu2",
                "stage3_block3_relu2", "avg_pool", "logits"}
    assert expected <= names
    assert "stage1_block1_shortcut_conv" not in names  # identity shortcut where shapes match
    assert model.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert model.get_layer("stage2_block1_conv1").use_bias is False


def test_tiny_resnet_is_resnet8_with_narrow_stages():
    helper = create_model_helper("resnet_at_cifar10", NetConfig(tiny=True))
    model = helper.build_model((32, 32, 3), 10)
    assert helper.model_name == "tiny_resnet_8"
    assert model.count_params() == _resnet_cifar_params(1, widths=(4, 8, 16))
    assert model.get_layer("stage3_block1_conv2").filters == 16


@pytest.mark.parametrize("resnet_size", [21, 18, 2])
def test_invalid_resnet_size_is_rejected(resnet_size):
    expected = (r"Expected resnet_size in \{20, 32, 44, 56, 110, \.\.\.\}.*"
                rf"Received: resnet_size={resnet_size}")
    with pytest.raises(ValueError, match=expected):
        create_model_helper("resnet_at_cifar10", NetConfig(resnet_size=resnet_size))


def test_train_defaults_use_modern_budget():
    defaults = create_model_helper("resnet_at_cifar10", NetConfig()).train_defaults()
    assert defaults.epochs == 160
    assert defaults.decay_boundaries == (80, 120)
    assert defaults.decay_rates == (1.0, 0.1, 0.01)
    assert (defaults.learning_rate, defaults.reference_batch_size, defaults.momentum,
            defaults.weight_decay) == (0.1, 128, 0.9, 2e-4)
    assert (defaults.batch_size, defaults.batch_size_eval) == (128, 100)
