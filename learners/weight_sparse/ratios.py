"""Per-layer sparsities and the plan that fixes them as exact zero counts.

Three protocols (``--ws_prune_ratio_prtl``) give a sparsity per masked kernel:

* ``uniform``: every kernel the overall target;
* ``heurist``: ``alpha * log(#weights)``, capped, with ``alpha`` found by bisection so that the
  weight-weighted mean is the target (larger layers are pruned more);
* ``optimal``: a search (``hpo``: DDPG by default, GP / TPE / random) over one keep ratio per
  kernel under a parameter budget that the projection fills to the target; each candidate is
  scored by a callable (the learner's fast fine-tuning on the validation split).

Whatever the protocol, :func:`allocate` turns the sparsities into integer zero counts whose sum is
exactly ``round(target * total weights)``, each count as close to its kernel's sparsity as that
allows (largest-remainder rounding), and never the whole kernel.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from hpo.layer_search import LayerSearch, run_layer_search
from learners.weight_sparse.masks import MaskedKernel
from utils.io import write_json_atomic


def total_pruned(sizes: Sequence[int], ratio: float) -> int:
    """The number of zeros that makes ``ratio`` of ``sum(sizes)`` weights zero."""
    return round(ratio * sum(sizes))


def search_bounds(ratio: float) -> tuple[float, float]:
    """The original's per-layer sparsity range around an overall target ``ratio``:
    ``[max(0, 1 - 3 (1 - ratio)), 1 - (1 - ratio) / 3]`` (at most 3x the target's density, at
    least a third of it)."""
    return max(0.0, 1.0 - 3.0 * (1.0 - ratio)), 1.0 - (1.0 - ratio) / 3.0


def allocate(sizes: Sequence[int], ratios: Sequence[float], nb_pruned: int) -> list[int]:
    """Integer zero counts per kernel, summing to exactly ``nb_pruned``.

    The ideal counts ``ratio * size`` are first scaled together so that they sum to
    ``nb_pruned`` (a no-op for ratios that already meet it; kernels that would lose every weight
    are capped at keeping one and the others scaled again); each count is then the floor of its
    ideal, and the zeros left over go one at a time to the kernels with the largest fractional
    remainders.

    Raises:
        ValueError: for mismatched lengths, ratios outside [0, 1], or ``nb_pruned`` that cannot be
            met while every kernel keeps a weight.
    """
    if len(sizes) != len(ratios) or not sizes:
        raise ValueError(f"Expected one ratio per kernel. Received: {len(ratios)} ratios for "
                         f"{len(sizes)} kernels")
    if any(not 0.0 <= r <= 1.0 for r in ratios):
        raise ValueError(f"Expected per-layer ratios in [0, 1]. Received: {list(ratios)}")
    size = np.asarray(sizes, dtype=np.float64)
    caps = np.maximum(size - 1, 0)
    if not 0 <= nb_pruned <= caps.sum():
        raise ValueError(f"Expected 0 <= zeros <= {int(caps.sum())} (every layer keeps a weight). "
                         f"Received: {nb_pruned} zeros over {int(size.sum())} weights")
    ideal = np.asarray(ratios, dtype=np.float64) * size
    capped = caps == 0
    ideal[capped] = 0.0
    for _ in range(len(sizes) + 1):  # water-filling: each round caps at least one more kernel
        free = ~capped
        remaining = nb_pruned - caps[capped].sum()
        total = ideal[free].sum()
        ideal[free] = (ideal[free] * remaining / total if total > 0
                       else size[free] * remaining / size[free].sum())
        over = free & (ideal > caps)
        if not over.any():
            break
        ideal[over] = caps[over]
        capped |= over
    counts = np.minimum(np.floor(ideal + 1e-9), caps).astype(int)
    remainders = ideal - counts
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-remainders[i], -sizes[i], i))
    deficit = nb_pruned - int(counts.sum())
    while deficit > 0:
        for i in by_remainder:
            if deficit and counts[i] < caps[i]:
                counts[i] += 1
                deficit -= 1
    while deficit < 0:
        for i in reversed(by_remainder):
            if deficit and counts[i] > 0:
                counts[i] -= 1
                deficit += 1
    return [int(c) for c in counts]


def uniform_ratios(sizes: Sequence[int], ratio: float) -> list[float]:
    """Every kernel at the target."""
    return [float(ratio)] * len(sizes)


def heuristic_ratios(sizes: Sequence[int], ratio: float, steps: int = 100) -> list[float]:
    """``min(alpha * log(size), cap)`` with the weight-weighted mean exactly ``ratio``.

    ``cap`` is the upper bound of :func:`search_bounds`; ``alpha`` is found by bisection.

    Raises:
        ValueError: if the target cannot be met under the cap (many single-weight kernels).
    """
    cap = search_bounds(ratio)[1]
    logs = np.log(np.asarray(sizes, dtype=np.float64))
    weights = np.asarray(sizes, dtype=np.float64)
    goal = ratio * weights.sum()

    def pruned(alpha: float) -> float:
        return float(np.sum(weights * np.minimum(alpha * logs, cap)))

    if ratio == 0.0:
        return [0.0] * len(sizes)
    positive = logs[logs > 0]
    if positive.size == 0 or pruned(cap / positive.min()) < goal * (1 - 1e-12):
        raise ValueError(f"Expected an overall sparsity the heuristic can reach with at most "
                         f"{cap:.3f} per layer. Received: ratio={ratio} for layer sizes "
                         f"{list(sizes)}")
    low, high = 0.0, cap / positive.min()
    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if pruned(middle) < goal else (low, middle)
    return [float(r) for r in np.minimum(high * logs, cap)]


def layer_features(kernels: Sequence[MaskedKernel]) -> np.ndarray:
    """DDPG's static state per kernel, after the original: index, the shape as 4 numbers
    (dense ``in x out`` as ``1 x 1 x in x out``), #weights, #weights before and after it."""
    sizes = [kernel.size for kernel in kernels]
    rows = []
    for index, kernel in enumerate(kernels):
        shape = list(kernel.shape)
        while len(shape) > 4:
            shape = [shape[0] * shape[1], *shape[2:]]
        shape = [1] * (4 - len(shape)) + shape
        rows.append([index, *shape, sizes[index], sum(sizes[:index]), sum(sizes[index + 1:])])
    return np.asarray(rows, dtype=np.float64)


