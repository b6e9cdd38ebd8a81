"""Tests of utils/io.py's completion marker for ``metrics.json``."""

from utils.io import is_completed, mark_completed, write_json_atomic


def test_only_a_metrics_file_the_runner_marked_is_completed(tmp_path):
    path = str(tmp_path / "metrics.json")
    assert not is_completed(path)  # no file
    write_json_atomic(path, {"eval": {"accuracy": 0.9}})  # a learner's write, before export
    assert not is_completed(path)
    marked = mark_completed({"eval": {"accuracy": 0.9}})
    assert marked["eval"] == {"accuracy": 0.9} and marked["completed_at"].endswith("Z")
    write_json_atomic(path, marked)
    assert is_completed(path)
    (tmp_path / "metrics.json").write_text('{"eval": ')  # corrupt
    assert not is_completed(path)
