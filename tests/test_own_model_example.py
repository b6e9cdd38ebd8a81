"""``docs/own_model.md``'s worked example runs as written: its Python block trains and saves a
user's model with ``model.fit``, its two commands compress it, with the accuracies it shows."""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from tests.learners.cli import run_main

pytestmark = pytest.mark.slow
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "own_model.md"


def test_the_worked_example_runs_as_documented(tmp_path):
    text = DOC.read_text()
    example = text[text.index("## A worked example"):]
    script = re.search(r"```python\n(.*?)```", example, re.S).group(1)
    (tmp_path / "make_example.py").write_text(script)
    made = subprocess.run([sys.executable, "make_example.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr[-3000:]
    assert float(made.stdout.split("val accuracy:")[1]) >= 0.97
    commands = [shlex.split(line.split("run_local.sh", 1)[1]) for line in example.splitlines()
                if line.startswith("./scripts/run_local.sh")]
    documented = [float(value) for value in re.findall(r"eval accuracy \(Keras\):\s+([\d.]+)",
                                                       example)]
    assert len(commands) == len(documented) == 2
    for arguments, accuracy in zip(commands, documented, strict=True):
        finished = run_main(*arguments, "--enbl_benchmark=false", cwd=tmp_path, timeout=300)
        assert finished.returncode == 0, finished.stderr[-3000:]
        learner = arguments[arguments.index("--learner") + 1]
        metrics = json.loads((tmp_path / f"models_{learner}" / "metrics.json").read_text())
        assert metrics["eval"]["accuracy"] >= accuracy - 0.02, (learner, metrics["eval"])
        assert metrics["export"]["int8_audit"]["passed"]
