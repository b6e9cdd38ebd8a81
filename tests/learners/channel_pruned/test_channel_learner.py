"""``--learner channel`` end to end on digits: the original's documented commands, scaled down."""

import json

import keras
import pytest

from hpo.trial_store import stored_seconds
from learners.pruning import PruningPlan, apply_plan
from tests.learners.cli import run_learner, train_tiny_lenet


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny LeNet trained on digits: the dense model every test prunes."""
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


def _run(tmp_path, pretrained, *flags):
    return run_learner(tmp_path, pretrained, "channel", *flags)


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

    (out / "metrics.json").unlink()  # as if killed before the end
    again = _run(tmp_path, pretrained, "--cp_prune_option=uniform", "--cp_uniform_preserve_ratio=0.5",
                 "--enbl_export=false")  # resumes from pruned.keras and the checkpoints
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming with the pruned model" in again.stderr
    assert _metrics(tmp_path)["search_seconds"] == metrics["search_seconds"] > 0


def test_list_takes_one_ratio_per_group(tmp_path, pretrained):
    (tmp_path / "ratio.list").write_text("0.5,0.25,1.0\n")
    finished = _run(tmp_path, pretrained, "--cp_prune_option=list", "--cp_prune_list_file=ratio.list",
                    "--cp_criterion=l1", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    kept = _metrics(tmp_path)["kept_channels"]
    channels = json.loads((tmp_path / "models_channel/plan.json").read_text())["groups"]
    assert [kept[name] for name in channels] == [
        round(channels[name]["channels"] * ratio) for name, ratio in zip(channels, (0.5, 0.25, 1.0))]


def test_group_finetuning_prunes_step_by_step_and_resumes(tmp_path, pretrained):
    flags = ("--cp_prune_option=uniform", "--cp_uniform_preserve_ratio=0.5", "--cp_finetune",
             "--cp_list_group=2", "--cp_nb_iters_ft_ratio=0.5", "--cp_criterion=l1",
             "--enbl_export=false")
    finished = _run(tmp_path, pretrained, *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "step 1/2 prunes conv1, conv2" in finished.stderr
    assert "channel group fine-tuning 1" in finished.stderr
    steps = tmp_path / "models_channel/group_finetune"
    assert {p.name for p in steps.glob("step_*")} == {
        "step_1.json", "step_1_pruned.keras", "step_1.keras", "step_2.json", "step_2_pruned.keras"}
    plan = PruningPlan.load(str(tmp_path / "models_channel/plan.json"))
    assert plan.kept == PruningPlan.load(str(steps / "step_2.json")).kept
    dense = keras.models.load_model(tmp_path / "models/tiny_lenet_at_digits.keras")
    pruned = keras.models.load_model(tmp_path / "models_channel/model.keras")
    assert [w.shape for w in apply_plan(dense, plan).weights] == [w.shape for w in pruned.weights]
    # above chance (0.1 on 360 images) by 3 standard deviations: L1 plus two short group
    # fine-tunings of a tiny LeNet lands near 0.2 (0.194 seen on an AVX-512 machine)
    assert _metrics(tmp_path)["eval"]["accuracy"] > 0.15

    (tmp_path / "models_channel/pruned.keras").unlink()  # a kill after the steps, before the end
    again = _run(tmp_path, pretrained, *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "prunes conv1" not in again.stderr  # both steps were loaded, not redone
    assert PruningPlan.load(str(tmp_path / "models_channel/plan.json")).kept == plan.kept


@pytest.mark.parametrize("learner", ["chn-pruned-gpu", "chn-pruned-rmt"])
def test_the_original_tf_solver_learners_prune_with_the_tf_solver(tmp_path, pretrained, learner):
    finished = run_learner(tmp_path, pretrained, learner, "--cp_prune_option=uniform",
                           "--cp_uniform_preserve_ratio=0.5", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "LASSO uses the TensorFlow solver" in finished.stderr
    metrics = json.loads((tmp_path / f"models_{learner}/metrics.json").read_text())
    assert metrics["params"] < 0.5 * metrics["dense_params"]


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
    assert len(set(json.loads(trials[0])["projected"].values())) == 1  # the uniform plan first


def test_auto_can_fine_tune_each_rollout_before_scoring_it(tmp_path, pretrained):
    finished = _run(tmp_path, pretrained, "--cp_prune_option=auto", "--cp_preserve_ratio=0.5",
                    "--cp_nb_rlouts=2", "--cp_nb_rlouts_min=1", "--cp_rlout_nb_iters_ft=20",
                    "--cp_rlout_lrn_rate_ft=1e-2", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    store = tmp_path / "models_channel/search"
    trials = [json.loads(line) for line in (store / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 2
    for trial in trials:
        metrics = trial["metrics"]
        assert trial["reward"] == metrics["accuracy"] > metrics["accuracy_before_ft"]
        assert metrics["finetune_loss"] > 0
    assert '"rlout_nb_iters_ft": 20' in "".join(p.read_text() for p in store.glob("*.json"))


def test_auto_can_rescore_its_leaders_after_a_longer_fine_tune(tmp_path, pretrained):
    finished = _run(tmp_path, pretrained, "--cp_prune_option=auto", "--cp_preserve_ratio=0.5",
                    "--cp_nb_rlouts=3", "--cp_nb_rlouts_min=1", "--cp_nb_rlouts_rescore=1",
                    "--cp_nb_iters_ft_rescore=10", "--cp_rlout_lrn_rate_ft=1e-2",
                    "--cp_criterion=fpgm", "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    store = tmp_path / "models_channel/search"
    trials = [json.loads(line) for line in (store / "trials.jsonl").read_text().splitlines()]
    scores = [json.loads(line) for line in (store / "rescored_ft10.jsonl").read_text().splitlines()]
    assert 1 <= len(scores) <= 2 and 0 in {s["trial"] for s in scores}  # the uniform plan too
    for score in scores:
        assert score["score"] == score["metrics"]["accuracy"] > score["metrics"]["accuracy_before_ft"]
    best = trials[max(scores, key=lambda s: (s["score"], -s["trial"]))["trial"]]
    assert f"rescore: trial {best['trial'] + 1} is the best" in finished.stderr

    out = tmp_path / "models_channel"  # killed after the search, before the pruned model
    for name in ("plan.json", "pruned.keras", "selection.json", "metrics.json"):
        (out / name).unlink()
    again = _run(tmp_path, pretrained, "--cp_prune_option=auto", "--cp_preserve_ratio=0.5",
                 "--cp_nb_rlouts=3", "--cp_nb_rlouts_min=1", "--cp_nb_rlouts_rescore=1",
                 "--cp_nb_iters_ft_rescore=10", "--cp_rlout_lrn_rate_ft=1e-2",
                 "--cp_criterion=fpgm", "--enbl_export=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed with 3 trial(s)" in again.stderr  # no roll-out run again, yet they count
    assert _metrics(tmp_path)["search_seconds"] >= stored_seconds(str(store)) > 0


@pytest.mark.parametrize("flags, expected", [
    (("--cp_prune_option=list", "--cp_prune_list_file=missing.list"),
     ["--cp_prune_list_file at 'missing.list'", "no such file"]),
    (("--cp_prune_option=list", "--cp_prune_list_file=ratio.list"),
     ["Expected 3 keep ratios", "conv1 (", "Received: 2"]),
    (("--cp_prune_option=uniform", "--cp_uniform_preserve_ratio=1.5"),
     ["0 < --cp_uniform_preserve_ratio <= 1", "1.5"]),
    (("--cp_criterion=magnitude",), ["--cp_criterion in", "'magnitude'"]),
    (("--cp_list_group=0",), ["--cp_list_group >= 1", "0"]),
    (("--cp_rlout_nb_iters_ft=-1",), ["--cp_rlout_nb_iters_ft >= 0", "-1"]),
])
def test_bad_settings_stop_before_any_work(tmp_path, pretrained, flags, expected):
    (tmp_path / "ratio.list").write_text("0.5,0.5\n")
    finished = _run(tmp_path, pretrained, *flags)
    assert finished.returncode == 2, finished.stderr[-3000:]
    for text in expected:
        assert text in finished.stderr
    assert not (tmp_path / "models_channel/pruned.keras").exists()
