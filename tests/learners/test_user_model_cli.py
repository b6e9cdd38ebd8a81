"""A user's own model through the real command line (``main.py --model_file``, what
``run_local.sh --model_file`` runs): every kind of data, quantization and pruning end to end, and
the user's file never written."""

import hashlib
import json
import re

import pytest

from tests.fixtures.data_fixtures import write_image_folder, write_image_tfrecords, write_npz
from tests.fixtures.user_models import (
    save_custom_layer_model,
    save_functional_softmax,
    save_sequential_softmax,
)
from tests.learners.cli import run_main

SHORT = ("--nb_epochs_rat=0.02", "--summ_step=10", "--log_dir=logs", "--save_dir=out",
         "--enbl_benchmark=false")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _succeeded(result, tmp_path) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "models").exists(), "a user's model run writes no pre-trained model"
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "completed_at" in metrics
    assert (tmp_path / "out" / "model.keras").is_file()
    return metrics


def test_uniform_quantizes_a_sequential_softmax_model_on_digits(tmp_path):
    model = tmp_path / "digits_cnn.keras"
    save_sequential_softmax(model)
    before = _digest(model)
    result = run_main(f"--model_file={model}", "--dataset=digits", "--learner=uniform", *SHORT,
                      cwd=tmp_path, timeout=300)
    metrics = _succeeded(result, tmp_path)
    assert _digest(model) == before
    assert metrics["model"] == "digits_cnn_at_digits"
    # the layer's name depends on the models this process built before (dense, dense_3 ...)
    assert re.search(r"softmax of 'dense(_\d+)?' \(Dense\) is removed", result.stderr)
    assert metrics["export"]["int8_audit"]["passed"]


def test_channel_prunes_a_functional_model_on_npz_arrays(tmp_path):
    model = save_functional_softmax(tmp_path / "user_cnn.keras", input_shape=(8, 8, 3),
                                    nb_classes=3)
    write_npz(tmp_path / "data.npz", nb_train=64, nb_eval=16, shape=(8, 8, 3), nb_classes=3)
    result = run_main(f"--model_file={model}", "--dataset", "npz", "--data_dir_local", "data.npz",
                      "--input_scale", "-1_1", "--input_mean=0.1,0", "--input_std=0.5",
                      "--learner=channel", "--cp_prune_option=uniform",
                      "--cp_uniform_preserve_ratio=0.5", "--enbl_export=false", *SHORT,
                      cwd=tmp_path, timeout=300)
    assert result.returncode == 2 and "--input_mean to hold one value, or one per" in result.stderr
    result = run_main(f"--model_file={model}", "--dataset", "npz", "--data_dir_local", "data.npz",
                      "--input_scale", "-1_1", "--learner=channel", "--cp_prune_option=uniform",
                      "--cp_uniform_preserve_ratio=0.5", "--enbl_export=false", *SHORT,
                      cwd=tmp_path, timeout=300)
    metrics = _succeeded(result, tmp_path)
    assert metrics["macs"] < metrics["dense_macs"]


@pytest.mark.parametrize("data", ["image_folder", "tfrecord"])
def test_full_prec_fine_tunes_the_users_model_on_encoded_images(tmp_path, data):
    """A grey 12x12 model on RGB files: decoded to its channels, resized to its size."""
    model = tmp_path / "grey.keras"
    save_sequential_softmax(model, input_shape=(12, 12, 1), nb_classes=4)
    before = _digest(model)
    if data == "image_folder":  # no val/: a fixed tenth of each class is held out
        write_image_folder(tmp_path / "data", class_names=("a", "b", "c"),
                           nb_per_class={"train": 10}, image_size=16)
    else:
        write_image_tfrecords(tmp_path / "data", nb_train=24, nb_eval=6, image_size=16)
    result = run_main(f"--model_file={model}", f"--dataset={data}", "--data_dir_local=data",
                      "--input_scale=0_1", "--nb_iters_train=3", "--enbl_export=false", *SHORT,
                      cwd=tmp_path, timeout=300)
    metrics = _succeeded(result, tmp_path)
    assert _digest(model) == before
    assert metrics["model"] == f"grey_at_{data}" and metrics["train"]["steps"] == 3
    assert metrics["eval"]["nb_examples"] == (3 if data == "image_folder" else 6)


def test_custom_layers_come_from_custom_objects(tmp_path):
    model, module = save_custom_layer_model(str(tmp_path))
    result = run_main(f"--model_file={model}", "--dataset=digits", f"--custom_objects={module}",
                      "--nb_iters_train=2", "--enbl_export=false", *SHORT, cwd=tmp_path)
    _succeeded(result, tmp_path)
    result = run_main(f"--model_file={model}", "--dataset=digits", "--custom_objects=user_layers",
                      "--exec_mode=eval", *SHORT, cwd=tmp_path)  # a module of the working dir
    assert result.returncode == 0, result.stderr[-3000:]
    assert "eval: {" in result.stderr
