"""The one lifecycle of every compression learner.

:meth:`CompressionLearner.train` names the steps once:

1. :meth:`~CompressionLearner.prepare_teacher`: load the pre-trained model and evaluate it;
2. :meth:`~CompressionLearner.derive`: the compressed candidate, from a plan or a search over
   plans (the learner's own part; it resumes from what an earlier launch saved);
3. :meth:`~CompressionLearner.evaluate_candidate`: its accuracy before fine-tuning;
4. :meth:`~CompressionLearner.finetune`: the trainer (checkpointed, resumable, with distillation
   from the teacher under ``--enbl_dst``) with the learner's callbacks;
5. :meth:`~CompressionLearner.finalize`: strip the training wrappers, apply the compression
   physically;
6. :meth:`~CompressionLearner.save` and the report: ``model.keras`` and ``metrics.json`` in the
   one schema (``learners.metrics``).

The run then exports (:meth:`Learner.export`) and prints the summary. Every hook has a default
but :meth:`~CompressionLearner.derive`, so a learner fills in only what is its own.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import keras
from absl import logging

from learners.base import Learner
from learners.config import TrainConfig
from learners.trainer import Trainer, TrainResult, evaluate
from utils.io import save_model_atomic


@dataclasses.dataclass
class Candidate:
    """The compressed model a learner derived from the teacher, before fine-tuning.

    Attributes:
        model: the compressed, trainable model (built under the run's strategy scope).
        plan: path of the plan that replays the compression on the teacher, if any.
        search_seconds: what the search for it took over every launch; ``None`` without one.
        state: what the learner's later steps need (its plan object, masks, bit-widths ...).
    """

    model: keras.Model
    plan: str | None = None
    search_seconds: float | None = None
    state: Any = None


class CompressionLearner(Learner):
    """Base of the learners that compress the pre-trained model (see module docstring)."""

    def train(self) -> keras.Model:
        name = self.config.learner
        teacher, dense_eval = self.prepare_teacher()
        candidate = self.derive(teacher)
        before = self.evaluate_candidate(candidate, teacher)
        logging.info("%s: eval accuracy %.4f before fine-tuning (dense %.4f)", name,
                     before["accuracy"], dense_eval["accuracy"])
        result = self.finetune(candidate)
        final = self.finalize(candidate, teacher)
        eval_result = self.evaluate_model(final)
        logging.info("%s: eval accuracy %.4f after fine-tuning (dense %.4f)", name,
                     eval_result["accuracy"], dense_eval["accuracy"])
        if self.context.is_chief:
            self.save(final, candidate)
        self.report(self.sized_model(final, teacher), eval_result=eval_result,
                    train=result.record(), dense=teacher, dense_eval=dense_eval,
                    eval_before_finetuning=before, plan=candidate.plan,
                    search_seconds=candidate.search_seconds,
                    **self.own_metrics(final, candidate))
        return final

    # ------------------------------------------------------------------------ the steps
    def prepare_teacher(self) -> tuple[keras.Model, dict]:
        """The pre-trained model and its evaluation."""
        teacher = self.context.load_pretrained()
        return teacher, self.evaluate_model(teacher)

    @abc.abstractmethod
    def derive(self, teacher: keras.Model) -> Candidate:
        """The compressed candidate of ``teacher``; reuses what an earlier launch saved."""

    def evaluate_candidate(self, candidate: Candidate, teacher: keras.Model) -> dict:
        """The candidate's evaluation before fine-tuning."""
        return self.evaluate_model(candidate.model)

    def finetune_config(self) -> TrainConfig:
        """The schedule of the fine-tuning (the net's, scaled by ``--nb_epochs_rat``)."""
        return self.config.train

    @property
    def learning_rate_flag(self) -> str:
        """The flag that sets :meth:`finetune_config`'s learning rate: named when the
        fine-tuning diverges."""
        return "--lrn_rate_init"

    def training_callbacks(self, candidate: Candidate) -> list:
        """Callbacks of the fine-tuning (mask updates, quantizer ranges ...)."""
        return []

    def start_training(self, candidate: Candidate, trainer: Trainer) -> None:
        """Called with the trainer built, before it trains (e.g. to restore its step first)."""

    def finetune(self, candidate: Candidate) -> TrainResult:
        """Fine-tunes the candidate in place with :meth:`finetune_config`'s schedule."""
        trainer = self.make_trainer(candidate.model, self.config.learner,
                                    train_config=self.finetune_config(),
                                    eval_data=self.context.dataset.eval_dataset(),
                                    callbacks=self.training_callbacks(candidate),
                                    learning_rate_flag=self.learning_rate_flag)
        self.start_training(candidate, trainer)
        return trainer.train()

    def finalize(self, candidate: Candidate, teacher: keras.Model) -> keras.Model:
        """The deployable model: training wrappers stripped, the compression applied."""
        return candidate.model

    def save(self, final: keras.Model, candidate: Candidate) -> None:
        """Writes the learner's artifacts (chief only): ``model.keras`` by default."""
        save_model_atomic(final, self.output_model_path)

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        """The learner's own ``metrics.json`` entries (named in ``metrics_keys``)."""
        return {}

    def sized_model(self, final: keras.Model, teacher: keras.Model) -> keras.Model:
        """The model whose parameters and MACs the report gives (the final one by default)."""
        return final

    # -------------------------------------------------------------------------- helpers
    def evaluate_model(self, model: keras.Model) -> dict:
        """``model``'s result on the evaluation split."""
        return evaluate(model, self.context.dataset.eval_dataset(), self.context.dataset.nb_classes)
