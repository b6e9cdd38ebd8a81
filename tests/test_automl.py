"""AutoML mode end to end on the digits default: search learner flags, re-train the best."""

import json

import pytest

from tests.learners.cli import run_cli

_SPACE = [{"name": "lrn_rate_init", "type": "continuous", "low": 0.005, "high": 0.5, "log": True},
          {"name": "batch_size", "type": "categorical", "choices": [16, 32]}]
_FLAGS = ("--tiny_net", "--nb_iters_train=40", "--summ_step=20", "--save_dir=out",
          "--model_dir=models", "--log_dir=logs", "--enbl_export=false")


@pytest.mark.parametrize("backend", ["random", "gp", "tpe", "ddpg"])
def test_automl_searches_then_retrains_the_best_setting(tmp_path, backend):
    (tmp_path / "space.json").write_text(json.dumps(_SPACE))
    flags = (f"--hpo_backend={backend}", "--hpo_space=space.json", "--hpo_nb_trials=3",
             "--hpo_trial_epochs_rat=0.5", *_FLAGS)
    finished = run_cli("lenet_at_digits", *flags, cwd=str(tmp_path), timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "trial 3/3:" in finished.stderr and "best=" in finished.stderr
    trials = [json.loads(line) for line in (tmp_path / "out/hpo/trials.jsonl").read_text().splitlines()]
    assert len(trials) == 3
    for trial in trials:
        assert 0.005 <= trial["projected"]["lrn_rate_init"] <= 0.5
        assert trial["reward"] == trial["metrics"]["val"]["accuracy"]
        trial_metrics = json.loads((tmp_path / f"out/hpo/trial_{trial['trial']:03d}/metrics.json").read_text())
        assert trial_metrics["train"]["steps"] == 20  # the trial schedule: half of 40 steps
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    best = max(trials, key=lambda t: t["reward"])
    assert metrics["automl"]["best_setting"] == best["projected"]
    assert metrics["automl"]["search_seconds"] == pytest.approx(
        sum(trial["seconds"] for trial in trials))
    assert metrics["automl"]["search_seconds"] > 0
    assert metrics["train"]["steps"] == 40  # the best setting re-trained with the full schedule
    assert len(list((tmp_path / "models").glob("*.keras"))) == 1  # only the re-trained model is published

    again = run_cli("lenet_at_digits", *flags, cwd=str(tmp_path), timeout=300)  # nothing left to do
    assert again.returncode == 0, again.stderr[-3000:]
    assert len((tmp_path / "out/hpo/trials.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("space, flags, expected", [
    ([{"name": "learning_rate", "type": "continuous", "low": 0.1, "high": 1}], (),
     ["named after flags", "'learning_rate'", "lrn_rate_init"]),
    ([{"name": "batch_size", "type": "continuous", "low": 16, "high": 64}], (),
     ["integer or categorical dimension for --batch_size"]),
    ([{"name": "lrn_rate_schedule", "type": "categorical", "choices": ["cosine", "linear"]}], (),
     ["--lrn_rate_schedule accepts", "'linear'"]),
    ([{"name": "momentum", "type": "continuous", "low": 0.5, "high": 0.9}], ("--hpo_backend=bayes",),
     ["Unknown hpo backend 'bayes'", "gp", "tpe"]),
    ([{"name": "momentum", "type": "continuous", "low": 0.5, "high": 0.9}], ("--hpo_nb_trials=0",),
     ["hpo_nb_trials"]),
    ([{"name": "momentum", "type": "continuous", "low": 0.5, "high": 0.9}],
     ("--hpo_backend=ddpg", "--ddpg_tau=2"), ["0 <= --ddpg_tau <= 1", "--ddpg_tau=2"]),
    ([{"name": "ddpg_tau", "type": "continuous", "low": 0.1, "high": 0.2}], (),
     ["named after flags", "'ddpg_tau'"]),
])
def test_bad_search_settings_fail_before_any_trial(tmp_path, space, flags, expected):
    (tmp_path / "space.json").write_text(json.dumps(space))
    finished = run_cli("lenet_at_digits", "--hpo_backend=random", "--hpo_space=space.json", *flags,
                       *_FLAGS, cwd=str(tmp_path))
    assert finished.returncode == 2, finished.stderr[-2000:]
    for text in expected:
        assert text in finished.stderr
    assert not (tmp_path / "out/hpo/trials.jsonl").exists()


def test_a_search_space_file_is_required(tmp_path):
    finished = run_cli("lenet_at_digits", "--hpo_backend=tpe", *_FLAGS, cwd=str(tmp_path))
    assert finished.returncode == 2
    assert "Expected --hpo_space" in finished.stderr
