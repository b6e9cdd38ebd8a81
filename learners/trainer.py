"""The shared training loop every learner uses.

A compiled (``tf.function``) step under a ``tf.distribute`` strategy: momentum SGD, L2 weight decay
that skips BatchNorm, the learning-rate schedule of ``utils.learning_rate``, optional extra losses
(distillation, auxiliary losses of later learners) and per-step callbacks (mask updates,
quantizer ranges). Checkpoints go to ``<checkpoint_dir>`` every ``save_step`` steps; a trainer
started on a directory with a checkpoint resumes from it and runs to the same planned step count.

Nothing untrusted is kept or resumed from: a non-finite loss stops training
(:class:`~utils.errors.TrainingDivergedError`) before anything is written; a checkpoint counts
only once every tensor in it reads back, and resuming takes the newest one that does, skipping
(and naming, never deleting) damaged ones; the ``checkpoint`` index file is rebuilt from the
``ckpt-N.index`` files when it is damaged or missing, and the shards of a checkpoint a killed run
did not finish writing (``ckpt-N_temp/``) are removed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from datasets.base import Dataset
from learners.config import TrainConfig
from utils.errors import TrainingDivergedError
from utils.io import EventLog, write_json_atomic, write_text_atomic
from utils.keras_graph import all_layers
from utils.learning_rate import build_schedule
from utils.progress import format_duration, remaining_seconds

ExtraLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
"""``(images, student_logits) -> per-example loss``; averaged over the global batch by the trainer."""


class _StopRequests:
    """Turns SIGTERM (``kill``, a scheduler's pre-emption notice) and SIGINT (Ctrl-C) into a
    request the training loop honours between steps, by raising ``KeyboardInterrupt`` there.

    A handler that raised at once could raise inside a finalizer (``__del__`` of a TensorFlow
    function being collected), where Python ignores the exception and training runs on. Only
    the main thread may set handlers; elsewhere this does nothing.
    """

    _SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal_number = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in self._SIGNALS:
                self._previous[number] = signal.signal(number, self._request)

    def _request(self, signal_number, frame):
        self.signal_number = signal_number

    def raise_if_requested(self) -> None:
        if self.signal_number is not None:
            raise KeyboardInterrupt(f"signal {self.signal_number}")

    def restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


class StepCallback(Protocol):
    """Called by the trainer after each optimizer step (eagerly, outside the compiled step)."""

    def on_step_end(self, step: int) -> None: ...


@dataclasses.dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) training run reports."""

    steps: int
    resumed_from: int
    seconds: float  # this launch's
    images_per_sec: float  # this launch's
    final_loss: float
    final_accuracy: float
    total_seconds: float = 0.0  # every launch's, up to the last checkpoint of the earlier ones

    def record(self) -> dict:
        """The ``train`` entry of a learner's ``metrics.json``."""
        return {"steps": self.steps, "resumed_from": self.resumed_from, "seconds": self.seconds,
                "total_seconds": self.total_seconds, "images_per_sec": self.images_per_sec}


def decayed_variables(model: keras.Model) -> list:
    """Trainable variables that take L2 weight decay: all but BatchNormalization's, and those a
    layer lists in an ``undecayed_weights`` attribute (e.g. a BatchNorm folded into a conv)."""
    skipped = {id(v) for layer in all_layers(model)
               for v in (layer.weights if isinstance(layer, keras.layers.BatchNormalization)
                         else getattr(layer, "undecayed_weights", ()))}
    return [v for v in model.trainable_variables if id(v) not in skipped]


def top_k_accuracy(labels: tf.Tensor, logits: tf.Tensor, k: int = 1) -> tf.Tensor:
    """Per-example 0/1 correctness of the top-``k`` prediction."""
    return tf.cast(tf.math.in_top_k(tf.cast(labels, tf.int32), tf.cast(logits, tf.float32), k),
                   tf.float32)


def evaluate(model: keras.Model, dataset: tf.data.Dataset, nb_classes: int | None = None) -> dict:
    """One exact pass over ``dataset``: mean loss, top-1 (and top-5 for > 100 classes) accuracy."""

    @tf.function
    def eval_step(images, labels):
        logits = model(images, training=False)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return loss, top_k_accuracy(labels, logits, 1), top_k_accuracy(labels, logits, 5)

    totals = np.zeros(3)
    count = 0
    for images, labels in dataset:
        loss, top1, top5 = eval_step(images, labels)
        totals += [float(tf.reduce_sum(loss)), float(tf.reduce_sum(top1)), float(tf.reduce_sum(top5))]
        count += int(tf.shape(labels)[0])
    if count == 0:
        raise ValueError("Expected a non-empty evaluation dataset. Received: 0 examples")
    metrics = {"loss": totals[0] / count, "accuracy": totals[1] / count, "nb_examples": count}
    if (nb_classes or 0) > 100:
        metrics["accuracy_top5"] = totals[2] / count
    return metrics


def cross_entropy_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, *,
                       gradient_masks: dict[int, tf.Variable] | None = None,
                       after_step: Callable[[], None] | None = None):
    """A compiled ``(images, labels) -> loss`` step of ``optimizer`` on ``model``'s mean
    cross-entropy (BatchNorm in training mode), with no schedule, weight decay or logs.

    ``gradient_masks`` maps ``id(variable)`` to a mask its gradient is multiplied by;
    ``after_step`` runs after each update (e.g. to re-apply weight masks).
    """
    masks = gradient_masks or {}

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True))
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g * masks[id(v)] if id(v) in masks else g, v)
                                   for g, v in zip(gradients, variables, strict=True)
                                   if g is not None])
        if after_step is not None:
            after_step()
        return loss

    return step


