"""Tests of utils.tflite: conversion parity, int8 audit, accuracy, batching and latency."""

import os

import keras
import numpy as np
import pytest
from keras import layers

import datasets
import nets
from utils import tflite


@pytest.fixture(scope="module")
def digits():
    return datasets.create_dataset(datasets.DataConfig(dataset="digits", augment=False))


@pytest.fixture(scope="module")
def eval_images(digits):
    return np.concatenate([images for images, _ in digits.eval_dataset().as_numpy_iterator()])


@pytest.fixture(scope="module")
def trained_lenet(digits):
    """Tiny LeNet fitted on digits for a few seconds (~90 % top-1)."""
    keras.utils.set_random_seed(0)
    helper = nets.create_model_helper("lenet_at_digits", nets.NetConfig(tiny=True))
    model = helper.build_model(digits.input_shape, digits.nb_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.train_dataset(repeat=False, batch_size=64), epochs=4, verbose=0,
              shuffle=False)
    return model


@pytest.fixture(scope="module")
def float_model(trained_lenet):
    return tflite.convert_float(trained_lenet)


@pytest.fixture(scope="module")
def int8_model(trained_lenet, digits):
    return tflite.convert_int8(trained_lenet, digits.calibration_images(200))


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
    assert tflite.max_abs_logit_diff(trained_lenet, float_model, eval_images) <= 1e-4


def test_int8_model_is_integer_and_close_to_float(trained_lenet, float_model, int8_model,
                                                  digits):
    report = tflite.audit_int8(int8_model)
    assert report.passed, report.summary()
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {op.name for op in report.ops}

    keras_accuracy = tflite.evaluate_accuracy(trained_lenet, digits)
    float_accuracy = tflite.evaluate_accuracy(float_model, digits)
    int8_accuracy = tflite.evaluate_accuracy(int8_model, digits)
    assert float_accuracy > 0.85  # the model learned something, so the next check means something
    assert float_accuracy == pytest.approx(keras_accuracy, abs=1 / 360)
    assert abs(int8_accuracy - float_accuracy) <= 0.03


def test_batchnorm_is_folded_into_the_convolution(digits):
    model = conv_bn_model()
    images = digits.calibration_images(64)
    float_model = tflite.convert_float(model)
    assert tflite.max_abs_logit_diff(model, float_model, images) <= 1e-4
    report = tflite.audit_int8(tflite.convert_int8(model, images))
    assert report.passed, report.summary()
    names = [op.name for op in report.ops]
    # One CONV_2D carries BN's scale (in the weights) and shift (in the bias); ReLU is fused too.
    assert names.count("CONV_2D") == 1
    assert not {"MUL", "ADD", "SUB", "RSQRT", "RELU"} & set(names), names


def test_audit_names_the_op_int8_conversion_left_in_float(digits):
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.Lambda(keras.ops.sin)(x)  # SIN has no int8 kernel
    outputs = layers.Dense(10)(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

    # The converter accepts the int8-only request without an error ...
    report = tflite.audit_int8(tflite.convert_int8(model, digits.calibration_images(16)))
    # ... the audit is what catches the float island.
    assert not report.passed
    offenders = {op.name: op.problem for op in report.offending_ops}
    assert "float kernel" in offenders["SIN"]
    assert "DEQUANTIZE feeds SIN" in offenders["DEQUANTIZE"]
    assert "SIN" in report.summary()


def test_audit_fails_a_float_model(float_model):
    report = tflite.audit_int8(float_model)
    assert not report.passed
    offenders = {op.name for op in report.offending_ops}
    assert {"CONV_2D", "FULLY_CONNECTED"} <= offenders
    assert report.to_dict()["passed"] is False


def test_predict_quantizes_and_batches(int8_model, eval_images):
    model = tflite.TFLiteModel(int8_model, num_threads=2)
    assert model.input_dtype == np.int8 and model.dynamic_batch
    batched = model.predict(eval_images[:5])
    one_by_one = np.concatenate([model.predict(image[None]) for image in eval_images[:5]])
    assert batched.dtype == np.float32 and batched.shape == (5, 10)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)
    assert len(np.unique(batched)) > 10  # de-quantized logits, not raw int8 codes
    assert np.abs(batched).max() < 100


def test_tflite_model_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "nowhere.tflite")
    with pytest.raises(FileNotFoundError, match="nowhere.tflite"):
        tflite.TFLiteModel(missing)
    not_tflite = tmp_path / "junk.tflite"
    not_tflite.write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="junk.tflite"):
        tflite.TFLiteModel(os.fspath(not_tflite))
    with pytest.raises(ValueError, match="num_threads"):
        tflite.TFLiteModel(missing, num_threads=0)


def test_convert_int8_requires_calibration_images(trained_lenet):
    with pytest.raises(ValueError, match="calibration image"):
        tflite.convert_int8(trained_lenet, np.zeros((0, 8, 8, 1), np.float32))


def test_measure_latency_statistics(int8_model):
    stats = tflite.measure_latency(int8_model, num_threads=1, warmup=2, repeats=15)
    assert stats.repeats == 15 and stats.threads == 1
    assert 0 < stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.mean_ms > 0 and stats.stdev_ms >= 0


def test_measure_latencies_interleaves_every_pair(float_model, int8_model):
    grid = tflite.measure_latencies([float_model, int8_model], [1, 2], warmup=1, repeats=7,
                                    rounds=3)
    assert [[stats.threads for stats in row] for row in grid] == [[1, 2], [1, 2]]
    assert all(stats.repeats == 7 and stats.median_ms > 0 for row in grid for stats in row)
    with pytest.raises(ValueError, match="rounds"):
        tflite.measure_latencies([float_model], [1], repeats=2, rounds=3)
