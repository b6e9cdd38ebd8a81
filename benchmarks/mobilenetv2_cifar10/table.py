"""The table of the MobileNetV2 / CIFAR-10 recipe (``run_recipe.sh``), in Markdown.

    .venv/bin/python benchmarks/mobilenetv2_cifar10/table.py --run_dir ~/pocketflow_runs/mnv2

Reads the ``metrics.json`` and ``export.json`` of the ``channel``, ``sparse`` and ``uniform_tf``
runs; the user's model's own rows come from the ``uniform_tf`` export, which converts the model
it starts from (float and post-training int8) beside its own. Accuracies are those the runs
measured on the 5,000 val images. The latencies of every ``.tflite`` file are measured here, in
one process, round-robin (``export.benchmark``), so they compare with each other.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from export import benchmark  # noqa: E402  (the repository root is put on the path above)


def _read(run_dir: str, name: str, file: str) -> dict:
    path = os.path.join(run_dir, name, file)
    if not os.path.isfile(path):
        raise SystemExit(f"error: expected {path} (run run_recipe.sh first). Received: no file")
    with open(path) as handle:
        return json.load(handle)


def _gzip_kib(path: str) -> float:
    with open(path, "rb") as handle:
        return len(gzip.compress(handle.read(), 9)) / 1024


def rows(run_dir: str) -> list[dict]:
    """One dict per table row: label, Keras and TFLite accuracy, the TFLite file."""
    reference = _read(run_dir, "uniform_tf", "export.json")
    table = [
        {"label": "your model, float TFLite", "keras": reference["keras_accuracy"],
         "tflite": reference["float_accuracy"], "path": reference["float_path"]},
        {"label": "your model, post-training int8", "keras": None,
         "tflite": reference["ptq_int8_accuracy"], "path": reference["ptq_int8_path"]},
    ]
    for name, label in (("channel", "channel auto, 50 % of the MACs"),
                        ("sparse", "weight sparsity 0.75"), ("uniform_tf", "uniform-tf 8-bit")):
        metrics, export = _read(run_dir, name, "metrics.json"), _read(run_dir, name, "export.json")
        keras_accuracy = metrics["eval"]["accuracy"]
        if name != "uniform_tf":
            table.append({"label": f"{label}, float TFLite", "keras": keras_accuracy,
                          "tflite": export["float_accuracy"], "path": export["float_path"]})
        table.append({"label": f"{label}, int8 TFLite", "keras": keras_accuracy,
                      "tflite": export["int8_accuracy"], "path": export["int8_path"],
                      "audit": export["int8_audit"]["passed"]})
    for row in table:
        row["path"] = os.path.join(run_dir, *row["path"].split(os.sep)[-2:])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run_dir", default=os.path.expanduser("~/pocketflow_runs/mnv2"))
    parser.add_argument("--data_dir", default=None, help="unused; kept for run_recipe.sh")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    table = rows(args.run_dir)
    latencies = benchmark([row["path"] for row in table], (1,), repeats=args.repeats, rounds=10)
    base = table[0]
    print("| model | Keras top-1 | TFLite top-1 | vs your model | file KiB (gzip) | "
          "latency ms, 1 thread (x your float) | int8 audit |")
    print("|---|---|---|---|---|---|---|")
    base_ms = latencies[0].stats.median_ms
    for row, latency in zip(table, latencies):
        keras_text = "" if row["keras"] is None else f"{row['keras']:.2%}"
        size = os.path.getsize(row["path"]) / 1024
        audit = {True: "passed", False: "FAILED", None: ""}[row.get("audit")]
        print(f"| {row['label']} | {keras_text} | {row['tflite']:.2%} | "
              f"{(row['tflite'] - base['tflite']) * 100:+.2f} | {size:,.0f} "
              f"({_gzip_kib(row['path']):,.0f}) | {latency.stats.median_ms:.3f} "
              f"({latency.stats.median_ms / base_ms:.2f}x) | {audit} |")


if __name__ == "__main__":
    main()
