"""``--learner channel`` end to end on digits: the original's documented commands, scaled down."""

import json
import shutil

import keras
import pytest

from learners.pruning import PruningPlan, apply_plan
from tests.learners.cli import run_cli

_FLAGS = ("--tiny_net", "--nb_epochs_rat=0.02", "--summ_step=10", "--model_dir=models",
          "--log_dir=logs", "--enbl_benchmark=false")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny LeNet trained on digits: the dense model every test prunes."""
    directory = tmp_path_factory.mktemp("dense")
    finished = run_cli("lenet_at_digits", *_FLAGS, "--nb_epochs_rat=0.1", "--enbl_export=false",
                       cwd=str(directory))
    assert finished.returncode == 0, finished.stderr[-3000:]
    return directory / "models"


def _run(tmp_path, pretrained, *flags):
    if not (tmp_path / "models").exists():
        shutil.copytree(pretrained, tmp_path / "models")
    return run_cli("lenet_at_digits", "--learner=channel", *_FLAGS, *flags, cwd=str(tmp_path),
                   timeout=300)


def _metrics(tmp_path):
    return json.loads((tmp_path / "models_channel/metrics.json").read_text())


def test_uniform_prunes_exports_and_the_plan_replays(tmp_path, pretrained):
    finished = _run(tmp_path, pretrained, "--cp_prune_option=uniform",
                    "--cp_uniform_preserve_ratio=0.5")
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert metrics["params"] < 0.5 * metrics["dense_params"]
    assert 0.2 < metrics["macs_kept"] < 0.4  # both sides of most layers halved
    assert metrics["train"]["steps"] > 0 and metrics["eval"]["accuracy"] > 0.2  # chance: 0.1
    out = tmp_path / "models_channel"
    assert (out / "model.tflite").is_file() and (out / "model_int8.tflite").is_file()
    dense = keras.models.load_model(tmp_path / "models/tiny_lenet_at_digits.keras")
    pruned = keras.models.load_model(out / "model.keras")
    replayed = apply_plan(dense, PruningPlan.load(str(out / "plan.json")))
    assert [w.shape for w in replayed.weights] == [w.shape for w in pruned.weights]

    again = _run(tmp_path, pretrained, "--cp_prune_option=uniform", "--cp_uniform_preserve_ratio=0.5",
                 "--enbl_export=false")  # resumes from pruned.keras and the checkpoints
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming with the pruned model" in again.stderr


def test_list_takes_one_ratio_per_group(tmp_path, pretrained):
    (tmp_path / "ratio.list").write_text("0.5,0.25,1.0\n")
    finished = _run(tmp_path, pretrained, "--cp_prune_option=list", "--cp_prune_list_file=ratio.list",
                    "--cp_criterion=l1", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    kept = _metrics(tmp_path)["kept_channels"]
    channels = json.loads((tmp_path / "models_channel/plan.json").read_text())["groups"]
    assert [kept[name] for name in channels] == [
        round(channels[name]["channels"] * ratio) for name, ratio in zip(channels, (0.5, 0.25, 1.0))]


@pytest.mark.parametrize("backend", ["ddpg", "gp"])
def test_auto_searches_ratios_that_use_the_flops_budget(tmp_path, pretrained, backend):
    finished = _run(tmp_path, pretrained, "--cp_prune_option=auto", "--cp_preserve_ratio=0.5",
                    "--cp_nb_rlouts=3", "--cp_nb_rlouts_min=1", f"--hpo_backend={backend}",
                    "--cp_criterion=fpgm", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "trial 3/3:" in finished.stderr
    assert 0.3 <= _metrics(tmp_path)["macs_kept"] <= 0.5  # a tiny net: coarse steps
    trials = (tmp_path / "models_channel/search/trials.jsonl").read_text().splitlines()
    assert len(trials) == 3


@pytest.mark.parametrize("flags, expected", [
    (("--cp_prune_option=list", "--cp_prune_list_file=missing.list"),
     ["--cp_prune_list_file at 'missing.list'", "no such file"]),
    (("--cp_prune_option=list", "--cp_prune_list_file=ratio.list"),
     ["Expected 3 keep ratios", "conv1 (", "Received: 2"]),
    (("--cp_prune_option=uniform", "--cp_uniform_preserve_ratio=1.5"),
     ["0 < --cp_uniform_preserve_ratio <= 1", "1.5"]),
    (("--cp_criterion=magnitude",), ["--cp_criterion in", "'magnitude'"]),
    (("--cp_finetune",), ["--cp_finetune=false"]),
])
def test_bad_settings_stop_before_any_work(tmp_path, pretrained, flags, expected):
    (tmp_path / "ratio.list").write_text("0.5,0.5\n")
    finished = _run(tmp_path, pretrained, *flags)
    assert finished.returncode == 2, finished.stderr[-3000:]
    for text in expected:
        assert text in finished.stderr
    assert not (tmp_path / "models_channel/pruned.keras").exists()
