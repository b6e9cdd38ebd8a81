"""Tests of benchmarks/resnet20_queue.py: parsing, skipping finished runs, failures, stops."""

import json
import os
import signal
import subprocess
import threading

import pytest
from absl import flags

from benchmarks import resnet20_queue
from benchmarks.resnet20_queue import Job, parse_queue, run_queue

# A stand-in for a table script: records its call, then behaves as FAKE_MODE says.
_FAKE_SCRIPT = """#!/usr/bin/env bash
echo "$*" >> "${FAKE_RUN_DIR}/calls"
if [[ -f "${FAKE_RUN_DIR}/channel_$1/search/trials.jsonl" ]]; then
  echo "$1 resumes $(wc -l < "${FAKE_RUN_DIR}/channel_$1/search/trials.jsonl") trial(s)" >> "${FAKE_RUN_DIR}/calls"
fi
case "${FAKE_MODE:-ok}:$1" in
  fail:l1) exit 3 ;;
  wait:*) trap 'echo stopped >> "${FAKE_RUN_DIR}/calls"; exit 0' TERM
          for _ in $(seq 300); do sleep 0.1; done; exit 0 ;;
esac
mkdir -p "${FAKE_RUN_DIR}/channel_$1/search"
echo '{"trial": 9}' >> "${FAKE_RUN_DIR}/channel_$1/search/trials.jsonl"
echo '{"completed_at": "now"}' > "${FAKE_RUN_DIR}/channel_$1/metrics.json"
"""


@pytest.fixture
def fake_scripts(tmp_path, monkeypatch):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "resnet20_channel_table.sh").write_text(_FAKE_SCRIPT)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setenv("FAKE_RUN_DIR", str(run_dir))
    return str(scripts), run_dir


def _calls(run_dir):
    path = run_dir / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_parse_queue_reads_jobs_and_skips_comments():
    jobs = parse_queue("# header\nchannel lasso   # why\n\nquant uniform 4\nsparsity optimal 0.9\n"
                       "uniform-tf 8 8\n")
    assert [job.directory for job in jobs] == ["channel_lasso", "quant_uniform_4",
                                               "sparse_optimal_0.9", "uniform_tf_8_8"]
    assert jobs[1].command("/s") == ["bash", "/s/resnet20_quant_table.sh", "uniform", "4"]


def test_a_probe_line_names_its_directory_and_passes_its_flags():
    [job] = parse_queue("sparsity heurist 0.9 as sparse_h_16ep --nb_epochs 16  # longer\n")
    assert job.directory == "sparse_h_16ep"
    assert job.command("/s") == ["bash", "/s/resnet20_sparsity_table.sh", "heurist", "0.9",
                                 "--nb_epochs", "16", "--save_dir", "./sparse_h_16ep",
                                 "--log_dir", "./logs_sparse_h_16ep"]
    assert str(job) == "sparsity heurist 0.9 as sparse_h_16ep --nb_epochs 16"


@pytest.mark.parametrize("text, expected", [
    ("channel lasso\nprune lasso\n", r"q:2: expected a job kind in .*Received: 'prune'"),
    ("quant uniform\n", r"q:1: expected 2 argument\(s\) after 'quant'. Received: \['uniform'\]"),
    ("channel l1\nchannel l1\n",
     r"q:2: expected each run directory once. Received: channel_l1 again \(line 1\)"),
    ("channel l1 as\n", r"q:1: expected a directory name .* after 'as'. Received: \[\]"),
    ("channel l1 as ../x\n", r"q:1: expected a directory name .* Received: \['../x'\]"),
    ("channel l1 as channel_lasso --nb_epochs 16\nchannel lasso\n",
     r"q:2: expected each run directory once. Received: channel_lasso again \(line 1\)"),
])
def test_parse_queue_errors_name_the_line(text, expected):
    with pytest.raises(ValueError, match=expected):
        parse_queue(text, "q")


def test_finished_runs_are_skipped_and_the_rest_run_in_order(fake_scripts):
    scripts, run_dir = fake_scripts
    for name, metrics in (("lasso", '{"completed_at": "then"}'), ("fpgm", '{"eval": {}}')):
        (run_dir / f"channel_{name}").mkdir()  # fpgm: written by its learner, killed in export
        (run_dir / f"channel_{name}" / "metrics.json").write_text(metrics)
    jobs = parse_queue("channel lasso\nchannel fpgm\nchannel dcp\n")
    messages = []
    assert run_queue(jobs, str(run_dir), scripts, log=messages.append) == 0
    assert _calls(run_dir) == ["fpgm", "dcp"]
    assert messages[0].startswith("queue: 1 of 3 run(s) finished; 2 to go")
    assert (run_dir / "queue_logs" / "channel_fpgm.log").exists()
    assert run_queue(jobs, str(run_dir), scripts, log=messages.append) == 0  # nothing left
    assert _calls(run_dir) == ["fpgm", "dcp"]


