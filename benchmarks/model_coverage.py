"""What the compression tools do with the CNNs users bring: the table of docs/own_model.md.

    .venv/bin/python -m benchmarks.model_coverage                 # every model (~1 h on 2 cores)
    .venv/bin/python -m benchmarks.model_coverage --models MobileNet,nested

For each model of ``keras.applications`` (random weights, the smallest input each accepts) and
hand-written models of the kinds users bring (``Sequential``, ``Lambda``, a custom layer, a
nested sub-model, two outputs), prepared as ``--model_file`` prepares a user's model (a
``Sequential`` rebuilt as functional, a final softmax removed), it checks six cells:

* ``prunable``: the share of output channels the pruning graph may cut (informational);
* ``identity``: the keep-everything plan rebuilds the model exactly (max |difference| <= 1e-5
  relative to the largest output);
* ``half_plan``: a 50 % uniform channel plan rebuilds the model, and its predicted MACs and
  parameters equal the measured ones;
* ``pruned_int8``: the pruned model's post-training int8 TFLite passes the integer-only audit;
* ``qat_int8``: the ``uniform-tf`` transform (fake-quant, BatchNorm folded), calibrated, converts
  to an int8 TFLite that passes the audit;
* ``sparse_export``: 75 % of the weights zeroed by magnitude, the sparse-encoded TFLite matches
  the Keras model.

A failing cell keeps the error, or the audit's float ops. Results are written one JSON file per
model under ``--out_dir`` (a model already there is not measured again: a killed run resumes).
``tests/benchmarks/test_model_coverage.py`` runs the same checks as tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Callable

import keras
import numpy as np

from export import audit_int8, convert_int8, convert_quantization_aware, convert_sparse
from export.accuracy import max_abs_output_diffs
from learners.pruning import apply_plan, build_graph, uniform_plan
from learners.uniform_quant_tf.transform import calibrate_ranges, quantize_model
from learners.weight_sparse.masks import magnitude_mask, maskable_kernels
from utils import flops
from utils.keras_graph import to_functional, without_softmax

NB_CLASSES = 10
CELLS = ("identity", "half_plan", "pruned_int8", "qat_int8", "sparse_export")
# (model, cell) -> the runtime limitation that stops the cell; the cell's detail lists the ops.
# Every other cell of the table passes (tests/benchmarks/test_model_coverage.py).
KNOWN_LIMITATIONS: dict[tuple[str, str], str] = {}

# keras.applications constructor -> keyword arguments: the smallest input each accepts and, for
# the MobileNets, a small width.
APPLICATIONS = {
    "MobileNet": dict(input_shape=(32, 32, 3), alpha=0.25),
    "MobileNetV2": dict(input_shape=(32, 32, 3), alpha=0.35),
    "MobileNetV3Small": dict(input_shape=(32, 32, 3), alpha=0.75),
    "MobileNetV3Large": dict(input_shape=(32, 32, 3), alpha=0.75),
    "EfficientNetB0": dict(input_shape=(32, 32, 3)),
    "EfficientNetV2B0": dict(input_shape=(32, 32, 3)),
    "DenseNet121": dict(input_shape=(32, 32, 3)),
    "ResNet50": dict(input_shape=(32, 32, 3)),
    "ResNet50V2": dict(input_shape=(32, 32, 3)),
    "Xception": dict(input_shape=(71, 71, 3)),
    "InceptionV3": dict(input_shape=(75, 75, 3)),
    "NASNetMobile": dict(input_shape=(32, 32, 3)),
    "ConvNeXtTiny": dict(input_shape=(32, 32, 3)),
    "VGG16": dict(input_shape=(32, 32, 3)),
}


def _application(name: str) -> keras.Model:
    return getattr(keras.applications, name)(weights=None, classes=NB_CLASSES,
                                             **APPLICATIONS[name])


def _sequential() -> keras.Model:
    """A Sequential CNN ending in a softmax, as ``model.fit`` tutorials write them."""
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(NB_CLASSES, activation="softmax")])


def _lambda() -> keras.Model:
    """A functional CNN with a weightless ``Lambda`` (an input scaling) between convolutions."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Lambda(lambda tensor: tensor * 0.5, name="halve")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NB_CLASSES)(x))


@keras.saving.register_keras_serializable(package="model_coverage")
class Doubling(keras.layers.Layer):
    """A user's weightless custom layer."""

    def call(self, inputs):
        return inputs * 2.0


def _custom_layer() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = Doubling(name="doubling")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NB_CLASSES)(x))


