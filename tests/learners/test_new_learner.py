"""A learner added in one file gets the CLI flags, --help, the metrics schema, a run and export.

The toy learner (``toy_rounding_learner.py``) is imported by a launcher script, as a user's own
module would be; no other file of the project knows it.
"""

import json
import os
import subprocess
import sys

from learners.metrics import validate
from tests.learners.cli import ROOT, TINY_FLAGS, train_tiny_lenet

LAUNCHER = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
import toy_rounding_learner  # noqa: F401  (registers --learner toy-rounding)
from main import launch
launch(default_net="lenet_at_digits")
"""


def _launch(tmp_path, *flags):
    script = tmp_path / "launch_toy.py"
    script.write_text(LAUNCHER.format(root=ROOT, here=os.path.dirname(__file__)))
    return subprocess.run([sys.executable, str(script), *flags], cwd=tmp_path, text=True,
                          capture_output=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_a_learner_in_one_file_gets_flags_help_metrics_and_export(tmp_path):
    helped = _launch(tmp_path, "--help", "--learner", "toy-rounding")
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "toy-rounding" in helped.stdout and "--toy_step=0.015625" in helped.stdout
    assert "the grid every weight is rounded to" in helped.stdout

    rejected = _launch(tmp_path, "--learner=toy-rounding", "--toy_step=-1", *TINY_FLAGS)
    assert rejected.returncode == 2 and "Expected --toy_step > 0" in rejected.stderr

    train_tiny_lenet(tmp_path)
    finished = _launch(tmp_path, "--learner=toy-rounding", "--toy_step=0.125", *TINY_FLAGS)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "vs the pre-trained model:  accuracy" in finished.stdout  # the summary compares
    out = tmp_path / "models_toy-rounding"
    metrics = json.loads((out / "metrics.json").read_text())
    validate(metrics, {"step", "distinct_kernel_values"})
    assert metrics["learner"] == "toy-rounding" and metrics["step"] == 0.125
    assert metrics["eval_before_finetuning"]["accuracy"] >= 0 and metrics["dense_eval"] is not None
    assert metrics["distinct_kernel_values"] <= 2 * 8 / 0.125  # |weights| stay well under 8
    assert metrics["export"]["int8_audit"]["passed"]
    assert (out / "model.tflite").stat().st_size > 0 and (out / "model_int8.tflite").stat().st_size > 0
