"""The original's documented channel-pruning commands, as written, on ResNet-20 at CIFAR-10.

The README's three commands (``uniform`` 0.5, ``list`` with ``ratio.list``, ``auto`` 0.5) run on
``nets/resnet_at_cifar10_run.py`` with the flags the documentation gives, followed only by flags
that scale them down: a tiny-width ResNet-20 (same depth and so the same 12 channel groups),
generated CIFAR-10 binaries, ``--nb_epochs_rat``, 4 sampled batches and a few roll-outs.
"""

import json

import pytest

from learners.pruning import keep_count
from tests.fixtures.data_fixtures import write_cifar10_binary
from tests.learners.cli import run_cli

_SCALE_DOWN = ("--tiny_net", "--resnet_size=20", "--batch_size=32", "--batch_size_eval=10",
               "--nb_smpls_val=40", "--nb_epochs_rat=0.002", "--summ_step=5", "--cp_nb_batches=4",
               "--enbl_export=false", "--enbl_benchmark=false")

# The original's ResNet-20 ratio list (22 per-convolution entries: 1.0, 0.1875 x 7, 1.0, 0.25,
# 1.0, 0.25, 0.21875 x 3, 1.0, 0.5625, 1.0, 0.546875 x 3, 1) adapted to our 12 channel groups, in
# graph order: the residual streams keep everything, as the original never pruned them, and each
# block's first convolution takes the original's ratio for its stage.
ORIGINAL_RATIO_LIST = {
    "stem_conv": 1.0, "stage1_block1_conv1": 0.1875, "stage1_block2_conv1": 0.1875,
    "stage1_block3_conv1": 0.1875, "stage2_block1_conv1": 0.25, "stage2_block1_conv2": 1.0,
    "stage2_block2_conv1": 0.21875, "stage2_block3_conv1": 0.21875, "stage3_block1_conv1": 0.5625,
    "stage3_block1_conv2": 1.0, "stage3_block2_conv1": 0.546875, "stage3_block3_conv1": 0.546875,
}

DOCUMENTED = {
    "uniform": ("--learner", "channel", "--cp_prune_option", "uniform",
                "--cp_uniform_preserve_ratio", "0.5"),
    "list": ("--learner", "channel", "--cp_prune_option", "list", "--cp_prune_list_file",
             "ratio.list"),
    "auto": ("--learner", "channel", "--cp_prune_option", "auto", "--cp_preserve_ratio", "0.5"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Generated CIFAR-10 files and a tiny ResNet-20 trained on them (``./models``)."""
    directory = tmp_path_factory.mktemp("resnet20")
    write_cifar10_binary(str(directory / "cifar"), nb_train_per_file=40, nb_eval=20)
    finished = run_cli("resnet_at_cifar10", *_flags(directory), cwd=str(directory), timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (directory / "ratio.list").write_text(", ".join(map(str, ORIGINAL_RATIO_LIST.values())) + "\n")
    return directory


def _flags(directory):
    return (*_SCALE_DOWN, f"--data_dir_local={directory / 'cifar'}")


@pytest.mark.parametrize("option", sorted(DOCUMENTED))
def test_documented_command_prunes_resnet20(workdir, option):
    extra = ("--cp_nb_rlouts=2", "--cp_nb_rlouts_min=1") if option == "auto" else ()
    finished = run_cli("resnet_at_cifar10", *DOCUMENTED[option], *_flags(workdir), *extra,
                       f"--save_dir=models_channel_{option}", cwd=str(workdir), timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = json.loads((workdir / f"models_channel_{option}/metrics.json").read_text())
    assert metrics["model"] == "tiny_resnet_20_at_cifar10"
    assert metrics["params"] < metrics["dense_params"] and metrics["train"]["steps"] > 0
    plan = json.loads((workdir / f"models_channel_{option}/plan.json").read_text())["groups"]
    assert set(plan) == set(ORIGINAL_RATIO_LIST)  # ResNet-20's 12 channel groups
    if option == "uniform":
        assert 0.2 < metrics["macs_kept"] < 0.35  # both sides of every convolution halved
    elif option == "list":
        assert metrics["kept_channels"] == {
            name: keep_count(plan[name]["channels"], ratio)
            for name, ratio in ORIGINAL_RATIO_LIST.items()}
    else:
        assert metrics["macs_kept"] <= 0.5 + 1e-6
        assert "trial 2/2:" in finished.stderr
