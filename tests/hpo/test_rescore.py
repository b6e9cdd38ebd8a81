"""Tests of hpo/rescore.py: which plans are re-scored, the pick, and resuming from the file."""

import json

import pytest

from hpo.rescore import leaders, rescore_leaders
from hpo.trial_store import Trial


def _trials(rewards, plans=None):
    plans = plans or list(range(len(rewards)))
    return [Trial(i, {"x": float(p)}, {"x": float(p)}, r) for i, (r, p) in enumerate(zip(rewards, plans))]


def test_leaders_are_the_best_distinct_plans_then_the_ones_always_rescored():
    # trial 3 repeats trial 2's plan with the same reward; trial 0 is a first plan to beat
    trials = _trials([0.1, 0.5, 0.9, 0.9, 0.7], plans=[0, 1, 2, 2, 4])
    assert [t.trial for t in leaders(trials, 2)] == [2, 4]
    assert [t.trial for t in leaders(trials, 2, always=[0, 2])] == [2, 4, 0]
    assert [t.trial for t in leaders(trials, 10)] == [2, 4, 1, 0]


def test_rescore_keeps_the_best_on_the_new_score_and_resumes_from_its_file(tmp_path):
    trials = _trials([0.1, 0.5, 0.9, 0.7])
    new_scores = {0.0: 0.8, 1.0: 0.2, 2.0: 0.6, 3.0: 0.7}  # the reward's leader is not the best
    calls = []

    def objective(candidate):
        calls.append(candidate["x"])
        return new_scores[candidate["x"]], {"steps": 3}

    path = tmp_path / "rescored_ft3.jsonl"
    best = rescore_leaders(trials, objective, 2, always=[0], store_path=str(path), log=lambda _: None)
    assert best.trial == 0 and calls == [2.0, 3.0, 0.0]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["trial"], r["score"], r["metrics"]) for r in records] == [
        (2, 0.6, {"steps": 3}), (3, 0.7, {"steps": 3}), (0, 0.8, {"steps": 3})]
    assert all(r["seconds"] >= 0 for r in records)

    path.write_text(path.read_text().splitlines()[0] + "\n" + '{"trial": 3, "sco')  # torn by a kill
    calls.clear()
    assert rescore_leaders(trials, objective, 2, always=[0], store_path=str(path),
                           log=lambda _: None).trial == 0
    assert calls == [3.0, 0.0]  # trial 2's score was kept; the torn one is scored again
    assert [json.loads(line)["trial"] for line in path.read_text().splitlines()] == [2, 3, 0]


@pytest.mark.parametrize("margin, expected", [(0.0, 2), (0.05, 2), (0.15, 0), (0.3, 0)])
def test_the_default_plan_stays_unless_beaten_by_more_than_the_margin(margin, expected):
    trials = _trials([0.1, 0.5, 0.9])  # trial 0 the default (uniform) plan, re-scored 0.70
    new_scores = {0.0: 0.70, 1.0: 0.60, 2.0: 0.80}
    best = rescore_leaders(trials, lambda c: new_scores[c["x"]], 1, default=0, margin=margin,
                           log=lambda _: None)
    assert best.trial == expected


@pytest.mark.parametrize("nb_leaders, trials, options, expected", [
    (0, _trials([0.5]), {}, "nb_leaders >= 1"),
    (1, [], {}, "at least one trial"),
    (1, _trials([0.5]), {"default": 0, "margin": -0.01}, "margin >= 0. Received: -0.01"),
    (1, _trials([0.5]), {"default": 1}, r"trial in \[0, 1\). Received: 1"),
])
def test_rescore_refuses_bad_arguments(nb_leaders, trials, options, expected):
    with pytest.raises(ValueError, match=expected):
        rescore_leaders(trials, lambda c: 0.0, nb_leaders, **options)
