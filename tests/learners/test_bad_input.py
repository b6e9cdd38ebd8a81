"""Bad input stops the real command line before any training, with a message naming the problem."""

import os

import pytest

from tests.fixtures.data_fixtures import write_cifar10_binary, write_image_folder
from tests.learners.cli import run_cli

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