def test_a_failed_job_stops_the_queue_naming_it(fake_scripts, monkeypatch):
    scripts, run_dir = fake_scripts
    monkeypatch.setenv("FAKE_MODE", "fail")
    messages = []
    code = run_queue(parse_queue("channel fpgm\nchannel l1\nchannel dcp\n"), str(run_dir), scripts,
                     log=messages.append)
    assert code == 3
    assert _calls(run_dir) == ["fpgm", "l1"]
    assert "channel l1 failed (exit code 3, no completed metrics.json)" in messages[-1]
    assert "channel_l1.log" in messages[-1]


def test_sigterm_is_passed_to_the_job_and_the_queue_stops(fake_scripts, monkeypatch):
    scripts, run_dir = fake_scripts
    monkeypatch.setenv("FAKE_MODE", "wait")
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    messages = []
    try:
        code = run_queue(parse_queue("channel fpgm\nchannel dcp\n"), str(run_dir), scripts,
                         log=messages.append)
    finally:
        timer.cancel()
    assert code == 143
    assert _calls(run_dir) == ["fpgm", "stopped"]
    assert "stopped during channel fpgm" in messages[-1]
    assert not isinstance(signal.getsignal(signal.SIGTERM), resnet20_queue._StopRequest)


def test_job_str_and_directory():
    job = Job("sparsity", ("heurist", "0.75"))
    assert str(job) == "sparsity heurist 0.75" and job.directory == "sparse_heurist_0.75"


def _main(argv):
    flag_values = flags.FlagValues()
    resnet20_queue.define_flags(flag_values)
    positional = flag_values(["resnet20_queue", *argv])
    with pytest.raises(SystemExit) as exit_info:
        resnet20_queue.main(positional, flag_values)
    return exit_info.value.code


def test_cli_errors_name_the_queue_file(tmp_path):
    assert "Received: '/no/such/queue', no such file" in _main(["--queue_file=/no/such/queue"])
    bad = tmp_path / "bad.txt"
    bad.write_text("channel\n")
    assert f"{bad}:1: expected 1 argument(s) after 'channel'" in _main([f"--queue_file={bad}"])


def test_the_default_queue_parses():
    with open(resnet20_queue.DEFAULT_QUEUE) as handle:
        assert len(parse_queue(handle.read())) >= 20


def test_the_list_is_read_again_after_each_run(fake_scripts):
    scripts, run_dir = fake_scripts
    lists = iter([parse_queue("channel l1\nchannel dcp\nchannel fpgm\n"),  # dcp moved up
                  ValueError("q:1: expected a job kind"),  # a broken edit: previous list kept
                  FileNotFoundError("no such file")])

    def reload():
        item = next(lists)
        if isinstance(item, Exception):
            raise item
        return item

    messages = []
    code = run_queue(parse_queue("channel l1\nchannel fpgm\n"), str(run_dir), scripts,
                     log=messages.append, reload=reload)
    assert code == 0
    assert _calls(run_dir) == ["l1", "dcp", "fpgm"]
    assert any("kept the previous list; reading the queue again failed: q:1" in message
               for message in messages)
    assert "[2/3] channel dcp" in " ".join(messages)


def test_records_are_restored_before_a_run_and_saved_after_it(fake_scripts, tmp_path):
    scripts, run_dir = fake_scripts
    records = tmp_path / "records"
    (records / "channel_l1" / "search").mkdir(parents=True)  # a search from a lost machine
    (records / "channel_l1" / "search" / "trials.jsonl").write_text('{"trial": 0}\n')
    (records / "channel_dcp").mkdir()  # a run finished on a lost machine
    (records / "channel_dcp" / "metrics.json").write_text('{"completed_at": "then"}')
    messages = []
    code = run_queue(parse_queue("channel l1\nchannel dcp\n"), str(run_dir), scripts,
                     log=messages.append, records_dir=str(records))
    assert code == 0
    assert _calls(run_dir) == ["l1", "l1 resumes 1 trial(s)"]  # dcp: finished, not run again
    assert "restored 1 record(s) of channel_l1/" in messages[0]
    assert "restored 1 record(s) of channel_dcp/" in messages[1]
    assert (records / "channel_l1" / "search" / "trials.jsonl").read_text().splitlines() == [
        '{"trial": 0}', '{"trial": 9}']
    assert json.loads((records / "channel_l1" / "metrics.json").read_text()) == {
        "completed_at": "now"}


def test_a_running_job_s_records_are_saved_every_interval():
    saves = []
    child = subprocess.Popen(["sleep", "1"])
    assert resnet20_queue._wait(child, lambda: saves.append(1), 0.2) == 0
    assert len(saves) >= 3
