"""The learner contract and the run context every learner receives.

Lifecycle: construct (cheap: no training, no search, no file reading beyond validation) ->
``train()`` (derive the model, fine-tune or train it, write artifacts, return the final model) or
``evaluate()`` (load the learner's saved model and evaluate it, nothing else).
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import zipfile
from typing import ClassVar

import keras
import tensorflow as tf
from absl import logging

from datasets.base import Dataset
from learners.config import RunConfig
from learners.distillation import DistillationLoss
from learners.metrics import validate as validate_metrics
from learners.trainer import Trainer, evaluate
from nets.model_helper import ModelHelper
from utils.flops import total_macs, total_params
from utils.io import EventLog, write_json_atomic


class MissingModelError(FileNotFoundError):
    """A model file the run needs is not there."""


@dataclasses.dataclass
class RunContext:
    """What a learner works with: settings, model helper, data, strategy and logs."""

    config: RunConfig
    helper: ModelHelper
    dataset: Dataset
    strategy: tf.distribute.Strategy
    event_log: EventLog
    is_chief: bool = True

    @property
    def output_dir(self) -> str:
        return self.config.output_dir

    @property
    def model_basename(self) -> str:
        """``<model>_at_<dataset>``, e.g. ``resnet_20_at_cifar10``."""
        return f"{self.helper.model_name}_at_{self.dataset.name}"

    @property
    def pretrained_model_path(self) -> str:
        """Where the pre-trained full-precision model is (what ``full-prec`` writes)."""
        return os.path.join(self.config.model_dir, f"{self.model_basename}.keras")

    def build_model(self) -> keras.Model:
        """A freshly initialised model of the helper, built under the strategy's scope."""
        with self.strategy.scope():
            return self.helper.build_model(self.dataset.input_shape, self.dataset.nb_classes)

    def load_model(self, path: str, what: str = "model") -> keras.Model:
        """Loads a ``.keras`` file under the strategy's scope.

        Raises:
            MissingModelError: naming the path and the run that writes the file.
            ValueError: naming the path when the file is damaged (not a whole ``.keras``
                archive) or takes inputs of another shape.
        """
        if path == self.pretrained_model_path:
            producer, directory = f"`--learner full-prec --net {self.config.net}`", "--model_dir"
        else:
            producer = f"`--learner {self.config.learner} --exec_mode train`"
            directory = "--save_dir"
        if not os.path.isfile(path):
            raise MissingModelError(
                f"Expected the {what} at '{path}'. Received: no such file. Train it first with "
                f"{producer} (same {directory}), or pass {directory} pointing at the directory "
                "that holds it.")
        try:
            with zipfile.ZipFile(path) as archive:
                bad_member = archive.testzip()
            problem = None if bad_member is None else f"its member {bad_member} fails its CRC check"
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            problem = f"not a whole zip archive: {error}"
        if problem is not None:  # a .keras file is a zip archive; a cut one is no archive at all
            raise ValueError(
                f"Expected the {what} at '{path}' to be a whole .keras file. Received: a damaged "
                f"file ({os.path.getsize(path)} bytes, {problem}). Restore it from a copy, or "
                f"delete it and rerun {producer} (same {directory}) to write it again.")
        try:
            with self.strategy.scope():
                model = keras.models.load_model(path, compile=False)
        except (ValueError, OSError, KeyError, TypeError) as error:
            raise ValueError(f"Expected the {what} at '{path}' to be a Keras model file this "
                             f"program can load. Received: {type(error).__name__}: {error}"
                             ) from error
        expected = (None, *self.dataset.input_shape)
        if tuple(model.input_shape) != expected:
            raise ValueError(f"Expected the {what} at '{path}' to take inputs of shape {expected}. "
                             f"Received: {tuple(model.input_shape)}")
        return model

    def load_pretrained(self) -> keras.Model:
        return self.load_model(self.pretrained_model_path, "pre-trained model")


