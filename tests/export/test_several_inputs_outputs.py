"""Export of models with several inputs and outputs: the TFLite model takes and returns them in
the Keras model's order, parity is checked per output, the int8 audit covers the whole graph."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import (
    TFLiteModel,
    audit_int8,
    convert_float,
    convert_int8,
    evaluate_accuracy,
    export_model,
    max_abs_output_diffs,
)
from export.pipeline import ExportError, first_images


def _two_in_two_out():
    """Image + side input; a 10-class head named last alphabetically, a 3-wide one first (the
    interpreter lists inputs and outputs in neither Keras's order nor the same one)."""
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3))  # unnamed, like keras.applications
    side = keras.Input((8, 8, 1), name="aux_in")
    features = keras.layers.Add()([keras.layers.Conv2D(4, 3, activation="relu")(image),
                                   keras.layers.Conv2D(4, 3, activation="relu")(side)])
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model([image, side], [keras.layers.Dense(10, name="zz_logits")(pooled),
                                       keras.layers.Dense(3, name="aa_embedding")(pooled)])


def _inputs(nb_examples, seed=0):
    generator = np.random.default_rng(seed)
    return [generator.uniform(-1, 1, (nb_examples, 8, 8, 3)).astype(np.float32),
            generator.uniform(-1, 1, (nb_examples, 8, 8, 1)).astype(np.float32)]


class _PairDataset:
    """What export_model needs of a dataset whose examples are (image, side input) tuples."""

    name = "pairs"
    input_shape = [(8, 8, 3), (8, 8, 1)]

    def __init__(self):
        self.inputs = _inputs(40, seed=1)
        self.labels = np.arange(40) % 10

    def eval_dataset(self):
        return tf.data.Dataset.from_tensor_slices((tuple(self.inputs), self.labels)).batch(16)

    def calibration_images(self, nb_images):
        return [array[:nb_images] for array in _inputs(nb_images, seed=2)]


@pytest.fixture(scope="module")
def model():
    return _two_in_two_out()


def test_float_tflite_takes_and_returns_them_in_keras_order(model):
    tflite = TFLiteModel(convert_float(model))
    assert (tflite.nb_inputs, tflite.nb_outputs) == (2, 2)
    assert tflite.input_shapes == ((1, 8, 8, 3), (1, 8, 8, 1))
    inputs = _inputs(5)
    logits, embedding = tflite.predict(inputs)
    expected = model(inputs, training=False)
    np.testing.assert_allclose(logits, expected[0], atol=1e-5)
    np.testing.assert_allclose(embedding, expected[1], atol=1e-5)
    assert max(max_abs_output_diffs(model, tflite, inputs)) < 1e-5


def test_int8_tflite_of_two_inputs_is_calibrated_per_input_and_audited_whole(model):
    int8 = convert_int8(model, _inputs(32, seed=3))
    report = audit_int8(int8)
    assert report.passed, report.summary()
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
    tflite = TFLiteModel(int8)
    differences = max_abs_output_diffs(model, tflite, _inputs(16))
    scale = [float(np.abs(output).max()) for output in model(_inputs(16), training=False)]
    assert all(diff < 0.1 * max(1.0, size) for diff, size in zip(differences, scale))


def test_the_wrong_number_or_shape_of_inputs_is_named(model):
    tflite = TFLiteModel(convert_float(model))
    with pytest.raises(ValueError, match="Expected 2 input array"):
        tflite.predict(_inputs(2)[0])
    with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
        tflite.predict([_inputs(2)[0], _inputs(2)[0]])


def test_export_model_checks_parity_per_output_and_scores_the_first(model, tmp_path):
    dataset = _PairDataset()
    lines = []
    report = export_model(model, dataset, tmp_path / "out", calibration_size=16,
                          nb_parity_images=24, log=lines.append)
    assert len(report.output_diffs) == 2 and max(report.output_diffs) < 1e-4
    assert report.nb_parity_images == 24 and report.int8_audit.passed
    assert report.keras_accuracy == evaluate_accuracy(model, dataset.eval_dataset())
    assert any("per output: zz_logits" in line for line in lines)
    with open(tmp_path / "out" / "export.json") as file:
        assert len(json.load(file)["output_diffs"]) == 2


def test_a_parity_failure_names_each_output(model, tmp_path, monkeypatch):
    monkeypatch.setattr("export.pipeline.max_abs_output_diffs", lambda *args: [1e-6, 0.5])
    with pytest.raises(ExportError, match="zz_logits 1e-06, aa_embedding 0.5"):
        export_model(model, _PairDataset(), tmp_path, calibration_size=4, nb_parity_images=4,
                     log=lambda line: None)


def test_an_image_dataset_for_a_two_input_model_is_refused_naming_both(model, tmp_path):
    dataset = _PairDataset()
    dataset.input_shape = (8, 8, 3)
    with pytest.raises(ValueError, match=r"\(8, 8, 3\), \(8, 8, 1\).*gives inputs of shape "
                                         r"\(8, 8, 3\)"):
        export_model(model, dataset, tmp_path)


def test_first_images_splits_tuple_inputs():
    dataset = _PairDataset()
    images, side = first_images(dataset.eval_dataset(), 20)
    assert images.shape == (20, 8, 8, 3) and side.shape == (20, 8, 8, 1)
