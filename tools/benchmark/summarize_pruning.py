"""A markdown table of pruning runs from their ``metrics.json`` files.

Usage::

    .venv/bin/python -m tools.benchmark.summarize_pruning ~/pocketflow_runs/resnet20/channel_*

One row per run directory: MACs and parameters kept, evaluation accuracy before and after
re-training, its change against the dense model, and the re-training steps and seconds (all
launches of a resumed run).
"""

from __future__ import annotations

import json
import os
import sys

LAST_LAUNCH_MARK = " (last launch)"
"""Marks the seconds of a resumed run recorded before ``total_seconds`` (every launch's) was."""


def table_row(name: str, metrics: dict) -> str:
    """One markdown row of a run's metrics."""
    dense = metrics["dense_eval"]["accuracy"]
    after = metrics["eval"]["accuracy"]
    train = metrics.get("train", {})
    seconds = f"{train.get('total_seconds', train.get('seconds', 0)):.0f}"
    if "total_seconds" not in train and train.get("resumed_from"):
        seconds += LAST_LAUNCH_MARK
    return (f"| {name} | {metrics['macs_kept']:.3f} | {metrics['params'] / metrics['dense_params']:.3f} | "
            f"{metrics['eval_before_training']['accuracy']:.4f} | {after:.4f} | "
            f"{100 * (after - dense):+.2f} | {train.get('steps', 0)} | {seconds} |")


def summarize(directories: list[str]) -> str:
    """The table for the run directories that have a ``metrics.json``; others are listed as missing."""
    header = ("| run | MACs kept | params kept | eval before re-training | eval after | change (points) "
              "| re-training steps | re-training s |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    missing = []
    for directory in directories:
        path = os.path.join(directory, "metrics.json")
        if not os.path.isfile(path):
            missing.append(directory)
            continue
        with open(path) as handle:
            lines.append(table_row(os.path.basename(os.path.normpath(directory)), json.load(handle)))
    if missing:
        lines.append(f"\n(no metrics.json yet in: {', '.join(missing)})")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tools.benchmark.summarize_pruning <run dir> [<run dir> ...]")
    print(summarize(sys.argv[1:]))
