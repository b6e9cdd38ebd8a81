"""How noisy a weight-sparse search's reward is, with and without common batches.

A roll-out (``learners.weight_sparse.rollout``) fine-tunes a pruned copy for a few hundred steps
and scores it on a few validation batches, so two plans' rewards differ by the plans and by the
training batches each roll-out drew. This script re-scores chosen trials of a stored search
(``--search_dir``, the settings read from its ``search.json``) in rounds: in each round every
plan is scored by a scorer whose roll-outs all read the same batches (``same``, seeded with the
round's seed) and by one whose roll-outs draw on from one running stream (``running``, what a
search uses). It prints each reward, then per mode the spread of each plan's reward over the
rounds and of each plan's lead over the first plan::

    PYTHONPATH=. .venv/bin/python -m benchmarks.sparse_reward_noise \\
        --model ~/pocketflow_runs/resnet20/models/resnet_20_at_cifar10.keras \\
        --data_dir ~/pocketflow_data/cifar10 \\
        --search_dir ~/pocketflow_runs/resnet20/sparse_optimal_0.5/search --trials 1,5 --rounds 3
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence

import keras
from absl import app, flags

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.weight_sparse.config import WeightSparseConfig
from learners.weight_sparse.masks import maskable_kernels
from learners.weight_sparse.ratios import candidate_counts, total_pruned
from learners.weight_sparse.rollout import RolloutScorer
from utils.io import read_json_lines

MODES = ("same", "running")
_SETTINGS = ("prune_ratio", "regression_learning_rate", "regression_steps", "finetune_learning_rate", "finetune_steps",
             "reward_batches")


def load_search(search_dir: str, trials: Sequence[int], sizes: Sequence[int]
                ) -> tuple[WeightSparseConfig, dict[str, list[int]]]:
    """The roll-out settings of the search stored in ``search_dir`` and the zero counts per kernel
    of its trials numbered ``trials`` (from 1), keyed ``trial <n>``.

    Raises:
        ValueError: a directory without a weight-sparse search, or a trial it does not hold.
    """
    path = os.path.join(search_dir, "search.json")
    if not os.path.isfile(path):
        raise ValueError(f"Expected a weight-sparse search directory holding search.json. "
                         f"Received: '{search_dir}'")
    with open(path) as handle:
        description = json.load(handle)
    missing = [key for key in _SETTINGS if key not in description]
    if missing:
        raise ValueError(f"Expected a weight-sparse search's settings {list(_SETTINGS)} in "
                         f"'{path}'. Received: none for {missing}")
    settings = WeightSparseConfig(**{key: description[key] for key in _SETTINGS})
    stored = read_json_lines(os.path.join(search_dir, "trials.jsonl"),
                             lambda row: row["projected"], "trial")
    nb_pruned = total_pruned(sizes, settings.prune_ratio)
    plans = {}
    for number in trials:
        if not 1 <= number <= len(stored):
            raise ValueError(f"Expected trial numbers in [1, {len(stored)}] for '{search_dir}'. "
                             f"Received: {number}")
        plans[f"trial {number}"] = candidate_counts(stored[number - 1], sizes, nb_pruned)
    return settings, plans


def measure(model: keras.Model, data: DataConfig, settings: WeightSparseConfig,
            plans: Mapping[str, Sequence[int]], rounds: int, modes: Sequence[str] = MODES
            ) -> list[dict]:
    """One row per (round, mode, plan): the roll-out's reward and seconds. Round ``r`` seeds the
    ``same`` scorer with ``data.seed + r``; the ``running`` scorer draws on from one stream."""
    kernels = maskable_kernels(model, include_depthwise=False)
    running = (RolloutScorer(model, kernels, create_dataset(data), settings)
               if "running" in modes else None)
    rows = []
    for index in range(rounds):
        for mode in modes:
            if mode == "same":
                seeded = dataclasses.replace(data, seed=data.seed + index)
                scorer = RolloutScorer(model, kernels, create_dataset(seeded), settings,
                                       same_batches=True)
            else:
                scorer = running
            for name, counts in plans.items():
                start = time.perf_counter()
                reward = scorer(list(counts))["accuracy"]
                row = {"round": index, "mode": mode, "plan": name, "reward": reward,
                       "seconds": time.perf_counter() - start}
                print(f"round {index}  {mode:<8} {name:<10} reward {reward:.4f}  "
                      f"{row['seconds']:.0f} s", flush=True)
                rows.append(row)
    return rows


def summarize(rows: Sequence[Mapping]) -> list[str]:
    """Per mode: each plan's mean and standard deviation over the rounds, and each later plan's
    lead over the first plan, round by round, with its mean and standard deviation."""
    lines = []
    for mode in dict.fromkeys(row["mode"] for row in rows):
        table: dict[str, dict[int, float]] = {}
        for row in rows:
            if row["mode"] == mode:
                table.setdefault(row["plan"], {})[row["round"]] = row["reward"]
        names = list(table)
        for name in names:
            values = list(table[name].values())
            lines.append(f"{mode:<8} {name:<10} mean {statistics.mean(values):.4f}  "
                         f"sd {_sd(values):.4f}  ({len(values)} rounds)")
        for name in names[1:]:
            leads = [table[name][r] - table[names[0]][r] for r in table[name] if r in table[names[0]]]
            lines.append(f"{mode:<8} {name} - {names[0]}: "
                         f"{', '.join(f'{lead:+.4f}' for lead in leads)}  mean "
                         f"{statistics.mean(leads):+.4f}  sd {_sd(leads):.4f}")
    return lines


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    flags.DEFINE_string("model", None, "the pre-trained .keras model", flag_values=flag_values)
    flags.DEFINE_string("dataset", "cifar10", "registered dataset name", flag_values=flag_values)
    flags.DEFINE_string("data_dir", None, "the dataset's files", flag_values=flag_values)
    flags.DEFINE_string("search_dir", None, "a weight-sparse search's directory (search.json, "
                        "trials.jsonl)", flag_values=flag_values)
    flags.DEFINE_list("trials", ["1", "2"], "trial numbers (from 1); leads are over the first",
                      flag_values=flag_values)
    flags.DEFINE_integer("rounds", 3, "rounds (seeds of the same-batch scorer)",
                         flag_values=flag_values)
    flags.DEFINE_list("modes", list(MODES), "same and/or running", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 128, "training batch size", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "seed of the first round", flag_values=flag_values)
    flags.mark_flags_as_required(["model", "search_dir"], flag_values=flag_values)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    del argv
    fv = flag_values
    unknown = [mode for mode in fv.modes if mode not in MODES]
    if unknown:
        raise app.UsageError(f"Expected --modes from {MODES}. Received: {unknown}")
    model = keras.models.load_model(fv.model)
    sizes = [kernel.size for kernel in maskable_kernels(model, include_depthwise=False)]
    settings, plans = load_search(fv.search_dir, [int(text) for text in fv.trials], sizes)
    data = DataConfig(dataset=fv.dataset, data_dir=fv.data_dir, batch_size=fv.batch_size,
                      seed=fv.seed)
    rows = measure(model, data, settings, plans, fv.rounds, fv.modes)
    print("\n".join(summarize(rows)))


if __name__ == "__main__":
    define_flags()
    app.run(main, argv=sys.argv)
