"""Tests of export.converter: float parity, BatchNorm folding, calibration checks."""

import keras
import numpy as np
import pytest
from keras import layers

from export.accuracy import max_abs_logit_diff
from export.audit import audit_int8
from export.converter import convert_float, convert_int8


def conv_bn_model():
    """conv (no bias) -> BatchNorm with non-trivial statistics -> ReLU -> pool -> dense."""
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(6, 3, padding="same", use_bias=False)(inputs)
    batch_norm = layers.BatchNormalization()
    x = layers.ReLU()(batch_norm(x))
    x = layers.MaxPooling2D(2)(x)
    outputs = layers.Dense(10)(layers.Flatten()(x))
    generator = np.random.default_rng(0)
    batch_norm.set_weights([generator.uniform(0.5, 1.5, 6), generator.normal(size=6),
                            generator.normal(size=6), generator.uniform(0.5, 1.5, 6)])
    return keras.Model(inputs, outputs)


def test_float_tflite_matches_keras_on_digits(trained_lenet, float_model, eval_images):
    assert max_abs_logit_diff(trained_lenet, float_model, eval_images) <= 1e-4


def test_batchnorm_is_folded_into_the_convolution(digits):
    model = conv_bn_model()
    images = digits.calibration_images(64)
    float_model = convert_float(model)
    assert max_abs_logit_diff(model, float_model, images) <= 1e-4
    report = audit_int8(convert_int8(model, images))
    assert report.passed, report.summary()
    names = [op.name for op in report.ops]
    # One CONV_2D carries BN's scale (in the weights) and shift (in the bias); ReLU is fused too.
    assert names.count("CONV_2D") == 1
    assert not {"MUL", "ADD", "SUB", "RSQRT", "RELU"} & set(names), names


def test_convert_int8_requires_calibration_images(trained_lenet):
    with pytest.raises(ValueError, match="calibration image"):
        convert_int8(trained_lenet, np.zeros((0, 8, 8, 1), np.float32))
