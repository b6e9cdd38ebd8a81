"""Test functions for the search backends, and the loop that measures simple regret.

Two standard functions (Branin, Hartmann-6) and one shaped like the product's per-layer searches
(``allocation``: keep ratios of 19 layers under a cost budget, the uniform plan told first). All
are minimised; a backend maximises ``-f``. The simple regret after ``n`` evaluations is
``min(f(x_1), ..., f(x_n)) - f*``, where ``f*`` is the known global minimum.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hpo.budget import Budget
from hpo.optimizer import BACKENDS
from hpo.search import run_search
from hpo.space import Candidate, Continuous, SearchSpace, per_layer


@dataclasses.dataclass(frozen=True)
class BenchmarkFunction:
    """A function to minimise over a search space, with its known minimum.

    Attributes:
        name: how tables and command lines call it.
        space: its domain.
        function: maps a candidate of ``space`` to the value to minimise.
        minimum: the global minimum of ``function`` over ``space`` (within ``budget``).
        budget: candidates are projected onto it before they are evaluated, as in the learners'
            searches (``None``: unconstrained).
        first_candidates: evaluated before the backend is asked (the plan a search must beat).
        layer_features: the DDPG backend's per-dimension features (``None``: none).
    """

    name: str
    space: SearchSpace
    function: Callable[[Mapping[str, Any]], float]
    minimum: float
    budget: Budget | None = None
    first_candidates: tuple[Candidate, ...] = ()
    layer_features: np.ndarray | None = None

    def __call__(self, candidate: Mapping[str, Any]) -> float:
        return float(self.function(candidate))


def branin_function(x1: float, x2: float) -> float:
    """The Branin-Hoo function; three global minima of 0.397887 on ``[-5, 10] x [0, 15]``."""
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_HARTMANN6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN6_A = np.array([[10, 3, 17, 3.5, 1.7, 8],
                         [0.05, 10, 17, 0.1, 8, 14],
                         [3, 3.5, 1.7, 10, 17, 8],
                         [17, 8, 0.05, 10, 0.1, 14]])
_HARTMANN6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                                [2329, 4135, 8307, 3736, 1004, 9991],
                                [2348, 1451, 3522, 2883, 3047, 6650],
                                [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6_function(x: Any) -> float:
    """The 6-D Hartmann function on the unit cube; global minimum -3.32237."""
    x = np.asarray(x, dtype=float).reshape(1, 6)
    exponents = -np.sum(_HARTMANN6_A * (x - _HARTMANN6_P) ** 2, axis=1)
    return float(-_HARTMANN6_ALPHA @ np.exp(exponents))


BRANIN = BenchmarkFunction(
    name="branin",
    space=SearchSpace([Continuous("x1", -5.0, 10.0), Continuous("x2", 0.0, 15.0)]),
    function=lambda candidate: branin_function(candidate["x1"], candidate["x2"]),
    minimum=0.397887,
)

HARTMANN6 = BenchmarkFunction(
    name="hartmann6",
    space=SearchSpace([Continuous(f"x{i}", 0.0, 1.0) for i in range(1, 7)]),
    function=lambda candidate: hartmann6_function([candidate[f"x{i}"] for i in range(1, 7)]),
    minimum=-3.32237,
)


def allocation_function(nb_layers: int = 19, limit: float = 0.5, lowest: float = 0.2,
                        seed: int = 0) -> BenchmarkFunction:
    """Keep ratios ``r_i`` in ``[lowest, 1]`` of ``nb_layers`` layers, cost ``sum c_i r_i`` at most
    ``limit``: minimise the damage ``sum s_i (1 - r_i)^2``.

    The shape of the product's per-layer searches (channel keep ratios under a FLOPs budget,
    sparsities under a parameter budget, bit-widths under an average): each layer costs a share
    ``c_i`` of the total (``sum c_i = 1``, drawn in [0.5, 2] before normalising) and suffers from
    being cut with a sensitivity ``s_i`` (log-normal, sigma 1). The uniform plan ``r_i = limit``
    is told first; the optimum is not uniform. The budget is filled (``fill=True``), as the
    learners' are. ``seed`` draws the problem, not the search.
    """
    rng = np.random.default_rng(seed)
    costs = rng.uniform(0.5, 2.0, nb_layers)
    costs /= costs.sum()
    sensitivities = np.exp(rng.normal(0.0, 1.0, nb_layers))
    space = SearchSpace(per_layer("keep", nb_layers, lowest, 1.0))

    def ratios(candidate: Mapping[str, Any]) -> np.ndarray:
        return np.array([candidate[name] for name in space.names])

    def damage(keep: np.ndarray) -> float:
        return float(sensitivities @ (1.0 - keep) ** 2)

    return BenchmarkFunction(
        name="allocation",
        space=space,
        function=lambda candidate: damage(ratios(candidate)),
        minimum=damage(_water_filling(costs, sensitivities, limit, lowest)),
        budget=Budget("custom", limit, lambda candidate: float(costs @ ratios(candidate)),
                      fill=True),
        first_candidates=({name: limit for name in space.names},),
        layer_features=np.stack([np.arange(nb_layers), costs], axis=1),
    )


def _water_filling(costs: np.ndarray, sensitivities: np.ndarray, limit: float,
                   lowest: float) -> np.ndarray:
    """The minimiser of ``sum s_i (1 - r_i)^2`` subject to ``sum c_i r_i = limit`` and
    ``lowest <= r_i <= 1``: ``r_i = clip(1 - lambda c_i / (2 s_i))``, the multiplier ``lambda``
    found by bisection (the cost falls as it grows)."""
    def keep(multiplier: float) -> np.ndarray:
        return np.clip(1.0 - multiplier * costs / (2.0 * sensitivities), lowest, 1.0)

    low, high = 0.0, 1.0
    while costs @ keep(high) > limit:
        high *= 2.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if costs @ keep(middle) > limit else (low, middle)
    return keep(high)


ALLOCATION = allocation_function()

FUNCTIONS: dict[str, BenchmarkFunction] = {f.name: f for f in (BRANIN, HARTMANN6, ALLOCATION)}


def get_function(name: str) -> BenchmarkFunction:
    """The benchmark function called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in FUNCTIONS:
        raise ValueError(f"Expected a benchmark function in {sorted(FUNCTIONS)}. "
                         f"Received: {name!r}")
    return FUNCTIONS[name]


