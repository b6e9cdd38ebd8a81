"""The sparse-encoded TFLite file of a sparse model, and what it gains over the dense one.

``model_sparse.tflite`` is the float model converted with the converter's sparsity optimisation
(``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``): weight tensors with enough zeros are stored in a
compressed sparse format. Whether the runtime computes with them sparsely is another matter --
LiteRT's CPU kernels mostly expand them back (``DENSIFY`` ops) when the interpreter prepares the
model -- so :func:`speed_verdict` states what the measured latencies say, not what one hopes.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Sequence

import keras
import numpy as np

from datasets.base import Dataset
from export import audit_int8, convert_sparse, evaluate_accuracy, max_abs_logit_diff

SPARSE_FILE = "model_sparse.tflite"
SPEEDUP_THRESHOLD = 1.05
"""A sparse file counts as faster only if its median latency beats the dense one by 5 %."""


class SparseExportError(RuntimeError):
    """The sparse TFLite model does not behave like the Keras model."""


def file_sizes(path: str) -> dict[str, int]:
    """``size_bytes`` and ``gzip_bytes`` (gzip level 9) of a file."""
    with open(path, "rb") as handle:
        content = handle.read()
    return {"size_bytes": len(content), "gzip_bytes": len(gzip.compress(content, 9))}


def _eval_images(dataset: Dataset, nb_images: int) -> np.ndarray:
    batches, nb_taken = [], 0
    for images, _ in dataset.eval_dataset().as_numpy_iterator():
        batches.append(images[:nb_images - nb_taken])
        nb_taken += len(batches[-1])
        if nb_taken >= nb_images:
            break
    return np.concatenate(batches)


def export_sparse(model: keras.Model, dataset: Dataset, out_dir: str, *,
                  parity_tolerance: float = 1e-4, nb_parity_images: int = 256,
                  log: Callable[[str], None] = print) -> dict:
    """Writes ``model_sparse.tflite``, checks it against the Keras model and scores it.

    Returns:
        ``path``, ``size_bytes``, ``gzip_bytes``, ``max_abs_logit_diff``, ``accuracy`` (top-1 on
        the evaluation split) and ``ops`` (how many of each op the file holds, e.g. ``DENSIFY``).

    Raises:
        SparseExportError: if its logits differ from the Keras model's by more than
            ``parity_tolerance`` (the file is kept for inspection).
    """
    path = os.path.join(out_dir, SPARSE_FILE)
    content = convert_sparse(model)
    with open(path, "wb") as handle:
        handle.write(content)
    images = _eval_images(dataset, nb_parity_images)
    difference = max_abs_logit_diff(model, content, images)
    if not difference <= parity_tolerance:
        raise SparseExportError(
            f"{path} does not match the Keras model: max |logit diff| = {difference:.6g} over "
            f"{len(images)} evaluation images, expected <= {parity_tolerance:g}.")
    ops: dict[str, int] = {}
    for op in audit_int8(content).ops:  # the audit lists the graph's own ops
        ops[op.name] = ops.get(op.name, 0) + 1
    accuracy = evaluate_accuracy(content, dataset)
    report = {"path": path, **file_sizes(path), "max_abs_logit_diff": difference,
              "nb_parity_images": len(images), "accuracy": accuracy, "ops": ops}
    log(f"wrote {path} ({report['size_bytes']:,} bytes, gzip {report['gzip_bytes']:,}); "
        f"max |logit diff| {difference:.3g}; accuracy {accuracy:.4f}; "
        f"{ops.get('DENSIFY', 0)} DENSIFY op(s)")
    return report


def speed_verdict(dense_rows: Sequence[dict], sparse_rows: Sequence[dict],
                  densify_ops: int) -> tuple[dict[str, float], str]:
    """Per thread count the speed-up (dense median / sparse median) and a one-line verdict.

    The sparse file counts as faster only if, at every thread count measured, its median beats
    the dense median by ``SPEEDUP_THRESHOLD`` and lies below the dense file's 10th percentile:
    a difference inside the dense file's own spread is noise, not a speed-up.

    Args:
        dense_rows: latency rows (``threads``, ``median_ms``, ``p10_ms``) of the dense float file.
        sparse_rows: the same for the sparse file.
        densify_ops: ``DENSIFY`` ops in the sparse file.
    """
    sparse_by_threads = {row["threads"]: row for row in sparse_rows}
    pairs = [(row, sparse_by_threads[row["threads"]]) for row in dense_rows
             if row["threads"] in sparse_by_threads]
    speedups = {str(dense["threads"]): dense["median_ms"] / sparse["median_ms"]
                for dense, sparse in pairs}
    details = ", ".join(f"{dense['threads']} thread(s): median {dense['median_ms']:.3f} ms dense "
                        f"(p10 {dense['p10_ms']:.3f}) vs {sparse['median_ms']:.3f} ms sparse"
                        for dense, sparse in pairs)
    faster = bool(pairs) and all(
        dense["median_ms"] >= SPEEDUP_THRESHOLD * sparse["median_ms"]
        and sparse["median_ms"] < dense["p10_ms"] for dense, sparse in pairs)
    if faster:
        return speedups, f"the sparse TFLite file runs faster ({details})."
    reason = (f"it holds {densify_ops} DENSIFY op(s): the interpreter expands those weights to "
              "dense tensors when it prepares the model, so only the file is smaller"
              if densify_ops else "the runtime's kernels do not exploit this sparsity")
    return speedups, (f"no speed-up: the sparse TFLite file runs no faster than the dense one "
                      f"({details}); {reason}.")
