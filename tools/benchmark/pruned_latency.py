"""Latency of channel-pruned variants of one model, measured interleaved against the dense one.

Each variant is a pruning plan built from the model's dependency graph (which channels are kept
does not change latency, so the first ones are kept). A variant is written
``<scope>:<keep ratio>[:<multiple>]``:

* ``all:0.7``      every prunable group keeps 70 % of its channels;
* ``all:0.7:8``    the same, kept counts rounded to multiples of 8 (``--cp_round_to 8``);
* ``inner:0.5:8``  only groups with a single producer (inside residual blocks) are pruned;
* ``shared:0.5``   only groups with several producers (residual streams) are pruned.

Every model is converted to float TFLite (and int8 with ``--int8``, calibrated on random
images: latency does not depend on the calibration) and timed at batch 1 with the threads
given, round-robin, so that drift of the machine spreads over all variants::

    PYTHONPATH=. .venv/bin/python tools/benchmark/pruned_latency.py \\
        --model_file ~/pocketflow_runs/resnet20/models/resnet_20_at_cifar10.keras \\
        --variants all:0.7,all:0.7:8,inner:0.5:8 --num_threads 1,2 --nb_repts 400

``--pruned_files`` adds already pruned ``.keras`` models (a learner's ``model.keras``), each
named after its directory, timed in the same rounds; their MACs and parameters are relative to
the dense model. Without ``--model_file`` it builds an untrained ResNet-20 for CIFAR-10
(weights do not change latency either). ``--xnnpack_off`` adds a run of each model without the
default delegate, to see how much of the time is XNNPACK's.
"""

from __future__ import annotations

import os
import statistics
import sys

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """This tool's flags; defined when it runs, so that importing it (tests) defines none."""
    flags.DEFINE_string("model_file", None, "The .keras model to prune (default: ResNet-20 at "
                        "CIFAR-10, untrained).")
    flags.DEFINE_list("variants", ["all:0.7", "all:0.7:8", "inner:0.5:8"],
                      "Pruned variants, each <all|inner|shared>:<keep ratio>[:<multiple>].")
    flags.DEFINE_list("pruned_files", [], "Pruned .keras models to time too (e.g. a channel "
                      "learner's model.keras), each named after its directory.")
    flags.DEFINE_list("num_threads", ["1"], "Interpreter thread counts.")
    flags.DEFINE_integer("nb_repts", 400, "Timed invocations per model and thread count.")
    flags.DEFINE_integer("nb_rounds", 20, "Round-robin rounds the invocations are split into.")
    flags.DEFINE_boolean("int8", False, "Also time full-integer models.")
    flags.DEFINE_boolean("xnnpack_off", False, "Also time each float model without XNNPACK.")


_SCOPES = ("all", "inner", "shared")


def parse_variant(text: str) -> tuple[str, float, int]:
    """``'inner:0.5:8'`` -> ``('inner', 0.5, 8)``.

    Raises:
        ValueError: naming the expected form, for anything else.
    """
    parts = text.strip().split(":")
    try:
        if len(parts) not in (2, 3) or parts[0] not in _SCOPES:
            raise ValueError
        ratio = float(parts[1])
        multiple = int(parts[2]) if len(parts) == 3 else 1
        if not 0.0 < ratio <= 1.0 or multiple < 1:
            raise ValueError
    except ValueError:
        raise ValueError("Expected a variant <all|inner|shared>:<keep ratio in (0, 1]>"
                         f"[:<multiple >= 1>]. Received: {text!r}") from None
    return parts[0], ratio, multiple


def variant_plan(graph, scope: str, ratio: float, multiple: int):
    """The pruning plan of a variant: the first channels of the groups in scope."""
    from learners.pruning import PruningPlan, keep_count

    kept = {}
    for group in graph.prunable_groups:
        shared = len(group.producers) > 1
        in_scope = scope == "all" or (scope == "shared") == shared
        count = keep_count(group.channels, ratio, multiple) if in_scope else group.channels
        kept[group.name] = range(count)
    return PruningPlan.for_graph(graph, kept)


