"""The per-layer search every learner runs: one value per layer, under a budget, resumable.

Channel keep ratios, weight sparsities and bit-widths are searched the same way: one dimension
per layer (``<prefix>_000``, ``<prefix>_001``, ...), a budget that projects every candidate onto
the learner's target and fills it up to it, the learner's first plans (the ones the search has
to beat) scored before the optimizer is asked, a plan key so that candidates which make the same
plan are scored once, trials stored so that a rerun resumes, an early stop once the optimizer
only re-proposes scored plans, and optionally the leaders re-scored by a costlier reward
(:mod:`hpo.rescore`). A learner describes its search with a :class:`LayerSearch` and says what is
its own: how per-layer values become a plan (``plan_key``, its reward), and its budget measure.

Every callable a learner gives sees the per-layer values as a list in layer order, never the
search space's names.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from hpo.budget import BUDGET_KINDS, Budget
from hpo.optimizer import create_optimizer
from hpo.rescore import rescore_leaders
from hpo.search import run_search, search_description
from hpo.space import Candidate, Continuous, Integer, SearchSpace
from hpo.trial_store import Trial, TrialStore, stored_seconds

Values = list[Any]
"""One value per layer, in layer order (floats, or ints for an integer search)."""

LayerReward = Callable[[Values], "float | tuple[float, Mapping[str, Any]]"]
"""Scores per-layer values: returns the reward, or ``(reward, metrics)``."""

DEFAULT_PATIENCE = 10
"""Re-proposed plans in a row after which a per-layer search stops (``LayerSearch.patience``).

