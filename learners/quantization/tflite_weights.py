"""What the int8 TFLite file holds for each quantized layer's kernel.

Post-training int8 conversion stores every conv / dense kernel as int8 with one symmetric scale
per output channel (``max |w| / 127``). A kernel with at most ``2^k`` distinct values per channel
(``k``-bit codes) keeps at most ``2^k`` distinct int8 values per channel, re-rounded to the int8
grid (error up to half an int8 step). This module reads the file back and reports, per quantized
layer, the distinct int8 values per channel and the largest difference between the dequantized
int8 weights and the Keras kernel -- what a runtime actually gets. The converter folds a
BatchNormalization into the convolution before it (each output channel scaled by
``gamma / sqrt(variance + epsilon)``), so a kernel followed by one is compared folded.
"""

from __future__ import annotations

import keras
import numpy as np

from export import TFLiteModel
from utils.keras_graph import consumers, foldable_batch_norm


def _folded_kernel(layer, readers: dict[int, list]) -> np.ndarray:
    """The layer's kernel with its :func:`foldable_batch_norm` folded in, as the converter
    stores it; else the kernel."""
    kernel = np.asarray(layer.kernel, np.float64)
    batch_norm = foldable_batch_norm(layer, readers)
    if batch_norm is None:
        return kernel
    factor = 1.0 / np.sqrt(np.asarray(batch_norm.moving_variance, np.float64) + batch_norm.epsilon)
    if batch_norm.scale:
        factor = factor * np.asarray(batch_norm.gamma, np.float64)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    return kernel * factor


def _tflite_layout(kernel: np.ndarray, layer) -> np.ndarray:
    """The Keras kernel in TFLite's filter layout (output channels first for conv / dense)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        height, width, channels, multiplier = kernel.shape
        return kernel.reshape(1, height, width, channels * multiplier)
    if kernel.ndim == 4:
        return np.transpose(kernel, (3, 0, 1, 2))
    return kernel.T


def int8_kernel_report(int8_path: str, model: keras.Model, bits: dict[str, int]) -> dict:
    """Per quantized layer: int8 tensor found, distinct int8 values per channel, max |error|.

    A layer whose kernel cannot be matched to one int8 tensor (by shape and values) is listed
    under ``unmatched``. The error is against the kernel as deployed (a following BatchNorm
    folded in, module docstring).
    """
    interpreter = TFLiteModel(int8_path).interpreter
    interpreter.allocate_tensors()
    candidates = []
    for detail in interpreter.get_tensor_details():
        params = detail.get("quantization_parameters", {})
        if np.dtype(detail["dtype"]) != np.int8 or len(detail["shape"]) < 2 or not len(
                params.get("scales", [])):
            continue
        try:
            values = interpreter.get_tensor(detail["index"])
        except ValueError:  # not a constant
            continue
        candidates.append((detail, values))
    layers, unmatched = {}, []
    readers = consumers(model)
    for name, layer_bits in bits.items():
        layer = model.get_layer(name)
        expected = _tflite_layout(_folded_kernel(layer, readers), layer)
        best = None
        for detail, values in candidates:
            if tuple(values.shape) != expected.shape:
                continue
            params = detail["quantization_parameters"]
            axis = int(params.get("quantized_dimension", 0))
            scales = np.asarray(params["scales"], np.float64)
            shape = [1] * values.ndim
            shape[axis] = -1
            dequantized = values.astype(np.float64) * (scales.reshape(shape) if scales.size > 1
                                                       else scales[0])
            error = float(np.abs(dequantized - expected).max())
            if best is None or error < best[0]:
                channels = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
                distinct = max(len(np.unique(row)) for row in channels)
                best = (error, detail["name"], distinct, float(scales.max()))
        if best is None:
            unmatched.append(name)
            continue
        error, tensor, distinct, scale = best
        layers[name] = {"bits": layer_bits, "tensor": tensor, "stored_as": "int8",
                        "max_distinct_values_per_channel": distinct,
                        "max_abs_error_vs_keras": error, "max_int8_scale": scale}
    return {"layers": layers, "unmatched": unmatched}
