"""The ask/tell interface every search backend implements, and the backend registry.

Rewards are maximised. ``tell`` may receive a candidate the optimizer never asked for -- the
budget projection of its own candidate, or a trial reloaded from an earlier run -- and must learn
from exactly those values.

Imports go one way: a backend module (``hpo.gp``, ``hpo.tpe``, ``hpo.ddpg_search``) imports this
one for ``Optimizer`` and registers its class with ``@BACKENDS.register``; this module only names
the module that registers each backend (``BACKEND_MODULES``) and imports it the first time that
backend is asked for, so GPy, hyperopt and the DDPG agent's TensorFlow load only when used.
"""

from __future__ import annotations

import abc
import importlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpo.space import Candidate, SearchSpace
from utils.registry import Registry

BACKEND_MODULES = {"ddpg": "hpo.ddpg_search", "gp": "hpo.gp", "tpe": "hpo.tpe"}
"""The module that registers each backend not defined here, imported on first use."""


class BackendRegistry(Registry):
    """The backends by name: those registered so far, and those of ``modules``, whose module
    is imported (and registers them) the first time one of them is looked up.

    Args:
        modules: backend name -> the module whose import registers it.
    """

    def __init__(self, modules: Mapping[str, str]):
        super().__init__("hpo backend")
        self.modules = dict(modules)

    def get(self, name: str) -> type[Optimizer]:
        """The backend class registered as ``name``, importing its module if needed.

        Raises:
            ValueError: if ``name`` is not a backend; the message lists the valid names.
        """
        if name not in super().names() and name in self.modules:
            importlib.import_module(self.modules[name])
        return super().get(name)

    def names(self) -> list[str]:
        return sorted(set(super().names()) | set(self.modules))

    def __contains__(self, name: object) -> bool:
        return name in self.modules or super().__contains__(name)


BACKENDS = BackendRegistry(BACKEND_MODULES)
# The choices of the learners' ``--*_search_backend`` flags.
BACKEND_NAMES = (*BACKEND_MODULES, "random")


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
    def nb_warmup_trials(self) -> int:
        """Told trials before the backend's proposals depend on the rewards (its random initial
        design, a replay buffer that fills): until then a proposal that repeats an earlier plan
        says nothing about the search having settled. ``0`` by default."""
        return 0

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
    return BACKENDS.get(name)(space, seed=seed, **options)


@BACKENDS.register("random")
class RandomSearch(Optimizer):
    """Uniform sampling in each dimension's scale: the baseline every other backend must beat."""

    def ask(self) -> Candidate:
        return self.space.sample(self.rng)