Score = Callable[[list[int]], Mapping[str, float]]
"""Scores zero counts per kernel; returns at least ``{"accuracy": ...}``."""


def keep_names(nb_kernels: int) -> list[str]:
    """The search space's names of the kernels' keep ratios: ``keep_000``, ``keep_001``, ..."""
    return [f"keep_{i:03d}" for i in range(nb_kernels)]


def candidate_sparsities(candidate: Mapping[str, float], nb_kernels: int) -> list[float]:
    """A search candidate's sparsity per kernel (1 - its keep ratio, clipped to [0, 1])."""
    return sparsities_of([candidate[name] for name in keep_names(nb_kernels)])


def sparsities_of(keep: Sequence[float]) -> list[float]:
    """The sparsity per kernel of keep ratios per kernel (1 - keep, clipped to [0, 1])."""
    return [min(max(1.0 - value, 0.0), 1.0) for value in keep]


def candidate_counts(candidate: Mapping[str, float], sizes: Sequence[int],
                     nb_pruned: int) -> list[int]:
    """The zero counts per kernel (summing to ``nb_pruned``) of a search candidate, as its
    roll-out prunes them."""
    return allocate(sizes, candidate_sparsities(candidate, len(sizes)), nb_pruned)


def search_ratios(kernels: Sequence[MaskedKernel], ratio: float, score: Score, *,
                  backend: str, rollouts: int, warmup_rollouts: int, reward_type: str,
                  seed: int, store_dir: str | None, description: Mapping[str, Any] | None = None,
                  first_ratios: Sequence[Sequence[float]] = (), rescore: Score | None = None,
                  nb_rescore: int = 0, rescore_name: str = "rescored",
                  rescore_margin: float = 0.0) -> list[float]:
    """The ``optimal`` protocol: searches one sparsity per kernel; returns the best candidate's.

    The search space is one keep ratio (1 - sparsity) per kernel within :func:`search_bounds`,
    widened to take in every sparsity of ``first_ratios``; the budget keeps ``1 - ratio`` of
    the weights and fills candidates up to it, so every candidate the score sees has the
    target's overall sparsity. The reward is the scored accuracy (``single-obj``) or
    ``accuracy * log(1 + overall sparsity)`` (``multi-obj``, the original's). ``first_ratios``
    (sparsities per kernel, e.g. the uniform and heuristic plans) are scored first, as they are:
    the search returns nothing they beat on the reward. With ``nb_rescore``, the
    ``nb_rescore`` distinct plans with the highest rewards and the ``first_ratios`` plans are
    scored again by ``rescore`` (:func:`hpo.rescore.rescore_leaders`) and the best on that score
    is returned, unless it beats the first plan's (uniform's) re-score by no more than
    ``rescore_margin``: then the first plan is. Trials (and re-scores, in
    ``<rescore_name>.jsonl``) are stored under ``store_dir``: a rerun resumes the search. The
    search is :func:`hpo.layer_search.run_layer_search`'s (it stops early once the optimizer
    only re-proposes plans already scored).
    """
    sizes = [kernel.size for kernel in kernels]
    nb_weights, nb_pruned = sum(sizes), total_pruned(sizes, ratio)
    low, high = search_bounds(ratio)
    # the heuristic spares small kernels below the original's range (55 % for a 90 % target):
    # a range that cannot hold it would score a different plan than the one the search must beat
    low = min([low, *(min(r) for r in first_ratios)])
    high = max([high, *(max(r) for r in first_ratios)])

    def counts_of(keep: Sequence[float]) -> list[int]:
        return allocate(sizes, sparsities_of(keep), nb_pruned)

    def kept_fraction(keep: Sequence[float]) -> float:
        return sum(size * value for size, value in zip(sizes, keep, strict=True)) / nb_weights

    def reward_of(scorer: Score):
        def reward(keep: Sequence[float]) -> tuple[float, dict]:
            counts = counts_of(keep)
            metrics = dict(scorer(counts))
            overall = sum(counts) / nb_weights
            value = metrics["accuracy"]
            if reward_type == "multi-obj":
                value *= math.log(1.0 + overall)
            return value, {**metrics, "overall_sparsity": overall}
        return reward

    search = LayerSearch(
        prefix="keep", nb_layers=len(kernels), low=1.0 - high, high=1.0 - low,
        budget_kind="params", budget_limit=1.0 - ratio, measure=kept_fraction,
        backend=backend, seed=seed, rollouts=rollouts, warmup_rollouts=warmup_rollouts,
        layer_features=layer_features(kernels),
        first=[[1.0 - r for r in ratios] for ratios in first_ratios],
        plan_key=lambda keep: tuple(counts_of(keep)),
        description={"prune_ratio": ratio, "reward_type": reward_type,
                     "kernels": [kernel.name for kernel in kernels], **dict(description or {})},
        nb_rescore=nb_rescore, rescore_name=rescore_name, rescore_margin=rescore_margin)
    logging.info("weight-sparse: searching the sparsities of %d kernels with %s, %d roll-outs, "
                 "overall %.3g", len(kernels), backend, rollouts, ratio)
    result = run_layer_search(search, reward_of(score), store_dir=store_dir,
                              rescore=reward_of(rescore) if rescore is not None else None)
    return sparsities_of(result.values)


