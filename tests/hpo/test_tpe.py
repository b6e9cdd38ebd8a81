"""The TPE backend: hyperopt's TPE driven step by step through ask/tell."""

import hyperopt
import numpy as np
import pytest

from hpo.optimizer import BACKENDS
from hpo.space import Categorical, Continuous, SearchSpace
from hpo.tpe import TreeParzenSearch
from tests.fixtures.search_problems import MIXED, mixed_objective, run_trials


def test_registered_as_tpe():
    assert BACKENDS.get("tpe") is TreeParzenSearch


def test_same_seed_same_candidates_other_seed_others():
    first = run_trials(TreeParzenSearch(MIXED, seed=7, nb_startup_trials=5), mixed_objective, 15)
    second = run_trials(TreeParzenSearch(MIXED, seed=7, nb_startup_trials=5), mixed_objective, 15)
    other = run_trials(TreeParzenSearch(MIXED, seed=8, nb_startup_trials=5), mixed_objective, 15)
    assert first == second
    assert first != other


def test_resumed_search_goes_on_like_the_uninterrupted_one():
    uninterrupted = TreeParzenSearch(MIXED, seed=3, nb_startup_trials=4)
    run_trials(uninterrupted, mixed_objective, 9)
    resumed = TreeParzenSearch(MIXED, seed=3, nb_startup_trials=4)
    for candidate, reward in uninterrupted.history:  # as reloaded from a trial store
        resumed.tell(candidate, reward)
    assert resumed.ask() == uninterrupted.ask()


def test_mixed_space_candidates_are_valid_and_typed():
    optimizer = TreeParzenSearch(MIXED, seed=0, nb_startup_trials=5)
    candidates = run_trials(optimizer, mixed_objective, 25)
    for candidate in candidates:
        assert MIXED.validate(candidate) == candidate
        assert type(candidate["bits"]) is int and type(candidate["width"]) is int
        assert isinstance(candidate["rate"], float)
    assert {candidate["mode"] for candidate in candidates} == {"channel", "layer", True}
    # Every integer of a small range is reachable, the bounds included.
    assert {2, 8} <= {candidate["bits"] for candidate in candidates}


def test_learns_from_the_told_candidates_not_the_asked_ones():
    space = SearchSpace([Continuous("x", 0.0, 1.0), Categorical("kind", ("a", "b", "c"))])
    optimizer = TreeParzenSearch(space, seed=0)
    # Whatever is asked, other candidates are evaluated and told (trials reloaded from disk, say):
    # a shuffled grid in x, best at x = 0.3 with kind 'b'.
    told_x = np.random.default_rng(0).permutation((np.arange(30) + 0.5) / 30)
    for step, x in enumerate(told_x):
        optimizer.ask()
        told = {"x": float(x), "kind": "abc"[step % 3]}
        optimizer.tell(told, -abs(told["x"] - 0.3) - 0.1 * (told["kind"] != "b"))
    stored = optimizer.trials.trials
    assert len(stored) == 30
    assert all(t["state"] == hyperopt.JOB_STATE_DONE for t in stored)
    assert stored[1]["misc"]["vals"] == {"x": [float(told_x[1])], "kind": [1]}
    assert [t["result"]["loss"] for t in stored] == [-reward for _, reward in optimizer.history]
    proposals = [optimizer.ask() for _ in range(10)]
    assert sum(abs(c["x"] - 0.3) < 0.1 for c in proposals) >= 8
    assert sum(c["kind"] == "b" for c in proposals) >= 6


def test_reward_is_maximised():
    space = SearchSpace([Continuous("x", 0.0, 1.0)])
    optimizer = TreeParzenSearch(space, seed=1, nb_startup_trials=5)
    run_trials(optimizer, lambda c: -abs(c["x"] - 0.8), 40)
    assert abs(optimizer.best[0]["x"] - 0.8) < 0.02


def test_tell_rejects_candidates_outside_the_space():
    optimizer = TreeParzenSearch(MIXED, seed=0)
    candidate = optimizer.ask()
    with pytest.raises(ValueError, match="bits"):
        optimizer.tell({**candidate, "bits": 9}, 1.0)
    with pytest.raises(ValueError, match="finite reward"):
        optimizer.tell(candidate, float("nan"))
    assert len(optimizer.trials.trials) == 0


@pytest.mark.parametrize("options, message", [
    ({"nb_startup_trials": -1}, "nb_startup_trials >= 0"),
    ({"nb_startup_trials": 2.5}, "nb_startup_trials >= 0"),
    ({"nb_expected_improvement_candidates": 0}, "nb_expected_improvement_candidates >= 1"),
    ({"gamma": 1.0}, "0 < gamma < 1"),
    ({"gamma": "0.25"}, "0 < gamma < 1"),
    ({"prior_weight": 0.0}, "prior_weight > 0"),
])
def test_bad_arguments_raise(options, message):
    with pytest.raises(ValueError, match=message):
        TreeParzenSearch(MIXED, seed=0, **options)
