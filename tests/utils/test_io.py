"""Tests of utils/io.py: the completion marker of ``metrics.json``, strict JSON, atomic writes
and their temporaries, output directories, run locks."""

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


def test_json_writes_are_strict_and_a_nan_leaves_the_file_as_it_was(tmp_path):
    import json
    import math

    import numpy as np
    import pytest

    path = tmp_path / "metrics.json"
    write_json_atomic(str(path), {"loss": 0.5})
    before = path.read_bytes()
    for bad in (float("nan"), np.float32("inf"), [1.0, -math.inf]):
        with pytest.raises(ValueError, match="metrics.json.*NaN or infinite"):
            write_json_atomic(str(path), {"loss": bad})
        assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left over
    assert json.loads(before) == {"loss": 0.5}


def test_the_event_log_records_a_nan_as_text_and_stays_strict_json(tmp_path):
    import json

    import numpy as np
    import pytest

    from utils.io import EventLog

    log = EventLog(str(tmp_path / "events.jsonl"))
    log.write("train_step", loss=np.float32("nan"), values=[1.0, float("inf")])
    record = json.loads((tmp_path / "events.jsonl").read_text(), parse_constant=pytest.fail)
    assert record["loss"] == "nan" and record["values"] == [1.0, "inf"]


def test_an_output_dir_is_created_and_a_file_in_its_place_is_named(tmp_path):
    import pytest

    from utils.io import ensure_writable_dir

    assert ensure_writable_dir(str(tmp_path / "a" / "b"), "--save_dir") == str(tmp_path / "a" / "b")
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the test write leaves nothing
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--log_dir.*file"):
        ensure_writable_dir(str(tmp_path / "file"), "--log_dir")
    with pytest.raises(ValueError, match=r"--model_dir.*file/sub"):
        ensure_writable_dir(str(tmp_path / "file" / "sub"), "--model_dir")
    assert (tmp_path / "file").read_text() == "x"


def test_a_lock_held_by_a_live_process_stops_a_second_run_and_a_stale_one_is_taken_over(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import pytest

    from utils.locks import LockedError, RunLock

    path = tmp_path / ".run.lock"
    with RunLock(str(path), "--save_dir=out"):
        owner = json.loads(path.read_text())
        assert owner["pid"] == os.getpid()
        expected = rf"--save_dir=out.*process id {os.getpid()}.*started"
        with pytest.raises(LockedError, match=expected):
            RunLock(str(path), "--save_dir=out").acquire()
    assert not path.exists()  # released

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path.write_text(json.dumps({"pid": int(dead.stdout), "host": owner["host"], "started": "x"}))
    with RunLock(str(path), "--save_dir=out"):  # stale: its process is gone
        assert json.loads(path.read_text())["pid"] == os.getpid()
    path.write_text("")  # a lock file left empty by a crash
    with RunLock(str(path), "--save_dir=out"):
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_atomic_writes_leave_no_temporary_and_those_of_killed_runs_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from utils.io import remove_stale_temporaries, temporary_path, write_text_atomic

    path = tmp_path / "out" / "metrics.json"
    write_text_atomic(str(path), "{}\n")
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like the run's other files
    assert temporary_path(str(path), ".keras") == str(
        tmp_path / "out" / f".metrics.json.{os.getpid()}.tmp.keras")

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (path.parent / "search").mkdir()
    stale = [path.parent / f".model.keras.{dead.stdout.strip()}.tmp.keras",
             path.parent / "search" / f".best.json.{dead.stdout.strip()}.tmp"]
    live = path.parent / f".plan.json.{os.getppid()}.tmp"  # a live writer's: kept
    other = path.parent / "notes.1.tmp"  # not a temporary's name: kept
    for file in (*stale, live, other):
        file.write_text("x")
    assert sorted(remove_stale_temporaries(str(path.parent))) == sorted(map(str, stale))
    assert live.exists() and other.exists() and path.exists()