def pruned_file_names(paths: list[str]) -> dict[str, str]:
    """``--pruned_files`` by row name: each file's directory name (its path if two share one).

    Raises:
        ValueError: for a path that is not a file.
    """
    names = {}
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"Expected a pruned .keras model. Received: {path!r}, no such file")
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        names[path if name in names or name == "dense" else name] = path
    return names


def main(argv):
    del argv
    import keras

    from export import convert_float, convert_int8, measure_latencies
    from learners.pruning import apply_plan, build_graph
    from utils.flops import total_macs, total_params

    try:
        variants = [parse_variant(text) for text in FLAGS.variants]
        threads = [int(count) for count in FLAGS.num_threads]
        pruned_files = pruned_file_names(FLAGS.pruned_files)
    except ValueError as error:
        sys.exit(f"pruned_latency: error: {error}")
    if FLAGS.model_file:
        dense = keras.models.load_model(FLAGS.model_file, compile=False)
    else:
        from nets.resnet_cifar import build_resnet_cifar

        dense = build_resnet_cifar((32, 32, 3), 10, resnet_size=20)
    graph = build_graph(dense)
    models = {"dense": dense}
    for scope, ratio, multiple in variants:
        name = f"{scope}:{ratio:g}" + (f":{multiple}" if multiple > 1 else "")
        models[name] = apply_plan(dense, variant_plan(graph, scope, ratio, multiple), graph)
    models.update((name, keras.models.load_model(path, compile=False))
                  for name, path in pruned_files.items())

    calibration = np.random.default_rng(0).standard_normal(
        (16, *dense.input_shape[1:])).astype(np.float32)
    rows = []  # (name, kind, macs, params, bytes, TFLite bytes or path)
    for name, model in models.items():
        counts = (total_macs(model) / total_macs(dense), total_params(model) / total_params(dense))
        rows.append((name, "float", *counts, convert_float(model)))
        if FLAGS.int8:
            rows.append((name, "int8", *counts, convert_int8(model, calibration)))
    sources = [row[-1] for row in rows]
    stats = measure_latencies(sources, threads, repeats=FLAGS.nb_repts, rounds=FLAGS.nb_rounds)
    xnnpack_off = ([_time_without_delegate(row[-1], threads) for row in rows]
                   if FLAGS.xnnpack_off else None)

    header = "| model | kind | MACs kept | params kept | .tflite bytes |"
    for count in threads:
        header += f" {count} thr ms | speed-up |"
    if xnnpack_off:
        header += "".join(f" no-XNNPACK {count} thr ms |" for count in threads)
    print(header)
    print("|---|---|" + "---:|" * (header.count("|") - 3))
    dense_ms = {row[1]: stats[index] for index, row in enumerate(rows) if row[0] == "dense"}
    for index, (name, kind, macs, params, model_bytes) in enumerate(rows):
        line = f"| {name} | {kind} | {macs:.3f} | {params:.3f} | {len(model_bytes):,} |"
        for column, _ in enumerate(threads):
            median = stats[index][column].median_ms
            line += f" {median:.3f} | {dense_ms[kind][column].median_ms / median:.2f}x |"
        if xnnpack_off:
            line += "".join(f" {ms:.3f} |" for ms in xnnpack_off[index])
        print(line, flush=True)


def _time_without_delegate(model_bytes: bytes, threads: list[int]) -> list[float]:
    """Median ms per invoke with the builtin kernels only (no XNNPACK), 200 invokes."""
    import time

    from export import TFLiteModel

    medians = []
    for count in threads:
        model = TFLiteModel(model_bytes, count, use_default_delegates=False)
        model.set_random_input()
        for _ in range(20):
            model.invoke()
        times = []
        for _ in range(200):
            started = time.perf_counter()
            model.invoke()
            times.append((time.perf_counter() - started) * 1e3)
        medians.append(statistics.median(times))
    return medians


if __name__ == "__main__":
    define_flags()
    app.run(main)
