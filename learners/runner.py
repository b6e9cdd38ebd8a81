"""``run(config)``: one run from a validated config to a trained, exported, measured model."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

import keras
from absl import logging

from datasets.registry import create_dataset
from learners.base import RunContext
from learners.config import RunConfig
from learners.metrics import validate as validate_metrics
from learners.registry import get_learner_class
from learners.trainer import evaluate
from nets.model_helper import create_model_helper
from utils.distribute import create_strategy, is_chief
from utils.io import (EventLog, ensure_writable_dir, mark_completed, strict_json,
                      write_json_atomic)
from utils.locks import RunLock

_LOCK_NAME = ".run.lock"
"""The lock file a training run holds in its ``--save_dir``."""

RUN_CONFIG_FILE = "run_config.json"
"""The record, in ``--save_dir``, of the settings that made the run's files
(``check_run_config``)."""

NOT_RECORDED = ("exec_mode", "debug", "log_dir", "save_dir", "model_dir", "export",
                "data.data_dir", "train.summ_step", "train.save_step")
"""Settings (``RunConfig`` field paths) free to change when a run is resumed or rerun: they say
where the files are, how often the run logs and checkpoints, and how the result is exported and
measured -- never what the trained weights are."""


def run(config: RunConfig) -> dict:
    """Trains (or evaluates) as ``config`` says and returns the run's metrics.

    Everything that can be checked cheaply -- learner and net names, the output directories,
    data files, the pre-trained model a learner needs -- is checked before any training starts.
    A training run holds a lock on ``--save_dir`` (and on the pre-trained model it writes), so a
    second run on them stops at once.

    Raises:
        ValueError: an output directory is a file or not writable (naming the flag), and the
            errors of the learner and of the configuration.
        utils.locks.LockedError: another live run holds ``--save_dir`` or the pre-trained model.
        utils.errors.TrainingDivergedError: the loss became non-finite; nothing was written.
        ValueError: ``--save_dir`` holds a run made with other settings (``check_run_config``).
    """
    learner_class = get_learner_class(config.learner)
    writes_pretrained = (config.exec_mode == "train" and not config.search_trial
                         and not config.distillation.enabled
                         and getattr(learner_class, "writes_pretrained_model", False))
    check_output_dirs(config, writes_pretrained)
    strategy = create_strategy(config.enbl_multi_gpu)  # multi-worker: before any other TF op
    with contextlib.ExitStack() as locks:
        if config.exec_mode == "train" and is_chief(strategy):
            locks.enter_context(RunLock(os.path.join(config.output_dir, _LOCK_NAME),
                                        f"--save_dir={config.output_dir}"))
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


def recorded_settings(config: RunConfig) -> dict:
    """The settings of ``config`` that ``run_config.json`` records, as JSON-ready nested dicts.

    The rule: a setting is recorded when changing it changes the weights a run trains (learner,
    net, data and its batching, the schedule, the seeds, the learner's own settings, ...); it is
    left out (``NOT_RECORDED``) when it only says where files go, how often the run logs and
    checkpoints, or how the result is exported and benchmarked, so those may change on a resume.
    """
    settings = json.loads(strict_json(dataclasses.asdict(config), RUN_CONFIG_FILE))
    for path in NOT_RECORDED:
        *parents, name = path.split(".")
        node = settings
        for parent in parents:
            node = node.get(parent) or {}
        node.pop(name, None)
    return settings


def _flatten(settings: dict, prefix: str = "") -> dict:
    flat = {}
    for name, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _differences(recorded: dict, current: dict) -> list[str]:
    """``name: recorded -> now`` for each setting both record and differ in; a setting the record
    lacks (it predates the setting) is not a difference."""
    recorded, current = _flatten(recorded), _flatten(current)
    names = sorted(name for name in recorded.keys() & current.keys()
                   if recorded[name] != current[name])
    leaves = [name.rsplit(".", 1)[-1] for name in recorded.keys() | current.keys()]
    return [f"{name if leaves.count(name.rsplit('.', 1)[-1]) > 1 else name.rsplit('.', 1)[-1]}: "
            f"{json.dumps(recorded[name])} -> {json.dumps(current[name])}" for name in names]


def check_run_config(config: RunConfig) -> None:
    """Stops a run whose ``--save_dir`` holds a run made with other settings, before any work.

    Resuming a killed run, or rerunning a finished one, is only sound with the settings that made
    the directory's checkpoints and model; any other setting (``recorded_settings`` says which
    count) is an error naming each difference. A directory without ``run_config.json`` (an older
    run, or a new one) is accepted; ``write_run_config`` records it when training starts.

    Raises:
        ValueError: listing each differing setting as ``name: recorded -> now``, or naming a
            record that cannot be read; the directory is left as it was.
    """
    path = os.path.join(config.output_dir, RUN_CONFIG_FILE)
    if not os.path.isfile(path):
        return
    try:
        with open(path) as handle:
            recorded = json.load(handle)
        if not isinstance(recorded, dict):
            raise ValueError(f"a JSON {type(recorded).__name__}, not an object")
    except (OSError, ValueError) as error:
        raise ValueError(f"Expected the record of the run in --save_dir={config.output_dir} in "
                         f"'{path}'. Received: an unreadable file ({error}). Use another "
                         "--save_dir, or delete that directory to start over.") from None
    differences = _differences(recorded, recorded_settings(config))
    if differences:
        raise ValueError(
            f"Expected the settings of the run in --save_dir={config.output_dir} (recorded in "
            f"'{path}') to resume or rerun it. Received {len(differences)} different "
            f"setting(s): {'; '.join(differences)}. Use another --save_dir for a run with these "
            "settings, or delete that directory to start over.")


def write_run_config(config: RunConfig) -> None:
    """Records ``config``'s settings in ``<save_dir>/run_config.json`` (atomically; an unchanged
    record is not rewritten)."""
    path = os.path.join(config.output_dir, RUN_CONFIG_FILE)
    settings = recorded_settings(config)
    if os.path.isfile(path):
        try:
            with open(path) as handle:
                if json.load(handle) == settings:
                    return
        except (OSError, ValueError):
            pass
    write_json_atomic(path, settings)


def _run(config: RunConfig, strategy, learner_class, writes_pretrained: bool,
         locks: contextlib.ExitStack) -> dict:
    helper = create_model_helper(config.net, config.net_config)
    dataset = create_dataset(config.data)
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
    learner = learner_class(context)
    event_log.write("run_start", config=dataclasses.asdict(config))
    logging.info("Run: learner=%s net=%s (%s) dataset=%s, %d train / %d eval examples, %d replica(s)",
                 config.learner, config.net, helper.model_name, dataset.name, dataset.nb_smpls_train,
                 dataset.nb_smpls_eval, strategy.num_replicas_in_sync)

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
