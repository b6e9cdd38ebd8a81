"""``tools/benchmark/summarize_pruning.py``: one table row per run's metrics.json."""

import json

from tools.benchmark.summarize_pruning import summarize


def test_rows_from_metrics_and_missing_runs_listed(tmp_path):
    run = tmp_path / "channel_lasso"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({
        "macs_kept": 0.496, "params": 137, "dense_params": 274,
        "dense_eval": {"accuracy": 0.883}, "eval_before_training": {"accuracy": 0.76},
        "eval": {"accuracy": 0.875}, "train": {"steps": 2813, "seconds": 700.4}}))
    table = summarize([str(run), str(tmp_path / "channel_dcp")])
    assert "| channel_lasso | 0.496 | 0.500 | 0.7600 | 0.8750 | -0.80 | 2813 | 700 |" in table
    assert "no metrics.json yet in: " in table and "channel_dcp" in table


def test_seconds_add_up_launches_or_say_they_are_the_last_ones(tmp_path):
    base = {"macs_kept": 0.5, "params": 1, "dense_params": 2, "dense_eval": {"accuracy": 0.8},
            "eval_before_training": {"accuracy": 0.7}, "eval": {"accuracy": 0.8}}
    for name, train in (("total", {"steps": 9, "resumed_from": 4, "seconds": 5.0, "total_seconds": 9.2}),
                        ("old", {"steps": 9, "resumed_from": 4, "seconds": 5.0})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({**base, "train": train}))
    table = summarize([str(tmp_path / "total"), str(tmp_path / "old")])
    assert "| total | 0.500 | 0.500 | 0.7000 | 0.8000 | +0.00 | 9 | 9 |" in table
    assert "| old | 0.500 | 0.500 | 0.7000 | 0.8000 | +0.00 | 9 | 5 (last launch) |" in table
