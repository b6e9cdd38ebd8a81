"""Parses TensorFlow Lite ``benchmark_model`` logs into a table and JSON rows.

``scripts/benchmark_android.sh`` runs ``benchmark_model`` on a phone once per (file, delegate,
threads), saves each run's output and lists the runs in a tab-separated manifest
(``model_file  threads  delegate  log_path``, one run a line). This helper reads that manifest::

    python3 scripts/parse_benchmark_model.py --manifest runs.tsv --out android_benchmark.json \
        --device "Pixel 7" --serial 2A1B3C --abi arm64-v8a

and prints one table and writes the JSON rows. Standard library only (no TensorFlow), so it runs
with any Python 3.9+.

A row has the keys of the CPU benchmark's rows (``export.latency.BenchmarkResult.to_dict``) that
``benchmark_model`` can fill honestly: ``model_file``, ``threads``, ``mean_ms``, ``stdev_ms``,
``repeats``; ``median_ms``, ``p5_ms``, ``p95_ms`` only when the binary prints them (recent builds
add ``p5= median= p95=`` to their ``count=`` line; older ones give ``null``). There is no
``p10_ms`` / ``p90_ms``: ``benchmark_model`` does not report those percentiles. Added:
``delegate``, ``device``, ``serial``, ``abi``, ``min_ms``, ``max_ms``, ``first_ms``,
``warmup_mean_ms``, ``init_ms`` and ``delegated`` (the "Replacing N out of M node(s) with
delegate" lines).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

_NUMBER = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: (?P<init>{_NUMBER}), First inference: (?P<first>{_NUMBER}), "
    rf"Warmup \(avg\): (?P<warmup>{_NUMBER}), Inference \(avg\): (?P<avg>{_NUMBER})")
# tsl's Stat::OutputToStream: "count=N first=.. curr=.. min=.. max=.. avg=.. std=..", or
# "count=N curr=X" (optionally "(all same)") when every run took the same time; recent builds
# append " p5=.. median=.. p95=..".
_COUNT = re.compile(rf"count=(?P<count>\d+)(?P<rest>[^\n]*)")
_FIELD = re.compile(rf"\b(?P<key>first|curr|min|max|avg|std|p5|median|p95)=(?P<value>{_NUMBER})")
_DELEGATED = re.compile(r"Replacing (?P<nodes>\d+) out of (?P<total>\d+) node\(s\) with delegate "
                        r"\((?P<name>[^)]+)\)")

ROW_KEYS = ("model_file", "threads", "delegate", "mean_ms", "stdev_ms", "median_ms", "p5_ms",
            "p95_ms", "min_ms", "max_ms", "repeats", "first_ms", "warmup_mean_ms", "init_ms",
            "delegated", "device", "serial", "abi")


class BenchmarkOutputError(ValueError):
    """A ``benchmark_model`` log without the lines this parser needs."""


def _ms(microseconds: str) -> float:
    return float(microseconds) / 1000.0


def parse_output(text: str) -> dict:
    """Statistics of one ``benchmark_model`` run, in milliseconds.

    Args:
        text: everything the run printed (``adb shell`` may end lines with ``\\r\\n``).

    Returns:
        ``mean_ms``, ``stdev_ms``, ``median_ms``/``p5_ms``/``p95_ms`` (``None`` unless
        printed), ``min_ms``, ``max_ms``, ``repeats``, ``first_ms``, ``warmup_mean_ms``,
        ``init_ms`` and ``delegated``.

    Raises:
        BenchmarkOutputError: if the "Inference timings in us" line or the timed runs'
            ``count=`` line is missing.
    """
    text = text.replace("\r", "")
    timings = _TIMINGS.search(text)
    if timings is None:
        raise BenchmarkOutputError("Expected a line 'Inference timings in us: Init: ..., "
                                   "Inference (avg): ...'. Received: none")
    # The last count= line before the summary is the timed runs' (the first is the warm-up's).
    counts = list(_COUNT.finditer(text, 0, timings.start()))
    if not counts:
        raise BenchmarkOutputError("Expected a 'count=... avg=... std=...' line before the "
                                   "'Inference timings' line. Received: none")
    count = counts[-1]
    fields = {match["key"]: match["value"] for match in _FIELD.finditer(count["rest"])}
    all_same = "std" not in fields  # "count=N curr=X": every run took X
    minimum = fields.get("min", fields.get("curr"))
    maximum = fields.get("max", fields.get("curr"))
    return {
        "mean_ms": _ms(timings["avg"]),
        "stdev_ms": 0.0 if all_same else _ms(fields["std"]),
        "median_ms": _ms(fields["median"]) if "median" in fields else None,
        "p5_ms": _ms(fields["p5"]) if "p5" in fields else None,
        "p95_ms": _ms(fields["p95"]) if "p95" in fields else None,
        "min_ms": _ms(minimum) if minimum is not None else None,
        "max_ms": _ms(maximum) if maximum is not None else None,
        "repeats": int(count["count"]),
        "first_ms": _ms(timings["first"]),
        "warmup_mean_ms": _ms(timings["warmup"]),
        "init_ms": _ms(timings["init"]),
        "delegated": [{"name": match["name"], "nodes": int(match["nodes"]),
                       "total": int(match["total"])} for match in _DELEGATED.finditer(text)],
    }


def read_manifest(path: str) -> list[tuple[str, int, str, str]]:
    """``(model_file, threads, delegate, log_path)`` per line of a tab-separated manifest."""
    runs = []
    with open(path) as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4 or not fields[1].isdigit():
                raise ValueError(f"Expected 'model_file<TAB>threads<TAB>delegate<TAB>log' in "
                                 f"{path} line {number}. Received: {line.rstrip()!r}")
            runs.append((fields[0], int(fields[1]), fields[2], fields[3]))
    return runs


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(rows: Sequence[dict]) -> str:
    """One line per row: file, threads, delegate, average, standard deviation, median (ms)."""
    header = ("model_file", "threads", "delegate", "avg ms", "std ms", "median ms")
    lines = [header] + [(row["model_file"], str(row["threads"]), row["delegate"],
                         _format(row["mean_ms"]), _format(row["stdev_ms"]),
                         _format(row["median_ms"])) for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) if column < 3 else cell.rjust(width)
                               for column, (cell, width) in enumerate(zip(line, widths)))
                     for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parses every run of the manifest, prints the table, writes the JSON; 1 if a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="tab-separated list of the runs")
    parser.add_argument("--out", required=True, help="JSON file to write the rows to")
    parser.add_argument("--device", default="", help="the phone's model name")
    parser.add_argument("--serial", default="", help="the phone's adb serial")
    parser.add_argument("--abi", default="", help="the phone's ABI")
    args = parser.parse_args(argv)

    rows, failures = [], []
    for model_file, threads, delegate, log_path in read_manifest(args.manifest):
        with open(log_path, errors="replace") as file:
            text = file.read()
        try:
            stats = parse_output(text)
        except BenchmarkOutputError as error:
            tail = "\n    ".join(text.replace("\r", "").strip().splitlines()[-5:]) or "(no output)"
            failures.append(f"{model_file} threads={threads} delegate={delegate}: {error}\n"
                            f"  last lines of benchmark_model's output:\n    {tail}")
            continue
        row = {"model_file": model_file, "threads": threads, "delegate": delegate, **stats,
               "device": args.device, "serial": args.serial, "abi": args.abi}
        rows.append({key: row[key] for key in ROW_KEYS})

    if rows:
        print(f"benchmark_model on {args.device or 'the device'} ({args.abi}), batch 1, ms")
        print(format_table(rows))
    with open(args.out, "w") as file:
        json.dump(rows, file, indent=2)
    print(f"wrote {args.out} ({len(rows)} rows)")
    for failure in failures:
        print(f"error: no timings for {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