def adam_steps(model: keras.Model, batches: Iterator, nb_steps: int, learning_rate: float, *,
               learning_rate_flag: str, description: str = "fine-tuning") -> float:
    """``nb_steps`` of Adam at ``learning_rate`` (:func:`cross_entropy_step`) with batches from
    ``batches``: the fast fine-tuning after which a search's roll-out scores its candidate.
    Returns the last step's loss.

    Args:
        learning_rate_flag: the flag that set ``learning_rate`` (``--cp_rlout_lrn_rate_ft``), named in the
            error when the loss diverges.
        description: what the steps are, for that error.

    Raises:
        TrainingDivergedError: at the first step whose loss is not finite, or when the weights
            are not finite after the last step; ``model`` is then not to be used.
    """
    step = cross_entropy_step(model, keras.optimizers.Adam(learning_rate))
    loss = float("nan")
    for number in range(1, nb_steps + 1):
        loss = float(step(*next(batches)))
        if not math.isfinite(loss):
            raise divergence_error(description, number, nb_steps, f"loss={loss}", learning_rate_flag,
                                   learning_rate)
    bad = non_finite_weights(model)
    if bad:
        raise divergence_error(description, nb_steps, nb_steps,
                               f"non-finite weights in {', '.join(bad[:3])}", learning_rate_flag,
                               learning_rate)
    return loss


def non_finite_weights(model: keras.Model) -> list[str]:
    """The paths of ``model``'s float weights that hold a NaN or an infinity."""
    return [v.path for v in model.weights
            if "float" in str(v.dtype) and not bool(tf.reduce_all(tf.math.is_finite(v)))]


def divergence_error(description: str, step: int, total_steps: int, what: str,
                     learning_rate_flag: str, learning_rate: float) -> TrainingDivergedError:
    """The error that stops a diverged training: the step, what was not finite, and the flag of
    the learning rate to lower."""
    return TrainingDivergedError(
        f"Training diverged: {description} step {step} of {total_steps} gave {what}. Expected a "
        f"finite loss. Lower the learning rate ({learning_rate_flag}, now {learning_rate:g}) and rerun. No "
        "checkpoint, model or metrics.json was written from the diverged weights.")


def epoch_steps(dataset: Dataset, nb_replicas: int = 1, exclude_val: bool = False) -> float:
    """Optimizer steps per epoch over the training split (without validation if excluded)."""
    nb_train = dataset.train_size - (dataset.validation_size if exclude_val else 0)
    return nb_train / (dataset.config.batch_size * nb_replicas)


def schedule_steps(config: TrainConfig, steps_per_epoch: float) -> int:
    """Optimizer steps of a schedule: ``train_steps``, else the (scaled) epochs' steps."""
    if config.train_steps is not None:
        return config.train_steps
    return max(1, math.ceil(config.epochs * config.epochs_ratio * steps_per_epoch))


