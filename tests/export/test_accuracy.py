"""Tests of export.accuracy: top-1 of Keras, float and int8 TFLite models on the same split."""

import pytest

from export.accuracy import evaluate_accuracy
from export.audit import audit_int8


def test_int8_model_is_integer_and_close_to_float(trained_lenet, float_model, int8_model,
                                                  digits):
    report = audit_int8(int8_model)
    assert report.passed, report.summary()
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {op.name for op in report.ops}

    keras_accuracy = evaluate_accuracy(trained_lenet, digits)
    float_accuracy = evaluate_accuracy(float_model, digits)
    int8_accuracy = evaluate_accuracy(int8_model, digits)
    assert float_accuracy > 0.85  # the model learned something, so the next check means something
    assert float_accuracy == pytest.approx(keras_accuracy, abs=1 / 360)
    assert abs(int8_accuracy - float_accuracy) <= 0.03
