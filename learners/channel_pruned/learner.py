"""Channel pruning (``--learner channel``): a physically smaller model, then re-training.

1. Keep ratios per prunable channel group (``learners.pruning.graph``): the same for every group
   (``uniform``), one per group from a file (``list``), or found by a search under a FLOPs budget
   (``auto``: DDPG by default, or GP / TPE / random; one roll-out = prune, re-fit, score on the
   validation split, as the original did, without fine-tuning).
2. Channels chosen by LASSO on sampled feature maps (or L1 / FPGM), the model rebuilt with fewer
   filters (``learners.pruning.surgery``) and every cut layer re-fitted by least squares.
3. Re-training of the pruned model with the net's schedule (``nb_epochs_rat`` scales it),
   optionally with distillation from the dense model.

Artifacts in the output directory: ``plan.json`` (kept channels per group; replaying it on the
dense model gives the same architecture), ``pruned.keras`` (before re-training: a rerun resumes
from it and from the re-training checkpoints), ``model.keras``, ``metrics.json``, the search's
trial store under ``search/`` in auto mode.
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np
from absl import logging

from hpo.budget import Budget
from hpo.optimizer import create_optimizer
from hpo.search import run_search, search_description
from hpo.space import SearchSpace, per_layer
from hpo.trial_store import TrialStore
from learners.base import Learner
from learners.channel_pruned.selection import (
    layers_to_sample,
    reconstruct,
    sample_features,
    select_plan,
)
from learners.pruning.graph import DependencyGraph, build_graph
from learners.pruning.plan import PruningPlan, keep_count
from learners.pruning.surgery import apply_plan
from learners.registry import LEARNERS
from learners.trainer import evaluate
from utils.flops import total_macs, total_params
from utils.io import save_model_atomic

AUTO_LOWEST_RATIO = 0.2
"""Smallest keep ratio the automatic search may give a group."""


def read_ratio_list(path: str, graph: DependencyGraph) -> dict[str, float]:
    """Reads ``--cp_prune_list_file``: comma- or newline-separated keep ratios, one per group.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: for a value that is not a ratio in (0, 1], or a count other than the number of
            prunable groups (the message lists them, in order).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected the keep-ratio list --cp_prune_list_file at '{path}'. "
                                "Received: no such file")
    with open(path) as handle:
        fields = [f.strip() for f in handle.read().replace("\n", ",").split(",") if f.strip()]
    groups = graph.prunable_groups
    listing = ", ".join(f"{g.name} ({g.channels})" for g in groups)
    if len(fields) != len(groups):
        raise ValueError(f"Expected {len(groups)} keep ratios in '{path}', one per prunable "
                         f"channel group in this order: {listing}. Received: {len(fields)}")
    ratios = {}
    for group, field in zip(groups, fields, strict=True):
        try:
            ratio = float(field)
        except ValueError:
            ratio = math.nan
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"Expected keep ratios in (0, 1] in '{path}'. Received: {field!r} "
                             f"for group '{group.name}'")
        ratios[group.name] = ratio
    return ratios


