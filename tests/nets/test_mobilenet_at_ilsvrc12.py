"""MobileNet v1/v2 at ILSVRC-12: published parameter counts, width rounding, blocks, schedules."""

import math

import pytest

from nets import NetConfig, create_model_helper
from nets.mobilenet import make_divisible

# Parameter counts (all weights, BatchNorm moving statistics included) of the reference Keras
# implementations, `keras.applications.MobileNet(weights=None)` / `MobileNetV2(weights=None)` with
# 1000 classes at width multiplier alpha: the architectures are the papers' (MobileNet v1: 4.2M
# trainable, "569M mult-adds"; v2: 3.4M, "300M"). Same layers, so the counts must match exactly;
# with the original's 1001 classes add one classifier row: 1024 + 1 (v1) or 1280 + 1 (v2).
KERAS_APPLICATIONS_PARAMS = {
    (1, 1.0): 4_253_864, (1, 0.5): 1_342_536, (1, 0.25): 475_544,
    (2, 1.0): 3_538_984, (2, 0.5): 1_987_224, (2, 1.4): 6_156_712,
}


def _build(version, multiplier=1.0, nb_classes=1000, shape=(96, 96, 3), tiny=False):
    config = NetConfig(mobilenet_version=version, mobilenet_depth_mult=multiplier, tiny=tiny)
    helper = create_model_helper("mobilenet_at_ilsvrc12", config)
    return helper, helper.build_model(shape, nb_classes)


@pytest.mark.parametrize("version, multiplier", sorted(KERAS_APPLICATIONS_PARAMS))
def test_parameter_counts_match_reference(version, multiplier):
    # Parameter counts do not depend on the input size; 96x96 builds faster than 224x224.
    _, model = _build(version, multiplier)
    assert model.count_params() == KERAS_APPLICATIONS_PARAMS[(version, multiplier)]


def test_published_trainable_counts_with_1001_classes():
    _, v1 = _build(1, nb_classes=1001)
    _, v2 = _build(2, nb_classes=1001)
    assert v1.count_params() == 4_253_864 + 1_025
    assert v2.count_params() == 3_538_984 + 1_281
    trainable_v1 = sum(math.prod(tuple(w.shape)) for w in v1.trainable_weights)
    trainable_v2 = sum(math.prod(tuple(w.shape)) for w in v2.trainable_weights)
    # Papers: 4.2M and 3.4M, rounded to 0.1M; slim's v2 checkpoint (1001 classes) reports 3.47M.
    assert abs(trainable_v1 - 4.2e6) < 0.05e6
    assert abs(trainable_v2 - 3.47e6) < 0.05e6


def test_make_divisible_follows_reference_rule():
    assert make_divisible(32 * 1.0) == 32
    assert make_divisible(16 * 0.35) == 8  # never below the divisor
    assert make_divisible(24 * 0.75) == 24  # 18 rounds to 16, which loses > 10 %, so 24
    assert make_divisible(1280 * 1.4) == 1792
    assert make_divisible(320 * 0.5) == 160


def test_mobilenet_v1_structure():
    helper, model = _build(1, shape=(224, 224, 3), nb_classes=1001)
    assert helper.model_name == "mobilenet_v1"
    depthwise = [layer for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert len(depthwise) == 13
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("block13_pointwise_relu6").output.shape == (None, 7, 7, 1024)
    assert model.get_layer("block1_depthwise").use_bias is False


def test_mobilenet_v2_structure():
    helper, model = _build(2, shape=(224, 224, 3), nb_classes=1001)
    assert helper.model_name == "mobilenet_v2"
    adds = [layer.name for layer in model.layers if type(layer).__name__ == "Add"]
    # Residuals in the repeated blocks of stages 2-6 (1 + 2 + 3 + 2 + 2); none in 1 and 7.
    assert len(adds) == 10
    assert "block1_expand_conv" not in {layer.name for layer in model.layers}  # expansion 1
    assert model.get_layer("block2_expand_conv").filters == 6 * 16
    assert model.get_layer("block17_project_bn").output.shape == (None, 7, 7, 320)
    assert model.get_layer("head_conv").filters == 1280
    assert model.get_layer("block17_project_conv").get_config()["activation"] == "linear"


def test_width_multiplier_scales_channels_and_model_name():
    helper, model = _build(2, multiplier=0.5)
    assert helper.model_name == "mobilenet_v2_0.5"
    assert model.get_layer("stem_conv").filters == 16
    assert model.get_layer("head_conv").filters == 1280  # only widened above 1.0
    helper, model = _build(1, multiplier=0.5)
    assert model.get_layer("block13_pointwise_conv").filters == 512


@pytest.mark.parametrize("version", [1, 2])
def test_tiny_variants_are_small(version):
    helper, model = _build(version, shape=(32, 32, 3), nb_classes=10, tiny=True)
    assert helper.model_name == f"tiny_mobilenet_v{version}"
    assert model.count_params() < 200_000
    assert model.output_shape == (None, 10)


def test_schedules():
    v1 = create_model_helper("mobilenet_at_ilsvrc12", NetConfig()).train_defaults()
    assert (v1.epochs, v1.decay_boundaries) == (100, (30, 60, 80, 90))
    assert v1.decay_rates == (1.0, 0.1, 0.01, 0.001, 0.0001)
    v2 = create_model_helper("mobilenet_at_ilsvrc12",
                             NetConfig(mobilenet_version=2)).train_defaults()
    # The original's staircase decay: x0.98**2.5 every 2.5 epochs over 412 epochs.
    assert v2.epochs == 412
    assert (v2.learning_rate_schedule, v2.decay_epochs) == ("exponential", 2.5)
    assert v2.decay_rate == pytest.approx(0.98 ** 2.5)
    assert (v2.learning_rate, v2.reference_batch_size, v2.weight_decay) == (0.045, 96, 4e-5)
