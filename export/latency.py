"""Per-invoke latency of ``.tflite`` models at batch 1, several measured round-robin.

Measuring every (model, threads) pair interleaved, in one process, spreads slow drift of the
machine over all of them, so their ratios can be trusted. Needs only the interpreter.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Sequence

import numpy as np

from export.interpreter import TFLiteModel


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Per-invoke latency of a model, in milliseconds.

    Attributes:
        median_ms: median latency.
        mean_ms: mean latency.
        p10_ms: 10th percentile.
        p90_ms: 90th percentile.
        stdev_ms: sample standard deviation (0 for a single run).
        repeats: number of timed invocations.
        threads: interpreter threads.
    """

    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    stdev_ms: float
    repeats: int
    threads: int

    @classmethod
    def from_times(cls, times_ms: Sequence[float], threads: int) -> LatencyStats:
        """Statistics of the given per-invoke times."""
        p10, p90 = np.percentile(times_ms, [10, 90])
        return cls(median_ms=float(statistics.median(times_ms)),
                   mean_ms=float(statistics.fmean(times_ms)), p10_ms=float(p10), p90_ms=float(p90),
                   stdev_ms=float(statistics.stdev(times_ms)) if len(times_ms) > 1 else 0.0,
                   repeats=len(times_ms), threads=threads)


def measure_latency(model: bytes | str | os.PathLike, num_threads: int = 1, warmup: int = 20,
                    repeats: int = 100) -> LatencyStats:
    """Latency of one invoke at the model's default batch size (1 for a dynamic batch).

    Args:
        model: serialized bytes or a path to a ``.tflite`` file.
        num_threads: interpreter threads.
        warmup: untimed invocations first.
        repeats: timed invocations.
    """
    return measure_latencies([model], [num_threads], warmup=warmup, repeats=repeats)[0][0]


def measure_latencies(models: Sequence[bytes | str | os.PathLike], thread_counts: Sequence[int],
                      *, warmup: int = 20, repeats: int = 100, rounds: int = 1
                      ) -> list[list[LatencyStats]]:
    """Latency of several models at several thread counts, measured interleaved.

    Every (model, threads) pair gets its own interpreter and random input at batch 1. After
    ``warmup`` untimed invocations of each, the timed ``repeats`` are split into ``rounds``; in
    each round every pair runs its share in turn, so slow drift of the machine (thermal
    throttling, a neighbour's load) is spread over all pairs instead of biasing the last one.

    Args:
        models: serialized bytes or paths of ``.tflite`` files.
        thread_counts: interpreter thread counts to measure each model at.
        warmup: untimed invocations of each pair before timing.
        repeats: timed invocations of each pair, in total.
        rounds: number of round-robin rounds (1 measures the pairs one after the other).

    Returns:
        ``result[i][j]``: the stats of ``models[i]`` with ``thread_counts[j]`` threads.

    Raises:
        ValueError: on empty inputs, ``warmup`` < 0, ``repeats`` < 1 or ``rounds`` not in
            ``[1, repeats]``.
    """
    if not models or not thread_counts:
        raise ValueError("Expected at least one model and one thread count. Received: "
                         f"{len(models)} models, thread_counts={list(thread_counts)}")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"Expected `warmup` >= 0 and `repeats` >= 1. Received: warmup={warmup}, "
                         f"repeats={repeats}")
    if not 1 <= rounds <= repeats:
        raise ValueError(f"Expected 1 <= `rounds` <= repeats={repeats}. Received: rounds={rounds}")
    pairs = [TFLiteModel(model, threads) for model in models for threads in thread_counts]
    for pair in pairs:
        pair.set_random_input()
        for _ in range(warmup):
            pair.invoke()
    times_ms: list[list[float]] = [[] for _ in pairs]
    for round_index in range(rounds):
        share = repeats // rounds + (round_index < repeats % rounds)
        for pair, times in zip(pairs, times_ms):
            if rounds > 1:
                pair.invoke()  # untimed: refill the caches the previous pair evicted
            for _ in range(share):
                start = time.perf_counter_ns()
                pair.invoke()
                times.append((time.perf_counter_ns() - start) / 1e6)
    stats = [LatencyStats.from_times(times, pair.num_threads)
             for pair, times in zip(pairs, times_ms)]
    width = len(thread_counts)
    return [stats[index:index + width] for index in range(0, len(stats), width)]


# --------------------------------------------------------------------------------- benchmark
@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """Latency of one model file at one thread count."""

    model_file: str
    stats: LatencyStats

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
    stats = measure_latencies(model_files, thread_counts, warmup=warmup, repeats=repeats,
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