def _nested() -> keras.Model:
    """A backbone sub-model (functional) and a head sub-model (Sequential) inside a model."""
    backbone_in = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(backbone_in)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    backbone = keras.Model(backbone_in, x, name="backbone")
    head = keras.Sequential([keras.Input((8, 8, 32)),
                             keras.layers.Conv2D(32, 1, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(NB_CLASSES)], name="head")
    inputs = keras.Input((16, 16, 3))
    return keras.Model(inputs, head(backbone(inputs)))


def _two_outputs() -> keras.Model:
    """A classifier with a second, auxiliary head on an intermediate feature map."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    aux = keras.layers.Dense(4, name="aux")(keras.layers.GlobalAveragePooling2D()(x))
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    logits = keras.layers.Dense(NB_CLASSES, name="logits")(
        keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, [logits, aux])


HAND_WRITTEN: dict[str, Callable[[], keras.Model]] = {
    "Sequential": _sequential, "Lambda": _lambda, "custom layer": _custom_layer,
    "nested": _nested, "two outputs": _two_outputs,
}
MODELS = [*APPLICATIONS, *HAND_WRITTEN]


def build(name: str) -> keras.Model:
    """Model ``name`` with seeded random weights, prepared as ``--model_file`` prepares one."""
    keras.utils.set_random_seed(0)
    model = _application(name) if name in APPLICATIONS else HAND_WRITTEN[name]()
    model = to_functional(model)
    return without_softmax(model)[0] if len(model.outputs) == 1 else model


def _images(model: keras.Model, count: int, seed: int) -> np.ndarray:
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(-1, 1, (count, *shape)).astype(np.float32)


def _outputs(model: keras.Model, images: np.ndarray) -> list[np.ndarray]:
    outputs = model(images, training=False)
    return [np.asarray(output) for output in (outputs if isinstance(outputs, list) else [outputs])]


@dataclasses.dataclass
class Cell:
    """One check: passed, with what it measured or why it failed."""

    passed: bool
    detail: str


def _audit_cell(tflite: bytes) -> Cell:
    report = audit_int8(tflite)
    if report.passed:
        return Cell(True, f"{len(report.ops)} ops, all integer")
    float_ops = sorted({op.name for op in report.offending_ops})
    return Cell(False, f"{len(report.offending_ops)} of {len(report.ops)} ops not integer: "
                       + ", ".join(float_ops))


def prunable_share(graph) -> tuple[float, int, int]:
    """(share of channels in prunable groups, prunable groups, groups) of a pruning graph."""
    total = sum(group.channels for group in graph.groups)
    prunable = sum(group.channels for group in graph.groups if group.prunable)
    return prunable / max(total, 1), len(graph.prunable_groups), len(graph.groups)


def check_identity(model: keras.Model, graph) -> Cell:
    same = apply_plan(model, uniform_plan(graph, 1.0), graph)
    images = _images(model, 4, seed=1)
    worst = max(float(np.max(np.abs(a - b)) / max(1.0, float(np.abs(a).max())))
                for a, b in zip(_outputs(model, images), _outputs(same, images)))
    return Cell(worst <= 1e-5, f"max |difference| {worst:.1e} (relative)")


def check_half_plan(model: keras.Model, graph) -> tuple[Cell, keras.Model]:
    plan = uniform_plan(graph, 0.5)
    pruned = apply_plan(model, plan, graph)
    measured, predicted = flops.total_macs(pruned), plan.predicted_macs(graph)
    params_ok = flops.total_params(pruned) == plan.predicted_params(graph)
    _outputs(pruned, _images(pruned, 2, seed=1))
    detail = (f"MACs {measured / flops.total_macs(model):.3f}x, predicted {predicted:,} = "
              f"measured {measured:,}" if measured == predicted else
              f"predicted {predicted:,} != measured {measured:,} MACs")
    return Cell(measured == predicted and params_ok, detail), pruned


def check_int8(model: keras.Model) -> Cell:
    return _audit_cell(convert_int8(model, _images(model, 16, seed=2)))


def check_qat(model: keras.Model) -> Cell:
    quantized = quantize_model(model)
    calibrate_ranges(quantized, [_images(model, 8, seed=3)])
    return _audit_cell(convert_quantization_aware(quantized))


def check_sparse_export(model: keras.Model) -> Cell:
    """Zeroes 75 % of each maskable kernel of ``model`` (restored afterwards) and converts it."""
    weights = model.get_weights()
    kernels = maskable_kernels(model)
    try:
        for kernel in kernels:
            variable = kernel.variable(model)
            values = np.asarray(variable)
            variable.assign(values * magnitude_mask(values, int(0.75 * values.size)))
        difference = max(max_abs_output_diffs(model, convert_sparse(model),
                                              _images(model, 4, seed=4)))
    finally:
        model.set_weights(weights)
    return Cell(difference <= 1e-4, f"{len(kernels)} kernels at 75 %, max |difference| "
                                    f"{difference:.1e}")


def _guarded(check: Callable[[], Cell]) -> Cell:
    """``check()``, or a failed cell naming the exception it raised."""
    try:
        return check()
    except Exception as error:  # the table records whatever stops a cell
        message = " ".join(line.strip() for line in str(error).splitlines())[:300]
        return Cell(False, f"{type(error).__name__}: {message}")


def coverage_row(name: str, cells: tuple[str, ...] = CELLS) -> dict:
    """The chosen cells for model ``name`` (all by default), with the seconds they took."""
    start = time.perf_counter()
    model = build(name)
    graph = build_graph(model)
    share, nb_prunable, nb_groups = prunable_share(graph)
    half: list[tuple[Cell, keras.Model]] = []

    def half_plan() -> tuple[Cell, keras.Model]:
        if not half:  # the pruned model of the half_plan cell is also pruned_int8's
            half.append(check_half_plan(model, graph))
        return half[0]

    checks: dict[str, Callable[[], Cell]] = {
        "identity": lambda: check_identity(model, graph),
        "half_plan": lambda: half_plan()[0],
        "pruned_int8": lambda: check_int8(half_plan()[1]),
        "qat_int8": lambda: check_qat(model),
        "sparse_export": lambda: check_sparse_export(model),
    }
    results = {key: dataclasses.asdict(_guarded(checks[key])) for key in cells}
    return {"model": name, "params": model.count_params(), "prunable_share": share,
            "prunable_groups": nb_prunable, "groups": nb_groups, "cells": results,
            "seconds": time.perf_counter() - start}


def markdown(rows: list[dict]) -> str:
    """The docs table: one line per model, a cell per check, failures footnoted."""
    lines = ["| model | params | channels prunable | " + " | ".join(CELLS) + " |",
             "|---|---|---|" + "---|" * len(CELLS)]
    notes = []
    for row in rows:
        marks = []
        for key in CELLS:
            cell = row["cells"][key]
            if cell["passed"]:
                marks.append("yes")
            else:
                notes.append(f"{row['model']}, {key}: {cell['detail']}")
                marks.append(f"no ({len(notes)})")
        lines.append(f"| {row['model']} | {row['params']:,} | {row['prunable_share']:.0%} "
                     f"({row['prunable_groups']}/{row['groups']} groups) | "
                     + " | ".join(marks) + " |")
    return "\n".join(lines + [""] + [f"({index}) {note}" for index, note in
                                      enumerate(notes, 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--out_dir", default=os.path.expanduser(
        "~/pocketflow_runs/model_coverage"))
    parser.add_argument("--cells", default=",".join(CELLS),
                        help="comma-separated cells to (re-)measure; the others are kept")
    parser.add_argument("--again", action="store_true", help="re-measure models already done")
    parser.add_argument("--report", action="store_true",
                        help="measure nothing: the table of the models already measured")
    args = parser.parse_args()
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    cells = tuple(cell.strip() for cell in args.cells.split(",") if cell.strip())
    unknown = sorted(set(names) - set(MODELS)) + sorted(set(cells) - set(CELLS))
    if unknown:
        raise SystemExit(f"error: Expected models among {', '.join(MODELS)} and cells among "
                         f"{', '.join(CELLS)}. Received: {', '.join(unknown)}")
    os.makedirs(args.out_dir, exist_ok=True)
    rows = []
    for name in names:
        path = os.path.join(args.out_dir, name.replace(" ", "_") + ".json")
        earlier = None
        if os.path.isfile(path):
            with open(path) as handle:
                earlier = json.load(handle)
        if earlier is not None and not args.again and set(CELLS) <= set(earlier["cells"]):
            rows.append(earlier)
            continue
        if args.report:
            print(f"{name}: not measured yet")
            continue
        row = coverage_row(name, cells)
        if earlier is not None:  # cells not measured again keep their earlier result
            row["cells"] = {**earlier["cells"], **row["cells"]}
        missing = [cell for cell in CELLS if cell not in row["cells"]]
        with open(path + ".tmp", "w") as handle:
            json.dump(row, handle, indent=2)
        os.replace(path + ".tmp", path)
        print(f"{name}: " + ", ".join(f"{key} {'ok' if cell['passed'] else 'FAILED'}"
                                      for key, cell in row["cells"].items())
              + f" ({row['seconds']:.0f} s)" + (f"; not measured: {missing}" if missing else ""),
              flush=True)
        if not missing:
            rows.append(row)
    print(markdown(rows))


if __name__ == "__main__":
    main()
