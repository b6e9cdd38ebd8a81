"""The quantizers: min-max uniform (any bit-width) and trained codebooks (Han et al. 2016).

Both work on a kernel cut into buckets (``learners.quantization.buckets``): each row of
``[nb_buckets, bucket_length]`` has its own minimum and maximum.

* **Uniform** ``k`` bits: ``2^k`` evenly spaced levels from the row's minimum to its maximum
  (both are levels); ``q = min + round((w - min) / scale) * scale``, ``scale = (max - min) /
  (2^k - 1)``. The minimum and maximum are constants for the gradient and the rounding is
  straight-through, so ``dL/dw = dL/dq``.
* **Codebook** ``k`` bits: ``2^k`` codewords per row, in the row's normalised coordinates
  ``(w - min) / (max - min)``; each weight takes its nearest codeword. The weight receives the
  straight-through gradient and codeword ``j`` the sum of the gradients of the weights assigned
  to it (in normalised coordinates, i.e. times the row's range): Han et al.'s centroid update.

The ``*_fake_quant`` functions are the training forward pass (TensorFlow / ``keras.ops``); the
``*_codes`` functions are the NumPy computation of the final integer codes, and
:func:`dequantize_uniform` / :func:`dequantize_codebook` turn codes back into weights -- the
packed artifact's reader uses the same two functions, so final weights and artifact agree
bit for bit.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops

from learners.quantization.settings import INIT_STYLES, MAX_BITS


def check_bits(bits: int, name: str = "bits") -> int:
    """Raises unless ``1 <= bits <= MAX_BITS``; returns ``bits``."""
    if isinstance(bits, bool) or int(bits) != bits or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"Expected `{name}` an integer in [1, {MAX_BITS}]. Received: {name}={bits!r}")
    return int(bits)


def code_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16


# ---------------------------------------------------------------------------- uniform
def _row_range(rows):
    low = ops.stop_gradient(ops.min(rows, axis=1, keepdims=True))
    high = ops.stop_gradient(ops.max(rows, axis=1, keepdims=True))
    return low, high


def uniform_fake_quant(rows, bits: int):
    """``rows`` (``[nb_buckets, length]``) on ``2^bits`` levels per row, straight-through."""
    levels = float(2 ** check_bits(bits) - 1)
    low, high = _row_range(rows)
    scale = ops.where(high > low, (high - low) / levels, ops.ones_like(high))
    codes = ops.clip(ops.round((rows - low) / scale), 0.0, levels)
    quantized = low + codes * scale
    return quantized + (rows - ops.stop_gradient(rows))  # exactly the levels; gradient 1


def uniform_codes(rows: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy: the codes ``[nb_buckets, length]`` and each row's ``low`` and ``scale`` (float32)."""
    levels = 2 ** check_bits(bits) - 1
    rows = np.asarray(rows, dtype=np.float32)
    low = rows.min(axis=1)
    high = rows.max(axis=1)
    scale = np.where(high > low, (high - low) / np.float32(levels), np.float32(1.0)).astype(np.float32)
    codes = np.clip(np.rint((rows - low[:, None]) / scale[:, None]), 0, levels)
    return codes.astype(code_dtype(bits)), low.astype(np.float32), scale


def dequantize_uniform(codes: np.ndarray, low: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``low + codes * scale`` per row, in float32 (the one definition of a uniform weight)."""
    return (np.asarray(low, np.float32)[:, None]
            + np.asarray(codes).astype(np.float32) * np.asarray(scale, np.float32)[:, None]
            ).astype(np.float32)


# ---------------------------------------------------------------------------- codebook
def normalise_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy: ``(rows - low) / span`` per row, and ``low``, ``span`` (1 where a row is constant)."""
    rows = np.asarray(rows, dtype=np.float32)
    low = rows.min(axis=1)
    span = rows.max(axis=1) - low
    span = np.where(span > 0, span, np.float32(1.0)).astype(np.float32)
    return (rows - low[:, None]) / span[:, None], low, span


def init_codebook(rows: np.ndarray, bits: int, style: str = "quantile") -> np.ndarray:
    """Initial codewords ``[nb_buckets, 2^bits]`` in normalised coordinates.

    ``quantile``: the normalised weights' quantiles at ``(i + 1) / (K + 1)``, ``K = 2^bits``
    (the original's rule); ``uniform``: evenly spaced on [0, 1].
    """
    nb_codewords = 2 ** check_bits(bits)
    if style not in INIT_STYLES:
        raise ValueError(f"Expected an init style in {INIT_STYLES}. Received: {style!r}")
    normalised, _, _ = normalise_rows(rows)
    if style == "uniform":
        return np.tile(np.linspace(0.0, 1.0, nb_codewords, dtype=np.float32),
                       (normalised.shape[0], 1))
    fractions = np.arange(1, nb_codewords + 1) / (nb_codewords + 1)
    return np.quantile(normalised, fractions, axis=1).T.astype(np.float32)


def _nearest(normalised, codebook):
    """Index into ``codebook`` (``[R, K]``, any order) of each value's nearest codeword."""
    order = tf.argsort(codebook, axis=-1)
    ordered = tf.gather(codebook, order, batch_dims=1)
    midpoints = (ordered[:, 1:] + ordered[:, :-1]) / 2.0
    position = tf.searchsorted(midpoints, normalised, side="left")
    return tf.gather(order, position, batch_dims=1)


def codebook_fake_quant(rows, codebook):
    """``rows`` (``[R, L]``) replaced by their nearest codewords of ``codebook`` (``[R, K]``).

    Gradients: straight-through to ``rows``; codeword ``j`` of a row receives the summed
    gradients of the row's weights assigned to it (times the row's range).
    """
    low, high = _row_range(rows)
    span = ops.where(high > low, high - low, ops.ones_like(high))
    normalised = (rows - low) / span
    indices = tf.stop_gradient(_nearest(tf.stop_gradient(normalised), codebook))
    chosen = tf.gather(codebook, indices, batch_dims=1)
    quantized_normalised = normalised - ops.stop_gradient(normalised) + chosen
    return low + quantized_normalised * span


def codebook_codes(rows: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy: codes ``[R, L]`` (nearest codeword) and each row's codeword values ``[R, K]``
    in weight units (float32), which is what the packed artifact stores."""
    normalised, low, span = normalise_rows(rows)
    codebook = np.asarray(codebook, dtype=np.float32)
    bits = max(1, int(np.ceil(np.log2(codebook.shape[1]))))
    codes = np.empty(normalised.shape, dtype=code_dtype(bits))
    for row in range(normalised.shape[0]):
        order = np.argsort(codebook[row], kind="stable")
        ordered = codebook[row][order]
        midpoints = (ordered[1:] + ordered[:-1]) / np.float32(2.0)
        codes[row] = order[np.searchsorted(midpoints, normalised[row], side="left")]
    table = (low[:, None] + codebook * span[:, None]).astype(np.float32)
    return codes, table


def dequantize_codebook(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Each code looked up in its row of ``table`` (the one definition of a codebook weight)."""
    return np.take_along_axis(np.asarray(table, np.float32), np.asarray(codes).astype(np.int64),
                              axis=1)
