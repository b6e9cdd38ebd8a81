"""Markdown tables of benchmark runs (channel pruning, quantization, sparsity) from their
``metrics.json`` files.

Usage, from the repository root::

    R=~/pocketflow_runs/resnet20
    PYTHONPATH=. .venv/bin/python -m benchmarks.summarize_tables pruning $R/channel_*
    PYTHONPATH=. .venv/bin/python -m benchmarks.summarize_tables quant $R/quant_*
    PYTHONPATH=. .venv/bin/python -m benchmarks.summarize_tables sparsity $R/sparse_*

One row per run directory; directories without a completed run's ``metrics.json`` (unfinished
runs, or runs killed before their export ended) are listed under the table. Every learner writes
the same keys, so a row reads them without asking which learner wrote the file: ``dense_eval``
(the model the run started from), ``eval_before_finetuning`` (the compressed model before any
training), ``eval`` (after it), ``search_seconds``. Accuracies are on the evaluation split,
changes in points against ``dense_eval``, seconds those of every launch of a resumed run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable

from utils.io import is_completed

LAST_LAUNCH_MARK = " (last launch)"
"""Marks the seconds of a resumed run recorded before ``total_seconds`` (every launch's) was."""


def _seconds(metrics: dict) -> str:
    train = metrics.get("train", {})
    seconds = f"{train.get('total_seconds', train.get('seconds', 0)):.0f}"
    if "total_seconds" not in train and train.get("resumed_from"):
        seconds += LAST_LAUNCH_MARK
    return seconds


def _change(after: float, dense: float) -> str:
    return f"{100 * (after - dense):+.2f}"


def pruning_row(name: str, metrics: dict) -> list[str]:
    """A channel-pruning run (``--learner channel`` / ``dis-chn-pruned``)."""
    dense, after = metrics["dense_eval"]["accuracy"], metrics["eval"]["accuracy"]
    params_kept = metrics["params"] / metrics["dense_params"]
    return [name, f"{metrics['macs_kept']:.3f}", f"{params_kept:.3f}",
            f"{metrics['eval_before_finetuning']['accuracy']:.4f}", f"{after:.4f}",
            _change(after, dense), str(metrics.get("train", {}).get("steps", 0)), _seconds(metrics)]


def quant_row(name: str, metrics: dict) -> list[str]:
    """A weight-quantization run (``--learner uniform`` / ``non-uniform``)."""
    dense, after = metrics["dense_eval"]["accuracy"], metrics["eval"]["accuracy"]
    size = metrics["size"]
    int8 = metrics.get("export", {}).get("int8_accuracy")
    return [name, metrics["learner"], f"{metrics['average_bits']:g} ({metrics['bits_source']})",
            f"{metrics['eval_before_finetuning']['accuracy']:.4f}", f"{after:.4f}",
            _change(after, dense), f"{size['total_bytes']:,}", f"{size['compression']:.2f}x",
            f"{size['bits_per_quantized_weight']:.3f}", "" if int8 is None else f"{int8:.4f}",
            _seconds(metrics)]


def _latency(metrics: dict, path: str | None) -> str:
    rows = sorted((row for row in metrics.get("latency", []) if row["model_file"] == path),
                  key=lambda row: row["threads"])
    return " / ".join(f"{row['median_ms']:.3f}" for row in rows)


def sparsity_row(name: str, metrics: dict) -> list[str]:
    """A weight-sparsification run (``--learner weight-sparse``)."""
    dense, after = metrics["dense_eval"]["accuracy"], metrics["eval"]["accuracy"]
    sparse = metrics.get("sparse_export", {})

    def size(entry: dict | None) -> str:
        return f"{entry['size_bytes']:,} ({entry['gzip_bytes']:,})" if entry else ""

    float_path = metrics.get("export", {}).get("float_path")
    return [name, metrics["protocol"], f"{metrics['sparsity']['target']:g}",
            f"{metrics['sparsity']['overall']:.4f}",
            f"{metrics['eval_before_finetuning']['accuracy']:.4f}",
            f"{after:.4f}", _change(after, dense), size(sparse.get("dense_float")), size(sparse),
            size(sparse.get("int8")), _latency(metrics, float_path),
            _latency(metrics, sparse.get("path")), f"{metrics.get('search_seconds') or 0:.0f}",
            _seconds(metrics)]


@dataclasses.dataclass(frozen=True)
class Table:
    """The columns of one kind of run (a right-aligned column is numeric) and its row."""

    columns: tuple[str, ...]
    right_aligned: tuple[bool, ...]
    row: Callable[[str, dict], list[str]]


TABLES = {
    "pruning": Table(("run", "MACs kept", "params kept", "eval before re-training", "eval after",
                      "change (points)", "re-training steps", "re-training s"),
                     (False,) + (True,) * 7, pruning_row),
    "quant": Table(("run", "learner", "bits per weight", "eval before fine-tuning", "eval after",
                    "change (points)", "packed bytes", "vs float32 weights",
                    "bits / quantized weight", "int8 TFLite eval", "fine-tuning s"),
                   (False, False, False) + (True,) * 8, quant_row),
    "sparsity": Table(("run", "protocol", "target", "measured sparsity", "eval at once",
                       "eval after", "change (points)", "dense float TFLite bytes (gzip)",
                       "sparse TFLite bytes (gzip)", "int8 TFLite bytes (gzip)",
                       "dense float ms (1 / 2 threads)", "sparse ms (1 / 2 threads)", "search s",
                       "fine-tuning s"),
                      (False, False) + (True,) * 12, sparsity_row),
}


def summarize(kind: str, directories: list[str]) -> str:
    """The ``kind`` table (a key of :data:`TABLES`) of the run directories whose ``metrics.json``
    is a completed run's (``utils.io.is_completed``); the others are listed as not completed.

    Raises:
        ValueError: for an unknown ``kind``, or a completed ``metrics.json`` that lacks a key the
            table reads (e.g. one written before the keys were unified), naming the file.
    """
    if kind not in TABLES:
        raise ValueError(f"Expected a table kind in {sorted(TABLES)}. Received: {kind!r}")
    table = TABLES[kind]
    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---:" if right else "---" for right in table.right_aligned) + "|"]
    missing = []
    for directory in directories:
        path = os.path.join(directory, "metrics.json")
        if not is_completed(path):
            missing.append(directory)
            continue
        with open(path) as handle:
            metrics = json.load(handle)
        try:
            cells = table.row(os.path.basename(os.path.normpath(directory)), metrics)
        except KeyError as error:
            raise ValueError(f"Expected '{path}' to hold the key {error} of the {kind} table. "
                             f"Received: a metrics.json with keys {sorted(metrics)}") from None
        lines.append("| " + " | ".join(cells) + " |")
    if missing:
        lines.append(f"\n(not completed yet, no row: {', '.join(missing)})")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in TABLES:
        sys.exit(f"usage: python -m benchmarks.summarize_tables {'|'.join(TABLES)} "
                 "<run dir> [<run dir> ...]")
    try:
        print(summarize(sys.argv[1], sys.argv[2:]))
    except ValueError as error:
        sys.exit(f"summarize_tables: error: {error}")