@LEARNERS.register("channel")
class ChannelPrunedLearner(Learner):
    """Prunes channels of the pre-trained model, re-fits and re-trains it (see module docstring)."""

    def __init__(self, context):
        super().__init__(context)
        self.settings = self.config.channel_pruning
        if self.settings.finetune:
            raise ValueError("Expected --cp_finetune=false: group fine-tuning is not available in "
                             "this version yet (all groups are pruned at once, then re-trained). "
                             "Received: --cp_finetune=true")
        if self.settings.prune_option == "list" and not os.path.isfile(self.settings.prune_list_file):
            raise FileNotFoundError("Expected the keep-ratio list --cp_prune_list_file at "
                                    f"'{self.settings.prune_list_file}'. Received: no such file")

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    @property
    def pruned_path(self) -> str:
        return os.path.join(self.context.output_dir, "pruned.keras")

    # ------------------------------------------------------------------------------ train
    def train(self) -> keras.Model:
        context, settings = self.context, self.settings
        dense = context.load_pretrained()
        graph = build_graph(dense)
        if not graph.prunable_groups:
            raise ValueError(f"Expected prunable channel groups in '{context.pretrained_model_path}'. "
                             f"Received: none:\n{graph.summary()}")
        nb_classes = context.dataset.nb_classes
        dense_eval = evaluate(dense, context.dataset.eval_dataset(), nb_classes)
        if os.path.isfile(self.pruned_path) and os.path.isfile(self.plan_path):
            plan = PruningPlan.load(self.plan_path)
            plan.validate(graph)
            pruned = context.load_model(self.pruned_path, "pruned model")
            logging.info("channel: resuming with the pruned model %s", self.pruned_path)
        else:
            ratios = self.keep_ratios(dense, graph)
            pruned, plan = self.prune(dense, graph, ratios)
            if context.is_chief:
                plan.save(self.plan_path)
                save_model_atomic(pruned, self.pruned_path)
        pruned_eval = evaluate(pruned, context.dataset.eval_dataset(), nb_classes)
        logging.info("channel: %d -> %d parameters, %d -> %d MACs; eval accuracy %.4f (dense "
                     "%.4f) before re-training", total_params(dense), total_params(pruned),
                     total_macs(dense), total_macs(pruned), pruned_eval["accuracy"],
                     dense_eval["accuracy"])
        trainer = self.make_trainer(pruned, "channel", eval_data=context.dataset.eval_dataset())
        result = trainer.train()
        metrics = evaluate(pruned, context.dataset.eval_dataset(), nb_classes)
        logging.info("channel: eval accuracy %.4f after re-training (dense %.4f)",
                     metrics["accuracy"], dense_eval["accuracy"])
        if context.is_chief:
            save_model_atomic(pruned, self.output_model_path)
        self.write_metrics({
            "learner": "channel", "model": context.model_basename, "eval": metrics,
            "eval_before_training": pruned_eval, "dense_eval": dense_eval,
            "params": total_params(pruned), "macs": total_macs(pruned),
            "dense_params": total_params(dense), "dense_macs": total_macs(dense),
            "macs_kept": total_macs(pruned) / total_macs(dense),
            "plan": self.plan_path, "prune_option": settings.prune_option,
            "criterion": settings.criterion,
            "kept_channels": {name: len(kept) for name, kept in plan.kept.items()},
            "train": {"steps": result.steps, "resumed_from": result.resumed_from,
                      "seconds": result.seconds, "images_per_sec": result.images_per_sec},
        })
        return pruned

    # ----------------------------------------------------------------------- keep ratios
    def keep_ratios(self, dense: keras.Model, graph: DependencyGraph) -> dict[str, float]:
        """Keep ratio per prunable group, as ``--cp_prune_option`` says."""
        settings = self.settings
        if settings.prune_option == "uniform":
            return {g.name: settings.uniform_preserve_ratio for g in graph.prunable_groups}
        if settings.prune_option == "list":
            return read_ratio_list(settings.prune_list_file, graph)
        return self.search_ratios(dense, graph)

    def keep_counts(self, graph: DependencyGraph, ratios: dict[str, float]) -> dict[str, int]:
        return {name: keep_count(graph.group(name).channels, ratio, self.settings.round_to)
                for name, ratio in ratios.items()}

    def flops_budget(self, graph: DependencyGraph, names: list[str]) -> Budget:
        """``--cp_preserve_ratio`` of the dense MACs, measured on a candidate's keep counts."""
        dense_macs = PruningPlan.for_graph(graph, {}).predicted_macs(graph)

        def macs_kept(candidate) -> float:
            ratios = {name: candidate[f"keep_{i:03d}"] for i, name in enumerate(names)}
            counts = self.keep_counts(graph, ratios)
            plan = PruningPlan.for_graph(graph, {n: range(c) for n, c in counts.items()})
            return plan.predicted_macs(graph) / dense_macs

        return Budget("flops", self.settings.preserve_ratio, macs_kept, fill=True)

    def search_ratios(self, dense: keras.Model, graph: DependencyGraph) -> dict[str, float]:
        """The automatic mode: searches per-group keep ratios under the FLOPs budget."""
        settings, context = self.settings, self.context
        names = [g.name for g in graph.prunable_groups]
        space = SearchSpace(per_layer("keep", len(names), AUTO_LOWEST_RATIO, 1.0))
        budget = self.flops_budget(graph, names)
        options = {}
        if settings.search_backend == "ddpg":
            features = [[g.index, g.channels, len(g.consumers)] for g in graph.prunable_groups]
            options = {"layer_features": np.asarray(features, dtype=np.float64),
                       "nb_rlouts": settings.nb_rlouts,
                       "nb_rlouts_min": min(settings.nb_rlouts_min, settings.nb_rlouts)}
        optimizer = create_optimizer(settings.search_backend, space, seed=self.config.train.seed,
                                     **options)
        store = TrialStore(os.path.join(context.output_dir, "search"),
                           search_description(optimizer, settings.search_backend, budget,
                                              criterion=settings.criterion,
                                              reward_policy=settings.reward_policy))
        dense_macs = total_macs(dense)
        val_data = context.dataset.val_dataset()

        def reward(candidate) -> float:
            ratios = {name: candidate[f"keep_{i:03d}"] for i, name in enumerate(names)}
            pruned, _ = self.prune(dense, graph, ratios)
            accuracy = evaluate(pruned, val_data, context.dataset.nb_classes)["accuracy"]
            if settings.reward_policy == "accuracy":
                return accuracy
            macs = total_macs(pruned) / dense_macs
            return -max(settings.noise_tolerance, 1.0 - accuracy) * math.log(macs * dense_macs)

        logging.info("channel: searching keep ratios of %d groups with %s, %d roll-outs, %.3g of "
                     "the FLOPs", len(names), settings.search_backend, settings.nb_rlouts,
                     settings.preserve_ratio)
        result = run_search(optimizer, reward, settings.nb_rlouts, store=store, budget=budget)
        best = result.best.projected
        return {name: best[f"keep_{i:03d}"] for i, name in enumerate(names)}

    # ---------------------------------------------------------------------------- pruning
    def sample_batches(self) -> list[np.ndarray]:
        """``--cp_nb_batches`` training batches (validation split left out) for sampling."""
        dataset = self.context.dataset.train_dataset(exclude_val=True, repeat=True)
        return [np.asarray(images) for images, _ in dataset.take(self.settings.nb_batches)]

    def prune(self, dense: keras.Model, graph: DependencyGraph, ratios: dict[str, float]
              ) -> tuple[keras.Model, PruningPlan]:
        """Selects channels at ``ratios`` and rebuilds the smaller model (LASSO: and re-fits it)."""
        settings = self.settings
        counts = self.keep_counts(graph, ratios)
        rng = np.random.default_rng(self.config.train.seed)
        samples, batches = {}, []
        if settings.criterion == "lasso":  # L1 and FPGM rank weights and leave it to re-training
            batches = self.sample_batches()
            samples = sample_features(dense, layers_to_sample(dense, graph, counts, "lasso"),
                                      batches, settings.nb_points_per_layer, rng)
        plan = select_plan(dense, graph, counts, settings.criterion, samples=samples,
                           solver=settings.solver)
        with self.context.strategy.scope():
            pruned = apply_plan(dense, plan, graph)
        if samples:
            reconstruct(pruned, dense, graph, plan, samples, batches)
        return pruned, plan
