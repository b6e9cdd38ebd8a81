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
import time

import pytest

from tests.fixtures.data_fixtures import write_image_folder
from tests.learners.cli import ROOT, TINY_FLAGS, launcher_command, run_cli, train_tiny_lenet

_FAST = (*TINY_FLAGS, "--enbl_export=false")
_CHECKPOINTED = (*_FAST, "--nb_iters_train=40", "--save_step=20", "--save_dir=out")
"""A full-prec run that keeps two checkpoints, ``ckpt-20`` and ``ckpt-40``."""


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> pathlib.Path:
    """A ``models`` directory holding a good tiny LeNet / digits pre-trained model."""
    return train_tiny_lenet(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory) -> pathlib.Path:
    """A directory where a ``_CHECKPOINTED`` run finished: ``out/checkpoints/ckpt-{20,40}``."""
    directory = tmp_path_factory.mktemp("checkpointed")
    finished = run_cli("lenet_at_digits", *_CHECKPOINTED, cwd=str(directory))
    assert finished.returncode == 0, finished.stderr[-3000:]
    return directory


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


def test_a_search_whose_roll_out_fine_tuning_diverges_stops_naming_its_flag(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    before = _hashes(tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--learner=channel", "--cp_prune_option=auto",
                     "--cp_nb_rlouts=2", "--cp_nb_rlouts_min=1", "--cp_criterion=fpgm",
                     "--cp_rlout_nb_iters_ft=5", "--cp_rlout_lrn_rate_ft=1e38", "--save_dir=out",
                     cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    error = _error_line(result)
    assert "roll-out fine-tuning step" in error and "--cp_rlout_lrn_rate_ft, now 1e+38" in error
    assert _hashes(tmp_path / "models") == before
    assert not (tmp_path / "out" / "model.keras").exists()
    trials = tmp_path / "out" / "search" / "trials.jsonl"
    assert not trials.exists() or not trials.read_text(), "a diverged roll-out is not a trial"


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


def test_a_truncated_newest_checkpoint_is_named_kept_and_the_run_resumes_from_the_one_before(
        tmp_path, checkpointed):
    shutil.copytree(checkpointed, tmp_path, dirs_exist_ok=True)
    checkpoints = tmp_path / "out" / "checkpoints"
    data = checkpoints / "ckpt-40.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    damaged = hashlib.sha256(data.read_bytes()).hexdigest()
    good = _hashes(checkpoints)
    good = {name: digest for name, digest in good.items() if name.startswith("ckpt-20")}
    result = run_cli("lenet_at_digits", *_CHECKPOINTED, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Skipping checkpoint out/checkpoints/ckpt-40: it does not restore" in result.stderr
    after = _hashes(checkpoints)
    assert {name: after[name] for name in good} == good  # the intact one, as it was
    assert damaged in after.values()  # the damaged one, kept (moved aside), never deleted
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 40 and metrics["train"]["resumed_from"] == 20


@pytest.mark.parametrize("index", ["garbage {{{", None], ids=["garbage", "missing"])
def test_a_damaged_checkpoint_index_is_rebuilt_and_the_run_does_not_restart(tmp_path, checkpointed,
                                                                            index):
    shutil.copytree(checkpointed, tmp_path, dirs_exist_ok=True)
    checkpoints = tmp_path / "out" / "checkpoints"
    if index is None:
        (checkpoints / "checkpoint").unlink()
    else:
        (checkpoints / "checkpoint").write_text(index)
    before = {name: digest for name, digest in _hashes(checkpoints).items()
              if name.startswith("ckpt-")}
    result = run_cli("lenet_at_digits", *_CHECKPOINTED, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "The checkpoint index out/checkpoints/checkpoint is" in result.stderr
    assert "rebuilt" in result.stderr and "already finished (40 steps)" in result.stderr
    after = _hashes(checkpoints)
    assert {name: after[name] for name in before} == before  # none deleted or rewritten
    assert 'model_checkpoint_path: "ckpt-40"' in (checkpoints / "checkpoint").read_text()


def _image_folder_run(tmp_path: pathlib.Path, damage) -> tuple[subprocess.CompletedProcess, str]:
    """Runs full-prec on a small image folder whose ``train/dog/0001.png`` ``damage`` rewrote;
    returns the result and the image's path."""
    root = tmp_path / "images"
    write_image_folder(str(root), nb_per_class={"train": 4, "test": 2})
    path = root / "train" / "dog" / "0001.png"
    path.write_bytes(damage(path.read_bytes()))
    before = _hashes(root)
    result = run_cli("lenet_at_cifar10", "--dataset=image_folder", f"--data_dir_local={root}",
                     "--tiny_net", "--nb_iters_train=6", "--batch_size=4", "--nb_smpls_val=2",
                     "--save_dir=out", "--model_dir=models", "--log_dir=logs",
                     "--enbl_export=false", cwd=str(tmp_path))
    assert _hashes(root) == before
    assert not list(tmp_path.glob("models/*.keras")), "no pre-trained model from a failed run"
    assert not (tmp_path / "out" / "model.keras").exists()
    assert not (tmp_path / "out" / "metrics.json").exists()
    return result, str(path)


def test_a_png_cut_short_after_its_signature_is_named_before_training(tmp_path):
    result, path = _image_folder_run(tmp_path, lambda data: data[:200])
    assert result.returncode == 2, result.stderr[-3000:]
    error = _error_line(result)
    assert f"'{path}' (class 'dog', split 'train'; 200 bytes)" in error and "cut short" in error
    assert not (tmp_path / "out" / "checkpoints").exists(), "training must not have started"


def test_a_png_that_fails_to_decode_during_training_is_named(tmp_path):
    def damage_inside(data: bytes) -> bytes:  # the header and the IEND chunk intact
        middle = len(data) // 2
        flipped = bytes(b ^ 0x55 for b in data[middle:middle + 50])
        return data[:middle] + flipped + data[middle + 50:]

    result, path = _image_folder_run(tmp_path, damage_inside)
    assert result.returncode == 2, result.stderr[-3000:]
    error = _error_line(result)
    assert f"'{path}' (class 'dog', split 'train': Invalid PNG data" in error, error
    assert "InvalidArgumentError" not in result.stderr


def test_a_run_killed_during_export_leaves_the_earlier_export_whole(tmp_path):
    # Its rerun exports again and completes: tests/learners/test_kill_and_rerun.py (slow).
    flags = (*TINY_FLAGS, "--nb_iters_train=20", "--save_dir=out", "--nb_calibration=16")
    first = run_cli("lenet_at_digits", *flags, cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "out"
    exported = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                for name in ("model.tflite", "model_int8.tflite", "export.json")}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    process = subprocess.Popen(launcher_command("lenet_at_digits", *flags), cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # the same command again exports again: killed once its staging directory appears
        while process.poll() is None and not list(out.glob(".export-tmp-*")):
            time.sleep(0.01)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9, "the rerun ended before its export began"
    assert {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in exported} == exported  # not one file of the killed export


def test_a_truncated_model_in_save_dir_is_named_as_damaged(tmp_path, pretrained):
    shutil.copytree(pretrained.parent, tmp_path, dirs_exist_ok=True)  # a finished full-prec run
    model = tmp_path / "models_full-prec" / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    before = _hashes(tmp_path)
    result = run_cli("lenet_at_digits", *_FAST, "--exec_mode=eval", "--nb_epochs_rat=0.1",
                     cwd=str(tmp_path))
    assert result.returncode == 2
    error = _error_line(result)
    assert "models_full-prec/model.keras" in error and "damaged" in error
    assert {name: digest for name, digest in _hashes(tmp_path).items()
            if not name.startswith("logs")} == {name: digest for name, digest in before.items()
                                                if not name.startswith("logs")}


@pytest.mark.parametrize("change, difference", [
    (("--seed=7",), "seed: 0 -> 7"),
    (("--nb_epochs_rat=0.1", "--tiny_net=false"), "tiny: true -> false"),  # another architecture
], ids=["seed", "architecture"])
def test_a_rerun_on_a_finished_save_dir_with_other_settings_stops_before_any_work(
        tmp_path, pretrained, change, difference):
    shutil.copytree(pretrained.parent, tmp_path, dirs_exist_ok=True)  # a finished full-prec run
    before = _hashes(tmp_path)
    flags = (*TINY_FLAGS, "--nb_epochs_rat=0.1", "--enbl_export=false")  # train_tiny_lenet's
    result = run_cli("lenet_at_digits", *flags, *change, cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    error = _error_line(result)
    assert difference in error and "--save_dir" in error
    assert {name: digest for name, digest in _hashes(tmp_path).items()
            if not name.startswith("logs")} == {name: digest for name, digest in before.items()
                                                if not name.startswith("logs")}


def test_eval_without_a_saved_model_names_the_learner_to_train_first(tmp_path, pretrained):
    shutil.copytree(pretrained, tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--learner=channel", "--exec_mode=eval",
                     "--save_dir=out", cwd=str(tmp_path))
    assert result.returncode == 2
    error = _error_line(result)
    assert "model.keras" in error and "--learner channel" in error and "full-prec" not in error


def test_a_sequential_pretrained_model_is_compressed_like_a_functional_one(tmp_path, pretrained):
    import keras

    shutil.copytree(pretrained, tmp_path / "models")
    path = next((tmp_path / "models").glob("*.keras"))
    functional = keras.models.load_model(path, compile=False)
    sequential = keras.Sequential([keras.Input(functional.input_shape[1:])] + [
        layer.__class__.from_config(layer.get_config()) for layer in functional.layers[1:]])
    for source, target in zip(functional.layers[1:], sequential.layers):
        target.set_weights(source.get_weights())
    sequential.save(path)
    before = _hashes(tmp_path / "models")
    result = run_cli("lenet_at_digits", *_FAST, "--learner=uniform", "--uql_quant_epochs=0.05",
                     "--save_dir=out", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["eval"]["accuracy"] > 0.5
    assert _hashes(tmp_path / "models") == before


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