def run_regret(backend_name: str, function: BenchmarkFunction | str, nb_evaluations: int, seed: int,
               **options) -> list[float]:
    """Runs one search of ``nb_evaluations`` steps and returns its simple regret after each step.

    Args:
        backend_name: a registered backend (``gp``, ``tpe``, ``ddpg``, ``random``).
        function: a ``BenchmarkFunction`` or the name of one (``branin``, ``hartmann6``).
        nb_evaluations: how many candidates to evaluate.
        seed: the backend's seed.
        **options: keyword arguments of the backend's constructor.

    Returns:
        ``nb_evaluations`` non-increasing regrets: best value so far minus the known minimum.

    Raises:
        ValueError: for an unknown backend or function, or ``nb_evaluations < 1``.
    """
    if isinstance(function, str):
        function = get_function(function)
    if isinstance(nb_evaluations, bool) or not isinstance(nb_evaluations, int) \
            or nb_evaluations < 1:
        raise ValueError(f"Expected an integer nb_evaluations >= 1. Received: {nb_evaluations!r}")
    optimizer = BACKENDS.get(backend_name)(function.space, seed=seed, **options)
    result = run_search(optimizer, lambda candidate: -function(candidate), nb_evaluations,
                        budget=function.budget, first_candidates=function.first_candidates,
                        log=lambda message: None)
    # Clipped at 0: the published minima are rounded to 6 digits.
    return [max(-reward - function.minimum, 0.0)
            for reward in np.maximum.accumulate([trial.reward for trial in result.trials])]
