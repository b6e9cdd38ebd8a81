"""What a person sees: a fast --help without TensorFlow, and runs without TensorFlow's chatter."""

import os
import pathlib
import re
import subprocess
import sys

from learners.registry import load_builtin_learners
from tests.learners.cli import ROOT, TINY_FLAGS, launcher_command

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
