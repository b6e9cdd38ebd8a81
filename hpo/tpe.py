"""Tree-structured Parzen estimator search: hyperopt's TPE, driven one ask/tell step at a time.

hyperopt's ``fmin`` owns the evaluation loop; here the loop belongs to the caller, so the backend
keeps a ``hyperopt.Trials`` itself. ``ask`` calls ``hyperopt.tpe.suggest`` for one new trial id and
returns its values without storing the trial; ``tell`` stores a completed trial holding the values
that were actually evaluated (which may differ from the asked ones after a budget projection, or
come from a trial reloaded from disk) with loss ``-reward``.
"""

from __future__ import annotations

import math
from typing import Any

import hyperopt
import numpy as np
from hyperopt import hp
from hyperopt import tpe as hyperopt_tpe

from hpo.optimizer import BACKENDS, Optimizer
from hpo.space import Candidate, Categorical, Continuous, Dimension, Integer, SearchSpace


def _integer_bounds(dimension: Integer) -> tuple[float, float]:
    """Bounds giving every integer of ``dimension`` an equal slice, as ``Integer.to_unit`` does."""
    return dimension.low - 0.5, dimension.high + 0.5


def hyperopt_space(space: SearchSpace) -> dict[str, Any]:
    """The hyperopt search space of ``space``: one labelled expression per dimension.

    Continuous dimensions become ``hp.uniform`` / ``hp.loguniform``; integer dimensions
    ``hp.quniform`` / ``hp.qloguniform`` with step 1 over ``[low - 0.5, high + 0.5]`` (so TPE
    keeps their order, and each integer owns the slice it owns in ``Integer.to_unit``);
    categorical dimensions ``hp.choice`` over the indices of their choices.
    """
    expressions = {}
    for dimension in space:
        name = dimension.name
        if isinstance(dimension, Continuous):
            if dimension.log:
                expressions[name] = hp.loguniform(name, math.log(dimension.low),
                                                  math.log(dimension.high))
            else:
                expressions[name] = hp.uniform(name, dimension.low, dimension.high)
        elif isinstance(dimension, Integer):
            low, high = _integer_bounds(dimension)
            if dimension.log:
                expressions[name] = hp.qloguniform(name, math.log(low), math.log(high), 1)
            else:
                expressions[name] = hp.quniform(name, low, high, 1)
        else:
            expressions[name] = hp.choice(name, list(range(len(dimension.choices))))
    return expressions


def _check_integer(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Expected an integer {name} >= {minimum}. Received: {name}={value!r}")


def _is_real(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))


def _from_hyperopt(dimension: Dimension, value: Any) -> Any:
    """The value of ``dimension`` that hyperopt's stored ``value`` stands for."""
    if isinstance(dimension, Categorical):
        return dimension.choices[int(value)]
    return dimension.clip(value)


def _to_hyperopt(dimension: Dimension, value: Any) -> float | int:
    """What hyperopt stores for ``value`` of ``dimension`` (the index of a categorical choice)."""
    if isinstance(dimension, Categorical):
        return dimension.index(value)
    return float(value)  # hp.quniform samples are floats too.


@BACKENDS.register("tpe")
class TreeParzenSearch(Optimizer):
    """hyperopt's TPE as an ask/tell optimizer.

    Args:
        space: the search space.
        seed: with the number of told trials, seeds every suggestion: the same told trials give
            the same next candidate, so a search resumed from stored trials goes on exactly as the
            uninterrupted search would have.
        nb_startup_trials: told trials before TPE replaces random sampling (hyperopt's
            ``n_startup_jobs``; its default of 20 would leave half of a 40-trial search random).
        nb_expected_improvement_candidates: samples from the "good" density scored per ask
            (hyperopt's ``n_EI_candidates``).
        gamma: fraction of the told trials that form the "good" density.
        prior_weight: weight of the uniform prior in each density.

    Raises:
        ValueError: for an argument out of range.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, nb_startup_trials: int = 10,
                 nb_expected_improvement_candidates: int = 24, gamma: float = 0.25,
                 prior_weight: float = 1.0):
        super().__init__(space, seed)
        _check_integer("nb_startup_trials", nb_startup_trials, 0)
        _check_integer("nb_expected_improvement_candidates", nb_expected_improvement_candidates, 1)
        if not _is_real(gamma) or not 0.0 < gamma < 1.0:
            raise ValueError(f"Expected 0 < gamma < 1. Received: gamma={gamma!r}")
        if not _is_real(prior_weight) or not prior_weight > 0.0:
            raise ValueError("Expected a finite prior_weight > 0. "
                             f"Received: prior_weight={prior_weight!r}")
        self.nb_startup_trials = int(nb_startup_trials)
        self.nb_expected_improvement_candidates = int(nb_expected_improvement_candidates)
        self.gamma = float(gamma)
        self.prior_weight = float(prior_weight)
        # The objective is never called: the caller evaluates candidates and tells the rewards.
        self.domain = hyperopt.Domain(_never_called, hyperopt_space(space))
        self.trials = hyperopt.Trials()
        # Asks since the last tell: asking twice without telling gives two different candidates.
        self._nb_pending_asks = 0

    @property
    def nb_warmup_trials(self) -> int:
        """The random start-up trials, before TPE models the rewards."""
        return max(self.nb_startup_trials, 1)

    def ask(self) -> Candidate:
        seed = np.random.default_rng(
            [int(self.seed) % 2**63, len(self.history), self._nb_pending_asks])
        self._nb_pending_asks += 1
        # The asked trial is not stored: ``tell`` stores what was actually evaluated.
        trial_ids = self.trials.new_trial_ids(1)
        documents = hyperopt_tpe.suggest(
            trial_ids, self.domain, self.trials, int(seed.integers(2**31 - 1)),
            prior_weight=self.prior_weight,
            # TPE needs at least one told trial to build its densities.
            n_startup_jobs=max(self.nb_startup_trials, 1),
            n_EI_candidates=self.nb_expected_improvement_candidates,
            gamma=self.gamma, verbose=False)
        values = documents[0]["misc"]["vals"]
        return {dimension.name: _from_hyperopt(dimension, values[dimension.name][0])
                for dimension in self.space}

    def _observe(self, candidate: Candidate, reward: float) -> None:
        self._nb_pending_asks = 0
        trial_id = self.trials.new_trial_ids(1)[0]
        misc = {
            "tid": trial_id, "cmd": self.domain.cmd, "workdir": self.domain.workdir,
            "idxs": {dimension.name: [trial_id] for dimension in self.space},
            "vals": {dimension.name: [_to_hyperopt(dimension, candidate[dimension.name])]
                     for dimension in self.space},
        }
        result = {"status": hyperopt.STATUS_OK, "loss": -reward}
        document = self.trials.new_trial_docs([trial_id], [None], [result], [misc])[0]
        document["state"] = hyperopt.JOB_STATE_DONE
        self.trials.insert_trial_docs([document])
        self.trials.refresh()


def _never_called(_: Any) -> float:
    raise RuntimeError("The TPE backend evaluates nothing itself; tell it the rewards instead.")
