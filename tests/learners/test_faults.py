"""No run destroys data, and none ends in a traceback (issue 33), through the real command line.

Each case checks: a non-zero exit, one ``error:`` line naming the file or flag, no traceback,
and the bytes of every earlier good artifact unchanged (sha256 before and after).
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.learners.cli import ROOT, TINY_FLAGS, run_cli, train_tiny_lenet

_FAST = (*TINY_FLAGS, "--enbl_export=false")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> pathlib.Path:
    """A ``models`` directory holding a good tiny LeNet / digits pre-trained model."""
    return train_tiny_lenet(tmp_path_factory.mktemp("pretrained"))


def _hashes(directory: pathlib.Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines, result.stderr[-3000:]
    return lines[-1]


def test_divergence_stops_training_and_writes_or_replaces_nothing(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    before = _hashes(tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--lrn_rate_init=1e6", "--save_dir=models_nan",
                     cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    error = _error_line(result)
    assert "--lrn_rate_init" in error and "step" in error and "nan" in error.lower()
    assert _hashes(tmp_path / "models") == before  # the good pre-trained model is untouched
    out = tmp_path / "models_nan"
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    assert not list(out.rglob("ckpt-*")), "a diverged model must never be checkpointed"
    with open(tmp_path / "logs" / "events.jsonl") as handle:  # the log stays strict JSON
        events = [json.loads(line, parse_constant=pytest.fail) for line in handle]
    assert events[-1]["event"] == "diverged"


@pytest.mark.parametrize("flag", ["--save_dir", "--log_dir", "--model_dir"])
def test_an_output_path_that_is_a_file_stops_the_run_before_any_work(tmp_path, flag):
    (tmp_path / "blocker").write_text("a file, not a directory")
    flags = {"--save_dir": "out", "--log_dir": "logs", "--model_dir": "models", flag: "blocker"}
    result = run_cli("lenet_at_digits", *_FAST, *(f"{k}={v}" for k, v in flags.items()),
                     cwd=str(tmp_path))
    assert result.returncode == 2
    error = _error_line(result)
    assert flag in error and "blocker" in error
    assert (tmp_path / "blocker").read_text() == "a file, not a directory"
    assert not (tmp_path / "out" / "checkpoints").exists(), "training must not have started"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any directory")
def test_a_save_dir_that_cannot_be_written_stops_the_run_before_any_work(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    result = run_cli("lenet_at_digits", *_FAST, "--save_dir=locked/out", cwd=str(tmp_path))
    assert result.returncode == 2
    assert "--save_dir" in _error_line(result)


def test_a_second_run_on_the_same_save_dir_stops_at_once(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("an artifact of the first run")
    # The first run: this live test process, as utils.locks records it.
    from utils.locks import RunLock

    with RunLock(str(tmp_path / "out" / ".run.lock"), "--save_dir=out"):
        before = _hashes(tmp_path)
        result = run_cli("lenet_at_digits", *_FAST, "--learner=channel", "--save_dir=out",
                         cwd=str(tmp_path))
        assert _hashes(tmp_path) == before
    assert result.returncode == 2
    error = _error_line(result)
    assert str(os.getpid()) in error and "--save_dir" in error and "started" in error


def test_a_truncated_pretrained_model_is_named_as_damaged(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    (model,) = (tmp_path / "models").glob("*.keras")
    model.write_bytes(model.read_bytes()[:2000])
    before = _hashes(tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--learner=channel", "--save_dir=out",
                     cwd=str(tmp_path))
    assert result.returncode == 2
    error = _error_line(result)
    assert model.name in error and "damaged" in error
    assert _hashes(tmp_path / "models") == before


def test_a_rerun_with_other_settings_stops_and_one_with_other_log_steps_resumes(tmp_path,
                                                                            pretrained):
    shutil.copytree(pretrained.parent, tmp_path, dirs_exist_ok=True)  # a finished full-prec run
    out = tmp_path / "models_full-prec"
    recorded = json.loads((out / "run_config.json").read_text())["train"]["learning_rate"]
    flags = (*TINY_FLAGS, "--nb_epochs_rat=0.1", "--enbl_export=false")  # train_tiny_lenet's
    before = {directory: _hashes(directory) for directory in (out, tmp_path / "models")}
    changed = run_cli("lenet_at_digits", *flags, "--lrn_rate_init=0.0123", cwd=str(tmp_path))
    assert changed.returncode == 2, changed.stderr[-3000:]
    error = _error_line(changed)
    assert f"lrn_rate_init: {json.dumps(recorded)} -> 0.0123" in error
    assert "--save_dir" in error and "delete" in error
    assert {directory: _hashes(directory) for directory in before} == before
    again = run_cli("lenet_at_digits", *flags, "--summ_step=3", cwd=str(tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already finished" in again.stderr


def test_eval_without_a_saved_model_names_the_learner_to_train_first(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--learner=channel", "--exec_mode=eval",
                     "--save_dir=out", cwd=str(tmp_path))
    assert result.returncode == 2
    error = _error_line(result)
    assert "model.keras" in error and "--learner channel" in error and "full-prec" not in error


_UNEXPECTED = textwrap.dedent("""
    import sys
    import main
    import learners.runner

    def broken(config):
        raise RuntimeError("a bug")

    learners.runner.run = broken
    main.FLAGS(["main.py", *sys.argv[1:]])
    main._main(["main.py"], "lenet_at_digits")
""")


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_unexpected_error_shows_its_traceback_only_with_debug(tmp_path, debug):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    flags = ["--tiny_net", f"--log_dir={tmp_path}/logs", f"--debug={str(debug).lower()}"]
    result = subprocess.run([sys.executable, "-c", _UNEXPECTED, *flags], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    if debug:
        assert "Traceback" in result.stderr and "RuntimeError: a bug" in result.stderr
        return
    error = _error_line(result)
    assert "RuntimeError" in error and "--debug" in error and "events.jsonl" in error
    with open(tmp_path / "logs" / "events.jsonl") as handle:
        record = json.loads(handle.read().splitlines()[-1])
    assert record["event"] == "unexpected_error" and "a bug" in record["traceback"]


_USER_ERRORS = textwrap.dedent("""
    import sys
    import main
    import learners.runner
    import tensorflow as tf
    from export.pipeline import ExportError

    errors = [PermissionError(13, "Permission denied", "/x/out"), IsADirectoryError("/x/dir"),
              tf.errors.DataLossError(None, None, "checksum mismatch in /x/ckpt-3"),
              ExportError("max |logit diff| = nan for /x/model.tflite")]
    main.FLAGS(["main.py", *sys.argv[1:]])
    for error in errors:
        def failing(config, error=error):
            raise error
        learners.runner.run = failing
        try:
            main._main(["main.py"], "lenet_at_digits")
        except SystemExit as exit:
            print("exit", exit.code, flush=True)
""")


def test_every_error_a_user_can_cause_ends_in_one_error_line_and_exit_code_2(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", _USER_ERRORS, "--tiny_net",
                             f"--log_dir={tmp_path}/logs"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["exit", "2"] * 4
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for fragment, line in zip(["/x/out", "/x/dir", "/x/ckpt-3", "/x/model.tflite"], errors,
                              strict=True):
        assert fragment in line
