"""Weight sparsification (``--learner weight-sparse``): the pre-trained model, pruned gradually.

1. Per-layer sparsities (``learners.weight_sparse.ratios``) by ``--ws_prune_ratio_prtl``:
   ``uniform``, ``heurist`` or ``optimal`` (a search whose roll-outs fast-fine-tune on the
   training split and are scored on the validation split, ``learners.weight_sparse.rollout``),
   turned into exact zero counts per kernel whose total is the target's. Saved as ``plan.json``
   before fine-tuning.
2. Fine-tuning of the pre-trained model with the run's schedule (``--nb_iters_train`` /
   ``--nb_epochs_rat``, distillation with ``--enbl_dst``) while the masks follow the polynomial
   schedule (``learners.weight_sparse.schedule``, ``learners.weight_sparse.masks``).
3. The final masks applied; the model -- plain Keras layers with exact zeros -- saved as
   ``model.keras``, the measured zeros added to ``plan.json``, ``metrics.json`` written.

A killed run resumes: the plan is reloaded (the search's trials too, under ``search/``) and the
fine-tuning restarts from its last checkpoint, with the masks rebuilt from the restored weights.
Export (``export``) adds ``model_sparse.tflite`` to the default float and int8 files and reports
sizes, gzip sizes and latencies of each, with an honest verdict on speed.
"""

from __future__ import annotations

import dataclasses
import os
import time

import keras
from absl import logging

from hpo.trial_store import stored_seconds
from learners.compression import Candidate, CompressionLearner
from learners.trainer import Trainer, epoch_steps, evaluate, schedule_steps
from learners.weight_sparse.masks import MaskedKernel, SparsityMasker, count_zeros, maskable_kernels
from learners.weight_sparse.ratios import (
    SparsityPlan,
    heuristic_ratios,
    search_ratios,
    uniform_ratios,
)
from learners.weight_sparse.rollout import RolloutScorer
from learners.weight_sparse.schedule import PolynomialSparsitySchedule
from utils.flops import total_params


