"""Runs the real command line (``python nets/<net>_run.py ...``, or ``python main.py ...`` as
``run_local.sh --model_file`` does) in a subprocess for tests."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launcher_command(net: str, *flags: str) -> list[str]:
    return [sys.executable, os.path.join(ROOT, "nets", f"{net}_run.py"), *flags]


def _run(command: list[str], cwd, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def run_cli(net: str, *flags: str, cwd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return _run(launcher_command(net, *flags), cwd, timeout)


def run_main(*flags: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python main.py flags``: what ``run_local.sh --model_file ...`` runs (no launcher)."""
    return _run([sys.executable, os.path.join(ROOT, "main.py"), *flags], cwd, timeout)


TINY_FLAGS = ("--tiny_net", "--nb_epochs_rat=0.02", "--summ_step=10", "--model_dir=models",
              "--log_dir=logs", "--enbl_benchmark=false")
"""A tiny net, a short schedule, relative directories: what the learners' end-to-end tests use."""


def train_tiny_lenet(directory: pathlib.Path) -> pathlib.Path:
    """Trains the tiny LeNet on digits in ``directory``; returns its ``models`` directory, which
    holds the dense model the compression learners' tests start from."""
    finished = run_cli("lenet_at_digits", *TINY_FLAGS, "--nb_epochs_rat=0.1", "--enbl_export=false",
                       cwd=str(directory))
    assert finished.returncode == 0, finished.stderr[-3000:]
    return directory / "models"


def run_learner(tmp_path: pathlib.Path, models: pathlib.Path, learner: str, *flags: str,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs ``--learner learner`` with ``TINY_FLAGS`` in ``tmp_path`` on a copy of ``models``."""
    if not (tmp_path / "models").exists():
        shutil.copytree(models, tmp_path / "models")
    return run_cli("lenet_at_digits", f"--learner={learner}", *TINY_FLAGS, *flags,
                   cwd=str(tmp_path), timeout=timeout)
