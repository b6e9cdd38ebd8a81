"""Full-precision training (``--learner full-prec``): the model every other learner starts from."""

from __future__ import annotations

import math
import os
import shutil
from typing import ClassVar

import keras
from absl import logging

from learners.base import Learner
from learners.trainer import evaluate
from utils.errors import TrainingDivergedError
from utils.io import save_model_atomic, temporary_path


class FullPrecisionLearner(Learner):
    """Trains the helper's network from scratch with its full schedule.

    Writes ``<save_dir>/model.keras`` and ``metrics.json`` and publishes the model as the
    pre-trained model ``<model_dir>/<model>_at_<dataset>.keras`` -- unless distillation is on, in
    which case that file is the teacher and is left untouched. A diverged training (the trainer
    raises) or a non-finite evaluation writes and replaces nothing. With a user's model
    (``--model_file``) it fine-tunes that model instead and publishes nothing: the user's file
    is never written.
    """

    writes_pretrained_model: ClassVar[bool] = True
    """The runner checks ``--model_dir`` is writable and locks the pre-trained model."""

    def train(self) -> keras.Model:
        context = self.context
        model = context.build_model()
        trainer = self.make_trainer(model, "full-prec",
                                    eval_data=context.dataset.eval_dataset())
        result = trainer.train()
        metrics = evaluate(model, context.dataset.eval_dataset(), context.dataset.nb_classes)
        if not math.isfinite(metrics["loss"]):
            raise TrainingDivergedError(
                f"Training diverged: the evaluation loss after {result.steps} steps is "
                f"{metrics['loss']}. Expected a finite loss. Lower the learning rate "
                f"(--lrn_rate_init, now {trainer.config.learning_rate:g}) and rerun; no model or "
                "metrics.json was written, the pre-trained model was left as it was.")
        logging.info("full-prec: eval accuracy %.4f after %d steps", metrics["accuracy"], result.steps)
        if context.is_chief:
            save_model_atomic(model, self.output_model_path)
            if self.config.distillation.enabled or context.helper.model_file is not None:
                logging.info("%s (the pre-trained model) is left as it was; the result is %s.",
                             context.pretrained_model_path, self.output_model_path)
            elif not self.config.search_trial:  # a search trial does not replace the model
                os.makedirs(self.config.model_dir, exist_ok=True)
                temporary = temporary_path(context.pretrained_model_path)
                shutil.copyfile(self.output_model_path, temporary)
                os.replace(temporary, context.pretrained_model_path)
        train_record = {**result.record(), "global_batch_size": trainer.global_batch_size,
                        "epochs": result.steps / trainer.steps_per_epoch}
        if result.steps == result.resumed_from:  # nothing left to train: keep the real record
            train_record = self.read_metrics().get("train", train_record)
        self.report(model, eval_result=metrics, train=train_record)
        return model
