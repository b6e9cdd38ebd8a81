"""AutoML mode: search any learner's flags, then re-train the best setting with the full schedule.

An edge module beside ``main.py``: it runs whole runs (``learners.runner.run``) as trials.

Each trial is one ordinary run (``learners.runner.run``) with the candidate's flag values, a
shortened schedule ("fast fine-tuning": ``trial_epochs_rat`` of the full one) and the validation
split held out; its reward is the validation accuracy. Trials live in ``<save_dir>/hpo/``:
the trial store (``trials.jsonl``, ``best.json``) and one directory per trial. A search killed
and started again resumes from the store; the trial that was running starts over.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
from absl import logging

from hpo.optimizer import create_optimizer
from hpo.search import run_search, search_description
from hpo.space import Categorical, Continuous, SearchSpace
from hpo.trial_store import TrialStore, stored_seconds
from learners.config import RunConfig
from options import COMMON_FLAGS, NOT_SEARCHABLE
from utils.io import write_json_atomic

ConfigFactory = Callable[[Mapping[str, Any]], RunConfig]
"""Builds the run's config with some flags overridden (``{flag name: value}``)."""


@dataclasses.dataclass(frozen=True)
class AutoMLConfig:
    """Settings of an AutoML search.

    Attributes:
        backend: search backend (``gp``, ``tpe``, ``ddpg``, ``random``).
        nb_trials: trials to run (trials reloaded from an earlier run count).
        trial_epochs_rat: fraction of the full schedule each trial trains for.
        optimizer_options: extra keyword arguments of the backend.
    """

    backend: str
    nb_trials: int
    trial_epochs_rat: float = 0.1
    optimizer_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.nb_trials < 1:
            raise ValueError(f"Expected `hpo_nb_trials` >= 1. Received: {self.nb_trials}")
        if not 0 < self.trial_epochs_rat <= 1:
            raise ValueError("Expected 0 < `hpo_trial_epochs_rat` <= 1. "
                             f"Received: {self.trial_epochs_rat}")


def trial_config(config: RunConfig, trial_dir: str, epochs_rat: float) -> RunConfig:
    """``config`` as one search trial: shortened schedule, own directories, nothing exported."""
    train = config.train
    if train.train_steps is not None:
        train = dataclasses.replace(train, train_steps=max(1, round(train.train_steps * epochs_rat)))
    else:
        train = dataclasses.replace(train, epochs_ratio=train.epochs_ratio * epochs_rat)
    return dataclasses.replace(
        config, save_dir=trial_dir, log_dir=os.path.join(trial_dir, "logs"), search_trial=True,
        train=train, export=dataclasses.replace(config.export, enabled=False))


def run_automl(automl: AutoMLConfig, space: SearchSpace, make_config: ConfigFactory) -> dict:
    """Searches ``space`` (flag names -> ranges) and re-trains the best setting; returns its metrics."""
    from learners.runner import run  # imports the learners and TensorFlow

    base = make_config({})
    search_dir = os.path.join(base.output_dir, "hpo")
    optimizer = create_optimizer(automl.backend, space, seed=base.train.seed, **automl.optimizer_options)
    store = TrialStore(search_dir, search_description(
        optimizer, automl.backend, None, learner=base.learner, net=base.net,
        trial_epochs_rat=automl.trial_epochs_rat))

    def objective(candidate):
        trial_dir = os.path.join(search_dir, f"trial_{len(store):03d}")
        shutil.rmtree(trial_dir, ignore_errors=True)  # a trial cut short by a kill starts over
        keras.backend.clear_session()
        metrics = run(trial_config(make_config(candidate), trial_dir, automl.trial_epochs_rat))
        return metrics["val"]["accuracy"], {"val": metrics["val"], "eval": metrics.get("eval")}

    logging.info("AutoML: %s search over %s, %d trial(s) of %.3g of the schedule; trials in %s",
                 automl.backend, ", ".join(space.names), automl.nb_trials, automl.trial_epochs_rat,
                 store.trials_path)
    result = run_search(optimizer, objective, automl.nb_trials, store=store)
    best = result.best
    logging.info("AutoML: best trial %d, validation accuracy %.4f: %s; re-training it with the "
                 "full schedule.", best.trial + 1, best.reward, best.projected)
    keras.backend.clear_session()
    final_config = make_config(best.projected)
    metrics = run(final_config)
    metrics["automl"] = {"backend": automl.backend, "nb_trials": len(result.trials),
                         "best_trial": best.trial, "best_val_accuracy": best.reward,
                         "best_setting": best.projected, "trials_file": store.trials_path,
                         "search_seconds": stored_seconds(search_dir)}  # every launch's trials
    write_json_atomic(os.path.join(final_config.output_dir, "metrics.json"), metrics)
    return metrics