A repeat is not scored again, so it teaches the optimizer nothing new: the DDPG agent is told
the same reward for the same actions, and its noise only decays, so it stays on the plan. An
optimizer still exploring, one that proposes a new plan at least one time in four, repeats ten
times in a row with probability 0.75^10 < 6 %; one that has settled wastes at most ten roll-outs
(each still costs the agent's training and the budget projection) before the search ends.
"""


@dataclasses.dataclass(frozen=True, eq=False)
class LayerSearch:
    """What a per-layer search is; :func:`run_layer_search` runs it.

    Attributes:
        prefix: the dimensions' name prefix (``keep`` gives ``keep_000``, ``keep_001``, ...).
        nb_layers: the number of layers, one dimension each.
        low: every layer's lowest value.
        high: every layer's highest value.
        budget_kind: what ``measure`` is (``flops``, ``params``, ``bits``, ...; see
            ``hpo.budget.BUDGET_KINDS``).
        budget_limit: the target: candidates are projected onto ``measure <= budget_limit`` and
            filled up to it.
        measure: the budget's measure of per-layer values; must not decrease when a value does.
        backend: the optimizer (``ddpg``, ``gp``, ``tpe``, ``random``).
        seed: seeds the optimizer.
        rollouts: roll-outs (trials), the first plans included.
        warmup_rollouts: DDPG's warm-up roll-outs (capped at ``rollouts``).
        integer: whole values (bit-widths) instead of real ones.
        order: the order in which the optimizer decides the layers (a DDPG episode's steps), a
            permutation of the layer indices; layer order by default.
        layer_features: DDPG's static state, one row per layer, in layer order.
        first: per-layer values scored first, as they are (the plans the search must beat).
        plan_key: what two candidates that make the same plan share (e.g. the channel counts
            ratios round to); a plan is scored once. By default the values themselves.
        description: the learner's settings that change the reward; with the space, backend,
            seed and budget they are stored in ``search.json`` and must match to resume.
        patience: stop once the optimizer has proposed already scored plans this many times in
            a row after its warm-up (see ``hpo.search.run_search``); ``None`` never stops early.
        nb_rescore: re-score the ``nb_rescore`` distinct plans with the highest rewards, and the
            ``first`` plans, with the costlier reward; 0 does not re-score.
        rescore_name: the re-scores' file under the store, ``<rescore_name>.jsonl``: name it
            after the re-scoring's settings, so scores under other settings are not reused.
        rescore_margin: the best re-scored plan replaces the first plan only if it beats that
            plan's re-score by more than this.
    """

    prefix: str
    nb_layers: int
    low: float
    high: float
    budget_kind: str
    budget_limit: float
    measure: Callable[[Values], float]
    backend: str
    seed: int
    rollouts: int
    warmup_rollouts: int
    integer: bool = False
    order: tuple[int, ...] | None = None
    layer_features: np.ndarray | None = None
    first: tuple[tuple[float, ...], ...] = ()
    plan_key: Callable[[Values], Hashable] | None = None
    description: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    patience: int | None = DEFAULT_PATIENCE
    nb_rescore: int = 0
    rescore_name: str = "rescored"
    rescore_margin: float = 0.0

    def __post_init__(self):
        if not self.prefix:
            raise ValueError(f"Expected a non-empty prefix. Received: {self.prefix!r}")
        if self.nb_layers < 1:
            raise ValueError(f"Expected nb_layers >= 1. Received: {self.nb_layers}")
        if self.budget_kind not in BUDGET_KINDS:
            raise ValueError(f"Expected a budget kind in {BUDGET_KINDS}. "
                             f"Received: {self.budget_kind!r}")
        for name in ("rollouts", "warmup_rollouts"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected {name} >= 1. Received: {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"Expected patience >= 1, or None. Received: {self.patience}")
        if self.nb_rescore < 0 or self.rescore_margin < 0:
            raise ValueError(f"Expected nb_rescore >= 0 and rescore_margin >= 0. Received: "
                             f"nb_rescore={self.nb_rescore}, rescore_margin={self.rescore_margin}")
        if self.order is not None:
            object.__setattr__(self, "order", tuple(int(i) for i in self.order))
            if sorted(self.order) != list(range(self.nb_layers)):
                raise ValueError(f"Expected order to be a permutation of range({self.nb_layers}). "
                                 f"Received: {list(self.order)}")
        object.__setattr__(self, "first", tuple(tuple(values) for values in self.first))
        wrong = [len(values) for values in self.first if len(values) != self.nb_layers]
        if wrong:
            raise ValueError(f"Expected {self.nb_layers} values in each first plan. "
                             f"Received: plans of {wrong} values")
        object.__setattr__(self, "description", dict(self.description))
        object.__setattr__(self, "_names",
                           [f"{self.prefix}_{i:03d}" for i in range(self.nb_layers)])

    def names(self) -> list[str]:
        """The dimensions' names, in layer order."""
        return list(self._names)

    def values(self, candidate: Mapping[str, Any]) -> Values:
        """A candidate's per-layer values, in layer order."""
        return [candidate[name] for name in self._names]

    def candidate(self, values: Sequence[Any]) -> Candidate:
        """The candidate of per-layer values (in layer order)."""
        return dict(zip(self._names, values, strict=True))

    def space(self) -> SearchSpace:
        """One dimension per layer, in the order the optimizer decides them."""
        dimension = Integer if self.integer else Continuous
        names = self.names()
        order = self.order if self.order is not None else range(self.nb_layers)
        return SearchSpace([dimension(names[i], self.low, self.high) for i in order])

    def budget(self) -> Budget:
        """``measure(values) <= budget_limit``, candidates filled up to it."""
        measure = self.measure
        return Budget(self.budget_kind, self.budget_limit,
                      lambda candidate: measure(self.values(candidate)), fill=True)

    def optimizer_options(self) -> dict[str, Any]:
        """The backend's own options: DDPG's layer features and roll-out counts."""
        if self.backend != "ddpg":
            return {}
        options = {"rollouts": self.rollouts,
                   "warmup_rollouts": min(self.warmup_rollouts, self.rollouts)}
        if self.layer_features is not None:
            features = np.asarray(self.layer_features, dtype=np.float64)
            options["layer_features"] = (features if self.order is None
                                         else features[list(self.order)])
        return options


@dataclasses.dataclass(frozen=True)
class LayerSearchResult:
    """What a per-layer search found.

    Attributes:
        values: the chosen plan's per-layer values, in layer order.
        trial: its trial (the best reward's, or the best re-scored one's).
        trials: every trial of the search, over all its launches.
        stopped_early: whether the search stopped before ``rollouts`` (see ``patience``).
        search_seconds: the seconds the trials and re-scores took, over all launches (what a
            learner reports as ``search_seconds``; ``hpo.trial_store.stored_seconds`` of the
            store gives the same number later); without a store, this launch's seconds.
    """

    values: Values
    trial: Trial
    trials: list[Trial]
    stopped_early: bool
    search_seconds: float


def run_layer_search(search: LayerSearch, reward: LayerReward, *, store_dir: str | None,
                     rescore: LayerReward | None = None,
                     log: Callable[[str], None] = logging.info) -> LayerSearchResult:
    """Runs (or, with the trials stored under ``store_dir``, resumes) ``search``.

    The ``first`` plans are scored first, then the optimizer's candidates, each projected onto
    the budget; the best reward's plan is returned, or with ``nb_rescore`` and ``rescore`` the
    best on re-scoring (:func:`hpo.rescore.rescore_leaders`; the first plans are re-scored too,
    and the very first is kept unless a plan beats its re-score by more than
    ``rescore_margin``).

    Raises:
        ValueError: for a ``store_dir`` that holds another search.
        hpo.budget.InfeasibleBudgetError: if no values meet the budget.
    """
    started = time.time()
    space, budget = search.space(), search.budget()
    optimizer = create_optimizer(search.backend, space, seed=search.seed,
                                 **search.optimizer_options())
    store = None
    if store_dir is not None:
        store = TrialStore(store_dir, search_description(optimizer, search.backend, budget,
                                                         **search.description))

    def objective(score: LayerReward):
        return lambda candidate: score(search.values(candidate))

    plan_key = search.plan_key
    key = None if plan_key is None else (lambda candidate: plan_key(search.values(candidate)))
    first = [search.candidate(values) for values in search.first]
    result = run_search(optimizer, objective(reward), search.rollouts, store=store,
                        budget=budget, first_candidates=first, plan_key=key,
                        patience=search.patience, log=log)
    best = result.best
    if search.nb_rescore and rescore is not None:
        best = rescore_leaders(
            result.trials, objective(rescore), search.nb_rescore, always=range(len(first)),
            default=0 if first else None, margin=search.rescore_margin, plan_key=key, log=log,
            store_path=(os.path.join(store_dir, f"{search.rescore_name}.jsonl")
                        if store_dir is not None else None))
    # without a store, the search is this launch's
    seconds = stored_seconds(store_dir) if store_dir is not None else time.time() - started
    return LayerSearchResult(values=search.values(best.projected), trial=best,
                             trials=result.trials, stopped_early=result.stopped_early,
                             search_seconds=seconds)
