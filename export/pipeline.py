"""Exports a Keras model to float32 and int8 TFLite files and checks both.

``export_model`` writes, in the output directory:

* ``model.tflite``: float32, checked against the Keras model on real evaluation images (the
  largest absolute difference of every output must stay under a tolerance, else the export
  fails);
* ``model_int8.tflite``: full-integer (int8 weights, activations, input and output), calibrated
  on training images and audited for float fallback;
* ``export.json``: file sizes, the parity number, the int8 audit, and the top-1 accuracy of the
  Keras model and of both TFLite files on the evaluation split.

The files of one export appear together or not at all: they are written to a staging directory
in the output directory (``.export-tmp-<pid>/``) and moved into place (``export.json`` last, the
record that the export is complete) only once all are written and checked; a failed or killed
export leaves the earlier export's files as they were.

A model with several inputs takes a dataset whose examples are tuples with one array per input
(``input_shape`` then lists their shapes); one with several outputs is scored on the first (the
classifier's logits) and checked on all.

Learners call it at the end of training; ``tools/conversion/export_tflite.py`` is its command
line for a saved ``.keras`` file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from export.accuracy import evaluate_accuracy, max_abs_output_diffs
from export.audit import AuditReport, audit_int8
from export.converter import convert_float, convert_int8
from export.interpreter import interpreter_backend
from utils.processes import process_alive

if TYPE_CHECKING:
    import keras

    from datasets import Dataset

FLOAT_FILE = "model.tflite"
INT8_FILE = "model_int8.tflite"
REPORT_FILE = "export.json"
STAGING_PREFIX = ".export-tmp-"
"""Prefix of the staging directory (``<prefix><pid>``) an export writes its files to."""
KERAS_EXTENSIONS = (".keras", ".h5")


class ExportError(RuntimeError):
    """The exported model does not behave like the Keras model."""


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What ``export_model`` wrote and measured (the content of ``export.json``).

    Attributes:
        out_dir: directory holding the files.
        float_path: path of the float32 model.
        int8_path: path of the int8 model.
        float_size_bytes: size of the float32 file.
        int8_size_bytes: size of the int8 file.
        max_abs_logit_diff: largest |Keras logit - float TFLite logit| on the parity images,
            over every output.
        output_diffs: that difference for each output, in the Keras model's order.
        parity_tolerance: the bound ``max_abs_logit_diff`` had to stay under.
        nb_parity_images: evaluation images the parity was checked on.
        calibration_size: training images the int8 ranges were calibrated on.
        keras_accuracy: top-1 of the Keras model on the evaluation split.
        float_accuracy: top-1 of the float32 TFLite model.
        int8_accuracy: top-1 of the int8 TFLite model.
        int8_audit: the integer-only audit of the int8 model.
        interpreter: interpreter package used for the checks.
    """

    out_dir: str
    float_path: str
    int8_path: str
    float_size_bytes: int
    int8_size_bytes: int
    max_abs_logit_diff: float
    output_diffs: tuple[float, ...]
    parity_tolerance: float
    nb_parity_images: int
    calibration_size: int
    keras_accuracy: float
    float_accuracy: float
    int8_accuracy: float
    int8_audit: AuditReport
    interpreter: str

    def to_dict(self) -> dict:
        """JSON-ready form (the audit expanded; what ``json.loads`` of its dump gives back)."""
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**fields, "output_diffs": list(self.output_diffs),
                "int8_audit": self.int8_audit.to_dict()}