class Learner(abc.ABC):
    """Base of every learner; each registers itself in ``learners.registry``.

    Attributes:
        metrics_keys: the learner's own ``metrics.json`` entries, beside the common ones.
    """

    metrics_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: RunContext):
        self.context = context
        self.config = context.config
        self.settings = context.config.settings  # the learner's registered settings, or None

    @property
    def output_model_path(self) -> str:
        return os.path.join(self.context.output_dir, "model.keras")

    @abc.abstractmethod
    def train(self) -> keras.Model:
        """Produces the learner's model and writes its artifacts; returns the model."""

    def evaluate(self) -> dict:
        """Evaluates the model this learner saved, on the evaluation split."""
        model = self.context.load_model(self.output_model_path, f"{self.config.learner} model")
        return evaluate(model, self.context.dataset.eval_dataset(), self.context.dataset.nb_classes)

    def export(self, model: keras.Model) -> dict:
        """Exports the trained model and measures it; returns the entries for ``metrics.json``.

        The default writes ``model.tflite`` and ``model_int8.tflite`` (post-training int8,
        calibrated on training images), checks parity and the integer audit, and benchmarks both.
        Learners whose result deploys differently (quantization-aware, sparse) override it.
        """
        from export import benchmark, export_model

        export = self.config.export
        report = export_model(model, self.context.dataset, self.context.output_dir,
                              calibration_size=export.calibration_size,
                              log=lambda line: logging.info("export: %s", line))
        result = {"export": report.to_dict()}
        if export.benchmark:
            latencies = benchmark([report.float_path, report.int8_path], export.benchmark_threads,
                                  repeats=export.benchmark_repeats)
            result["latency"] = [row.to_dict() for row in latencies]
        return result

    # ---------------------------------------------------------------- helpers for subclasses
    def make_trainer(self, model: keras.Model, description: str, *, train_config=None,
                     checkpoint_subdir: str = "checkpoints", **kwargs) -> Trainer:
        """A trainer with this run's logging, checkpoint directory and (if enabled) distillation."""
        context = self.context
        extra_losses = list(kwargs.pop("extra_losses", ()))
        kwargs.setdefault("exclude_val", self.config.search_trial)
        if self.config.distillation.enabled:
            teacher = context.load_pretrained()
            extra_losses.append(DistillationLoss(teacher, self.config.distillation))
        return Trainer(model, context.dataset, train_config or self.config.train,
                       strategy=context.strategy,
                       checkpoint_dir=os.path.join(context.output_dir, checkpoint_subdir),
                       event_log=context.event_log, summary_dir=self.config.log_dir,
                       extra_losses=extra_losses, description=description,
                       write_files=context.is_chief, **kwargs)

    @property
    def search_dir(self) -> str:
        """Where a learner that searches its settings keeps the trials (``hpo.trial_store``)."""
        return os.path.join(self.context.output_dir, "search")

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.context.output_dir, "metrics.json")

    def read_metrics(self) -> dict:
        """The ``metrics.json`` an earlier run of this learner wrote, or ``{}``."""
        if not os.path.isfile(self.metrics_path):
            return {}
        with open(self.metrics_path) as handle:
            return json.load(handle)

    def write_metrics(self, metrics: dict) -> str:
        """Writes ``metrics.json`` in the output directory (chief only); returns its path.

        Raises:
            ValueError: for content that does not follow the schema (``learners.metrics``).
        """
        validate_metrics(metrics, self.metrics_keys)
        if self.context.is_chief:
            write_json_atomic(self.metrics_path, metrics)
        return self.metrics_path

    def report(self, model: keras.Model, *, eval_result: dict, train: dict,
               dense: keras.Model | None = None, dense_eval: dict | None = None,
               eval_before_finetuning: dict | None = None, plan: str | None = None,
               search_seconds: float | None = None, **own) -> str:
        """Writes ``metrics.json`` in the one schema: the common entries from these arguments
        (sizes measured on ``model`` and ``dense``), then the learner's ``own`` entries (names it
        declares in ``metrics_keys``); returns its path."""
        return self.write_metrics({
            "learner": self.config.learner, "model": self.context.model_basename,
            "eval": eval_result, "dense_eval": dense_eval,
            "eval_before_finetuning": eval_before_finetuning,
            "params": total_params(model), "macs": total_macs(model),
            "dense_params": None if dense is None else total_params(dense),
            "dense_macs": None if dense is None else total_macs(dense),
            "plan": plan, "search_seconds": search_seconds, "train": train, **own})
