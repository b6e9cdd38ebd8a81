"""Tests of export.latency: latency statistics, round-robin measurement, file benchmarks."""

import os

import pytest

from export.latency import benchmark, format_table, measure_latencies, measure_latency
from tests.fixtures.export_models import write_small_tflite_files


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return write_small_tflite_files(tmp_path_factory.mktemp("benchmark"))


def test_measure_latency_statistics(int8_model):
    stats = measure_latency(int8_model, num_threads=1, warmup=2, repeats=15)
    assert stats.repeats == 15 and stats.threads == 1
    assert 0 < stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.mean_ms > 0 and stats.stdev_ms >= 0


def test_measure_latencies_interleaves_every_pair(float_model, int8_model):
    grid = measure_latencies([float_model, int8_model], [1, 2], warmup=1, repeats=7, rounds=3)
    assert [[stats.threads for stats in row] for row in grid] == [[1, 2], [1, 2]]
    assert all(stats.repeats == 7 and stats.median_ms > 0 for row in grid for stats in row)
    with pytest.raises(ValueError, match="rounds"):
        measure_latencies([float_model], [1], repeats=2, rounds=3)


def test_benchmark_measures_every_file_and_thread_count(model_files):
    results = benchmark(model_files, [1, 2], warmup=2, repeats=6, rounds=3)
    assert [(result.model_file, result.stats.threads) for result in results] == [
        (model_files[0], 1), (model_files[0], 2), (model_files[1], 1), (model_files[1], 2)]
    assert all(result.stats.repeats == 6 and result.stats.median_ms > 0 for result in results)
    table = format_table(results)
    assert len(table.splitlines()) == 2 + len(results)
    assert all(os.path.basename(path) in table for path in model_files)
