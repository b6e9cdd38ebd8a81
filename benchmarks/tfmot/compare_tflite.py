"""Scores .tflite files from both sides with the product's own export code (product venv).

For each file: top-1 accuracy on the evaluation split through ``export.accuracy`` (the code behind
our recorded rows), size, gzip -9 size, the int8 audit (``export.audit``) where the input is int8;
then latency of all files interleaved round-robin in this one process (``export.latency``), so
ours and tfmot's are timed under the same load. Writes a JSON record.

    PYTHONPATH=. .venv/bin/python benchmarks/tfmot/compare_tflite.py \
        --data_dir ~/pocketflow_data/cifar10 --out ~/pocketflow_runs/tfmot/compare_ptq.json \
        ours=~/pocketflow_runs/resnet20/export/model_int8.tflite \
        tfmot=~/pocketflow_runs/tfmot/ptq_int8/int8.tflite
"""

from __future__ import annotations

import argparse
import gzip
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="label=path.tflite")
    parser.add_argument("--data_dir", default=os.path.expanduser("~/pocketflow_data/cifar10"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    labelled = []
    for item in args.files:
        label, separator, path = item.partition("=")
        if not separator:
            raise SystemExit(f"Expected label=path.tflite. Received: {item!r}")
        labelled.append((label, os.path.expanduser(path)))

    from datasets.base import DataConfig
    from datasets.registry import create_dataset
    from export.accuracy import evaluate_accuracy
    from export.audit import audit_int8
    from export.interpreter import load
    from export.latency import benchmark

    dataset = create_dataset(DataConfig(dataset="cifar10", data_dir=args.data_dir))
    rows = {}
    for label, path in labelled:
        with open(path, "rb") as file:
            contents = file.read()
        row = {"path": path, "size_bytes": len(contents),
               "gzip_bytes": len(gzip.compress(contents, 9)),
               "accuracy": evaluate_accuracy(path, dataset)}
        if load(path).interpreter.get_input_details()[0]["dtype"].__name__ == "int8":
            report = audit_int8(path)
            row["audit"] = {"passed": report.passed, "nb_ops": len(report.ops),
                            "offending": [str(op) for op in report.offending_ops]}
        rows[label] = row
    threads = [int(value) for value in args.threads.split(",")]
    for result in benchmark([path for _, path in labelled], threads, repeats=args.repeats):
        label = next(label for label, path in labelled if path == result.model_file)
        rows[label][f"latency_ms_{result.stats.threads}_threads"] = result.stats.median_ms
    record = {"rows": rows, "repeats": args.repeats, "threads": threads}
    print(json.dumps(record, indent=2))
    if args.out:
        with open(os.path.expanduser(args.out), "w") as file:
            json.dump(record, file, indent=2)


if __name__ == "__main__":
    main()