class WeightSparseLearner(CompressionLearner):
    """Prunes weights of the pre-trained model to an exact sparsity (see module docstring)."""

    metrics_keys = frozenset({"prune_ratio", "protocol", "nonzero_params", "sparsity",
                              "schedule"})

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    # ------------------------------------------------------------------------- lifecycle
    def derive(self, teacher: keras.Model) -> Candidate:
        """The plan (an earlier launch's, or a new one, saved); the candidate is the teacher
        itself, whose masks follow the schedule while it fine-tunes."""
        settings = self.settings
        kernels = maskable_kernels(teacher, settings.prune_depthwise)
        if not kernels:
            raise ValueError(f"Expected convolution or dense kernels to mask in "
                             f"'{self.context.pretrained_model_path}'. Received: none")
        plan, search_seconds = self.load_or_build_plan(teacher, kernels)
        if search_seconds is None:  # plan reloaded: an earlier metrics.json's, else the stored
            search_seconds = self.read_metrics().get("search_seconds",
                                                     self.stored_search_seconds())
        logging.info("weight-sparse: %d of %d masked weights to zero (%.4f, %s)", plan.nb_pruned,
                     plan.nb_weights, plan.nb_pruned / plan.nb_weights, settings.ratio_policy)
        return Candidate(teacher, plan=self.plan_path, search_seconds=search_seconds,
                         state={"kernels": kernels, "plan": plan})

    def evaluate_candidate(self, candidate: Candidate, teacher: keras.Model) -> dict:
        """The teacher pruned to the plan at once, without training (on a copy)."""
        return self.evaluate_one_shot(teacher, candidate.state["kernels"], candidate.state["plan"])

    def training_callbacks(self, candidate: Candidate) -> list:
        """The masker: the planned zeros reached gradually on the polynomial schedule."""
        settings, context, state = self.settings, self.context, candidate.state
        total_steps = schedule_steps(self.config.train, epoch_steps(
            context.dataset, context.strategy.num_replicas_in_sync, self.config.search_trial))
        state["schedule"] = PolynomialSparsitySchedule(
            total_steps, settings.pruning_start, settings.pruning_end,
            settings.schedule_exponent, settings.mask_update_step)
        state["masker"] = SparsityMasker(candidate.model, state["kernels"],
                                         state["plan"].pruned, state["schedule"])
        return [state["masker"]]

    def start_training(self, candidate: Candidate, trainer: Trainer) -> None:
        # the masks in force at the step the trainer resumes from
        candidate.state["masker"].start(trainer.optimizer, trainer.restore())

    def finalize(self, candidate: Candidate, teacher: keras.Model) -> keras.Model:
        """The final masks applied; the measured zeros must be the planned ones."""
        state, model = candidate.state, candidate.model
        state["masker"].finalize()
        zeros = state["zeros"] = count_zeros(model, state["kernels"])
        plan = state["plan"] = state["plan"].with_measured(zeros)
        wrong = {name: (zeros[name], layer.pruned) for name, layer in plan.layers.items()
                 if zeros[name] != layer.pruned}
        if wrong:  # a bug, not a user error: the masks guarantee the counts
            raise RuntimeError(f"Expected the planned zeros per kernel. Received (measured, "
                               f"planned): {wrong}")
        logging.info("weight-sparse: sparsity %.4f of the masked weights",
                     sum(zeros.values()) / plan.nb_weights)
        return model

    def save(self, final: keras.Model, candidate: Candidate) -> None:
        super().save(final, candidate)
        candidate.state["plan"].save(self.plan_path)  # with the measured zeros

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        settings, state = self.settings, candidate.state
        zeros, plan, schedule = state["zeros"], state["plan"], state["schedule"]
        return {
            "prune_ratio": settings.prune_ratio, "protocol": settings.ratio_policy,
            "nonzero_params": total_params(final) - sum(zeros.values()),
            "sparsity": {
                "overall": sum(zeros.values()) / plan.nb_weights,
                "target": settings.prune_ratio,
                "masked_weights": plan.nb_weights, "zeros": sum(zeros.values()),
                "layers": {name: {"size": layer.size, "target_ratio": layer.target_ratio,
                                  "planned_ratio": layer.ratio, "zeros": zeros[name],
                                  "measured_ratio": zeros[name] / layer.size}
                           for name, layer in plan.layers.items()}},
            "schedule": {"begin_step": schedule.begin_step, "end_step": schedule.end_step,
                         "exponent": schedule.exponent, "update_step": schedule.update_step}}

    # ------------------------------------------------------------------------------- plan
    def load_or_build_plan(self, dense: keras.Model, kernels: list[MaskedKernel]
                           ) -> tuple[SparsityPlan, float | None]:
        """The plan of an earlier run (checked against these settings), else a new one, saved.

        Returns:
            The plan and the seconds its sparsities took, a resumed search's earlier launches
            included (``None`` when the plan was reloaded).
        """
        settings = self.settings
        if os.path.isfile(self.plan_path):
            plan = SparsityPlan.load(self.plan_path)
            plan.validate(kernels, settings.prune_ratio, settings.ratio_policy,
                          settings.prune_depthwise, self.plan_path)
            logging.info("weight-sparse: resuming with the plan %s", self.plan_path)
            return plan, None
        start = time.time() - self.stored_search_seconds()  # a resumed search's earlier launches
        ratios = self.layer_ratios(dense, kernels)
        plan = SparsityPlan.build(kernels, ratios, settings.prune_ratio, settings.ratio_policy,
                                  settings.prune_depthwise)
        if self.context.is_chief:
            plan.save(self.plan_path)
        return plan, time.time() - start

    def stored_search_seconds(self) -> float:
        """The seconds of the roll-outs and re-scores stored under ``search/`` (0 but for
        ``optimal``): what the search's launches so far took."""
        if self.settings.ratio_policy != "optimal":
            return 0.0
        return stored_seconds(self.search_dir)

    def layer_ratios(self, dense: keras.Model, kernels: list[MaskedKernel]) -> list[float]:
        """One sparsity per kernel, as ``--ws_prune_ratio_prtl`` says."""
        settings = self.settings
        sizes = [kernel.size for kernel in kernels]
        if settings.ratio_policy == "uniform":
            return uniform_ratios(sizes, settings.prune_ratio)
        if settings.ratio_policy == "heurist":
            return heuristic_ratios(sizes, settings.prune_ratio)
        scorer = RolloutScorer(dense, kernels, self.context.dataset, settings)
        rescorer = None
        if settings.rescored_plans:  # longer roll-outs on the whole validation split
            rescorer = RolloutScorer(dense, kernels, self.context.dataset, dataclasses.replace(
                settings, finetune_steps=settings.rescore_finetune_steps, reward_batches=0))
        first = [uniform_ratios(sizes, settings.prune_ratio)]  # the plans to beat, scored first
        try:
            first.append(heuristic_ratios(sizes, settings.prune_ratio))
        except ValueError:  # a target the heuristic cannot reach under its cap: uniform only
            pass
        return search_ratios(
            kernels, settings.prune_ratio, scorer, backend=settings.search_backend,
            rollouts=settings.rollouts, warmup_rollouts=settings.warmup_rollouts,
            reward_type=settings.reward_type, seed=self.config.train.seed,
            store_dir=self.search_dir,
            description={"nb_iters_rg": settings.regression_steps, "lrn_rate_rg": settings.regression_learning_rate,
                         "nb_iters_ft": settings.finetune_steps, "lrn_rate_ft": settings.finetune_learning_rate,
                         "nb_iters_feval": settings.reward_batches},
            first_ratios=first, rescore=rescorer, nb_rescore=settings.rescored_plans,
            rescore_name=f"rescored_ft{settings.rescore_finetune_steps}",
            rescore_margin=settings.rescore_margin)

    def evaluate_one_shot(self, dense: keras.Model, kernels: list[MaskedKernel],
                          plan: SparsityPlan) -> dict:
        """Eval metrics of the pre-trained model pruned to the plan at once, without training."""
        with self.context.strategy.scope():
            copy = keras.models.clone_model(dense)
        copy.set_weights(dense.get_weights())
        masker = SparsityMasker(copy, kernels, plan.pruned,
                                PolynomialSparsitySchedule(1, 0.0, 1.0))
        masker.finalize()
        return evaluate(copy, self.context.dataset.eval_dataset(), self.context.dataset.nb_classes)

    # ----------------------------------------------------------------------------- export
    def export(self, model: keras.Model) -> dict:
        """The default float and int8 export, plus ``model_sparse.tflite``; sizes, gzip sizes
        and latencies of the files, and whether the sparse one is any faster."""
        from learners.weight_sparse.export import export_sparse, file_sizes, speed_verdict
        from export import benchmark, export_model

        export, out_dir = self.config.export, self.context.output_dir

        def log(line):
            logging.info("export: %s", line)

        report = export_model(model, self.context.dataset, out_dir,
                              calibration_size=export.calibration_size, log=log)
        sparse = export_sparse(model, self.context.dataset, out_dir, log=log)
        sparse["dense_float"] = file_sizes(report.float_path)
        sparse["int8"] = file_sizes(report.int8_path)
        sparse["dense_float_accuracy"] = report.float_accuracy
        result = {"export": report.to_dict(), "sparse_export": sparse}
        if not export.benchmark:
            sparse["speed"] = "not measured (--enbl_benchmark=false)"
            return result
        rows = [row.to_dict() for row in benchmark(
            [report.float_path, report.int8_path, sparse["path"]], export.benchmark_threads,
            repeats=export.benchmark_repeats)]
        result["latency"] = rows
        speedups, verdict = speed_verdict(
            [row for row in rows if row["model_file"] == report.float_path],
            [row for row in rows if row["model_file"] == sparse["path"]],
            sparse["ops"].get("DENSIFY", 0))
        sparse["speedup_vs_dense_float"] = speedups
        sparse["speed"] = verdict
        log(f"sparse TFLite: {verdict}")
        return result
