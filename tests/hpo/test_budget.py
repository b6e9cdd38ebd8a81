"""Budgets: projection keeps every evaluated candidate within the limit, for every backend."""

import numpy as np
import pytest

from hpo.budget import Budget, InfeasibleBudgetError
from hpo.optimizer import create_optimizer
from hpo.search import run_search
from hpo.space import Continuous, Integer, SearchSpace, per_layer


def _flops_budget(rng, nb_layers=20):
    """A random per-layer cost (like FLOPs of a net's convolutions) and a random kept fraction."""
    weights = rng.uniform(0.1, 10.0, size=nb_layers)
    limit = rng.uniform(0.25, 0.8)
    return Budget("flops", limit, lambda c: float(np.dot(weights, list(c.values())) / weights.sum()))


def test_projection_meets_the_budget_and_keeps_feasible_candidates():
    space = SearchSpace(per_layer("keep", 20, 0.2, 1.0))
    rng = np.random.default_rng(0)
    for _ in range(50):
        budget = _flops_budget(rng)
        candidate = space.sample(rng)
        projected = budget.project(space, candidate)
        assert budget.measure(projected) <= budget.limit
        if budget.measure(candidate) <= budget.limit:
            assert projected == candidate
        else:  # on the boundary, every layer moved toward its bound by the same fraction
            assert budget.measure(projected) > budget.limit - 1e-6
            fractions = [(projected[n] - 0.2) / (candidate[n] - 0.2) for n in space.names]
            assert max(fractions) - min(fractions) < 1e-9


def test_integer_bit_widths_are_rounded_down_into_the_budget():
    space = SearchSpace([Integer(f"bits_{i}", 2, 8) for i in range(10)])
    budget = Budget("bits", 4.0, lambda c: float(np.mean(list(c.values()))))
    rng = np.random.default_rng(1)
    for _ in range(50):
        projected = budget.project(space, space.sample(rng))
        assert all(isinstance(v, int) for v in projected.values())
        assert budget.measure(projected) <= 4.0


def test_an_infeasible_budget_fails_before_any_evaluation():
    space = SearchSpace(per_layer("keep", 4, 0.5, 1.0))
    budget = Budget("params", 0.3, lambda c: float(np.mean(list(c.values()))))
    evaluated = []
    with pytest.raises(InfeasibleBudgetError, match="params budget of 0.3.*measure is 0.5"):
        run_search(create_optimizer("random", space), evaluated.append, 3, budget=budget)
    assert evaluated == []


@pytest.mark.parametrize("backend", ["random", "gp", "tpe", "ddpg"])
def test_no_backend_ever_evaluates_a_candidate_over_budget(backend):
    space = SearchSpace(per_layer("keep", 20, 0.2, 1.0))
    rng = np.random.default_rng(2)
    for round_index in range(4):
        budget = _flops_budget(rng)
        measured = []

        def objective(candidate, budget=budget, measured=measured):
            measured.append(budget.measure(candidate))
            return -float(np.var(list(candidate.values()))) + budget.measure(candidate)

        options = {"rollouts": 12, "warmup_rollouts": 2} if backend == "ddpg" else {}
        result = run_search(create_optimizer(backend, space, seed=round_index, **options), objective,
                            12, budget=budget, log=lambda line: None)
        assert len(measured) == 12
        assert max(measured) <= budget.limit
        assert all(budget.measure(t.projected) <= budget.limit for t in result.trials)


def test_a_filled_budget_raises_candidates_under_it_to_the_limit():
    space = SearchSpace([Continuous("a", 0.1, 1.0), Continuous("b", 0.1, 1.0), Integer("bits", 2, 8)])
    budget = Budget("custom", 1.0, lambda c: c["a"] + c["b"] + c["bits"] / 8, fill=True)
    low = {"a": 0.1, "b": 0.3, "bits": 2}
    filled = budget.project(space, low)
    assert 1.0 - 1 / 8 < budget.measure(filled) <= 1.0  # uses the budget, up to one integer step
    assert filled["a"] >= low["a"] and filled["b"] >= low["b"] and filled["bits"] >= 2
    assert budget.project(space, {"a": 1.0, "b": 1.0, "bits": 8})["a"] < 1.0  # still projected down
    roomy = Budget("custom", 10.0, budget.measure, fill=True)
    assert roomy.project(space, low) == {"a": 1.0, "b": 1.0, "bits": 8}
