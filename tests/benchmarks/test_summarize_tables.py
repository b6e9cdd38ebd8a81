"""``benchmarks/summarize_tables.py``: one table row per run's metrics.json."""

import glob
import json
import os

import pytest

from benchmarks.summarize_tables import summarize

RECORDS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "benchmarks", "records")


def _write(directory, metrics):
    directory.mkdir()
    (directory / "metrics.json").write_text(json.dumps({**metrics, "completed_at": "now"}))
    return str(directory)


def test_pruning_rows_from_metrics_and_missing_runs_listed(tmp_path):
    run = _write(tmp_path / "channel_lasso", {
        "macs_kept": 0.496, "params": 137, "dense_params": 274,
        "dense_eval": {"accuracy": 0.883}, "eval_before_finetuning": {"accuracy": 0.76},
        "eval": {"accuracy": 0.875}, "train": {"steps": 2813, "seconds": 700.4}})
    killed = tmp_path / "channel_fpgm"  # its learner wrote metrics.json, the export was killed
    killed.mkdir()
    (killed / "metrics.json").write_text(json.dumps({"eval": {"accuracy": 0.8}}))
    table = summarize("pruning", [run, str(tmp_path / "channel_dcp"), str(killed)])
    assert table.splitlines()[1] == "|---|---:|---:|---:|---:|---:|---:|---:|"
    assert "| channel_lasso | 0.496 | 0.500 | 0.7600 | 0.8750 | -0.80 | 2813 | 700 |" in table
    assert table.endswith(f"(not completed yet, no row: {tmp_path / 'channel_dcp'}, {killed})")


def test_seconds_add_up_launches_or_say_they_are_the_last_ones(tmp_path):
    base = {"macs_kept": 0.5, "params": 1, "dense_params": 2, "dense_eval": {"accuracy": 0.8},
            "eval_before_finetuning": {"accuracy": 0.7}, "eval": {"accuracy": 0.8}}
    total = _write(tmp_path / "total", {**base, "train": {
        "steps": 9, "resumed_from": 4, "seconds": 5.0, "total_seconds": 9.2}})
    old = _write(tmp_path / "old", {**base, "train": {
        "steps": 9, "resumed_from": 4, "seconds": 5.0}})
    table = summarize("pruning", [total, old])
    assert "| total | 0.500 | 0.500 | 0.7000 | 0.8000 | +0.00 | 9 | 9 |" in table
    assert "| old | 0.500 | 0.500 | 0.7000 | 0.8000 | +0.00 | 9 | 5 (last launch) |" in table


def test_quant_row_has_bits_packed_size_and_int8_accuracy(tmp_path):
    run = _write(tmp_path / "quant_uniform_4", {
        "learner": "uniform", "average_bits": 4.0, "bits_source": "fixed",
        "dense_eval": {"accuracy": 0.8762}, "eval_before_finetuning": {"accuracy": 0.859},
        "eval": {"accuracy": 0.8734}, "export": {"int8_accuracy": 0.871},
        "size": {"total_bytes": 164948, "compression": 6.6455, "bits_per_quantized_weight": 4.0047},
        "train": {"steps": 2813, "seconds": 10.0, "total_seconds": 780.2}})
    assert ("| quant_uniform_4 | uniform | 4 (fixed) | 0.8590 | 0.8734 | -0.28 | 164,948 | 6.65x "
            "| 4.005 | 0.8710 | 780 |") in summarize("quant", [run])


def test_sparsity_row_has_sizes_and_latencies_by_thread_count(tmp_path):
    run = _write(tmp_path / "sparse_uniform_0.9", {
        "protocol": "uniform", "sparsity": {"target": 0.9, "overall": 0.9},
        "dense_eval": {"accuracy": 0.8762}, "eval_before_finetuning": {"accuracy": 0.1},
        "eval": {"accuracy": 0.86}, "search_seconds": None,
        "export": {"float_path": "m.tflite"},
        "sparse_export": {"path": "s.tflite", "size_bytes": 178372, "gzip_bytes": 138153,
                          "dense_float": {"size_bytes": 1103904, "gzip_bytes": 195828},
                          "int8": {"size_bytes": 312288, "gzip_bytes": 65724}},
        "latency": [{"model_file": "s.tflite", "threads": 2, "median_ms": 0.5},
                    {"model_file": "m.tflite", "threads": 2, "median_ms": 0.45},
                    {"model_file": "m.tflite", "threads": 1, "median_ms": 0.77},
                    {"model_file": "s.tflite", "threads": 1, "median_ms": 0.78}],
        "train": {"total_seconds": 900.0}})
    assert ("| sparse_uniform_0.9 | uniform | 0.9 | 0.9000 | 0.1000 | 0.8600 | -1.62 "
            "| 1,103,904 (195,828) | 178,372 (138,153) | 312,288 (65,724) | 0.770 / 0.450 "
            "| 0.780 / 0.500 | 0 | 900 |") in summarize("sparsity", [run])


def test_an_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="pruning.*quant.*sparsity.*Received: 'sparse'"):
        summarize("sparse", [])


def test_a_metrics_file_without_a_unified_key_is_refused_naming_it(tmp_path):
    run = _write(tmp_path / "quant_uniform_4", {  # the quantization learners' key before
        "learner": "uniform", "average_bits": 4.0, "bits_source": "fixed",
        "float_eval": {"accuracy": 0.8762}, "eval_before_finetuning": {"accuracy": 0.859},
        "eval": {"accuracy": 0.8734}})
    with pytest.raises(ValueError, match=r"quant_uniform_4/metrics.json' to hold the key "
                                         r"'dense_eval' of the quant table. Received: .*float_eval"):
        summarize("quant", [run])


def test_the_committed_records_read_with_the_unified_keys():
    runs = sorted(glob.glob(os.path.join(RECORDS, "sparse_*")))
    assert runs
    table = summarize("sparsity", runs)
    assert "not completed" not in table
    assert len(table.splitlines()) == 2 + len(runs)
