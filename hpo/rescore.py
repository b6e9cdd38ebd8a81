"""Re-scoring a search's leaders with a costlier, less noisy objective.

The best of many noisy rewards is as often the luckiest plan as the best one: a lead inside the
reward's noise says nothing about which plan ends better after fine-tuning.
``rescore_leaders`` takes the ``nb_leaders`` distinct plans with the highest rewards, plus the
trials named in ``always`` (e.g. the hand-made plans the search has to beat), scores each again
with ``objective`` and returns the one whose new score is highest. Each score (and the seconds
it took) is appended to a JSON-lines file as soon as it is known, so a killed re-scoring resumes
where it stopped (name the file after the objective's settings, e.g.
``search/rescored_ft1000.jsonl``: scores from other settings are not reused).

With ``default`` (the uniform plan's trial), the search's plans must beat that plan's re-score by
more than ``margin`` to replace it: the highest of several noisy scores is biased upward (the
winner's curse).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence

from absl import logging

from hpo.search import Objective, plan_of
from hpo.space import Candidate
from hpo.trial_store import Trial
from utils.io import append_json_line, read_json_lines


def leaders(trials: Sequence[Trial], nb_leaders: int, *, always: Sequence[int] = (),
            plan_key: Callable[[Candidate], Hashable] | None = None) -> list[Trial]:
    """The first trial of each of the ``nb_leaders`` distinct plans with the highest rewards
    (the earlier trial on ties), then the trials numbered in ``always`` whose plan is not among
    them yet."""
    chosen, plans = [], set()

    def add(trial: Trial) -> None:
        plan = plan_of(trial.projected, plan_key)
        if plan not in plans:
            plans.add(plan)
            chosen.append(trial)

    for trial in sorted(trials, key=lambda t: (-t.reward, t.trial)):
        if len(chosen) == nb_leaders:
            break
        add(trial)
    for index in always:
        add(trials[index])
    return chosen


def rescore_leaders(trials: Sequence[Trial], objective: Objective, nb_leaders: int, *,
                    store_path: str | None = None, always: Sequence[int] = (),
                    plan_key: Callable[[Candidate], Hashable] | None = None,
                    default: int | None = None, margin: float = 0.0,
                    log: Callable[[str], None] = logging.info) -> Trial:
    """Scores the :func:`leaders` again with ``objective``; returns the best of them on it, or
    trial ``default`` (re-scored too) unless that best beats it by more than ``margin``.

    Raises:
        ValueError: for ``nb_leaders < 1``, no trials, a negative margin, ``default`` not a
            trial, or a re-score file that cannot be read.
    """
    if nb_leaders < 1:
        raise ValueError(f"Expected nb_leaders >= 1. Received: {nb_leaders}")
    if not trials:
        raise ValueError("Expected at least one trial to re-score. Received: none")
    if margin < 0:
        raise ValueError(f"Expected a re-score margin >= 0. Received: {margin}")
    if default is not None and not 0 <= default < len(trials):
        raise ValueError(f"Expected the default plan's trial in [0, {len(trials)}). "
                         f"Received: {default}")
    if default is not None:
        always = [*always, default]
    done = (dict(read_json_lines(store_path, lambda r: (int(r["trial"]), float(r["score"])),
                                 "re-score"))
            if store_path is not None else {})
    chosen = leaders(trials, nb_leaders, always=always, plan_key=plan_key)
    log(f"rescore: {len(chosen)} plan(s), trials "
        f"{', '.join(str(t.trial + 1) for t in chosen)} ({len(set(done) & {t.trial for t in chosen})} "
        "already re-scored)")
    scores = {}
    for number, trial in enumerate(chosen, 1):
        if trial.trial in done:
            scores[trial.trial] = done[trial.trial]
            continue
        start = time.monotonic()
        outcome = objective(trial.projected)
        score, metrics = outcome if isinstance(outcome, tuple) else (outcome, {})
        scores[trial.trial] = float(score)
        if store_path is not None:
            append_json_line(store_path, {"trial": trial.trial, "score": float(score),
                                          "reward": trial.reward, "metrics": dict(metrics),
                                          "seconds": time.monotonic() - start})
        log(f"rescore {number}/{len(chosen)}: trial {trial.trial + 1} (reward "
            f"{trial.reward:.4f}) scores {score:.4f}")
    best = max(chosen, key=lambda t: (scores[t.trial], -t.trial))
    log(f"rescore: trial {best.trial + 1} is the best on re-scoring ({scores[best.trial]:.4f}); "
        f"the search's best reward was trial {chosen[0].trial + 1}'s")
    if default is not None and scores[best.trial] <= scores[default] + margin:
        if best.trial != default:
            log(f"rescore: trial {best.trial + 1} leads the default plan (trial {default + 1}, "
                f"{scores[default]:.4f}) by {scores[best.trial] - scores[default]:.4f}, not more "
                f"than the margin {margin:g}: the default plan is kept")
        return trials[default]
    return best
