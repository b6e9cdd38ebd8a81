"""``run(config)``: one run from a validated config to a trained, exported, measured model."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

import keras
from absl import logging

from datasets.registry import create_dataset
from learners.base import Learner, RunContext
from learners.config import RunConfig
from learners.metrics import validate as validate_metrics
from learners.model_data import check_model_fits_data, data_config_for, read_signature
from learners.registry import get_learner_class
from learners.run_record import check_run_config, write_run_config
from learners.trainer import evaluate
from nets.model_helper import create_model_helper
from utils.distribute import create_strategy, is_chief
from utils.io import (
    EventLog,
    ensure_writable_dir,
    mark_completed,
    remove_stale_temporaries,
    write_json_atomic,
)
from utils.locks import RunLock

_LOCK_NAME = ".run.lock"
"""The lock file a training run holds in its ``--save_dir``."""

def run(config: RunConfig) -> dict:
    """Trains (or evaluates) as ``config`` says and returns the run's metrics.

    Everything that can be checked cheaply -- learner and net names, the output directories,
    data files, the pre-trained model a learner needs, a user's model against the data
    (``learners.model_data``) -- is checked before any training starts.
    A training run holds a lock on ``--save_dir`` (and on the pre-trained model it writes), so a
    second run on them stops at once, and then removes the temporary files a killed run left
    there (``utils.io.remove_stale_temporaries``).

    Raises:
        ValueError: an output directory is a file or not writable (naming the flag), and the
            errors of the learner and of the configuration.
        utils.locks.LockedError: another live run holds ``--save_dir`` or the pre-trained model.
        utils.errors.TrainingDivergedError: the loss became non-finite; nothing was written.
        ValueError: ``--save_dir`` holds a run made with other settings
            (``learners.run_record.check_run_config``).
    """
    learner_class = get_learner_class(config.learner)
    writes_pretrained = (config.exec_mode == "train" and not config.search_trial
                         and not config.distillation.enabled
                         and config.net_config.model_file is None  # a user's file is theirs
                         and getattr(learner_class, "writes_pretrained_model", False))
    check_output_dirs(config, writes_pretrained)
    strategy = create_strategy(config.multi_gpu)  # multi-worker: before any other TF op
    with contextlib.ExitStack() as locks:
        if config.exec_mode == "train" and is_chief(strategy):
            locks.enter_context(RunLock(os.path.join(config.output_dir, _LOCK_NAME),
                                        f"--save_dir={config.output_dir}"))
            remove_stale_temporaries(config.output_dir)  # a killed run's half-written files
            if not config.search_trial:  # a search's trials are its own, each in its directory
                check_run_config(config)
        return _run(config, strategy, learner_class, writes_pretrained, locks)


def check_output_dirs(config: RunConfig, writes_pretrained: bool) -> None:
    """Creates and test-writes the directories the run writes, before any work.

    ``--log_dir`` always; ``--save_dir`` when training; ``--model_dir`` when the learner
    publishes the pre-trained model there (otherwise it is only read: it must not be a file).
    """
    ensure_writable_dir(config.log_dir, "--log_dir")
    if config.exec_mode == "train":
        ensure_writable_dir(config.output_dir, "--save_dir")
    if writes_pretrained:
        ensure_writable_dir(config.model_dir, "--model_dir")
    elif os.path.exists(config.model_dir) and not os.path.isdir(config.model_dir):
        raise ValueError(f"Expected --model_dir to be a directory. Received: "
                         f"--model_dir={config.model_dir} ('{os.path.abspath(config.model_dir)}' "
                         "is a file)")


def _run(config: RunConfig, strategy, learner_class, writes_pretrained: bool,
         locks: contextlib.ExitStack) -> dict:
    helper = create_model_helper(config.net, config.net_config)
    signature = read_signature(helper)  # a user's model decides the data's image shape
    dataset = create_dataset(data_config_for(config.data, signature))
    check_model_fits_data(signature, dataset)
    keras.utils.set_random_seed(config.train.seed)
    chief = is_chief(strategy)
    event_log = EventLog(os.path.join(config.log_dir, "events.jsonl") if chief else None)
    context = RunContext(config=config, helper=helper, dataset=dataset, strategy=strategy,
                         event_log=event_log, is_chief=chief)
    if config.distillation.enabled and not os.path.isfile(context.pretrained_model_path):
        context.load_pretrained()  # raises with the path and how to create it
    if writes_pretrained and chief:
        locks.enter_context(RunLock(context.pretrained_model_path + ".lock",
                                    f"the pre-trained model '{context.pretrained_model_path}'"))
        remove_stale_temporaries(config.model_dir, recursive=False)
    with dataset.explained_errors():  # a pipeline that raised: the bad file named
        return _run_learner(context, learner_class(context))


def _run_learner(context: RunContext, learner: Learner) -> dict:
    """Trains (or evaluates) with ``learner``, exports, and writes the final ``metrics.json``."""
    config, dataset, event_log = context.config, context.dataset, context.event_log
    helper, strategy, chief = context.helper, context.strategy, context.is_chief
    event_log.write("run_start", config=dataclasses.asdict(config))
    logging.info("Run: learner=%s net=%s (%s) dataset=%s, %d train / %d eval examples, %d replica(s)",
                 config.learner, config.net, helper.model_name, dataset.name, dataset.train_size,
                 dataset.eval_size, strategy.num_replicas_in_sync)

    if config.exec_mode == "eval":
        metrics = {"eval": learner.evaluate()}
        logging.info("eval: %s", json.dumps(metrics["eval"]))
        event_log.write("run_end", **metrics)
        return metrics

    if chief and not config.search_trial:
        write_run_config(config)
    model = learner.train()
    metrics_path = learner.metrics_path
    metrics = learner.read_metrics()
    if config.search_trial:  # the reward of a search: validation accuracy, nothing exported
        metrics["val"] = evaluate(model, dataset.val_dataset(), dataset.nb_classes)
        metrics = mark_completed(metrics)
        if context.is_chief:
            write_json_atomic(metrics_path, metrics)
        event_log.write("run_end", metrics_file=metrics_path)
        return metrics
    if "eval" not in metrics:
        metrics["eval"] = evaluate(model, dataset.eval_dataset(), dataset.nb_classes)
    if config.export.enabled and context.is_chief:
        metrics.update(learner.export(model))
    metrics = mark_completed(metrics)
    if context.is_chief:  # the other workers wrote no metrics.json to complete
        validate_metrics(metrics, learner.metrics_keys)
        write_json_atomic(metrics_path, metrics)
    event_log.write("run_end", metrics_file=metrics_path)
    print(format_summary(metrics, context, learner.output_model_path))
    return metrics


def _against_dense(metrics: dict, model_path: str, dense_path: str) -> list[str]:
    """Summary lines comparing the result with the pre-trained model it was compressed from."""
    if metrics.get("dense_eval") is None:
        return []
    change = metrics["eval"]["accuracy"] - metrics["dense_eval"]["accuracy"]
    lines = [f"  vs the pre-trained model:  accuracy {change:+.4f}, parameters "
             f"{metrics['params']:,} / {metrics['dense_params']:,} "
             f"({metrics['params'] / metrics['dense_params']:.3f}x), MACs "
             f"{metrics['macs']:,} / {metrics['dense_macs']:,} "
             f"({metrics['macs'] / metrics['dense_macs']:.3f}x)"]
    if "nonzero_params" in metrics:
        lines.append(f"  {'':<26} non-zero parameters {metrics['nonzero_params']:,} "
                     f"({metrics['nonzero_params'] / metrics['dense_params']:.3f}x)")
    if os.path.isfile(model_path) and os.path.isfile(dense_path):
        size, dense_size = os.path.getsize(model_path), os.path.getsize(dense_path)
        lines.append(f"  {'':<26} .keras file {size / 1024:.1f} KiB / {dense_size / 1024:.1f} KiB "
                     f"({size / dense_size:.3f}x)")
    return lines


def format_summary(metrics: dict, context: RunContext, model_path: str) -> str:
    """The human-readable end-of-run summary."""
    lines = ["", "=" * 72, f"Summary: {context.config.learner} / {context.model_basename}",
             (f"  eval accuracy (Keras):     {metrics['eval']['accuracy']:.4f} "
              f"on {metrics['eval']['nb_examples']} images"),
             f"  model:                     {os.path.abspath(model_path)}"]
    lines += _against_dense(metrics, model_path, context.pretrained_model_path)
    export = metrics.get("export")
    if export:
        for kind in ("float", "int8"):
            lines.append(f"  {kind + ' TFLite:':<26} {os.path.abspath(export[kind + '_path'])} "
                         f"({export[kind + '_size_bytes'] / 1024:.1f} KiB, "
                         f"accuracy {export[kind + '_accuracy']:.4f})")
        lines.append(f"  float TFLite max |logit diff| vs Keras: {export['max_abs_logit_diff']:.2e}")
        lines.append(f"  int8 - float accuracy: {export['int8_accuracy'] - export['float_accuracy']:+.4f}; "
                     f"int8 audit (every op integer): "
                     f"{'passed' if export['int8_audit']['passed'] else 'FAILED'}")
    for row in metrics.get("latency", []):
        lines.append(f"  latency {os.path.basename(row['model_file']):<18} {row['threads']} thread(s): "
                     f"median {row['median_ms']:.3f} ms (p10 {row['p10_ms']:.3f}, p90 {row['p90_ms']:.3f})")
    lines.append("=" * 72)
    return "\n".join(lines)