# ------------------------------------------------------------------------------------- the plan
@dataclasses.dataclass(frozen=True)
class LayerSparsity:
    """The plan for one kernel.

    Attributes:
        shape: the kernel's shape.
        size: its number of weights.
        target_ratio: the sparsity its protocol gave it.
        pruned: the exact number of zeros it gets (from :func:`allocate`).
        measured_pruned: zeros counted in the final model (``None`` before training ends).
    """

    shape: tuple[int, ...]
    size: int
    target_ratio: float
    pruned: int
    measured_pruned: int | None = None

    @property
    def ratio(self) -> float:
        """The planned sparsity as zeros / weights."""
        return self.pruned / self.size


@dataclasses.dataclass(frozen=True)
class SparsityPlan:
    """Exact zeros per masked kernel (``plan.json``), and the settings that produced them.

    Attributes:
        prune_ratio: the overall target.
        protocol: ``uniform``, ``heurist`` or ``optimal``.
        prune_depthwise: whether depthwise kernels are masked.
        layers: plan per kernel name, in layer order.
    """

    prune_ratio: float
    protocol: str
    prune_depthwise: bool
    layers: dict[str, LayerSparsity]

    @classmethod
    def build(cls, kernels: Sequence[MaskedKernel], ratios: Sequence[float], prune_ratio: float,
              protocol: str, prune_depthwise: bool) -> SparsityPlan:
        """The plan for ``ratios`` (one per kernel), with exactly the target's total zeros."""
        sizes = [kernel.size for kernel in kernels]
        counts = allocate(sizes, ratios, total_pruned(sizes, prune_ratio))
        layers = {kernel.name: LayerSparsity(kernel.shape, kernel.size, float(r), int(c))
                  for kernel, r, c in zip(kernels, ratios, counts, strict=True)}
        return cls(prune_ratio, protocol, prune_depthwise, layers)

    @property
    def nb_weights(self) -> int:
        return sum(layer.size for layer in self.layers.values())

    @property
    def nb_pruned(self) -> int:
        return sum(layer.pruned for layer in self.layers.values())

    @property
    def pruned(self) -> dict[str, int]:
        return {name: layer.pruned for name, layer in self.layers.items()}

    def with_measured(self, zeros: Mapping[str, int]) -> SparsityPlan:
        """The plan with the zeros counted in a model."""
        layers = {name: dataclasses.replace(layer, measured_pruned=int(zeros[name]))
                  for name, layer in self.layers.items()}
        return dataclasses.replace(self, layers=layers)

    def validate(self, kernels: Sequence[MaskedKernel], prune_ratio: float, protocol: str,
                 prune_depthwise: bool, path: str = "plan.json") -> None:
        """Checks that this plan is for these kernels and settings (a resumed run).

        Raises:
            ValueError: naming what differs.
        """
        expected = {"prune_ratio": prune_ratio, "protocol": protocol,
                    "prune_depthwise": prune_depthwise,
                    "kernels": {kernel.name: list(kernel.shape) for kernel in kernels}}
        received = {"prune_ratio": self.prune_ratio, "protocol": self.protocol,
                    "prune_depthwise": self.prune_depthwise,
                    "kernels": {name: list(layer.shape) for name, layer in self.layers.items()}}
        changed = [key for key in expected if expected[key] != received[key]]
        if changed:
            raise ValueError(
                f"Expected the plan '{path}' of an earlier run to match this run to resume it. "
                f"Received: a plan that differs in {changed} "
                f"({', '.join(f'{k}={received[k]!r}' for k in changed if k != 'kernels')}). "
                "Use another --save_dir, or delete the directory to start over.")

    def to_dict(self) -> dict[str, Any]:
        layers = {}
        for name, layer in self.layers.items():
            row = {"shape": list(layer.shape), "size": layer.size,
                   "target_ratio": layer.target_ratio, "pruned": layer.pruned,
                   "ratio": layer.ratio}
            if layer.measured_pruned is not None:
                row.update(measured_pruned=layer.measured_pruned,
                           measured_ratio=layer.measured_pruned / layer.size)
            layers[name] = row
        return {"prune_ratio": self.prune_ratio, "protocol": self.protocol,
                "prune_depthwise": self.prune_depthwise, "nb_weights": self.nb_weights,
                "nb_pruned": self.nb_pruned, "overall_ratio": self.nb_pruned / self.nb_weights,
                "layers": layers}

    def save(self, path: str) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> SparsityPlan:
        """Reads ``plan.json``.

        Raises:
            ValueError: naming the file, for content that is not a plan.
        """
        try:
            with open(path) as handle:
                data = json.load(handle)
            layers = {name: LayerSparsity(tuple(row["shape"]), int(row["size"]),
                                          float(row["target_ratio"]), int(row["pruned"]),
                                          row.get("measured_pruned"))
                      for name, row in data["layers"].items()}
            return cls(float(data["prune_ratio"]), data["protocol"], bool(data["prune_depthwise"]),
                       layers)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"Expected a sparsity plan in '{path}'. Received: {error!r}") from None
