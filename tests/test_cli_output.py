"""What a person sees: a fast --help without TensorFlow, and runs without TensorFlow's chatter."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from learners.registry import load_builtin_learners
from options import learner_specs
from tests.learners.cli import ROOT, TINY_FLAGS, launcher_command, run_learner, train_tiny_lenet

PROJECT_FILES = {path.name for path in pathlib.Path(ROOT).rglob("*.py")
                 if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)}
LOG_LINE = re.compile(r"^[IWE]\d{4} [\d:.]+ +\d+ ([^\]:]+):\d+\] ")


def _run(cwd, *argv, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    environment.update(PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=300, check=False)


def tensorflow_lines(output: str) -> list[str]:
    """Lines TensorFlow printed: its C++ log lines and preamble, and absl log lines from files
    that are not the project's."""
    lines = []
    for line in output.splitlines():
        match = LOG_LINE.match(line)
        if match and os.path.basename(match.group(1)) not in PROJECT_FILES or \
                line.startswith(("WARNING: All log messages before absl", "WARNING:tensorflow")):
            lines.append(line)
    return lines


def test_import_main_does_not_import_tensorflow(tmp_path):
    probe = _run(tmp_path, sys.executable, "-c", "import sys, main; print(sorted(m for m in "
                 "('tensorflow', 'keras') if m in sys.modules))")
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "[]"


def test_help_lists_every_learner_and_the_common_flags(tmp_path):
    helped = _run(tmp_path, *launcher_command("lenet_at_digits", "--help"))
    assert helped.returncode == 0, helped.stderr[-2000:]
    for name in load_builtin_learners().names():
        assert name in helped.stdout
    for flag in ("--learner", "--nb_epochs_rat", "--enbl_dst", "--hpo_backend", "--enbl_export"):
        assert flag in helped.stdout
    assert "--help --learner NAME" in helped.stdout
    assert tensorflow_lines(helped.stdout + helped.stderr) == []


def test_help_of_one_learner_lists_its_flags(tmp_path):
    helped = _run(tmp_path, *launcher_command("lenet_at_digits", "--help", "--learner=channel"))
    assert helped.returncode == 0 and "--cp_prune_option=auto" in helped.stdout
    unknown = _run(tmp_path, *launcher_command("lenet_at_digits", "--help", "--learner=chanel"))
    assert unknown.returncode != 0 and "Unknown learner 'chanel'" in unknown.stderr


def test_a_run_prints_no_tensorflow_lines_unless_debug(tmp_path):
    flags = (*TINY_FLAGS, "--nb_iters_train=5")
    quiet = _run(tmp_path, *launcher_command("lenet_at_digits", *flags))
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "Summary: full-prec" in quiet.stdout and "flags given:" in quiet.stderr
    assert tensorflow_lines(quiet.stdout + quiet.stderr) == []

    debug = _run(tmp_path, *launcher_command("lenet_at_digits", *flags, "--debug",
                                             "--save_dir=debug"))
    assert debug.returncode == 0, debug.stderr[-3000:]
    assert len(tensorflow_lines(debug.stdout + debug.stderr)) > 0


def test_the_counter_sees_tensorflow_lines():
    sample = ("I0000 00:00:1796668399.658796    4870 port.cc:153] oneDNN custom operations\n"
              "I1207 18:39:17.212510 140683247733632 signature_serialization.py:156] Function\n"
              "I1207 18:39:18.983089 140683247733632 base.py:117] export: wrote model.tflite\n")
    assert len(tensorflow_lines(sample)) == 2


# Each learner's own work kept to a few steps (the defaults are sized for real models).
_FEW_STEPS = {
    "channel": ("--cp_prune_option=uniform",), "chn-pruned-gpu": ("--cp_prune_option=uniform",),
    "dis-chn-pruned": ("--dcp_nb_iters_block=2", "--dcp_nb_iters_layer=1"),
    "weight-sparse": ("--ws_prune_ratio_prtl=uniform", "--ws_mask_update_step=2"),
}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return train_tiny_lenet(tmp_path_factory.mktemp("pretrained"))


@pytest.mark.parametrize("learner", [spec.name for spec in learner_specs()
                                     if spec.name != "full-prec"])
def test_every_learner_runs_without_tensorflow_lines(tmp_path, pretrained, learner):
    finished = run_learner(tmp_path, pretrained, learner, "--nb_iters_train=5",
                           *_FEW_STEPS.get(learner, ()))
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"Summary: {learner}" in finished.stdout
    assert tensorflow_lines(finished.stdout + finished.stderr) == []