def export_model(model: keras.Model, dataset: Dataset, out_dir: str | os.PathLike, *,
                 calibration_size: int = 500, parity_tolerance: float = 1e-4,
                 nb_parity_images: int = 256, log: Callable[[str], None] = print) -> ExportReport:
    """Writes ``model.tflite``, ``model_int8.tflite`` and ``export.json`` to ``out_dir``.

    Args:
        model: the Keras 3 model; its (first) output is the logits.
        dataset: a ``datasets.Dataset``: its evaluation split checks and scores the models, its
            training images calibrate the int8 ranges (for several inputs, see the module
            docstring).
        out_dir: output directory (created if missing).
        calibration_size: training images used for int8 calibration.
        parity_tolerance: largest allowed |Keras logit - float TFLite logit|.
        nb_parity_images: evaluation images the parity is checked on.
        log: receives one line per step.

    Returns:
        The report, also written to ``out_dir/export.json``; its paths are the final ones.

    Raises:
        ValueError: on a bad argument, or a model whose input does not fit the dataset.
        ExportError: if the float32 TFLite model does not match the Keras model within
            ``parity_tolerance``. Like any failure, it leaves ``out_dir``'s files as they were.
    """
    if calibration_size < 1 or nb_parity_images < 1:
        raise ValueError("Expected `nb_calibration` >= 1 and `nb_parity_images` >= 1. Received: "
                         f"nb_calibration={calibration_size}, nb_parity_images={nb_parity_images}")
    if parity_tolerance < 0:
        raise ValueError(f"Expected `parity_tolerance` >= 0. Received: {parity_tolerance}")
    model_shapes = [tuple(tensor.shape[1:]) for tensor in model.inputs]
    data_shapes = _data_input_shapes(dataset.input_shape)
    if model_shapes != data_shapes:
        def text(shapes):
            return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))
        raise ValueError(f"Model '{model.name}' takes inputs of shape {text(model_shapes)} but "
                         f"dataset '{dataset.name}' gives inputs of shape {text(data_shapes)}.")
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = os.path.join(out_dir, f"{STAGING_PREFIX}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        report, contents = _export_to(staging, out_dir, model, dataset, calibration_size,
                                      parity_tolerance, nb_parity_images, log)
        for name, content in contents.items():  # every file written and whole, or none moved
            staged = os.path.join(staging, name)
            if os.path.getsize(staged) != len(content):
                raise OSError(f"Expected {len(content):,} bytes in '{staged}'. Received: "
                              f"{os.path.getsize(staged):,} bytes")
        for name in contents:  # export.json last: the record that the export is complete
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
        _fsync_dir(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"[6/6] Wrote {', '.join(os.path.join(out_dir, name) for name in contents)}")
    return report


def _export_to(staging: str, out_dir: str, model: keras.Model, dataset: Dataset,
               calibration_size: int, parity_tolerance: float, nb_parity_images: int,
               log: Callable[[str], None]) -> tuple[ExportReport, dict[str, bytes]]:
    """Writes the export's files to ``staging``; returns the report (with the final paths in
    ``out_dir``) and the content of each file, in the order they are to be moved."""
    float_path, int8_path = os.path.join(out_dir, FLOAT_FILE), os.path.join(out_dir, INT8_FILE)

    log(f"[1/6] Converting '{model.name}' to float32 TFLite ...")
    float_model = convert_float(model)
    _write(os.path.join(staging, FLOAT_FILE), float_model)
    log(f"      converted ({len(float_model):,} bytes)")

    log(f"[2/6] Checking float32 parity on {nb_parity_images} evaluation images ...")
    parity_images = first_images(dataset.eval_dataset(), nb_parity_images)
    differences = max_abs_output_diffs(model, float_model, parity_images)
    difference = max(differences)
    per_output = ("" if len(differences) == 1 else " (per output: "
                  + ", ".join(f"{name} {value:.3g}"
                              for name, value in zip(model.output_names, differences)) + ")")
    log(f"      max |logit diff| = {difference:.3g}{per_output} (tolerance {parity_tolerance:g})")
    if not all(value <= parity_tolerance for value in differences):  # also catches NaN
        raise ExportError(
            f"The float32 TFLite model for {float_path} does not match the Keras model: max "
            f"|logit diff| = {difference:.6g}{per_output} over {_count(parity_images)} "
            f"evaluation images, expected <= {parity_tolerance:g}; the files in '{out_dir}' "
            "were left as they were.")

    log(f"[3/6] Converting to int8 TFLite, calibrated on {calibration_size} training images ...")
    calibration = dataset.calibration_images(calibration_size)
    int8_model = convert_int8(model, calibration)
    _write(os.path.join(staging, INT8_FILE), int8_model)
    log(f"      converted ({len(int8_model):,} bytes)")

    log("[4/6] Auditing the int8 model for float fallback ...")
    audit = audit_int8(int8_model)
    log("      " + audit.summary().replace("\n", "\n      "))

    log("[5/6] Evaluating top-1 accuracy on the evaluation split ...")
    accuracies = {name: evaluate_accuracy(candidate, dataset)
                  for name, candidate in (("keras", model), ("float32 TFLite", float_model),
                                          ("int8 TFLite", int8_model))}
    log("      " + ", ".join(f"{name} {value:.4f}" for name, value in accuracies.items()))

    report = ExportReport(
        out_dir=out_dir, float_path=float_path, int8_path=int8_path,
        float_size_bytes=len(float_model), int8_size_bytes=len(int8_model),
        max_abs_logit_diff=difference, output_diffs=tuple(differences),
        parity_tolerance=parity_tolerance, nb_parity_images=_count(parity_images),
        calibration_size=_count(calibration),
        keras_accuracy=accuracies["keras"], float_accuracy=accuracies["float32 TFLite"],
        int8_accuracy=accuracies["int8 TFLite"], int8_audit=audit,
        interpreter=interpreter_backend())
    report_text = json.dumps(report.to_dict(), indent=2).encode()
    _write(os.path.join(staging, REPORT_FILE), report_text)
    return report, {FLOAT_FILE: float_model, INT8_FILE: int8_model, REPORT_FILE: report_text}


