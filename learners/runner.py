"""``run(config)``: one run from a validated config to a trained, exported, measured model."""

from __future__ import annotations

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
from utils.io import EventLog, mark_completed, write_json_atomic


def run(config: RunConfig) -> dict:
    """Trains (or evaluates) as ``config`` says and returns the run's metrics.

    Everything that can be checked cheaply -- learner and net names, data files, the pre-trained
    model a learner needs -- is checked before any training starts.
    """
    strategy = create_strategy(config.enbl_multi_gpu)  # multi-worker: before any other TF op
    learner_class = get_learner_class(config.learner)
    helper = create_model_helper(config.net, config.net_config)
    dataset = create_dataset(config.data)
    keras.utils.set_random_seed(config.train.seed)
    chief = is_chief(strategy)
    event_log = EventLog(os.path.join(config.log_dir, "events.jsonl") if chief else None)
    context = RunContext(config=config, helper=helper, dataset=dataset, strategy=strategy,
                         event_log=event_log, is_chief=chief)
    if config.distillation.enabled and not os.path.isfile(context.pretrained_model_path):
        context.load_pretrained()  # raises with the path and how to create it
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
    validate_metrics(metrics, learner.metrics_keys)
    if context.is_chief:
        write_json_atomic(metrics_path, metrics)
    event_log.write("run_end", metrics_file=metrics_path)
    print(format_summary(metrics, context, learner.output_model_path))
    return metrics


def _against_dense(metrics: dict) -> list[str]:
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
    return lines


def format_summary(metrics: dict, context: RunContext, model_path: str) -> str:
    """The human-readable end-of-run summary."""
    lines = ["", "=" * 72, f"Summary: {context.config.learner} / {context.model_basename}",
             (f"  eval accuracy (Keras):     {metrics['eval']['accuracy']:.4f} "
              f"on {metrics['eval']['nb_examples']} images"),
             f"  model:                     {os.path.abspath(model_path)}"]
    lines += _against_dense(metrics)
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
