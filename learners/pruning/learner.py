"""What every channel-pruning learner does around its own channel selection.

The lifecycle is ``learners.compression``'s; :meth:`PrunedModelLearner.derive` builds the
dependency graph of the dense (pre-trained) model and asks the learner for the physically smaller
model (:meth:`PrunedModelLearner.select_channels`, its own part), then saves it with its plan:

* ``plan.json``: kept channels per group, in the dense model's indices (``apply_plan`` replays it);
* ``pruned.keras``: the model before re-training. A rerun that finds it and the plan skips the
  selection and resumes the re-training from its checkpoints;
* ``selection.json``: how long the selection took, so a resumed run still reports it;
* ``model.keras`` and ``metrics.json`` (the common entries, plus the MACs kept and the channels
  kept per group).
"""

from __future__ import annotations

import abc
import json
import os
import time

import keras
from absl import logging

from hpo.trial_store import stored_seconds
from learners.compression import Candidate, CompressionLearner
from learners.pruning.graph import DependencyGraph, build_graph
from learners.pruning.plan import PruningPlan
from utils.flops import total_macs, total_params
from utils.io import save_model_atomic, write_json_atomic


class PrunedModelLearner(CompressionLearner):
    """Base of the learners that return a model with fewer channels (see module docstring)."""

    metrics_keys = frozenset({"macs_kept", "kept_channels", "prune_option", "criterion",
                              "prune_ratio"})

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    @property
    def pruned_path(self) -> str:
        return os.path.join(self.context.output_dir, "pruned.keras")

    @abc.abstractmethod
    def select_channels(self, dense: keras.Model, graph: DependencyGraph
                        ) -> tuple[keras.Model, PruningPlan]:
        """The pruned model (built under the run's strategy scope) and its plan on ``dense``."""

    @property
    def selection_path(self) -> str:
        return os.path.join(self.context.output_dir, "selection.json")

    def saved_selection_seconds(self) -> float | None:
        """The selection's seconds recorded by the launch that derived the pruned model, a
        resumed search's earlier launches included (None if unknown: a pruned model saved
        before this record existed, and no finished run's metrics)."""
        try:
            with open(self.selection_path) as handle:
                return float(json.load(handle)["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.read_metrics().get("search_seconds")

    def settings_metrics(self) -> dict:
        """The learner's own entries of ``metrics.json`` (its main settings)."""
        return {}

    def derive(self, teacher: keras.Model) -> Candidate:
        """The pruned model: the one an earlier launch saved with its plan, else a new selection
        (saved before re-training starts)."""
        context, name = self.context, self.config.learner
        graph = build_graph(teacher)
        if not graph.prunable_groups:
            raise ValueError(f"Expected prunable channel groups in '{context.pretrained_model_path}'. "
                             f"Received: none:\n{graph.summary()}")
        if os.path.isfile(self.pruned_path) and os.path.isfile(self.plan_path):
            plan = PruningPlan.load(self.plan_path)
            plan.validate(graph)
            pruned = context.load_model(self.pruned_path, "pruned model")
            logging.info("%s: resuming with the pruned model %s", name, self.pruned_path)
            seconds = self.saved_selection_seconds()
        else:
            start = time.time() - stored_seconds(self.search_dir)  # a resumed search's trials
            pruned, plan = self.select_channels(teacher, graph)
            seconds = time.time() - start
            logging.info("%s: selection took %.1f s", name, seconds)
            if context.is_chief:
                plan.save(self.plan_path)
                write_json_atomic(self.selection_path, {"seconds": seconds})
                save_model_atomic(pruned, self.pruned_path)
        logging.info("%s: %d -> %d parameters, %d -> %d MACs", name, total_params(teacher),
                     total_params(pruned), total_macs(teacher), total_macs(pruned))
        return Candidate(pruned, plan=self.plan_path, search_seconds=seconds,
                         state={"plan": plan, "macs_kept": total_macs(pruned) / total_macs(teacher)})

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        kept = candidate.state["plan"].kept
        return {"macs_kept": candidate.state["macs_kept"],
                "kept_channels": {group: len(indices) for group, indices in kept.items()},
                **self.settings_metrics()}