class Trainer:
    """Trains ``model`` on ``dataset`` under ``strategy``.

    Build the model (and anything holding variables that the step reads) inside
    ``strategy.scope()``; the trainer creates its optimizer there too.

    Args:
        model: the Keras model to train, built under ``strategy.scope()``.
        dataset: the training data.
        config: schedule and logging settings.
        strategy: the distribution strategy.
        checkpoint_dir: where checkpoints are written and resumed from.
        event_log: JSON-lines log of the run.
        summary_dir: TensorBoard directory (``None``: no summaries).
        extra_losses: per-example losses added to cross-entropy (distillation ...).
        callbacks: objects with ``on_step_end(step)``.
        exclude_val: train without the validation split (searches).
        description: label of the progress bar.
        eval_data: evaluated (and logged) at every checkpoint when given.
        write_files: whether this worker writes checkpoints and logs (the chief only).
        learning_rate_flag: the flag that set ``config.lrn_rate_init``, named when training diverges
            (a learner's fine-tuning has its own: ``--cp_lrn_rate_ft``).
    """

    def __init__(self, model: keras.Model, dataset: Dataset, config: TrainConfig, *,
                 strategy: tf.distribute.Strategy, checkpoint_dir: str,
                 event_log: EventLog | None = None, summary_dir: str | None = None,
                 extra_losses: Sequence[ExtraLoss] = (), callbacks: Sequence[StepCallback] = (),
                 exclude_val: bool = False, description: str = "train",
                 eval_data: tf.data.Dataset | None = None, write_files: bool = True,
                 learning_rate_flag: str = "--lrn_rate_init"):
        self.model = model
        self.dataset = dataset
        self.config = config
        self.strategy = strategy
        self.checkpoint_dir = checkpoint_dir
        self.event_log = event_log if write_files else None
        self.summary_dir = summary_dir
        self.extra_losses = list(extra_losses)
        self.callbacks = list(callbacks)
        self.exclude_val = exclude_val
        self.description = description
        self.eval_data = eval_data
        self.write_files = write_files
        self.learning_rate_flag = learning_rate_flag

        self.nb_replicas = strategy.num_replicas_in_sync
        self.global_batch_size = dataset.config.batch_size * self.nb_replicas
        self.steps_per_epoch = epoch_steps(dataset, self.nb_replicas, exclude_val)
        self.total_steps = schedule_steps(config, self.steps_per_epoch)
        self.schedule = build_schedule(config, self.global_batch_size, self.steps_per_epoch,
                                       self.total_steps)
        with strategy.scope():
            if config.optimizer == "adam":
                self.optimizer = keras.optimizers.Adam(learning_rate=self.schedule)
            else:
                self.optimizer = keras.optimizers.SGD(learning_rate=self.schedule,
                                                      momentum=config.momentum)
            self.optimizer.build(model.trainable_variables)
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer)
        _ = self._checkpoint.save_counter  # created now: every checkpoint holds it, as save() did
        self._skipped: set[int] = set()  # checkpoint steps that did not restore: never deleted
        self._trusted: set[int] = set()  # steps known to read back: the only ones ever deleted
        self._decayed = decayed_variables(model)
        self._seconds_before = 0.0
        self._launch_started: float | None = None

    # ------------------------------------------------------------------ public
    @property
    def step(self) -> int:
        """Optimizer steps taken so far (restored with the checkpoint)."""
        return int(self.optimizer.iterations.numpy())

    def restore(self) -> int:
        """Restores the newest checkpoint that reads back whole; returns the step it resumes from.

        A checkpoint that does not restore is named in a warning and skipped (its files are
        kept); a damaged or missing ``checkpoint`` index file is rebuilt from the
        ``ckpt-N.index`` files present.

        Raises:
            ValueError: naming the directory and each checkpoint's error when none restores.
        """
        if self.write_files:
            _remove_partial_checkpoints(self.checkpoint_dir)
        steps = _checkpoint_steps(self.checkpoint_dir)
        if not steps:
            return self.step
        failures = []
        for step in sorted(steps, reverse=True):
            prefix = self._prefix(step)
            try:
                _verify_checkpoint(prefix)
                self._checkpoint.restore(prefix).assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, IndexError, AssertionError, OSError) as error:
                message = " ".join(str(error).split())[:300]
                logging.warning("Skipping checkpoint %s: it does not restore (%s: %s); its files "
                                "are kept.", prefix, type(error).__name__, message)
                if self.event_log:
                    self.event_log.write("checkpoint_skipped", path=prefix, error=message)
                self._skipped.add(step)
                failures.append(f"{os.path.basename(prefix)}: {type(error).__name__}: {message}")
                continue
            self._trusted.add(step)
            self._repair_index(step)
            logging.info("Resumed %s from %s (step %d of %d).", self.description, prefix,
                         self.step, self.total_steps)
            return self.step
        raise ValueError(
            f"Expected a checkpoint in '{self.checkpoint_dir}' that restores into this model. "
            f"Received: none does ({'; '.join(failures)}). Move that directory away to start over "
            "(or use another --save_dir), or restore its files from a copy.")

    def train(self) -> TrainResult:
        """Runs (or resumes) training to ``total_steps``; checkpoints along the way and at the end."""
        start_step = self.restore()
        if self.event_log:
            self.event_log.write("train_start", description=self.description, step=start_step,
                                 total_steps=self.total_steps, replicas=self.nb_replicas,
                                 global_batch_size=self.global_batch_size)
        self._seconds_before = self._saved_seconds(start_step)
        if start_step >= self.total_steps:
            logging.info("%s already finished (%d steps).", self.description, start_step)
            return TrainResult(start_step, start_step, 0.0, 0.0, float("nan"), float("nan"),
                               total_seconds=self._seconds_before)

        # A resumed run reshuffles with another seed instead of replaying the batches it saw.
        data = self.dataset.train_dataset(exclude_val=self.exclude_val,
                                          shuffle_seed=self.config.seed + start_step,
                                          batch_size=self.global_batch_size)
        iterator = iter(self.strategy.experimental_distribute_dataset(data))
        train_step = self._compiled_step()
        writer = (tf.summary.create_file_writer(self.summary_dir)
                  if self.summary_dir and self.write_files else None)

        window = _RunningMeans()
        started = self._launch_started = time.time()
        window_started = started
        step = start_step
        progress = tqdm(total=self.total_steps, initial=start_step, desc=self.description,
                        file=sys.stderr, dynamic_ncols=True, disable=None, mininterval=1.0)
        stop_requests = _StopRequests()
        try:
            while step < self.total_steps:
                stop_requests.raise_if_requested()
                loss, accuracy = train_step(iterator)
                step += 1
                loss = float(loss)
                if not math.isfinite(loss):
                    self._diverged(step, loss)
                window.add(loss=loss, accuracy=float(accuracy))
                for callback in self.callbacks:
                    callback.on_step_end(step)
                progress.update(1)
                if step % self.config.summary_step == 0 or step == self.total_steps:
                    now = time.time()
                    images_per_sec = window.count * self.global_batch_size / max(now - window_started, 1e-9)
                    record = dict(step=step, learning_rate=float(self.schedule(step - 1)),
                                  images_per_sec=images_per_sec, **window.means(),
                                  eta_seconds=remaining_seconds(step - start_step,
                                                                self.total_steps - start_step,
                                                                now - started))
                    progress.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.3f}",
                                         lr=f"{record['learning_rate']:.2e}", img_s=f"{images_per_sec:.0f}")
                    self._log(record, writer)
                    window.reset()
                    window_started = now
                if step % self.config.save_step == 0 and step < self.total_steps:
                    self.save()
                    self._evaluate_and_log()
            stop_requests.raise_if_requested()  # one that came during the last step
        except KeyboardInterrupt:
            # Ctrl-C between steps: keep what was learned since the last checkpoint.
            self.save()  # raises TrainingDivergedError instead of saving non-finite weights
            logging.warning("%s interrupted at step %d; rerun the same command to resume.",
                            self.description, self.step)
            if self.event_log:
                self.event_log.write("interrupted", description=self.description, step=self.step)
            raise
        finally:
            progress.close()
            stop_requests.restore()
        self.save()
        seconds = time.time() - started
        last = window.last or {"loss": float("nan"), "accuracy": float("nan")}
        result = TrainResult(steps=step, resumed_from=start_step, seconds=seconds,
                             images_per_sec=(step - start_step) * self.global_batch_size / max(seconds, 1e-9),
                             final_loss=last["loss"], final_accuracy=last["accuracy"],
                             total_seconds=self._seconds_before + seconds)
        if self.event_log:
            self.event_log.write("train_end", description=self.description, **dataclasses.asdict(result))
        return result

    def save(self) -> None:
        """Writes a checkpoint at the current step, reads it back, and only then makes it the
        latest in the ``checkpoint`` index and deletes the ones older than the previous.

        Every worker of a multi-worker job takes part in saving (it may need collective ops);
        only the chief's copy is kept, the others write to a temporary directory.

        Raises:
            TrainingDivergedError: when a weight is not finite (nothing is written).
        """
        self._check_finite_weights()
        if not self.write_files:
            with tempfile.TemporaryDirectory() as scratch:
                self._checkpoint.write(os.path.join(scratch, "ckpt"))
            return
        step = self.step
        path = self._prefix(step)
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        if step in self._skipped:  # a damaged checkpoint of this step: moved aside, not overwritten
            for name in _checkpoint_files(self.checkpoint_dir, step):
                source = os.path.join(self.checkpoint_dir, name)
                os.replace(source, f"{source}.damaged-{int(time.time())}")
            self._skipped.discard(step)
        self._checkpoint.write(path)
        _verify_checkpoint(path)  # raises (keeping the index and older checkpoints) if unreadable
        self._trusted.add(step)
        good = sorted(s for s in _checkpoint_steps(self.checkpoint_dir)
                      if s < step and s not in self._skipped)
        # The index lists only checkpoints known to read back: the new one and the one before.
        self._write_index([*[s for s in good if s in self._trusted][-1:], step])
        for old in (s for s in good[:-1] if s in self._trusted):  # now a newer one reads back
            for name in _checkpoint_files(self.checkpoint_dir, old):
                os.remove(os.path.join(self.checkpoint_dir, name))
        if self._launch_started is not None:
            seconds = self._seconds_before + time.time() - self._launch_started
            write_json_atomic(self._seconds_path, {"step": self.step, "seconds": seconds})
        logging.info("Saved checkpoint %s", path)
        if self.event_log:
            self.event_log.write("checkpoint", step=self.step, path=path)

    # ------------------------------------------------------------------ internals
    def _prefix(self, step: int) -> str:
        return os.path.join(self.checkpoint_dir, f"ckpt-{step}")

    def _write_index(self, steps: Sequence[int]) -> None:
        """Writes the ``checkpoint`` index file (TensorFlow's text format) listing ``steps``,
        the last one the latest."""
        lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
        lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
        write_text_atomic(os.path.join(self.checkpoint_dir, "checkpoint"), "\n".join(lines) + "\n")

    def _repair_index(self, restored: int) -> None:
        """Rebuilds the ``checkpoint`` index file if it does not name ``restored`` as the latest."""
        index = os.path.join(self.checkpoint_dir, "checkpoint")
        try:
            state = tf.train.get_checkpoint_state(self.checkpoint_dir)
            latest = os.path.basename(state.model_checkpoint_path) if state else None
        except (tf.errors.OpError, ValueError):
            latest = None
        if latest == f"ckpt-{restored}":  # an index this trainer wrote: it lists verified ones
            listed = (_CHECKPOINT_PREFIX.match(os.path.basename(path))
                      for path in state.all_model_checkpoint_paths)
            self._trusted.update(int(match.group(1)) for match in listed if match)
            return
        if not self.write_files:
            return
        problem = ("missing" if not os.path.exists(index) else "damaged" if latest is None
                   else f"naming {latest}, which does not restore")
        logging.warning("The checkpoint index %s is %s; rebuilt from the ckpt-N.index files "
                        "present (latest: ckpt-%d).", index, problem, restored)
        self._write_index([restored])  # the one verified; older ones stay, unlisted and undeleted

    def _check_finite_weights(self) -> None:
        bad = non_finite_weights(self.model)
        if bad:
            self._diverged(self.step, None, f"non-finite weights in {', '.join(bad[:3])}")

    def _diverged(self, step: int, loss: float | None, what: str | None = None) -> None:
        """Stops training: a diverged model is never checkpointed, saved or exported."""
        what = what or f"loss={loss}"
        if self.event_log:
            self.event_log.write("diverged", description=self.description, step=step,
                                 detail=what, learning_rate=self.config.learning_rate)
        raise divergence_error(self.description, step, self.total_steps, what,
                               self.learning_rate_flag, self.config.learning_rate)

    @property
    def _seconds_path(self) -> str:
        return os.path.join(self.checkpoint_dir, "train_seconds.json")

    def _saved_seconds(self, step: int) -> float:
        """Training seconds of the earlier launches, as saved with their last checkpoint (0 when
        unknown: a checkpoint written before this record existed, or a newer record's step)."""
        try:
            with open(self._seconds_path) as handle:
                saved = json.load(handle)
            return float(saved["seconds"]) if int(saved["step"]) <= step else 0.0
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def _evaluate_and_log(self) -> None:
        if self.eval_data is None or not self.write_files:
            return
        metrics = evaluate(self.model, self.eval_data)
        logging.info("%s step %d: eval loss=%.4f accuracy=%.4f", self.description, self.step,
                     metrics["loss"], metrics["accuracy"])
        if self.event_log:
            self.event_log.write("eval", description=self.description, step=self.step, **metrics)

    def _compiled_step(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        global_batch, nb_replicas = self.global_batch_size, self.nb_replicas
        decayed, weight_decay, extra_losses = self._decayed, self.config.weight_decay, self.extra_losses

        def replica_step(images, labels):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                per_example = keras.losses.sparse_categorical_crossentropy(
                    labels, logits, from_logits=True)
                for extra_loss in extra_losses:
                    per_example = per_example + extra_loss(images, logits)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                if weight_decay and decayed:
                    # Summed over replicas by the gradient all-reduce, hence the division.
                    loss += weight_decay * tf.add_n([tf.nn.l2_loss(v) for v in decayed]) / nb_replicas
                loss += tf.add_n(model.losses) / nb_replicas if model.losses else 0.0
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            correct = tf.reduce_sum(top_k_accuracy(labels, logits)) / global_batch
            return loss, correct

        @tf.function
        def train_step(iterator):
            images, labels = next(iterator)
            loss, correct = strategy.run(replica_step, args=(images, labels))
            return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                    strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None))

        return train_step

    def _log(self, record: dict, writer) -> None:
        logging.info("%s step %d/%d: loss=%.4f accuracy=%.4f lrn_rate=%.3g images/s=%.0f eta=%s",
                     self.description, record["step"], self.total_steps, record["loss"],
                     record["accuracy"], record["learning_rate"], record["images_per_sec"],
                     format_duration(record["eta_seconds"]))
        if self.event_log:
            self.event_log.write("train_step", description=self.description, **record)
        if writer is not None:
            with writer.as_default(step=record["step"]):
                for name in ("loss", "accuracy", "learning_rate", "images_per_sec"):
                    tf.summary.scalar(f"{self.description}/{name}", record[name])
            writer.flush()


