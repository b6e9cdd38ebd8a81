"""The ask/tell interface every search backend implements, and the backend registry.

Rewards are maximised. ``tell`` may receive a candidate the optimizer never asked for -- the
budget projection of its own candidate, or a trial reloaded from an earlier run -- and must learn
from exactly those values.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpo.space import Candidate, SearchSpace
from utils.registry import Registry

BACKENDS: Registry[type[Optimizer]] = Registry("hpo backend")
# The names ``hpo.backends`` registers, listed without importing them (GPy, hyperopt): the
# choices of the learners' ``--*_search_backend`` flags.
BACKEND_NAMES = ("ddpg", "gp", "tpe", "random")


class Optimizer(abc.ABC):
    """Ask for a candidate, evaluate it, tell the reward; repeat.

    Args:
        space: the search space.
        seed: seeds every random choice the backend makes.
    """

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history: list[tuple[Candidate, float]] = []

    @abc.abstractmethod
    def ask(self) -> Candidate:
        """The next candidate to evaluate."""

    def tell(self, candidate: Mapping[str, Any], reward: float) -> None:
        """Records that ``candidate`` (as evaluated) earned ``reward``.

        Raises:
            ValueError: if the candidate does not fit the space or the reward is not finite.
        """
        candidate = self.space.validate(candidate)
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"Expected a finite reward. Received: {reward}")
        self.history.append((candidate, reward))
        self._observe(candidate, reward)

    def _observe(self, candidate: Candidate, reward: float) -> None:
        """Backend hook called by ``tell`` with a validated candidate."""

    def resume(self, nb_past_trials: int) -> None:
        """Called after the trials of an earlier run were told: draws fresh random numbers.

        Without this, a resumed search would replay the random draws of the first run and
        propose the candidates it already evaluated. Backends with their own random state
        re-seed it here too.
        """
        self.rng = np.random.default_rng([self.seed, nb_past_trials])

    @property
    def best(self) -> tuple[Candidate, float] | None:
        """The best ``(candidate, reward)`` told so far, or ``None`` before the first."""
        if not self.history:
            return None
        return max(self.history, key=lambda item: item[1])


def create_optimizer(name: str, space: SearchSpace, seed: int = 0, **options) -> Optimizer:
    """The backend registered as ``name`` (``gp``, ``tpe``, ``ddpg``, ``random``) on ``space``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    import hpo.backends  # noqa: F401  (registers the backends)

    return BACKENDS.get(name)(space, seed=seed, **options)


@BACKENDS.register("random")
class RandomSearch(Optimizer):
    """Uniform sampling in each dimension's scale: the baseline every other backend must beat."""

    def ask(self) -> Candidate:
        return self.space.sample(self.rng)
