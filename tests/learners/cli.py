"""Runs the real command line (``python nets/<net>_run.py ...``) in a subprocess for tests."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launcher_command(net: str, *flags: str) -> list[str]:
    return [sys.executable, os.path.join(ROOT, "nets", f"{net}_run.py"), *flags]


def run_cli(net: str, *flags: str, cwd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    return subprocess.run(launcher_command(net, *flags), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