_CHECKPOINT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_CHECKPOINT_PREFIX = re.compile(r"^ckpt-(\d+)$")
_PARTIAL_CHECKPOINT = re.compile(r"^ckpt-\d+_temp$")


def _checkpoint_steps(directory: str) -> list[int]:
    """The steps of the ``ckpt-N.index`` files in ``directory``."""
    if not os.path.isdir(directory):
        return []
    return [int(m.group(1)) for m in map(_CHECKPOINT_INDEX.match, os.listdir(directory)) if m]


def _checkpoint_files(directory: str, step: int) -> list[str]:
    """The names of the files of checkpoint ``ckpt-<step>`` (index and data shards)."""
    index = f"ckpt-{step}.index"
    return [name for name in os.listdir(directory)
            if name == index or name.startswith(f"ckpt-{step}.data-")]


def _remove_partial_checkpoints(directory: str) -> None:
    """Removes the ``ckpt-N_temp`` directories TensorFlow writes a checkpoint's shards to before
    merging them into ``ckpt-N.*``: what a run killed while saving left behind."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if _PARTIAL_CHECKPOINT.match(name) and os.path.isdir(path):
            logging.info("Removing %s, a checkpoint a killed run did not finish writing.", path)
            shutil.rmtree(path, ignore_errors=True)


def _verify_checkpoint(prefix: str) -> None:
    """Reads every tensor of checkpoint ``prefix``; raises if any is missing or damaged."""
    reader = tf.train.load_checkpoint(prefix)
    for key in reader.get_variable_to_shape_map():
        reader.get_tensor(key)


class _RunningMeans:
    """Means of logged scalars since the last reset."""

    def __init__(self):
        self.reset()
        self.last: dict | None = None

    def reset(self):
        self._sums: dict[str, float] = {}
        self.count = 0

    def add(self, **values: float):
        for key, value in values.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        self.count += 1
        self.last = values

    def means(self) -> dict[str, float]:
        return {key: total / max(self.count, 1) for key, total in self._sums.items()}
