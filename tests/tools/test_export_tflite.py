"""Tests of tools/conversion/export_tflite.py, the command line over export.export_model."""

import json
import os

import pytest
from absl import flags

from tests.fixtures.export_models import digits_dataset, untrained_lenet
from tools.conversion import export_tflite

REPORT_KEYS = {
    "out_dir", "float_path", "int8_path", "float_size_bytes", "int8_size_bytes",
    "max_abs_logit_diff", "output_diffs", "parity_tolerance", "nb_parity_images",
    "calibration_size",
    "keras_accuracy", "float_accuracy", "int8_accuracy", "int8_audit", "interpreter",
}


@pytest.fixture(scope="module")
def digits():
    return digits_dataset()


@pytest.fixture(scope="module")
def lenet(digits):
    return untrained_lenet(digits)


def parse(argv):
    """The export command line parsed into fresh flag values (the global FLAGS stay untouched)."""
    flag_values = flags.FlagValues()
    export_tflite.define_flags(flag_values)
    flag_values(["export_tflite", *argv])
    return flag_values


def test_cli_exports_a_saved_model(lenet, tmp_path):
    model_file = str(tmp_path / "lenet_at_digits.keras")
    lenet.save(model_file)
    export_tflite.main(["export_tflite"], parse([f"--model_file={model_file}",
                                                 "--nb_calibration=32"]))

    with open(tmp_path / "export.json") as file:  # --out_dir defaults to the model's directory
        report = json.load(file)
    assert set(report) == REPORT_KEYS
    for path, size_key in (("model.tflite", "float_size_bytes"),
                           ("model_int8.tflite", "int8_size_bytes")):
        assert os.path.getsize(tmp_path / path) == report[size_key] > 0
    assert report["int8_size_bytes"] < 0.35 * report["float_size_bytes"]
    assert report["max_abs_logit_diff"] <= 1e-4
    assert report["calibration_size"] == 32
    assert report["int8_audit"]["passed"] and not report["int8_audit"]["offending_ops"]
    assert report["float_accuracy"] == pytest.approx(report["keras_accuracy"], abs=1 / 360)
    assert all(0 <= report[key] <= 1
               for key in ("keras_accuracy", "float_accuracy", "int8_accuracy"))


def test_cli_errors_clearly_on_a_missing_model_file(tmp_path):
    missing = str(tmp_path / "missing.keras")
    with pytest.raises(SystemExit) as exit_info:
        export_tflite.main(["export_tflite"], parse([f"--model_file={missing}"]))
    message = str(exit_info.value.code)  # a string code exits with status 1
    assert missing in message and ".keras" in message


def test_cli_errors_clearly_on_an_unsupported_model_file(tmp_path):
    wrong = tmp_path / "model.tflite"
    wrong.write_bytes(b"\0")
    with pytest.raises(SystemExit) as exit_info:
        export_tflite.main(["export_tflite"], parse([f"--model_file={wrong}"]))
    assert "Unsupported model file" in str(exit_info.value.code)
    assert str(wrong) in str(exit_info.value.code)
