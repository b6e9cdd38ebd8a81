"""Re-scoring a search's leaders with a costlier, less noisy objective.

The best of many noisy rewards is as often the luckiest plan as the best one: a weight-sparse
search at 90 % picked a plan 0.004 ahead of the heuristic one in reward (inside the reward's
noise) that ended 0.38 point behind it after fine-tuning (docs/sparsity.md).
``rescore_leaders`` takes the ``nb_leaders`` distinct plans with the highest rewards, plus the
trials named in ``always`` (e.g. the hand-made plans the search has to beat), scores each again
with ``objective`` and returns the one whose new score is highest. Each score is appended to a
JSON-lines file as soon as it is known, so a killed re-scoring resumes where it stopped (name the
file after the objective's settings, e.g. ``search/rescored_ft1000.jsonl``: scores from other
settings are not reused).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Sequence

from absl import logging

from hpo.search import Objective
from hpo.space import Candidate
from hpo.trial_store import Trial
from utils.io import append_json_line, write_text_atomic


def leaders(trials: Sequence[Trial], nb_leaders: int, *, always: Sequence[int] = (),
            plan_key: Callable[[Candidate], Hashable] | None = None) -> list[Trial]:
    """The first trial of each of the ``nb_leaders`` distinct plans with the highest rewards
    (the earlier trial on ties), then the trials numbered in ``always`` whose plan is not among
    them yet."""
    def plan_of(trial: Trial) -> Hashable:
        projected = trial.projected
        return plan_key(projected) if plan_key is not None else tuple(sorted(projected.items()))

    chosen, plans = [], set()
    ranked = sorted(trials, key=lambda t: (-t.reward, t.trial))
    for trial in ranked:
        if len(chosen) == nb_leaders:
            break
        if plan_of(trial) not in plans:
            plans.add(plan_of(trial))
            chosen.append(trial)
    for trial in (trials[index] for index in always):
        if plan_of(trial) not in plans:
            plans.add(plan_of(trial))
            chosen.append(trial)
    return chosen


def _load(path: str) -> dict[int, dict]:
    scores = {}
    if os.path.isfile(path):
        with open(path) as handle:
            text = handle.read()
        lines = [line for line in text.split("\n") if line.strip()]
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                scores[int(record["trial"])] = record
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                if number == len(lines) and not text.endswith("\n"):  # torn by a kill: redo it
                    logging.warning("rescore: dropped the partial last line of %s (a run was "
                                    "killed while writing it); that plan is scored again", path)
                    write_text_atomic(path, "".join(line + "\n" for line in lines[:-1]))
                    continue
                raise ValueError(f"Expected one re-score per line in '{path}'. Received at line "
                                 f"{number}: {error}") from None
    return scores


def rescore_leaders(trials: Sequence[Trial], objective: Objective, nb_leaders: int, *,
                    store_path: str | None = None, always: Sequence[int] = (),
                    plan_key: Callable[[Candidate], Hashable] | None = None,
                    log: Callable[[str], None] = logging.info) -> Trial:
    """Scores the :func:`leaders` again with ``objective``; returns the best of them on it.

    Raises:
        ValueError: for ``nb_leaders < 1``, no trials, or a re-score file that cannot be read.
    """
    if nb_leaders < 1:
        raise ValueError(f"Expected nb_leaders >= 1. Received: {nb_leaders}")
    if not trials:
        raise ValueError("Expected at least one trial to re-score. Received: none")
    path = store_path
    done = _load(path) if path is not None else {}
    chosen = leaders(trials, nb_leaders, always=always, plan_key=plan_key)
    log(f"rescore: {len(chosen)} plan(s), trials "
        f"{', '.join(str(t.trial + 1) for t in chosen)} ({len(set(done) & {t.trial for t in chosen})} "
        "already re-scored)")
    scores = {}
    for number, trial in enumerate(chosen, 1):
        if trial.trial in done:
            scores[trial.trial] = float(done[trial.trial]["score"])
            continue
        outcome = objective(trial.projected)
        score, metrics = outcome if isinstance(outcome, tuple) else (outcome, {})
        scores[trial.trial] = float(score)
        if path is not None:
            append_json_line(path, {"trial": trial.trial, "score": float(score),
                                    "reward": trial.reward, "metrics": dict(metrics)})
        log(f"rescore {number}/{len(chosen)}: trial {trial.trial + 1} (reward "
            f"{trial.reward:.4f}) scores {score:.4f}")
    best = max(chosen, key=lambda t: (scores[t.trial], -t.trial))
    log(f"rescore: trial {best.trial + 1} is the best on re-scoring ({scores[best.trial]:.4f}); "
        f"the search's best reward was trial {chosen[0].trial + 1}'s")
    return best