def searchable_space(path: str, flag_values, learner_flags: Sequence[str]) -> SearchSpace:
    """Reads ``--hpo_space`` and checks every dimension against the flag it sets.

    Args:
        path: the JSON space file.
        flag_values: the parsed absl flags.
        learner_flags: the learners' own flags, searchable like the common ones.

    Raises:
        ValueError: for a name that is not a searchable flag, or bounds/choices the flag rejects.
    """
    space = SearchSpace.from_file(path)
    searchable = sorted(name for name in (*COMMON_FLAGS, *learner_flags)
                        if name not in NOT_SEARCHABLE and not name.startswith("hpo_"))
    for dim in space:
        if dim.name not in searchable:
            raise ValueError(f"Expected search dimensions named after flags ({', '.join(searchable)}). "
                             f"Received: '{dim.name}' in '{path}'")
        flag = flag_values[dim.name]
        kind = type(flag.parser).__name__
        if isinstance(dim, Continuous) and "Float" not in kind:
            raise ValueError(f"Expected an integer or categorical dimension for --{dim.name} "
                             f"({kind}). Received: a continuous one in '{path}'")
        values = dim.choices if isinstance(dim, Categorical) else (dim.low, dim.high)
        for value in values:
            try:
                flag.parser.parse(value)
            except (ValueError, TypeError) as error:
                raise ValueError(f"Expected values --{dim.name} accepts in '{path}'. "
                                 f"Received: {value!r} ({error})") from None
    return space


def run_automl_from_flags(flag_values, make_config: ConfigFactory,
                          learner_flags: Sequence[str] = ()) -> dict:
    """The AutoML mode of the command line: ``--hpo_space`` searched with ``--hpo_backend``.

    Args:
        flag_values: the parsed absl flags.
        make_config: builds the run's config with some flags overridden (parsed values).
        learner_flags: the learners' own flags, searchable like the common ones.

    Raises:
        ValueError: for a missing space or backend, or a bad space, before any trial runs.
    """
    if not flag_values.hpo_space:
        raise ValueError("Expected --hpo_space (a JSON search space over flags) with --hpo_backend. "
                         "Received: none")
    if not flag_values.hpo_backend:
        raise ValueError("Expected --hpo_backend (gp, tpe, ddpg or random) with --hpo_space. "
                         "Received: none")
    space = searchable_space(flag_values.hpo_space, flag_values, learner_flags)
    options = {}
    if flag_values.hpo_backend == "ddpg":  # one episode per trial; the noise decays over the trials
        from rl_agents.ddpg import DdpgConfig

        options = {"config": DdpgConfig.from_flag_values(flag_values.flag_values_dict()),
                   "rollouts": flag_values.hpo_nb_trials}
    automl = AutoMLConfig(backend=flag_values.hpo_backend, nb_trials=flag_values.hpo_nb_trials,
                          trial_epochs_rat=flag_values.hpo_trial_epochs_rat,
                          optimizer_options=options)

    def config_for(overrides):
        return make_config({name: flag_values[name].parser.parse(value)
                            for name, value in overrides.items()})

    config_for({})  # every other flag is checked before the first trial
    return run_automl(automl, space, config_for)
