"""``--learner uniform-tf`` end to end on digits: trains, exports an all-integer TFLite, resumes."""

import json

import keras
import numpy as np
import pytest

from export import interpreter
import learners.uniform_quant_tf.layers  # noqa: F401  (registers the layers model.keras holds)
from learners.uniform_quant_tf.config import UniformQuantTFConfig
from tests.learners.cli import run_learner, train_tiny_lenet


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny LeNet trained on digits: the float model every test quantizes."""
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


def test_trains_exports_an_integer_model_beside_post_training_int8_and_resumes(tmp_path,
                                                                              pretrained):
    finished = run_learner(tmp_path, pretrained, "uniform-tf", "--uqtf_quant_delay=5")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "8-bit weights / 8-bit activations" in finished.stderr
    out = tmp_path / "models_uniform-tf"
    metrics = json.loads((out / "metrics.json").read_text())
    export = metrics["export"]
    assert export["int8_audit"]["passed"] and export["ptq_int8_audit"]["passed"]
    for name in ("model.tflite", "model_int8.tflite", "model_ptq_int8.tflite", "export.json"):
        assert (out / name).is_file()
    assert export["int8_size_bytes"] == (out / "model_int8.tflite").stat().st_size
    assert export["int8_size_bytes"] < 0.8 * export["float_size_bytes"]
    # the int8 file computes what the Keras model computes, up to rounding
    assert abs(export["int8_accuracy"] - metrics["eval"]["accuracy"]) <= 0.03
    assert metrics["eval"]["accuracy"] > 0.5 * metrics["dense_eval"]["accuracy"]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["settings"] == {"weight_bits": 8, "activation_bits": 8}
    assert {entry["bits"] for entry in plan["weights"].values()} == {8}
    assert len(plan["activations"]) == metrics["activation_quantizers"]
    assert all(low <= 0 < high for low, high in (a["range"] for a in plan["activations"].values()))
    model = keras.models.load_model(out / "model.keras")
    images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    int8 = interpreter.load(str(out / "model_int8.tflite"))
    assert (int8.predict(images).argmax(-1) == model.predict(images, verbose=0).argmax(-1)).all()

    again = run_learner(tmp_path, pretrained, "uniform-tf", "--uqtf_quant_delay=5",
                        "--enbl_export=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already finished" in again.stderr
    other_bits = run_learner(tmp_path, pretrained, "uniform-tf", "--uqtf_weight_bits=4")
    assert other_bits.returncode == 2, other_bits.stderr[-3000:]
    assert "weight_bits: 8 -> 4" in other_bits.stderr and "--save_dir" in other_bits.stderr


def test_bad_bits_stop_before_any_work(tmp_path, pretrained):
    finished = run_learner(tmp_path, pretrained, "uniform-tf", "--uqtf_weight_bits=12")
    assert finished.returncode == 2, finished.stderr[-3000:]
    assert "2 <= --uqtf_weight_bits <= 8" in finished.stderr and "12" in finished.stderr
    assert not (tmp_path / "models_uniform-tf").exists()


@pytest.mark.parametrize("settings, expected", [
    ({"activation_bits": 1}, "2 <= --uqtf_activation_bits <= 8"),
    ({"quant_delay": -1}, "--uqtf_quant_delay >= 0"),
    ({"freeze_bn_delay": -2}, "-1 for never"),
    ({"learning_rate_multiplier": 0.0}, "--uqtf_lrn_rate_dcy > 0"),
    ({"calibration_batches": 0}, "--uqtf_nb_calibration_batches >= 1"),
])
def test_settings_are_validated(settings, expected):
    with pytest.raises(ValueError, match=expected):
        UniformQuantTFConfig(**settings)
