"""The Gaussian-process backend: GPy regression with expected improvement through ask/tell."""

import logging

import numpy as np
import pytest

from hpo.gp import GaussianProcessSearch
from hpo.optimizer import BACKENDS
from hpo.space import Categorical, Continuous, Integer, SearchSpace
from tests.fixtures.search_problems import MIXED, mixed_objective, run_trials

# Cheap settings: these tests check behaviour, not the quality of the fit.
FAST = {"nb_restarts": 0, "nb_candidates": 200, "nb_local_candidates": 100, "nb_polish_starts": 0}


def test_registered_as_gp():
    assert BACKENDS.get("gp") is GaussianProcessSearch


def test_initial_design_is_a_latin_hypercube_of_default_size():
    space = SearchSpace([Continuous(f"x{i}", 0.0, 1.0) for i in range(6)])
    optimizer = GaussianProcessSearch(space, seed=0)
    assert optimizer.nb_initial_points == 7  # max(5, d + 1)
    assert GaussianProcessSearch(SearchSpace([Continuous("x", 0.0, 1.0)])).nb_initial_points == 5
    candidates = run_trials(optimizer, lambda c: c["x0"], 7)
    points = np.array([space.to_unit(candidate) for candidate in candidates])
    for column in points.T:  # one point in each seventh of every axis
        assert sorted(np.floor(column * 7).astype(int)) == list(range(7))


def test_same_seed_same_candidates_other_seed_others():
    def run(seed):
        optimizer = GaussianProcessSearch(MIXED, seed=seed, nb_initial_points=4, **FAST)
        return run_trials(optimizer, mixed_objective, 9)

    first = run(5)
    assert first == run(5)
    assert first != run(6)


def test_resumed_search_goes_on_instead_of_replaying():
    space = SearchSpace([Continuous("x", 0.0, 1.0), Continuous("y", 0.0, 1.0)])
    uninterrupted = GaussianProcessSearch(space, seed=2, **FAST)
    run_trials(uninterrupted, lambda c: -(c["x"] - 0.2) ** 2 - (c["y"] - 0.7) ** 2, 3)
    resumed = GaussianProcessSearch(space, seed=2, **FAST)
    for candidate, reward in uninterrupted.history:  # as reloaded from a trial store
        resumed.tell(candidate, reward)
    following = resumed.ask()
    assert following not in [candidate for candidate, _ in uninterrupted.history]
    assert following == uninterrupted.ask()  # the fourth point of the same initial design


def test_learns_from_the_told_candidates_not_the_asked_ones():
    space = SearchSpace([Continuous("x", 0.0, 1.0), Categorical("kind", ("a", "b", "c"))])
    optimizer = GaussianProcessSearch(space, seed=0, **FAST)
    # Whatever is asked, other candidates are evaluated and told (trials reloaded from disk, say):
    # a shuffled grid in x, best at x = 0.3 with kind 'b'.
    told_x = np.random.default_rng(0).permutation((np.arange(15) + 0.5) / 15)
    for step, x in enumerate(told_x):
        optimizer.ask()
        told = {"x": float(x), "kind": "abc"[step % 3]}
        optimizer.tell(told, -abs(told["x"] - 0.3) - 0.1 * (told["kind"] != "b"))
    proposals = [optimizer.ask() for _ in range(3)]
    assert all(abs(candidate["x"] - 0.3) < 0.1 for candidate in proposals)
    assert all(candidate["kind"] == "b" for candidate in proposals)


def test_finds_the_maximum_of_a_smooth_function():
    space = SearchSpace([Continuous("x", -2.0, 3.0)])
    optimizer = GaussianProcessSearch(space, seed=0, nb_restarts=0)
    run_trials(optimizer, lambda c: -(c["x"] - 1.234) ** 2, 12)
    # Twelve random points come this close one time in five; ten seeds of this search all do.
    assert abs(optimizer.best[0]["x"] - 1.234) < 0.05


def test_mixed_space_candidates_are_valid_and_typed(caplog):
    optimizer = GaussianProcessSearch(MIXED, seed=0, nb_initial_points=5, **FAST)
    with caplog.at_level(logging.WARNING, logger="hpo.gp"):
        candidates = run_trials(optimizer, mixed_objective, 14)
    assert not caplog.records
    for candidate in candidates:
        assert MIXED.validate(candidate) == candidate
        assert type(candidate["bits"]) is int and type(candidate["width"]) is int
        assert isinstance(candidate["rate"], float)
    assert optimizer.best[1] > max(reward for _, reward in optimizer.history[:5]) + 0.5


def test_duplicates_and_constant_rewards_do_not_break_the_fit(caplog):
    # Six possible candidates: the search has to tell the same ones again and again.
    space = SearchSpace([Integer("bits", 1, 3), Categorical("signed", (False, True))])
    optimizer = GaussianProcessSearch(space, seed=0, nb_initial_points=2, **FAST)
    with caplog.at_level(logging.WARNING, logger="hpo.gp"):
        run_trials(optimizer, lambda c: 1.0, 6)  # constant
        run_trials(optimizer, lambda c: c["bits"] + c["signed"], 8)
    assert not caplog.records
    assert optimizer.best == ({"bits": 3, "signed": True}, 4.0)
    assert len({tuple(c.values()) for c, _ in optimizer.history}) < len(optimizer.history)


def test_a_failed_fit_falls_back_to_a_random_candidate(monkeypatch, caplog):
    optimizer = GaussianProcessSearch(MIXED, seed=0, nb_initial_points=2, **FAST)
    run_trials(optimizer, mixed_objective, 2)

    def fail(rng):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(optimizer, "_fitted_model", fail)
    with caplog.at_level(logging.WARNING, logger="hpo.gp"):
        candidate = optimizer.ask()
    assert MIXED.validate(candidate) == candidate
    assert "LinAlgError: not positive definite" in caplog.text
    assert "random candidate" in caplog.text


def test_tell_rejects_candidates_outside_the_space():
    optimizer = GaussianProcessSearch(MIXED, seed=0)
    candidate = optimizer.ask()
    with pytest.raises(ValueError, match="bits"):
        optimizer.tell({**candidate, "bits": 9}, 1.0)
    with pytest.raises(ValueError, match="finite reward"):
        optimizer.tell(candidate, float("inf"))
    assert optimizer.history == []


@pytest.mark.parametrize("options, message", [
    ({"nb_initial_points": 0}, "nb_initial_points >= 1"),
    ({"nb_restarts": -1}, "nb_restarts >= 0"),
    ({"max_iterations": 0}, "max_iterations >= 1"),
    ({"refit_every": 1.5}, "refit_every >= 1"),
    ({"nb_candidates": 0}, "nb_candidates >= 1"),
    ({"nb_local_candidates": True}, "nb_local_candidates >= 0"),
    ({"nb_polish_starts": -2}, "nb_polish_starts >= 0"),
    ({"exploration": -0.1}, "exploration >= 0"),
    ({"exploration": float("nan")}, "exploration >= 0"),
])
def test_bad_arguments_raise(options, message):
    with pytest.raises(ValueError, match=message):
        GaussianProcessSearch(MIXED, seed=0, **options)
