"""Cost and immediate effect of channel selection on a trained model, without any re-training.

For each criterion, prunes every prunable channel group of the model to the same keep ratio and
reports the seconds spent sampling feature maps, selecting channels and re-fitting (LASSO only),
the MACs and parameters kept, and the evaluation accuracy of the pruned model before any
training::

    PYTHONPATH=. .venv/bin/python -m benchmarks.channel_pruning_cost \\
        --model_file ~/pocketflow_runs/resnet20/models/resnet_20_at_cifar10.keras \\
        --dataset cifar10 --data_dir_local ~/pocketflow_data/cifar10 --keep_ratio 0.5

Sampling follows ``--cp_nb_batches`` batches of ``--batch_size`` training images and
``--cp_nb_points_per_layer`` positions per image and layer (the original's defaults: 30, 10).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_file", None, "The trained .keras model to prune.")
flags.DEFINE_string("dataset", "cifar10", "Dataset of the model.")
flags.DEFINE_string("data_dir_local", None, "Data directory of the dataset.")
flags.DEFINE_float("keep_ratio", 0.5, "Fraction of every prunable group's channels to keep.")
flags.DEFINE_integer("round_to", 1, "Kept channel counts are multiples of this (--cp_round_to).")
flags.DEFINE_list("criteria", ["lasso", "l1", "fpgm"], "Criteria to compare.")
flags.DEFINE_integer("batch_size", 128, "Images per sampled batch.")
flags.DEFINE_integer("cp_nb_batches", 30, "Training batches sampled.")
flags.DEFINE_integer("cp_nb_points_per_layer", 10, "Positions sampled per image and layer.")
flags.DEFINE_string("save_dir", None, "If given, each pruned model is saved there as "
                    "<criterion>/model.keras (e.g. to export and time it).")


def main(argv):
    del argv
    import keras

    import datasets  # noqa: F401  (registers datasets)
    from datasets.base import DataConfig
    from datasets.registry import create_dataset
    from learners.channel_pruned.selection import (
        layers_to_sample,
        reconstruct,
        sample_features,
        select_plan,
    )
    from learners.pruning import apply_plan, build_graph, keep_count
    from learners.trainer import evaluate
    from utils.flops import total_macs, total_params
    from utils.io import save_model_atomic

    if not FLAGS.model_file:
        sys.exit("channel_pruning_cost: error: expected --model_file. Received: none")
    model = keras.models.load_model(FLAGS.model_file, compile=False)
    dataset = create_dataset(DataConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir_local,
                                        batch_size=FLAGS.batch_size))
    graph = build_graph(model)
    counts = {g.name: keep_count(g.channels, FLAGS.keep_ratio, FLAGS.round_to)
              for g in graph.prunable_groups}
    eval_data = dataset.eval_dataset()
    print(f"dense: {total_params(model):,} params, {total_macs(model):,} MACs, eval accuracy "
          f"{evaluate(model, eval_data)['accuracy']:.4f}; {len(counts)} prunable groups kept at "
          f"{FLAGS.keep_ratio:g} (multiples of {FLAGS.round_to}); sampling {FLAGS.cp_nb_batches} x {FLAGS.batch_size} images, "
          f"{FLAGS.cp_nb_points_per_layer} points per image and layer")
    batches = [np.asarray(images) for images, _ in
               dataset.train_dataset(exclude_val=True).take(FLAGS.cp_nb_batches)]
    print("| criterion | sample s | select s | surgery s | re-fit s | total s | MACs kept | "
          "params kept | eval accuracy (no training) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for criterion in FLAGS.criteria:
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        samples = {}
        if criterion == "lasso":
            samples = sample_features(model, layers_to_sample(model, graph, counts, "lasso"),
                                      batches, FLAGS.cp_nb_points_per_layer, rng)
        sampled = time.perf_counter()
        plan = select_plan(model, graph, counts, criterion, samples=samples)
        selected = time.perf_counter()
        pruned = apply_plan(model, plan, graph)
        rebuilt = time.perf_counter()
        if samples:
            reconstruct(pruned, model, graph, plan, samples, batches)
        refitted = time.perf_counter()
        accuracy = evaluate(pruned, eval_data)["accuracy"]
        if FLAGS.save_dir:
            save_model_atomic(pruned, os.path.join(FLAGS.save_dir, criterion, "model.keras"))
        print(f"| {criterion} | {sampled - started:.1f} | {selected - sampled:.1f} | "
              f"{rebuilt - selected:.1f} | {refitted - rebuilt:.1f} | {refitted - started:.1f} | "
              f"{total_macs(pruned) / total_macs(model):.3f} | "
              f"{total_params(pruned) / total_params(model):.3f} | {accuracy:.4f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
