"""Tests of benchmarks/sparse_reward_noise.py on digits and a tiny convolutional model."""

import json

import pytest

from benchmarks import sparse_reward_noise
from datasets.base import DataConfig
from tests.fixtures.digits_models import digits_convnet


def _search_dir(tmp_path, trials):
    directory = tmp_path / "search"
    directory.mkdir()
    (directory / "search.json").write_text(json.dumps({
        "backend": "ddpg", "prune_ratio": 0.5, "regression_learning_rate": 1e-4, "regression_steps": 2,
        "finetune_learning_rate": 1e-3, "finetune_steps": 3, "reward_batches": 1}))
    (directory / "trials.jsonl").write_text("".join(
        json.dumps({"trial": i, "reward": 0.5, "projected": keep}) + "\n"
        for i, keep in enumerate(trials)))
    return str(directory)


def test_load_search_turns_keep_ratios_into_zero_counts_at_the_overall_target(tmp_path):
    directory = _search_dir(tmp_path, [{"keep_000": 0.5, "keep_001": 0.5},
                                       {"keep_000": 0.9, "keep_001": 0.4}])
    settings, plans = sparse_reward_noise.load_search(directory, [1, 2], [72, 80])
    assert (settings.prune_ratio, settings.finetune_steps, settings.regression_learning_rate) == (0.5, 3, 1e-4)
    assert plans["trial 1"] == [36, 40]
    assert sum(plans["trial 2"]) == 76 and plans["trial 2"][0] < plans["trial 2"][1]
    with pytest.raises(ValueError, match=r"trial numbers in \[1, 2\].*Received: 3"):
        sparse_reward_noise.load_search(directory, [3], [72, 80])
    with pytest.raises(ValueError, match="holding search.json. Received: '/nowhere'"):
        sparse_reward_noise.load_search("/nowhere", [1], [72, 80])


def test_same_batch_rewards_repeat_and_the_summary_gives_each_plans_spread_and_lead(tmp_path):
    model = digits_convnet()
    directory = _search_dir(tmp_path, [{"keep_000": 0.5, "keep_001": 0.5},
                                       {"keep_000": 0.9, "keep_001": 0.4}])
    settings, plans = sparse_reward_noise.load_search(directory, [1, 2], [72, 80])
    data = DataConfig(batch_size=32, seed=0)
    rows = sparse_reward_noise.measure(model, data, settings, plans, rounds=2)
    assert [(r["round"], r["mode"], r["plan"]) for r in rows[:4]] == [
        (0, "same", "trial 1"), (0, "same", "trial 2"),
        (0, "running", "trial 1"), (0, "running", "trial 2")]
    again = sparse_reward_noise.measure(model, data, settings, plans, rounds=2, modes=["same"])
    # Up to summation order across threads, which may flip one borderline image of 32.
    assert [r["reward"] for r in again] == pytest.approx(
        [r["reward"] for r in rows if r["mode"] == "same"], abs=1 / 32 + 1e-6)
    lines = sparse_reward_noise.summarize(rows)
    assert len(lines) == 6 and lines[0].startswith("same     trial 1    mean ")
    assert lines[2].startswith("same     trial 2 - trial 1: ") and "sd " in lines[2]
    assert lines[3].startswith("running ")
