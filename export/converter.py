"""Keras 3 model to ``.tflite``: TensorFlow's converter, builtin ops only, dynamic batch size.

Builtin ops only means no Flex (SELECT_TF_OPS) ops a stock LiteRT runtime on a phone would lack.
TensorFlow and Keras are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


def convert_float(model: keras.Model) -> bytes:
    """Converts a Keras 3 model to a float32 TFLite model.

    Args:
        model: a built Keras 3 model (functional or sequential) whose output is the logits.

    Returns:
        The serialized ``.tflite`` model; its input takes float32 images of any batch size.

    Raises:
        ValueError: if the model has no symbolic inputs (a subclassed model never built).
    """
    return _convert(model, lambda converter: None)


def convert_int8(model: keras.Model,
                 representative_images: np.ndarray | Sequence[np.ndarray]) -> bytes:
    """Converts a Keras 3 model to a full-integer (int8) TFLite model.

    Weights and activations are int8 (biases int32); the input and output tensors are int8 too,
    with their scale and zero point stored in the file (``TFLiteModel`` applies them). The
    converter is asked for int8 builtins only, but it still keeps ops that have no int8 kernel in
    float between DEQUANTIZE / QUANTIZE pairs without an error: run ``audit_int8`` on the result.

    Args:
        model: a built Keras 3 model (functional or sequential) whose output is the logits.
        representative_images: float32 calibration images ``(n, height, width, channels)``,
            preprocessed like the training data; the activation ranges are taken from them.
            For a model with several inputs, a list with one such array per input.

    Returns:
        The serialized ``.tflite`` model.

    Raises:
        ValueError: if there are no calibration images.
    """
    several = isinstance(representative_images, (list, tuple))
    arrays = [np.asarray(images, np.float32)
              for images in (representative_images if several else [representative_images])]
    shapes = [array.shape for array in arrays]
    if (any(array.ndim < 2 or len(array) == 0 for array in arrays)
            or len(set(map(len, arrays))) > 1):
        raise ValueError("Expected at least one calibration image of shape (n, height, width, "
                         "channels), as many for every input. Received: representative_images "
                         f"of shape {shapes if several else shapes[0]}")
    several = len(arrays) > 1

    def representative_dataset():  # several inputs by their signature names (see _convert)
        for index in range(len(arrays[0])):
            examples = [array[index:index + 1] for array in arrays]
            yield ({f"input_{position}": example for position, example in enumerate(examples)}
                   if several else examples)

    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

    with warnings.catch_warnings():
        # Spurious: the int8 input's scale and zero point come from the calibration.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return _convert(model, configure)


def convert_quantization_aware(model: keras.Model) -> bytes:
    """Converts a model trained with fake-quant ops to a full-integer TFLite model.

    The scale and zero point of every tensor come from the fake-quant ops' ranges (the model of
    ``learners.uniform_quant_tf``), so no calibration data is needed; the input and output
    tensors are int8. Ops the converter cannot quantize stay float: run ``audit_int8``.
    """
    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

    return _convert(model, configure)


def convert_sparse(model: keras.Model) -> bytes:
    """The float32 TFLite model with its weights sparse-encoded (the converter's
    ``EXPERIMENTAL_SPARSITY``; builtin ops only). The runtime may densify them at load time."""
    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]

    return _convert(model, configure)


def _convert(model: keras.Model, configure: Callable[[Any], None]) -> bytes:
    """Exports ``model`` in inference mode to a SavedModel, then converts it with builtin ops only.

    The signature's inputs of a model with several inputs are ``input_0``, ``input_1``, ... in the
    order of ``model.inputs`` (the outputs are always ``output_0``, ... in the order of
    ``model.outputs``): ``export.interpreter.TFLiteModel`` feeds and reads them in that order.

    This is the path ``TFLiteConverter.from_keras_model`` takes for Keras 3 models, made explicit:
    ``from_keras_model`` silently falls back to an older freezing path when the export fails and
    prints the whole export signature, and Keras's own ``format="litert"`` export enables Flex
    (SELECT_TF_OPS) ops, which a stock LiteRT runtime cannot run.
    """
    import keras
    import tensorflow as tf

    if not getattr(model, "inputs", None):
        raise ValueError(
            "Expected a built functional or sequential Keras model with symbolic inputs. "
            f"Received: {type(model).__name__} without `inputs` (build it on an Input first).")
    several = len(model.inputs) > 1
    input_signature = [tf.TensorSpec(tensor.shape, tensor.dtype,
                                     name=f"input_{index}" if several else tensor.name)
                       for index, tensor in enumerate(model.inputs)]
    if several:
        input_signature = [input_signature]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda *inputs: model(*inputs, training=False), input_signature)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, ["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        configure(converter)
        return converter.convert()
