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
import re
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
from utils.io import EventLog, keras_file_problem, write_json_atomic


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
        """Where the pre-trained full-precision model is: the user's ``--model_file``, or what
        ``full-prec`` writes (``<model_dir>/<model>_at_<dataset>.keras``)."""
        if self.helper.model_file is not None:
            return self.helper.model_file
        return os.path.join(self.config.model_dir, f"{self.model_basename}.keras")

    def build_model(self) -> keras.Model:
        """A freshly initialised model of the helper, built under the strategy's scope; for a
        helper that stands for a trained model (``--model_file``), that model (full-prec then
        fine-tunes it)."""
        if self.helper.model_file is not None:
            return self.load_pretrained()
        with self.strategy.scope():
            return self.helper.build_model(self.dataset.input_shape, self.dataset.nb_classes)

    def load_model(self, path: str, what: str = "model") -> keras.Model:
        """Loads a ``.keras`` file under the strategy's scope; the pre-trained model as the
        helper prepares it (``ModelHelper.prepare_loaded``: functional, logits).

        Raises:
            MissingModelError: naming the path and the run that writes the file.
            ValueError: naming the path when the file is damaged (not a whole ``.keras``
                archive), cannot be loaded, or takes inputs of another shape.
        """
        if path == self.helper.model_file:
            remedy = "Pass the .keras file of your trained model (model.save('model.keras'))"
            model = load_model_file(path, "model file (--model_file)", remedy,
                                    self.helper.custom_objects(), self.strategy)
        else:
            if path == self.pretrained_model_path:
                producer = f"`--learner full-prec --net {self.config.net}`"
                directory = "--model_dir"
            else:
                producer = f"`--learner {self.config.learner} --exec_mode train`"
                directory = "--save_dir"
            missing = (f"Train it first with {producer} (same {directory}), or pass {directory} "
                       "pointing at the directory that holds it")
            damaged = (f"Restore it from a copy, or delete it and rerun {producer} (same "
                       f"{directory}) to write it again")
            model = load_model_file(path, what, missing, self.helper.custom_objects(),
                                    self.strategy, damaged_remedy=damaged)
        if path == self.pretrained_model_path:
            with self.strategy.scope():
                model = self.helper.prepare_loaded(model)
        expected = (None, *self.dataset.input_shape)
        if not shapes_match(tuple(model.input_shape), expected):
            raise ValueError(f"Expected the {what} at '{path}' to take inputs of shape {expected}. "
                             f"Received: {tuple(model.input_shape)}")
        return model

    def load_pretrained(self) -> keras.Model:
        return self.load_model(self.pretrained_model_path, "pre-trained model")


def shapes_match(shape: tuple, expected: tuple) -> bool:
    """Whether two shapes are equal, ``None`` (any size) matching every size."""
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected, strict=True))


def load_model_file(path: str, what: str, missing_remedy: str, custom_objects: dict,
                    strategy: tf.distribute.Strategy | None = None, *,
                    damaged_remedy: str | None = None) -> keras.Model:
    """Loads a ``.keras`` file (under ``strategy``'s scope), with errors that name it.

    Args:
        path: the file.
        what: what it is, for messages (``"pre-trained model"``).
        missing_remedy: what to do when there is no such file (a sentence).
        custom_objects: the classes and functions of custom layers, by name.
        strategy: the scope the variables are created in (the default strategy if ``None``).
        damaged_remedy: what to do with a damaged file (defaults to ``missing_remedy``).

    Raises:
        MissingModelError: no file at ``path``.
        ValueError: a damaged file, or one Keras cannot load (a custom layer Keras does not
            know is named, with the advice to pass ``--custom_objects``).
    """
    if not os.path.isfile(path):
        raise MissingModelError(f"Expected the {what} at '{path}'. Received: no such file. "
                                f"{missing_remedy}.")
    problem = keras_file_problem(path)
    if problem is not None:  # a .keras file is a zip archive; a cut one is no archive at all
        raise ValueError(
            f"Expected the {what} at '{path}' to be a whole .keras file. Received: a damaged "
            f"file ({os.path.getsize(path)} bytes, {problem}). {damaged_remedy or missing_remedy}.")
    try:
        with (strategy or tf.distribute.get_strategy()).scope():
            return keras.models.load_model(path, compile=False, custom_objects=custom_objects)
    except (ValueError, OSError, KeyError, TypeError, AttributeError) as error:
        unknown = unknown_custom_object(error)
        if unknown is not None:
            defined = (f" (it defines {', '.join(sorted(custom_objects))})" if custom_objects
                       else "")
            raise ValueError(
                f"Expected the {what} at '{path}' to use layers Keras knows, or custom ones that "
                f"--custom_objects defines{defined}. Received: a model with the custom class or "
                f"function '{unknown}'. Pass --custom_objects with the Python module that "
                "defines it: a dotted path importable from the working directory (e.g. "
                "--custom_objects=my_project.layers) or a .py file") from error
        raise ValueError(f"Expected the {what} at '{path}' to be a Keras model file this "
                         f"program can load. Received: {type(error).__name__}: {error}"
                         ) from error


def unknown_custom_object(error: BaseException) -> str | None:
    """The name of the custom class or function Keras could not find while loading a model
    (it may sit deep in the chain of errors Keras raised), or ``None``."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        match = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if match:
            return match.group(1)
        error = error.__cause__ or error.__context__
    return None


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
