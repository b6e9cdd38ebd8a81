"""``scripts/run_local.sh`` picks what to run: the launcher given first, ``main.py`` for
``--model_file`` without one, else the digits launcher. Run in a copy of the repository layout
with a fake Python that prints its arguments (no venv set-up, no TensorFlow)."""

import os
import pathlib
import shutil
import stat
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture()
def fake_repo(tmp_path):
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run_local.sh", root / "scripts")
    (root / "scripts" / "bootstrap_venv.sh").write_text("# the venv is up to date\n")
    (root / "nets").mkdir()
    for name in ("main.py", "nets/lenet_at_digits_run.py", "nets/resnet_at_cifar10_run.py"):
        (root / name).write_text("")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return root


def _run(root, *arguments):
    result = subprocess.run(["bash", str(root / "scripts" / "run_local.sh"), *arguments],
                            cwd=root.parent, capture_output=True, text=True, check=False,
                            env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_model_file_without_a_launcher_runs_main(fake_repo):
    program, *arguments = _run(fake_repo, "--model_file", "m.keras", "--dataset=npz", "-n", "1")
    assert program == str(fake_repo / "main.py")
    assert arguments == ["--model_file", "m.keras", "--dataset=npz"]
    assert _run(fake_repo, "--dataset=npz", "--model_file=m.keras")[0] == str(fake_repo / "main.py")


def test_a_launcher_or_the_digits_default(fake_repo):
    launched = _run(fake_repo, "nets/resnet_at_cifar10_run.py", "--model_file=m.keras")
    assert launched[0] == str(fake_repo / "nets" / "resnet_at_cifar10_run.py")
    assert _run(fake_repo, "--learner=channel")[0] == str(fake_repo / "nets" /
                                                          "lenet_at_digits_run.py")
