"""Tests of export.pipeline: export_model writes, checks and reports the float and int8 files."""

import hashlib
import json
import subprocess

import keras
import pytest

import nets
from export import pipeline
from export.interpreter import TFLiteModel
from tests.fixtures.export_models import digits_dataset, untrained_lenet


@pytest.fixture(scope="module")
def digits():
    return digits_dataset()


@pytest.fixture(scope="module")
def lenet(digits):
    return untrained_lenet(digits)


def test_export_model_returns_the_report_it_writes(digits, tmp_path):
    helper = nets.create_model_helper("lenet_at_digits", nets.NetConfig(tiny=True))
    model = helper.build_model(digits.input_shape, digits.nb_classes)
    lines = []
    report = pipeline.export_model(model, digits, tmp_path / "out", calibration_size=16,
                                   nb_parity_images=150, log=lines.append)
    assert report.nb_parity_images == 150  # spans two evaluation batches of 100
    assert report.int8_audit.passed
    assert TFLiteModel(report.int8_path).input_dtype == "int8"
    with open(tmp_path / "out" / "export.json") as file:
        assert json.load(file) == json.loads(json.dumps(report.to_dict()))
    assert lines[0].startswith("[1/6]") and lines[-1].startswith("[6/6]")


def test_export_fails_loudly_on_a_parity_mismatch(lenet, digits, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "max_abs_output_diffs", lambda *args: [0.25])
    with pytest.raises(pipeline.ExportError, match=r"max \|logit diff\| = 0.25"):
        pipeline.export_model(lenet, digits, tmp_path, log=lambda line: None)
    assert not (tmp_path / "model_int8.tflite").exists()


def _hashes(directory):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in directory.iterdir() if path.is_file()}


def test_a_failed_export_leaves_the_earlier_export_as_it_was(lenet, digits, tmp_path,
                                                             monkeypatch):
    out = tmp_path / "out"
    report = pipeline.export_model(lenet, digits, out, calibration_size=16, nb_parity_images=16,
                                   log=lambda line: None)
    assert report.float_path == str(out / "model.tflite") and report.out_dir == str(out)
    assert sorted(path.name for path in out.iterdir()) == [
        "export.json", "model.tflite", "model_int8.tflite"]  # no staging directory left
    before = _hashes(out)
    monkeypatch.setattr(pipeline, "max_abs_output_diffs", lambda *args: [1e30])
    with pytest.raises(pipeline.ExportError, match="left as they were"):
        pipeline.export_model(keras.models.clone_model(lenet), digits, out, calibration_size=16,
                              nb_parity_images=16, log=lambda line: None)
    assert sorted(path.name for path in out.iterdir()) == sorted(before)
    assert _hashes(out) == before


def test_a_stale_staging_directory_is_removed_by_the_next_export(lenet, digits, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()  # the pid of a killed export
    stale = tmp_path / f"{pipeline.STAGING_PREFIX}{dead.pid}"
    stale.mkdir()
    (stale / "model.tflite").write_bytes(b"half a model")
    pipeline.export_model(lenet, digits, tmp_path, calibration_size=16, nb_parity_images=16,
                          log=lambda line: None)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "export.json", "model.tflite", "model_int8.tflite"]


def test_export_rejects_a_model_that_does_not_fit_the_dataset(digits, tmp_path):
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    with pytest.raises(ValueError, match=r"\(16, 16, 3\).*\(8, 8, 1\)"):
        pipeline.export_model(model, digits, tmp_path)
