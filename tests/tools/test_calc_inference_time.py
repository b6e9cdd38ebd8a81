"""Tests of tools/benchmark/calc_inference_time.py, the command line over export.benchmark."""

import json
import os
import subprocess
import sys

import pytest
from absl import flags

from tests.fixtures.export_models import write_small_tflite_files
from tools.benchmark import calc_inference_time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return write_small_tflite_files(tmp_path_factory.mktemp("benchmark"))


def test_cli_runs_two_files_at_two_thread_counts(model_files, tmp_path):
    output_json = tmp_path / "latency.json"
    completed = subprocess.run(
        [sys.executable, "-m", "tools.benchmark.calc_inference_time",
         "--model_file", model_files[0], model_files[1], "--num_threads", "1,2",
         "--nb_repts_warmup", "2", "--nb_repts", "10", "--rounds", "2",
         f"--output_json={output_json}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(output_json.read_text())
    assert [(row["model_file"], row["threads"]) for row in rows] == [
        (model_files[0], 1), (model_files[0], 2), (model_files[1], 1), (model_files[1], 2)]
    assert all(row["repeats"] == 10 and row["median_ms"] > 0 for row in rows)
    assert "median ms" in completed.stdout and model_files[1] in completed.stdout


def parse(argv):
    flag_values = flags.FlagValues()
    calc_inference_time.define_flags(flag_values)
    return flag_values(["calc_inference_time", *argv])[1:], flag_values


@pytest.mark.parametrize("argv, expected", [
    (["--model_file=/nowhere/model.tflite"], "/nowhere/model.tflite"),
    (["--num_threads=0"], "--num_threads"),
    ([], "--model_file"),
])
def test_cli_errors_name_the_problem(model_files, argv, expected):
    if argv == ["--num_threads=0"]:
        argv = [f"--model_file={model_files[0]}", *argv]
    positional, flag_values = parse(argv)
    with pytest.raises(SystemExit) as exit_info:
        calc_inference_time.main(["calc_inference_time", *positional], flag_values)
    assert expected in str(exit_info.value.code)
