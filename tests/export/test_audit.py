"""Tests of export.audit: the integer-only audit names every op left in float."""

import keras
from keras import layers

from export.audit import audit_int8
from export.converter import convert_int8


def test_audit_names_the_op_int8_conversion_left_in_float(digits):
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.Lambda(keras.ops.sin)(x)  # SIN has no int8 kernel
    outputs = layers.Dense(10)(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

    # The converter accepts the int8-only request without an error ...
    report = audit_int8(convert_int8(model, digits.calibration_images(16)))
    # ... the audit is what catches the float island.
    assert not report.passed
    offenders = {op.name: op.problem for op in report.offending_ops}
    assert "float kernel" in offenders["SIN"]
    assert "DEQUANTIZE feeds SIN" in offenders["DEQUANTIZE"]
    assert "SIN" in report.summary()


def test_audit_fails_a_float_model(float_model):
    report = audit_int8(float_model)
    assert not report.passed
    offenders = {op.name for op in report.offending_ops}
    assert {"CONV_2D", "FULLY_CONNECTED"} <= offenders
    assert report.to_dict()["passed"] is False
