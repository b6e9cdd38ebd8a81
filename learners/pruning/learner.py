"""What every channel-pruning learner does around its own channel selection.

``PrunedModelLearner.train``: load the dense (pre-trained) model and its dependency graph, derive
the physically smaller model (:meth:`PrunedModelLearner.derive`, the learner's own part), save it
with its plan, re-train it with the net's schedule, and write the artifacts:

* ``plan.json``: kept channels per group, in the dense model's indices (``apply_plan`` replays it);
* ``pruned.keras``: the model before re-training. A rerun that finds it and the plan skips the
  selection and resumes the re-training from its checkpoints;
* ``selection.json``: how long the selection took, so a resumed run still reports it;
* ``model.keras`` and ``metrics.json`` (accuracy before and after re-training, dense and pruned
  parameters and MACs, kept channels, selection and re-training time).
"""

from __future__ import annotations

import abc
import json
import os
import time

import keras
from absl import logging

from hpo.trial_store import stored_seconds
from learners.base import Learner
from learners.pruning.graph import DependencyGraph, build_graph
from learners.pruning.plan import PruningPlan
from learners.trainer import evaluate
from utils.flops import total_macs, total_params
from utils.io import save_model_atomic, write_json_atomic


class PrunedModelLearner(Learner):
    """Base of the learners that return a model with fewer channels (see module docstring)."""

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    @property
    def pruned_path(self) -> str:
        return os.path.join(self.context.output_dir, "pruned.keras")

    @abc.abstractmethod
    def derive(self, dense: keras.Model, graph: DependencyGraph
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
            return self.read_metrics().get("selection_seconds")

    def settings_metrics(self) -> dict:
        """The learner's own entries of ``metrics.json`` (its main settings)."""
        return {}

    def train(self) -> keras.Model:
        context, name = self.context, self.config.learner
        dense = context.load_pretrained()
        graph = build_graph(dense)
        if not graph.prunable_groups:
            raise ValueError(f"Expected prunable channel groups in '{context.pretrained_model_path}'. "
                             f"Received: none:\n{graph.summary()}")
        nb_classes = context.dataset.nb_classes
        dense_eval = evaluate(dense, context.dataset.eval_dataset(), nb_classes)
        selection_seconds = None
        if os.path.isfile(self.pruned_path) and os.path.isfile(self.plan_path):
            plan = PruningPlan.load(self.plan_path)
            plan.validate(graph)
            pruned = context.load_model(self.pruned_path, "pruned model")
            logging.info("%s: resuming with the pruned model %s", name, self.pruned_path)
        else:
            start = time.time() - stored_seconds(self.search_dir)  # a resumed search's trials
            pruned, plan = self.derive(dense, graph)
            selection_seconds = time.time() - start
            if context.is_chief:
                plan.save(self.plan_path)
                write_json_atomic(self.selection_path, {"seconds": selection_seconds})
                save_model_atomic(pruned, self.pruned_path)
        pruned_eval = evaluate(pruned, context.dataset.eval_dataset(), nb_classes)
        logging.info("%s: %d -> %d parameters, %d -> %d MACs; eval accuracy %.4f (dense %.4f) "
                     "before re-training%s", name, total_params(dense), total_params(pruned),
                     total_macs(dense), total_macs(pruned), pruned_eval["accuracy"],
                     dense_eval["accuracy"], "" if selection_seconds is None
                     else f"; selection took {selection_seconds:.1f} s")
        trainer = self.make_trainer(pruned, name, eval_data=context.dataset.eval_dataset())
        result = trainer.train()
        metrics = evaluate(pruned, context.dataset.eval_dataset(), nb_classes)
        logging.info("%s: eval accuracy %.4f after re-training (dense %.4f)", name,
                     metrics["accuracy"], dense_eval["accuracy"])
        if context.is_chief:
            save_model_atomic(pruned, self.output_model_path)
        if selection_seconds is None:  # resumed: the selection's time is the first run's
            selection_seconds = self.saved_selection_seconds()
        self.write_metrics({
            "learner": name, "model": context.model_basename, "eval": metrics,
            "eval_before_training": pruned_eval, "dense_eval": dense_eval,
            "params": total_params(pruned), "macs": total_macs(pruned),
            "dense_params": total_params(dense), "dense_macs": total_macs(dense),
            "macs_kept": total_macs(pruned) / total_macs(dense), "plan": self.plan_path,
            **self.settings_metrics(),
            "selection_seconds": selection_seconds,
            "kept_channels": {group: len(kept) for group, kept in plan.kept.items()},
            "train": result.record(),
        })
        return pruned
