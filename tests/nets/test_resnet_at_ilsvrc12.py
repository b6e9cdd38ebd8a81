"""ResNet at ILSVRC-12: published parameter counts, block structure, depth validation."""

import math

import pytest

from nets import NetConfig, create_model_helper


def _trainable_params(model) -> int:
    return sum(math.prod(tuple(weight.shape)) for weight in model.trainable_weights)


# torchvision's published counts for the same architectures (v1, stride on the 3x3 of the
# bottleneck, bias-free convolutions, 1x1 projection shortcuts, 1000 classes). torchvision counts
# BatchNorm's gamma and beta as parameters and its moving statistics as buffers, i.e. exactly our
# trainable weights, so the counts must match to the unit.
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


@pytest.mark.parametrize("resnet_size", [18, 34, 50])
def test_trainable_parameters_match_torchvision(resnet_size):
    helper = create_model_helper("resnet_at_ilsvrc12", NetConfig(resnet_size=resnet_size))
    # Parameter counts do not depend on the input size; 64x64 builds faster than 224x224.
    model = helper.build_model((64, 64, 3), 1000)
    assert _trainable_params(model) == TORCHVISION_PARAMS[resnet_size]
    assert model.name == f"resnet_{resnet_size}"


def test_resnet18_structure():
    model = create_model_helper("resnet_at_ilsvrc12", NetConfig()).build_model((224, 224, 3), 1001)
    assert model.name == "resnet_18"
    assert model.get_layer("stem_conv").kernel_size == (7, 7)
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("stem_pool").output.shape == (None, 56, 56, 64)
    assert model.get_layer("stage4_block2_relu2").output.shape == (None, 7, 7, 512)
    assert model.get_layer("stage2_block1_shortcut_conv").strides == (2, 2)
    with pytest.raises(ValueError):
        model.get_layer("stage1_block1_shortcut_conv")  # identity where the shape is unchanged
    assert model.output_shape == (None, 1001)


def test_resnet50_bottleneck_strides_on_3x3_and_projects_first_block():
    model = create_model_helper("resnet_at_ilsvrc12", NetConfig(resnet_size=50)).build_model(
        (64, 64, 3), 10)
    assert model.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert model.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert model.get_layer("stage1_block1_shortcut_conv").filters == 256  # 64 -> 4 * 64
    assert model.get_layer("stage4_block3_conv3").filters == 2048


def test_tiny_variant_builds_for_small_inputs():
    helper = create_model_helper("resnet_at_ilsvrc12", NetConfig(tiny=True))
    model = helper.build_model((32, 32, 3), 10)
    assert helper.model_name == "tiny_resnet_18"
    assert model.get_layer("stem_conv").filters == 8
    assert model.get_layer("stage4_block2_relu2").output.shape == (None, 1, 1, 64)


@pytest.mark.parametrize("resnet_size", [20, 101])
def test_unsupported_resnet_size_is_rejected(resnet_size):
    with pytest.raises(ValueError, match=r"Expected resnet_size in \{18, 34, 50\}.*"
                                         rf"Received: resnet_size={resnet_size}"):
        create_model_helper("resnet_at_ilsvrc12", NetConfig(resnet_size=resnet_size))
