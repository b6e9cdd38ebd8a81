"""Discrimination-aware channel pruning (``--learner dis-chn-pruned``, Zhuang et al. 2018).

The network is split into ``--dcp_nb_stages + 1`` stages (``selection.stage_cuts``); each of the
first ``num_stages`` gets an auxiliary classifier at its end. Stage by stage:

1. block-wise fine-tuning: Adam on CE(stage head) + CE(network) of the network pruned so far;
2. for every prunable channel group whose last consumer lies in the stage, greedy selection
   (``selection.select_group``): channels are added one at a time by the squared gradient norm
   of (reconstruction MSE of the consumers' outputs against the dense model + the stage's
   cross-entropy), each followed by masked Adam steps on the consumers' kernels; the group is
   then cut for real (``learners.pruning.surgery.apply_plan``).

The pruned model is then re-trained with the net's schedule, and the artifacts are written, as
for ``--learner channel`` (``learners.pruning.learner``): ``plan.json`` (kept channels in the
dense model's indices), ``pruned.keras`` (after selection: a rerun with both resumes),
``model.keras``, ``metrics.json``.
"""

from __future__ import annotations

import keras
import numpy as np
from absl import logging

from learners.dis_chn_pruned.selection import (
    build_head,
    finetune_block,
    select_group,
    slice_head,
    stage_cuts,
    stage_of,
)
from learners.pruning.graph import DependencyGraph, build_graph
from learners.pruning.learner import PrunedModelLearner
from learners.pruning.plan import PruningPlan, keep_count
from learners.pruning.surgery import apply_plan


class DisChnPrunedLearner(PrunedModelLearner):
    """Prunes channels with discrimination-aware losses, then re-trains (see module docstring)."""

    def select_channels(self, dense: keras.Model, graph: DependencyGraph
                        ) -> tuple[keras.Model, PruningPlan]:
        """The stage-by-stage selection, then the pruned model rebuilt under the strategy."""
        selected, plan = self.select(dense, graph)
        with self.context.strategy.scope():  # the re-training runs under the strategy
            pruned = keras.models.clone_model(selected)
        pruned.set_weights(selected.get_weights())
        return pruned, plan

    def settings_metrics(self) -> dict:
        return {"prune_ratio": self.settings.prune_ratio}

    def keep_counts(self, graph: DependencyGraph) -> dict[str, int]:
        """Channels each prunable group keeps: ``1 - --dcp_prune_ratio`` of them, rounded."""
        return {group.name: keep_count(group.channels, self.settings.keep_ratio,
                                       self.settings.round_to)
                for group in graph.prunable_groups}

    def select(self, dense: keras.Model, graph: DependencyGraph
                        ) -> tuple[keras.Model, PruningPlan]:
        """Stage by stage: block-wise fine-tuning, then greedy selection of each group's channels
        and surgery.

        Returns:
            The physically pruned model (built outside the strategy's scope) and its plan in the
            dense model's channel indices.
        """
        settings, context = self.settings, self.context
        nb_classes = context.dataset.nb_classes
        counts = self.keep_counts(graph)
        cuts = stage_cuts(dense, settings.num_stages)
        group_stage = {group.name: max(stage_of(dense, cuts, name) for name in group.consumers)
                       for group in graph.prunable_groups}
        dataset = context.dataset.train_dataset(exclude_val=True, repeat=True,
                                                batch_size=settings.batch_size or None)
        batches = iter(dataset)
        current = keras.models.clone_model(dense)
        current.set_weights(dense.get_weights())
        kept_dense: dict[str, list[int]] = {}
        num_stages = len(cuts) + 1
        logging.info("dis-chn-pruned: %d stages (heads after %s); keeping %d of %d channels in "
                     "%d groups", num_stages, ", ".join(cuts) or "none", sum(counts.values()),
                     sum(g.channels for g in graph.prunable_groups), len(counts))
        for stage in range(num_stages):
            stage_layer = cuts[stage] if stage < len(cuts) else None
            head = None
            if stage_layer is not None:
                shape = current.get_layer(stage_layer).output.shape
                head = build_head(shape[-1], len(shape), nb_classes, f"dcp_head_{stage + 1}")
            first, last = finetune_block(current, head, stage_layer, batches,
                                         settings.block_steps, settings.adam_learning_rate)
            logging.info("dis-chn-pruned: stage %d/%d (%s): block-wise fine-tuning, %d steps, "
                         "loss %.4f -> %.4f", stage + 1, num_stages,
                         f"head after {stage_layer}" if stage_layer else "network output",
                         settings.block_steps, first, last)
            for group in graph.prunable_groups:
                if group_stage[group.name] != stage or counts[group.name] >= group.channels:
                    continue
                current, head = self.prune_group(current, dense, graph, group.name,
                                                 counts[group.name], kept_dense, head,
                                                 stage_layer, batches)
        plan = PruningPlan.for_graph(graph, kept_dense)
        return current, plan

    def prune_group(self, current: keras.Model, dense: keras.Model, graph: DependencyGraph,
                    name: str, nb_keep: int, kept_dense: dict[str, list[int]],
                    head: keras.Model | None, stage_layer: str | None, batches
                    ) -> tuple[keras.Model, keras.Model | None]:
        """Selects the channels of group ``name`` in ``current`` and cuts them.

        Records the kept channels in ``kept_dense`` (the group was not cut before, so its indices
        are the dense model's). Returns the pruned model and the stage head, sliced if the
        stage's output lost channels.
        """
        settings = self.settings
        current_graph = build_graph(current)
        group = current_graph.group(name)
        masks = graph.layer_masks(kept_dense)
        output_indices = []
        for consumer in group.consumers:
            kept = masks[consumer].outputs[0]
            output_indices.append(None if kept.all() else np.flatnonzero(kept))
        dense_probe = keras.Model(dense.inputs,
                                  [dense.get_layer(consumer).output for consumer in group.consumers])
        result = select_group(current, current_graph, group, nb_keep, dense_probe=dense_probe,
                              output_indices=output_indices, head=head, stage_layer=stage_layer,
                              batches=batches, nb_iters=settings.layer_steps,
                              learning_rate=settings.adam_learning_rate)
        kept_dense[name] = result.kept
        local = PruningPlan.for_graph(current_graph, {name: result.kept})
        if head is not None:
            stage_kept = current_graph.layer_masks(local.kept)[stage_layer].outputs[0]
            if not stage_kept.all():
                head = slice_head(head, np.asarray(stage_kept, bool))
        pruned = apply_plan(current, local, current_graph)
        logging.info("dis-chn-pruned: group %s: kept %d of %d channels in %.1f s; loss %.4f "
                     "(reconstruction %.4f + cross-entropy %.4f)", name, len(result.kept),
                     group.channels, result.seconds, result.loss, result.reconstruction,
                     result.discrimination)
        return pruned, head
