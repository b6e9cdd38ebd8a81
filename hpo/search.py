"""The search loop: ask, project onto the budget, evaluate, tell, store -- resumable.

``run_search`` is what every automatic part of the product calls: the AutoML mode over learner
flags, and (through ``hpo.layer_search``) the learners' per-layer searches (keep ratios,
sparsities, bit-widths).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from absl import logging

from hpo.budget import Budget
from hpo.optimizer import Optimizer
from hpo.space import Candidate
from hpo.trial_store import Trial, TrialStore
from utils.progress import format_duration, remaining_seconds

Objective = Callable[[Candidate], "float | tuple[float, Mapping[str, Any]]"]
"""Evaluates a (projected) candidate: returns its reward, or ``(reward, metrics)``."""


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """The outcome of a search: every trial, in order, the best one, and whether it stopped
    before its planned trials because the optimizer kept proposing plans already scored."""

    trials: list[Trial]
    best: Trial
    stopped_early: bool = False


def search_description(optimizer: Optimizer, backend: str, budget: Budget | None,
                       **extra: Any) -> dict[str, Any]:
    """What ``TrialStore`` compares when a search is started again on the same directory."""
    description = {"backend": backend, "seed": optimizer.seed, "space": optimizer.space.to_json()}
    if budget is not None:
        description["budget"] = {"kind": budget.kind, "limit": budget.limit}
    description.update(extra)
    return description


def _format(candidate: Mapping[str, Any], limit: int = 160) -> str:
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in candidate.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plan_of(candidate: Candidate, plan_key: Callable[[Candidate], Hashable] | None = None
            ) -> Hashable:
    """What two candidates with the same plan share: ``plan_key(candidate)`` (e.g. the channel
    counts keep ratios round to), by default the candidate itself."""
    return plan_key(candidate) if plan_key is not None else tuple(sorted(candidate.items()))


def run_search(optimizer: Optimizer, objective: Objective, nb_trials: int, *,
               store: TrialStore | None = None, budget: Budget | None = None,
               first_candidates: Sequence[Candidate] = (),
               plan_key: Callable[[Candidate], Hashable] | None = None,
               patience: int | None = None,
               log: Callable[[str], None] = logging.info) -> SearchResult:
    """Runs (or resumes) a search until ``nb_trials`` trials are done.

    Trials already in ``store`` are told to the optimizer first and count toward ``nb_trials``.
    ``first_candidates`` (e.g. the hand-made plans the search has to beat) are the first trials,
    before the optimizer is asked: the result is then at least as good as the best of them on
    the objective; a resumed search skips those already done. Each new candidate is projected
    onto ``budget`` (if given); the projected candidate is what ``objective`` evaluates, what
    the optimizer is told and what ``store`` records as ``projected`` (next to the
    ``candidate`` as asked). A projected candidate with the same plan as an earlier trial's is
    not evaluated again: the trial takes that one's reward and metrics (with ``repeat_of``, the
    earlier trial's index) -- a search whose noise has died out proposes the same plan over and
    over, and each roll-out may cost minutes. ``plan_key`` says what the plan of a candidate
    is (e.g. the channel counts its keep ratios round to); by default the candidate itself.

    With ``patience``, the search stops early once the optimizer has proposed a plan already
    scored (any earlier trial's) ``patience`` times in a row after its warm-up
    (``optimizer.nb_warmup_trials`` told trials, and the ``first_candidates``): it has settled,
    and what is left of ``nb_trials`` would mostly repeat that plan. A resumed search counts the
    stored trials' repeats too, so a search that stopped stays stopped.

    Raises:
        ValueError: for ``nb_trials < 1``, ``patience < 1`` or an objective that returns a
            non-finite reward.
        InfeasibleBudgetError: before any evaluation, if the budget cannot be met.
    """
    if nb_trials < 1:
        raise ValueError(f"Expected nb_trials >= 1. Received: {nb_trials}")
    if patience is not None and patience < 1:
        raise ValueError(f"Expected patience >= 1 (or None: never stop early). "
                         f"Received: {patience}")
    space = optimizer.space
    if budget is not None:
        budget.check_feasible(space)
    trials: list[Trial] = list(store.trials) if store is not None else []
    for trial in trials:
        optimizer.tell(trial.projected, trial.reward)
    if trials:
        optimizer.resume(len(trials))
        log(f"search: resumed with {len(trials)} trial(s) from {store.trials_path}; "
            f"best so far {max(t.reward for t in trials):.4f}")

    # trials from here on are the optimizer's own, past its warm-up: repeats among them count
    settled_from = max(len(first_candidates), optimizer.nb_warmup_trials)
    plans: dict[Hashable, Trial] = {}  # the first trial of each plan
    repeats = 0  # the trials in a row, up to the last one, that repeated an earlier plan
    for trial in trials:
        plan = plan_of(trial.projected, plan_key)
        repeats = repeats + 1 if plan in plans and trial.trial >= settled_from else 0
        plans.setdefault(plan, trial)
    started, nb_resumed = time.time(), len(trials)
    while len(trials) < nb_trials:
        if patience is not None and repeats >= patience:
            log(f"search: stopped after {len(trials)} of {nb_trials} trials: the optimizer "
                f"proposed plans already scored {repeats} times in a row after its warm-up "
                f"(patience {patience})")
            break
        candidate = (dict(first_candidates[len(trials)]) if len(trials) < len(first_candidates)
                     else optimizer.ask())
        projected = budget.project(space, candidate) if budget is not None else space.validate(candidate)
        trial_started = time.time()
        plan = plan_of(projected, plan_key)
        earlier = plans.get(plan)
        if earlier is not None:
            reward, metrics = earlier.reward, {**earlier.metrics, "repeat_of": earlier.trial}
        else:
            outcome = objective(projected)
            reward, metrics = outcome if isinstance(outcome, tuple) else (outcome, {})
        optimizer.tell(projected, reward)  # validates the reward
        if store is not None:
            trial = store.new_trial(candidate, projected, reward, metrics, time.time() - trial_started)
            store.append(trial)
        else:
            trial = Trial(len(trials), dict(candidate), dict(projected), float(reward), dict(metrics),
                          time.time() - trial_started, round(time.time(), 3))
        trials.append(trial)
        plans.setdefault(plan, trial)
        repeats = repeats + 1 if earlier is not None and trial.trial >= settled_from else 0
        best = max(trials, key=lambda t: t.reward)
        repeat = "" if earlier is None else f" (the plan of trial {earlier.trial + 1}, not evaluated again)"
        elapsed = time.time() - started
        eta = remaining_seconds(len(trials) - nb_resumed, nb_trials - nb_resumed, elapsed)
        log(f"trial {len(trials)}/{nb_trials}: {_format(projected)} reward={trial.reward:.4f}{repeat} "
            f"best={best.reward:.4f} (trial {best.trial + 1}) elapsed={elapsed:.1f}s "
            f"eta={format_duration(eta)}")
    best = max(trials, key=lambda t: t.reward)
    return SearchResult(trials=trials, best=best, stopped_early=len(trials) < nb_trials)
