#!/usr/bin/env python3
"""Launcher: `./scripts/run_local.sh nets/convnet_at_fmnist_run.py [flags]` (or run it with python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from main import launch

if __name__ == "__main__":
    launch(default_net="convnet_at_fmnist")
