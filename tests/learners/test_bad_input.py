"""Bad input stops the real command line before any training, with a message naming the problem."""

import os
import zipfile

import pytest

from tests.fixtures.data_fixtures import write_cifar10_binary, write_image_folder, write_npz
from tests.fixtures.user_models import save_custom_layer_model, save_functional_softmax
from tests.learners.cli import run_cli, run_main

_OUTPUT_FLAGS = ("--save_dir=out", "--model_dir=models", "--log_dir=logs", "--enbl_export=false")


def _truncated_cifar(tmp_path):
    data_dir = tmp_path / "cifar"
    write_cifar10_binary(str(data_dir), nb_train_per_file=4, nb_eval=4)
    path = data_dir / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    return ["resnet_at_cifar10", f"--data_dir_local={data_dir}"], ["data_batch_3.bin", "3073"]


def _missing_dir(tmp_path):
    return ["resnet_at_cifar10", f"--data_dir_local={tmp_path}/nowhere"], ["nowhere"]


def _empty_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    return ["resnet_at_cifar10", f"--data_dir_local={tmp_path}/empty"], ["empty", "data_batch"]


def _no_data_dir(tmp_path):
    return ["resnet_at_cifar10"], ["data_dir_local"]


def _non_image_in_folder(tmp_path):
    root = tmp_path / "images"
    write_image_folder(str(root), nb_per_class={"train": 2, "test": 1})
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    return ["lenet_at_cifar10", "--dataset=image_folder", f"--data_dir_local={root}"], ["notes.txt"]


def _unknown_learner(tmp_path):
    return ["lenet_at_digits", "--learner=prune-everything"], ["prune-everything", "full-prec"]


def _unknown_net(tmp_path):
    return ["lenet_at_digits", "--net=vgg_at_mars"], ["vgg_at_mars", "resnet_at_cifar10"]


def _negative_ratio(tmp_path):
    return ["lenet_at_digits", "--nb_epochs_rat=-0.5"], ["--nb_epochs_rat", "-0.5"]


def _bad_resnet_size(tmp_path):
    return ["resnet_at_cifar10", "--resnet_size=21", "--data_dir_local=/x"], ["resnet_size", "21"]


@pytest.mark.parametrize("case", [_truncated_cifar, _missing_dir, _empty_dir, _no_data_dir,
                                  _non_image_in_folder, _unknown_learner,
                                  _unknown_net, _negative_ratio, _bad_resnet_size],
                         ids=lambda case: case.__name__.strip("_"))
def test_bad_input_fails_fast_with_a_clear_message(tmp_path, case):
    (net, *flags), expected = case(tmp_path)
    result = run_cli(net, *flags, *_OUTPUT_FLAGS, cwd=tmp_path, timeout=90)
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error_lines, result.stderr[-2000:]
    for fragment in expected:
        assert fragment in error_lines[-1]
    assert not os.path.exists(tmp_path / "out" / "checkpoints"), "training must not have started"


# ------------------------------------------------------------------ a user's model (--model_file)
def _not_a_keras_model(tmp_path):
    (tmp_path / "m.keras").write_text("weights, honest")
    return ["--model_file=m.keras", "--dataset=digits"], ["'m.keras'", "whole .keras file",
                                                          "not a whole zip archive"]


def _zip_that_is_no_keras_model(tmp_path):
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("weights.txt", "not a model")
    return ["--model_file=m.keras", "--dataset=digits"], ["'m.keras'", "Keras model file",
                                                          "config.json"]


def _input_shape_mismatch(tmp_path):
    save_functional_softmax(tmp_path / "m.keras", input_shape=(16, 16, 3), nb_classes=3)
    write_npz(tmp_path / "data.npz", shape=(8, 8, 3), nb_classes=3)
    return (["--model_file=m.keras", "--dataset=npz", "--data_dir_local=data.npz",
             "--input_scale=0_1"],
            ["the model 'm.keras' takes, (16, 16, 3)", "(8, 8, 3)", "--dataset npz", "data.npz"])


def _channel_mismatch(tmp_path):
    save_functional_softmax(tmp_path / "m.keras", input_shape=(8, 8, 1), nb_classes=3)
    write_npz(tmp_path / "data.npz", shape=(8, 8, 3), nb_classes=3)
    return (["--model_file=m.keras", "--dataset=npz", "--data_dir_local=data.npz",
             "--input_scale=0_1"],
            ["1 channel(s) the model 'm.keras' takes", "3 channel(s)", "data.npz"])


def _custom_layer_without_custom_objects(tmp_path):
    save_custom_layer_model(str(tmp_path))
    return ["--model_file=custom.keras", "--dataset=digits"], ["'custom.keras'", "Doubling",
                                                               "--custom_objects"]


def _more_classes_than_outputs(tmp_path):
    save_functional_softmax(tmp_path / "m.keras", input_shape=(8, 8, 3), nb_classes=3)
    write_npz(tmp_path / "data.npz", shape=(8, 8, 3), nb_classes=5)
    return (["--model_file=m.keras", "--dataset=npz", "--data_dir_local=data.npz",
             "--input_scale=0_1"],
            ["at most 3 classes, the outputs of the model 'm.keras'", "5 classes", "data.npz"])


def _no_input_scale(tmp_path):
    save_functional_softmax(tmp_path / "m.keras", input_shape=(8, 8, 3), nb_classes=3)
    write_npz(tmp_path / "data.npz", shape=(8, 8, 3), nb_classes=3)
    return (["--model_file=m.keras", "--dataset=npz", "--data_dir_local=data.npz"],
            ["Expected --input_scale", "'m.keras'"])


def _no_dataset(tmp_path):
    return ["--model_file=m.keras"], ["Expected --dataset with --model_file"]


@pytest.mark.parametrize("case", [_not_a_keras_model, _zip_that_is_no_keras_model,
                                  _input_shape_mismatch, _channel_mismatch,
                                  _custom_layer_without_custom_objects, _more_classes_than_outputs,
                                  _no_input_scale, _no_dataset],
                         ids=lambda case: case.__name__.strip("_"))
def test_a_bad_user_model_or_data_exits_2_with_a_clear_message(tmp_path, case):
    flags, expected = case(tmp_path)
    result = run_main(*flags, "--learner=channel", *_OUTPUT_FLAGS, cwd=tmp_path, timeout=90)
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for fragment in expected:
        assert fragment in error_lines[0]
    assert not os.path.exists(tmp_path / "out" / "checkpoints"), "training must not have started"