def remove_stale_staging(out_dir: str) -> None:
    """Removes the staging directories that killed exports left in ``out_dir`` (those of a live
    process other than this one are left alone)."""
    for name in os.listdir(out_dir):
        path = os.path.join(out_dir, name)
        if not (name.startswith(STAGING_PREFIX) and os.path.isdir(path)):
            continue
        pid = name[len(STAGING_PREFIX):]
        if pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _write(path: str, content: bytes) -> None:
    with open(path, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _fsync_dir(path: str) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def first_images(batches: Any, nb_images: int) -> np.ndarray | list[np.ndarray]:
    """The first ``nb_images`` inputs of a ``tf.data`` pipeline of ``(inputs, labels)``: an
    array, or a list with one array per input where the inputs are tuples."""
    parts, nb_taken = [], 0
    for batch, _ in batches.as_numpy_iterator():
        arrays = list(batch) if isinstance(batch, (tuple, list)) else [batch]
        parts.append([array[:nb_images - nb_taken] for array in arrays])
        nb_taken += len(parts[-1][0])
        if nb_taken >= nb_images:
            break
    if not parts:
        raise ValueError("Expected at least one evaluation image. Received: an empty split.")
    inputs = [np.concatenate(pieces) for pieces in zip(*parts)]
    return inputs if len(inputs) > 1 else inputs[0]


def _count(inputs: np.ndarray | list[np.ndarray]) -> int:
    """Number of examples in one input array or in a list of them."""
    return len(inputs[0] if isinstance(inputs, list) else inputs)


def _data_input_shapes(shape: Any) -> list[tuple]:
    """A dataset's ``input_shape`` as a list of shapes (one per input)."""
    several = len(shape) > 0 and isinstance(shape[0], (tuple, list))
    return [tuple(item) for item in shape] if several else [tuple(shape)]


def load_keras_model(path: str) -> keras.Model:
    """Loads a saved Keras model, with errors that name the file and what was expected.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: if the file is not a Keras model file or cannot be loaded.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at '{path}': expected a Keras model saved with "
                                "`model.save(...)` (a .keras file).")
    if not path.endswith(KERAS_EXTENSIONS):
        raise ValueError(f"Unsupported model file '{path}': expected a Keras model file ending in "
                         f"{' or '.join(KERAS_EXTENSIONS)}.")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a corrupt or foreign file
        raise ValueError(f"Could not load the Keras model '{path}': {error}") from error
