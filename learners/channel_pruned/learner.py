"""Channel pruning (``--learner channel``): a physically smaller model, then re-training.

1. Keep ratios per prunable channel group (``learners.pruning.graph``): the same for every group
   (``uniform``), one per group from a file (``list``), or found by a search under a FLOPs budget
   (``auto``: DDPG by default, or GP / TPE / random; one roll-out = prune, re-fit, score on the
   validation split, as the original did, without fine-tuning unless ``--cp_rlout_nb_iters_ft``
   asks for a few Adam steps before the score).
2. Channels chosen by LASSO on sampled feature maps (or L1 / FPGM), the model rebuilt with fewer
   filters (``learners.pruning.surgery``) and every cut layer re-fitted by least squares.
3. Re-training of the pruned model with the net's schedule (``epochs_ratio`` scales it),
   optionally with distillation from the dense model.

Saving, resuming and re-training are ``learners.pruning.learner``'s. Artifacts in the output
directory: ``plan.json`` (kept channels per group; replaying it on the dense model gives the same
architecture), ``pruned.keras`` (before re-training: a rerun resumes from it and from the
re-training checkpoints), ``model.keras``, ``metrics.json``, the search's trial store under
``search/`` in auto mode, ``group_finetune/`` with ``--cp_finetune``.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np
from absl import logging

from hpo.layer_search import LayerSearch, run_layer_search
from learners.channel_pruned.config import FLAG_PREFIX
from learners.channel_pruned.selection import (
    layers_to_sample,
    reconstruct,
    sample_features,
    select_plan,
)
from learners.pruning.graph import DependencyGraph, build_graph
from learners.pruning.learner import PrunedModelLearner
from learners.pruning.plan import PruningPlan, keep_count
from learners.pruning.surgery import apply_plan
from learners.trainer import adam_steps, epoch_steps, evaluate, schedule_steps
from utils.flops import total_macs
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


class ChannelPrunedLearner(PrunedModelLearner):
    """Prunes channels of the pre-trained model, re-fits and re-trains it (see module docstring)."""

    def __init__(self, context):
        super().__init__(context)
        self._search_features = None  # set by the automatic search, reused by the final pruning
        if self.settings.prune_option == "list" and not os.path.isfile(self.settings.prune_list_file):
            raise FileNotFoundError("Expected the keep-ratio list --cp_prune_list_file at "
                                    f"'{self.settings.prune_list_file}'. Received: no such file")

    def select_channels(self, dense: keras.Model, graph: DependencyGraph
                        ) -> tuple[keras.Model, PruningPlan]:
        """Keep ratios as ``--cp_prune_option`` says, then selection, surgery and re-fit, all
        groups at once or (``--cp_finetune``) ``--cp_list_group`` groups at a time."""
        settings = self.settings
        counts = self.keep_counts(graph, self.keep_ratios(dense, graph))
        if settings.finetune and settings.list_group < len(graph.prunable_groups):
            return self.prune_by_groups(dense, graph, counts)
        # after a search, the features its roll-outs shared: the result is its best roll-out's
        features, self._search_features = self._search_features, None  # freed before re-training
        return self.prune(dense, graph, counts, features)

    def settings_metrics(self) -> dict:
        return {"prune_option": self.settings.prune_option, "criterion": self.settings.criterion}

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

    def candidate_counts(self, graph: DependencyGraph, names: list[str], ratios) -> dict[str, int]:
        """Kept channels per named group for a search's keep ratios (one per group, in order)."""
        return self.keep_counts(graph, dict(zip(names, ratios, strict=True)))

    def flops_kept(self, graph: DependencyGraph, names: list[str]):
        """The budget's measure: the fraction of the dense MACs that keep ratios (one per named
        group, in order) keep, measured on their keep counts."""
        dense_macs = PruningPlan.for_graph(graph, {}).predicted_macs(graph)

        def macs_kept(ratios) -> float:
            counts = self.candidate_counts(graph, names, ratios)
            plan = PruningPlan.for_graph(graph, {n: range(c) for n, c in counts.items()})
            return plan.predicted_macs(graph) / dense_macs

        return macs_kept

    def search_ratios(self, dense: keras.Model, graph: DependencyGraph) -> dict[str, float]:
        """The automatic mode: searches per-group keep ratios under the FLOPs budget, the uniform
        plan (the same keep ratio everywhere, filled up to the budget) first, so that the search
        returns nothing worse than it on the reward."""
        settings, context = self.settings, self.context
        groups = graph.prunable_groups
        names = [g.name for g in groups]
        finetune = ({"rlout_nb_iters_ft": settings.rollout_finetune_steps,
                     "rlout_lrn_rate_ft": settings.rollout_learning_rate}
                    if settings.rollout_finetune_steps else {})  # older stores have neither
        uniform = min(max(math.sqrt(settings.preserve_ratio), AUTO_LOWEST_RATIO), 1.0)
        search = LayerSearch(
            prefix="keep", nb_layers=len(names), low=AUTO_LOWEST_RATIO, high=1.0,
            budget_kind="flops", budget_limit=settings.preserve_ratio,
            measure=self.flops_kept(graph, names), backend=settings.search_backend,
            seed=self.config.train.seed, rollouts=settings.rollouts,
            warmup_rollouts=settings.warmup_rollouts,
            layer_features=np.asarray([[g.index, g.channels, len(g.consumers)] for g in groups],
                                      dtype=np.float64),
            first=[[uniform] * len(names)],
            # ratios that round alike: one model
            plan_key=lambda ratios: tuple(self.candidate_counts(graph, names, ratios).values()),
            description={"criterion": settings.criterion, "reward_policy": settings.reward_policy,
                         **finetune},
            nb_rescore=settings.rescored_plans,
            rescore_name=f"rescored_ft{settings.rescore_finetune_steps}",
            rescore_margin=settings.rescore_margin)
        val_data = context.dataset.val_dataset()
        features = self.sample(dense, graph, names)  # the dense model's: shared by all roll-outs
        self._search_features = features

        train_batches = None  # made when a roll-out first fine-tunes

        def reward_after(finetune_steps: int):
            """The reward of keep ratios fine-tuned ``finetune_steps`` Adam steps after re-fitting."""
            def reward(ratios) -> tuple[float, dict]:
                nonlocal train_batches
                pruned, _ = self.prune(dense, graph, self.candidate_counts(graph, names, ratios),
                                       features)
                metrics = {}
                if finetune_steps:
                    if train_batches is None:
                        train_batches = iter(context.dataset.train_dataset(exclude_val=True,
                                                                           repeat=True))
                    metrics["accuracy_before_ft"] = evaluate(pruned, val_data)["accuracy"]
                    metrics["finetune_loss"] = adam_steps(
                        pruned, train_batches, finetune_steps, settings.rollout_learning_rate,
                        learning_rate_flag=f"--{FLAG_PREFIX}rlout_lrn_rate_ft",
                        description="roll-out fine-tuning")
                accuracy = metrics["accuracy"] = evaluate(pruned, val_data)["accuracy"]
                if settings.reward_policy == "flops":
                    macs = total_macs(pruned)
                    return -max(settings.noise_tolerance, 1.0 - accuracy) * math.log(macs), metrics
                return accuracy, metrics
            return reward

        logging.info("channel: searching keep ratios of %d groups with %s, %d roll-outs, %.3g of "
                     "the FLOPs", len(names), settings.search_backend, settings.rollouts,
                     settings.preserve_ratio)
        result = run_layer_search(
            search, reward_after(settings.rollout_finetune_steps), store_dir=self.search_dir,
            rescore=reward_after(settings.rescore_finetune_steps))  # the leaders, fine-tuned longer
        return dict(zip(names, result.values, strict=True))

    # ---------------------------------------------------------------------------- pruning
    def sample(self, source: keras.Model, graph: DependencyGraph, group_names
               ) -> tuple[dict, list[np.ndarray]]:
        """LASSO's feature samples of ``source`` for the named groups, and the batches they came
        from (``--cp_nb_batches`` training batches, the validation split left out); nothing for
        the other criteria."""
        if self.settings.criterion != "lasso":  # L1 and FPGM rank weights
            return {}, []
        dataset = self.context.dataset.train_dataset(exclude_val=True, repeat=True)
        batches = [np.asarray(images) for images, _ in dataset.take(self.settings.num_batches)]
        rng = np.random.default_rng(self.config.train.seed)
        samples = sample_features(source, layers_to_sample(source, graph, group_names, "lasso"),
                                  batches, self.settings.points_per_layer, rng)
        return samples, batches

    def prune(self, source: keras.Model, graph: DependencyGraph, counts: dict[str, int],
              features: tuple[dict, list[np.ndarray]] | None = None
              ) -> tuple[keras.Model, PruningPlan]:
        """Keeps ``counts[group]`` channels of the named groups of ``source`` (the others keep
        all): selects them, rebuilds the smaller model and, for LASSO, re-fits it.

        ``features`` (from :meth:`sample`, covering these groups) are sampled when not given.
        """
        samples, batches = features if features is not None else self.sample(source, graph, counts)
        plan = select_plan(source, graph, counts, self.settings.criterion, samples=samples,
                           solver=self.settings.solver)
        with self.context.strategy.scope():
            pruned = apply_plan(source, plan, graph)
        if samples:
            reconstruct(pruned, source, graph, plan, samples, batches)
        return pruned, plan

    def prune_by_groups(self, dense: keras.Model, graph: DependencyGraph, counts: dict[str, int]
                        ) -> tuple[keras.Model, PruningPlan]:
        """Group fine-tuning (``--cp_finetune``): prunes ``--cp_list_group`` channel groups at a
        time, in graph order, each step on the model the previous steps pruned and fine-tuned;
        between steps, Adam at ``--cp_lrn_rate_ft`` for ``--cp_nb_iters_ft_ratio`` of the full
        schedule's steps. The last step is followed by the usual re-training.

        Every step is saved under ``group_finetune/`` (the model after pruning, its plan in the
        dense model's channel indices, the fine-tuning checkpoints, the model after fine-tuning),
        so a rerun resumes at the step it was killed in.

        Returns:
            The pruned model after the last step, and the plan of all steps on the dense model.
        """
        context, settings = self.context, self.settings
        names = [group.name for group in graph.prunable_groups]
        steps = [names[i:i + settings.list_group] for i in range(0, len(names), settings.list_group)]
        step_dir = os.path.join(context.output_dir, "group_finetune")
        kept = {name: list(range(graph.group(name).channels)) for name in names}
        current, current_graph = dense, graph
        for index, step_names in enumerate(steps, 1):
            pruned_path = os.path.join(step_dir, f"step_{index}_pruned.keras")
            tuned_path = os.path.join(step_dir, f"step_{index}.keras")
            plan_path = os.path.join(step_dir, f"step_{index}.json")
            last = index == len(steps)
            finished_path = pruned_path if last else tuned_path  # the step's final model
            resumed = next((path for path in (finished_path, pruned_path) if os.path.isfile(path)
                            and os.path.isfile(plan_path)), None)
            if resumed:
                kept = {name: list(indices)
                        for name, indices in PruningPlan.load(plan_path).kept.items()}
                current = context.load_model(resumed, f"group fine-tuning step {index}")
            else:
                logging.info("channel: group fine-tuning step %d/%d prunes %s", index,
                             len(steps), ", ".join(step_names))
                current, step_plan = self.prune(current, current_graph,
                                                {name: counts[name] for name in step_names})
                for name in step_names:
                    kept[name] = [kept[name][i] for i in step_plan.kept[name]]
                if context.is_chief:
                    save_model_atomic(current, pruned_path)
                    PruningPlan.for_graph(graph, kept).save(plan_path)
            if not last and resumed != tuned_path:  # fine-tuning still to do
                self.finetune_step(current, index)
                if context.is_chief:
                    save_model_atomic(current, tuned_path)
            current_graph = build_graph(current)
        return current, PruningPlan.for_graph(graph, kept)

    def finetune_step(self, model: keras.Model, index: int) -> None:
        """Adam at ``--cp_lrn_rate_ft`` for ``--cp_nb_iters_ft_ratio`` of the full schedule."""
        train, context = self.config.train, self.context
        full_steps = schedule_steps(train, epoch_steps(
            context.dataset, context.strategy.num_replicas_in_sync, self.config.search_trial))
        nb_iters = max(1, round(self.settings.finetune_steps_ratio * full_steps))
        config = dataclasses.replace(train, optimizer="adam", learning_rate=self.settings.finetune_learning_rate,
                                     learning_rate_schedule="piecewise", decay_boundaries=(),
                                     decay_rates=(1.0,), warmup_epochs=0.0,
                                     train_steps=nb_iters)
        self.make_trainer(model, f"channel group fine-tuning {index}", train_config=config,
                          checkpoint_subdir=os.path.join("group_finetune", f"checkpoints_{index}"),
                          learning_rate_flag=f"--{FLAG_PREFIX}lrn_rate_ft").train()


class ChannelPrunedTFSolverLearner(ChannelPrunedLearner):
    """The original's GPU and "remastered" channel-pruning learners: ``--learner channel`` with
    LASSO solved by the TensorFlow ISTA solver (``--cp_solver tf``), whatever ``--cp_solver``
    says; every other ``--cp_*`` flag applies as for ``channel``."""

    def __init__(self, context):
        super().__init__(context)
        if self.settings.solver != "tf":
            logging.info("%s: LASSO uses the TensorFlow solver (--cp_solver tf)",
                         self.config.learner)
            self.settings = dataclasses.replace(self.settings, solver="tf")
