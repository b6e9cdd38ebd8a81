"""Measures the per-invoke latency of TFLite models, several at once, interleaved.

All models and thread counts are measured in one process, round-robin over ``--rounds`` rounds,
so slow drift of the machine hits them equally and their ratios can be trusted::

    python -m tools.benchmark.calc_inference_time --model_file a.tflite b.tflite --num_threads 1,4

Needs only the LiteRT interpreter (no TensorFlow), so it also runs on a device.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence

from absl import app, flags

from utils import tflite


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """Latency of one model file at one thread count."""

    model_file: str
    stats: tflite.LatencyStats

    def to_dict(self) -> dict:
        """JSON-ready form: the file name and the statistics side by side."""
        return {"model_file": self.model_file, **dataclasses.asdict(self.stats)}


def benchmark(model_files: Sequence[str], thread_counts: Sequence[int] = (1,), *,
              warmup: int = 20, repeats: int = 100, rounds: int = 10) -> list[BenchmarkResult]:
    """Measures every model file at every thread count, interleaved round-robin.

    Args:
        model_files: paths of ``.tflite`` files.
        thread_counts: interpreter thread counts.
        warmup: untimed invocations per (file, threads) before timing.
        repeats: timed invocations per (file, threads).
        rounds: round-robin rounds the repeats are split into (capped at ``repeats``).

    Returns:
        One result per (file, threads), files in the given order, then thread counts.

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: on bad counts or a file that is not a TFLite model.
    """
    missing = [path for path in model_files if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"No TFLite model at {', '.join(repr(p) for p in missing)}: "
                                "expected .tflite files.")
    stats = tflite.measure_latencies(model_files, thread_counts, warmup=warmup, repeats=repeats,
                                     rounds=min(rounds, repeats))
    return [BenchmarkResult(path, per_thread) for path, row in zip(model_files, stats)
            for per_thread in row]


def format_table(results: Sequence[BenchmarkResult]) -> str:
    """A fixed-width text table: file, threads, median, p10-p90 and mean +- std, in ms."""
    header = ("model file", "threads", "median ms", "p10-p90 ms", "mean +- std ms", "runs")
    rows = [header] + [
        (result.model_file, str(result.stats.threads), f"{result.stats.median_ms:.3f}",
         f"{result.stats.p10_ms:.3f}-{result.stats.p90_ms:.3f}",
         f"{result.stats.mean_ms:.3f} +- {result.stats.stdev_ms:.3f}", str(result.stats.repeats))
        for result in results]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# --------------------------------------------------------------------------------- command line
def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags (in ``flag_values``, so tests can use their own)."""
    flags.DEFINE_list("model_file", None, "TFLite model(s) to time, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_list("num_threads", ["1"], "Interpreter thread counts, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_integer("nb_repts_warmup", 20, "Untimed warm-up invocations per model.",
                         lower_bound=0, flag_values=flag_values)
    flags.DEFINE_integer("nb_repts", 100, "Timed invocations per model and thread count.",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("rounds", 10, "Round-robin rounds the timed invocations are split into.",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_string("output_json", None, "Also write the results to this JSON file.",
                        flag_values=flag_values)


def _parse_thread_counts(values: Sequence[str]) -> list[int]:
    try:
        counts = [int(value) for value in values]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise ValueError("Expected `--num_threads` to be positive integers, e.g. 1,2. "
                         f"Received: {','.join(values)}")
    return counts


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Times the models named on the command line and prints the table."""
    # Extra positional arguments are more files: `--model_file a.tflite b.tflite` works too.
    model_files = list(flag_values.model_file or []) + list(argv[1:])
    try:
        if not model_files:
            raise ValueError("Expected `--model_file` with at least one .tflite file.")
        results = benchmark(model_files, _parse_thread_counts(flag_values.num_threads),
                            warmup=flag_values.nb_repts_warmup, repeats=flag_values.nb_repts,
                            rounds=flag_values.rounds)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"calc_inference_time: error: {error}")
    print(f"interpreter: {tflite.interpreter_backend()}, per-invoke latency at batch 1")
    print(format_table(results))
    if flag_values.output_json:
        with open(flag_values.output_json, "w") as file:
            json.dump([result.to_dict() for result in results], file, indent=2)
        print(f"wrote {flag_values.output_json}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
