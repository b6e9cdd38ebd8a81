"""Per-layer sparsities: the overall target is met exactly, whatever the protocol."""

import json

import numpy as np
import pytest

from learners.weight_sparse.masks import MaskedKernel
from learners.weight_sparse.ratios import (
    SparsityPlan,
    allocate,
    heuristic_ratios,
    search_bounds,
    search_ratios,
    total_pruned,
    uniform_ratios,
)

# Sizes of different orders, as in a real net: stem, blocks, classifier.
SIZES = [432, 2304, 2304, 4608, 9216, 18432, 36864, 640]
KERNELS = [MaskedKernel(f"layer{i}", f"layer{i}", "kernel", (size,)) for i, size in
           enumerate(SIZES)]


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9, 0.97])
def test_allocate_meets_the_total_exactly_and_keeps_each_layer_near_its_ratio(ratio):
    rng = np.random.default_rng(0)
    ratios = list(np.clip(ratio + rng.uniform(-0.05, 0.05, len(SIZES)), 0, 0.99))
    counts = allocate(SIZES, ratios, total_pruned(SIZES, ratio))
    assert sum(counts) == round(ratio * sum(SIZES))
    assert all(0 <= c < s for c, s in zip(counts, SIZES))
    if ratio in (0.5, 0.9):  # no cap binds: each count is its ideal scaled to the total, rounded
        ideal = np.asarray(ratios) * SIZES
        scaled = ideal * total_pruned(SIZES, ratio) / ideal.sum()
        assert np.all(np.abs(np.asarray(counts) - scaled) < 1.0)


def test_allocate_rejects_what_cannot_be_met():
    with pytest.raises(ValueError, match="Expected 0 <= zeros"):
        allocate([4, 4], [0.9, 0.9], 8)  # every layer must keep a weight
    with pytest.raises(ValueError, match="one ratio per kernel"):
        allocate([4, 4], [0.5], 4)


def test_uniform_gives_every_layer_the_target():
    plan = SparsityPlan.build(KERNELS, uniform_ratios(SIZES, 0.75), 0.75, "uniform", False)
    assert plan.nb_pruned == round(0.75 * sum(SIZES))
    assert all(abs(layer.ratio - 0.75) < 1.0 / layer.size for layer in plan.layers.values())


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
def test_heuristic_meets_the_target_exactly_and_prunes_larger_layers_more(ratio):
    ratios = heuristic_ratios(SIZES, ratio)
    assert np.dot(ratios, SIZES) / sum(SIZES) == pytest.approx(ratio, abs=1e-9)
    order = np.argsort(SIZES, kind="stable")
    assert all(np.diff(np.asarray(ratios)[order]) >= -1e-12)  # larger layer, larger ratio
    assert ratios[SIZES.index(36864)] > ratios[SIZES.index(432)] + 0.05
    assert max(ratios) <= search_bounds(ratio)[1] + 1e-12
    plan = SparsityPlan.build(KERNELS, ratios, ratio, "heurist", False)
    assert plan.nb_pruned == round(ratio * sum(SIZES))
    by_size = sorted(plan.layers.values(), key=lambda layer: layer.size)
    assert by_size[-1].ratio > by_size[0].ratio


@pytest.mark.parametrize("backend", ["random", "tpe"])
def test_search_scores_only_candidates_at_the_target_and_returns_the_best(tmp_path, backend):
    scored = []

    def score(counts):
        scored.append(list(counts))
        return {"accuracy": counts[0] / SIZES[0]}  # rewards pruning the first layer more

    ratios = search_ratios(KERNELS, 0.75, score, backend=backend, rollouts=6, warmup_rollouts=2,
                           reward_type="single-obj", seed=0, store_dir=str(tmp_path / "search"))
    assert len(scored) == 6
    assert all(sum(counts) == round(0.75 * sum(SIZES)) for counts in scored)
    low, high = search_bounds(0.75)
    assert all(low - 1e-9 <= r <= high + 1e-9 for r in ratios)
    best = max(scored, key=lambda counts: counts[0])
    assert allocate(SIZES, ratios, total_pruned(SIZES, 0.75)) == best
    # A rerun on the same directory resumes: nothing is scored again.
    again = search_ratios(KERNELS, 0.75, score, backend=backend, rollouts=6, warmup_rollouts=2,
                          reward_type="single-obj", seed=0, store_dir=str(tmp_path / "search"))
    assert len(scored) == 6 and again == ratios


def test_search_scores_the_plans_to_beat_first_as_they_are(tmp_path):
    scored = []

    def score(counts):
        scored.append(list(counts))
        return {"accuracy": 1.0 if len(scored) == 2 else 0.0}  # the second plan wins

    heuristic = heuristic_ratios(SIZES, 0.9)
    ratios = search_ratios(KERNELS, 0.9, score, backend="random", rollouts=4, warmup_rollouts=2,
                           reward_type="single-obj", seed=0, store_dir=str(tmp_path),
                           first_ratios=[uniform_ratios(SIZES, 0.9), heuristic])
    total = total_pruned(SIZES, 0.9)
    assert scored[0] == allocate(SIZES, uniform_ratios(SIZES, 0.9), total)
    # the heuristic spares small layers below the original's range: the search's range is
    # widened to hold it, so the plan scored is the heuristic's own
    assert min(heuristic) < search_bounds(0.9)[0]
    assert scored[1] == allocate(SIZES, heuristic, total)
    assert scored[1][0] < scored[0][0]  # the stem spared, as the heuristic does
    assert allocate(SIZES, ratios, total) == scored[1]


def test_multi_objective_reward_scales_accuracy_by_the_sparsity(tmp_path):
    ratios = search_ratios(KERNELS, 0.5, lambda counts: {"accuracy": 0.8}, backend="random",
                           rollouts=1, warmup_rollouts=1, reward_type="multi-obj", seed=0,
                           store_dir=str(tmp_path))
    assert len(ratios) == len(SIZES)
    trial = json.loads((tmp_path / "trials.jsonl").read_text())
    assert trial["reward"] == pytest.approx(0.8 * np.log(1 + total_pruned(SIZES, 0.5) / sum(SIZES)))


def test_plan_round_trips_and_refuses_other_settings(tmp_path):
    plan = SparsityPlan.build(KERNELS, heuristic_ratios(SIZES, 0.9), 0.9, "heurist", False)
    path = str(tmp_path / "plan.json")
    plan.with_measured(plan.pruned).save(path)
    loaded = SparsityPlan.load(path)
    assert loaded.pruned == plan.pruned and loaded.layers["layer0"].measured_pruned is not None
    loaded.validate(KERNELS, 0.9, "heurist", False, path)
    with pytest.raises(ValueError, match="prune_ratio"):
        loaded.validate(KERNELS, 0.5, "heurist", False, path)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        SparsityPlan.load(str(tmp_path / "bad.json"))
