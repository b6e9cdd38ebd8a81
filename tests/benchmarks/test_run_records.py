"""Tests of benchmarks/run_records.py: which files are records, saving and restoring them."""

import json

from benchmarks.run_records import record_files, restore_records, save_records


def _run_directory(root):
    """A weight-sparse optimal run as it looks mid-way: records beside checkpoints and a model."""
    (root / "search").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / "plan.json").write_text('{"ratios": [0.5]}\n')
    (root / "search" / "search.json").write_text('{"backend": "ddpg"}\n')
    (root / "search" / "trials.jsonl").write_text('{"trial": 0, "seconds": 9.5}\n')
    (root / "checkpoints" / "train_seconds.json").write_text('{"seconds": 3}\n')
    (root / "checkpoints" / "ckpt-1.index").write_bytes(b"\0" * 8)
    (root / "model.keras").write_bytes(b"\0" * 8)
    return root


def test_records_are_the_json_files_outside_the_checkpoints(tmp_path):
    run = _run_directory(tmp_path / "run")
    assert record_files(str(run)) == ["plan.json", "search/search.json", "search/trials.jsonl"]
    assert record_files(str(tmp_path / "missing")) == []


def test_save_copies_new_and_changed_records_only(tmp_path):
    run, kept = _run_directory(tmp_path / "run"), tmp_path / "records"
    assert save_records(str(run), str(kept)) == [
        "plan.json", "search/search.json", "search/trials.jsonl"]
    assert not (kept / "checkpoints").exists() and not (kept / "model.keras").exists()
    assert save_records(str(run), str(kept)) == []  # nothing changed, nothing rewritten
    with open(run / "search" / "trials.jsonl", "a") as handle:
        handle.write('{"trial": 1, "seconds": 8.0}\n')
    assert save_records(str(run), str(kept)) == ["search/trials.jsonl"]
    assert (kept / "search" / "trials.jsonl").read_text().count("\n") == 2


def test_restore_fills_in_what_the_run_lacks_and_never_overwrites(tmp_path):
    run, kept = _run_directory(tmp_path / "run"), tmp_path / "records"
    save_records(str(run), str(kept))
    (kept / "metrics.json").write_text(json.dumps({"completed_at": "then"}))
    fresh = tmp_path / "new_machine"
    assert restore_records(str(kept), str(fresh)) == [
        "metrics.json", "plan.json", "search/search.json", "search/trials.jsonl"]
    assert (fresh / "search" / "trials.jsonl").read_text() == '{"trial": 0, "seconds": 9.5}\n'
    (run / "plan.json").write_text('{"ratios": [0.7]}\n')  # newer than the record
    assert restore_records(str(kept), str(run)) == ["metrics.json"]
    assert (run / "plan.json").read_text() == '{"ratios": [0.7]}\n'
    assert restore_records(str(tmp_path / "none"), str(run)) == []
