"""How much of each ``keras.applications`` CNN channel pruning covers, and whether it is exact.

For every model (random weights, the smallest input it accepts, 10 classes, logits out) prints
one markdown row: prunable channel groups / all groups, the share of channels in prunable
groups, the largest output difference of the keep-everything plan, and the predicted against
the measured MACs and parameters of the uniform plan at ``--keep_ratio``::

    PYTHONPATH=. .venv/bin/python -m benchmarks.pruning_coverage_probe \\
        --models MobileNetV3Small,ConvNeXtTiny

Per-channel vectors (biases, BatchNorm statistics, LayerNorm and LayerScale weights) are drawn in
[0.5, 1.5], so that a slicing mistake shows in the outputs.
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags

from benchmarks.model_coverage import APPLICATIONS  # name -> the smallest input, width

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(APPLICATIONS), "keras.applications models to probe.")
flags.DEFINE_float("keep_ratio", 0.5, "Keep ratio of the uniform plan whose cost is checked.")

HEADER = ("| model | prunable groups | channels prunable | identity max abs diff (output scale) "
          "| MACs predicted / measured | params predicted / measured | seconds |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def _application(name: str):
    """The model with random per-channel vectors (see the module docstring)."""
    import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, classes=10,
                                              classifier_activation=None, **APPLICATIONS[name])
    rng = np.random.default_rng(0)
    for variable in model.weights:
        if len(variable.shape) == 1:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(variable.dtype))
    return model


def probe(name: str, keep_ratio: float) -> str:
    """One markdown row for ``name`` (see the module docstring)."""
    from learners.pruning import apply_plan, build_graph, uniform_plan
    from utils.flops import total_macs, total_params

    start = time.time()
    model = _application(name)
    graph = build_graph(model)
    prunable = sum(group.channels for group in graph.prunable_groups)
    channels = sum(group.channels for group in graph.groups)
    images = np.random.default_rng(1).normal(size=(2, *model.input_shape[1:])).astype("float32")
    expected = np.asarray(model(images, training=False))
    same = apply_plan(model, uniform_plan(graph, 1.0), graph)
    difference = np.abs(np.asarray(same(images, training=False)) - expected).max()
    plan = uniform_plan(graph, keep_ratio)
    pruned = apply_plan(model, plan, graph)
    return (f"| {name} | {len(graph.prunable_groups)} / {len(graph.groups)} "
            f"| {prunable / channels:.1%} | {difference:.1e} ({np.abs(expected).max():.1e}) "
            f"| {plan.predicted_macs(graph):,} / {total_macs(pruned):,} "
            f"| {plan.predicted_params(graph):,} / {total_params(pruned):,} "
            f"| {time.time() - start:.0f} |")


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.models) - set(APPLICATIONS))
    if unknown:
        raise app.UsageError(f"Expected --models among {', '.join(APPLICATIONS)}. "
                             f"Received: {', '.join(unknown)}")
    print(HEADER, flush=True)
    for name in FLAGS.models:
        print(probe(name, FLAGS.keep_ratio), flush=True)


if __name__ == "__main__":
    app.run(main)
