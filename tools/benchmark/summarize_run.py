"""Summarises a training run from its JSON-lines event log: steps, wall time, images/s, accuracy.

Usage: ``python tools/benchmark/summarize_run.py --log_dir ./logs [--description full-prec]``.
Wall time counts only time spent training (sums the intervals between logged steps of each
process, so the gaps of a kill-and-resume are left out).
"""

from __future__ import annotations

import json
import os
import statistics
import sys

from absl import app, flags


def summarize(events: list[dict], description: str = "full-prec") -> dict:
    """Steps, training seconds, median images/s and the evaluation curve of one description."""
    steps = [e for e in events if e["event"] == "train_step" and e.get("description") == description]
    starts = [e for e in events if e["event"] == "train_start" and e.get("description") == description]
    evals = [e for e in events if e["event"] == "eval" and e.get("description") == description]
    if not steps:
        raise ValueError(f"Expected 'train_step' events for '{description}'. Received: none")
    seconds = 0.0
    previous = None
    for event in sorted(steps + starts, key=lambda e: e["time"]):
        if event["event"] == "train_start":
            previous = event
            continue
        if previous is not None:
            seconds += event["time"] - previous["time"]
        previous = event
    last = steps[-1]
    return {
        "description": description,
        "steps": last["step"],
        "total_steps": starts[-1]["total_steps"] if starts else None,
        "global_batch_size": starts[-1]["global_batch_size"] if starts else None,
        "restarts": max(len(starts) - 1, 0),
        "train_hours": seconds / 3600,
        "median_images_per_sec": statistics.median(e["images_per_sec"] for e in steps),
        "eval_curve": [(e["step"], e["accuracy"]) for e in evals],
    }


def main(argv):
    del argv
    # --log_dir is absl's own flag (absl.logging defines it), the trainer's flag of the same name.
    path = os.path.join(flags.FLAGS.log_dir or "./logs", "events.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"error: expected an event log at '{path}'. Received: no such file")
    with open(path) as handle:
        events = [json.loads(line) for line in handle if line.strip()]
    summary = summarize(events, flags.FLAGS.description)
    curve = summary.pop("eval_curve")
    for key, value in summary.items():
        print(f"{key:>24}: {value}")
    for step, accuracy in curve[-flags.FLAGS.last_evals:]:
        print(f"{'eval at step ' + str(step):>24}: {accuracy:.4f}")


if __name__ == "__main__":
    flags.DEFINE_string("description", "full-prec", "Which training phase to summarise.")
    flags.DEFINE_integer("last_evals", 5, "How many of the last evaluations to print.")
    app.run(main)
