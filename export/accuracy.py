"""Top-1 accuracy and logit parity of Keras and ``.tflite`` models on the same images.

A model with several outputs is scored on its first output (the classifier's logits); parity
compares every output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from export.interpreter import Inputs, ModelSource, TFLiteModel, load

if TYPE_CHECKING:
    import keras


def _iterate_batches(data: Any) -> Iterable[tuple[Inputs, np.ndarray]]:
    """Yields numpy ``(inputs, labels)`` from a ``datasets`` Dataset (its evaluation split), a
    ``tf.data.Dataset`` or any iterable of pairs; tuple inputs become a list of arrays."""
    if hasattr(data, "eval_dataset"):
        data = data.eval_dataset()
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    for inputs, labels in data:
        inputs = ([np.asarray(array) for array in inputs] if isinstance(inputs, (tuple, list))
                  else np.asarray(inputs))
        yield inputs, np.asarray(labels)


def _predictor(model: ModelSource | keras.Model) -> Callable[[Inputs], list[np.ndarray]]:
    """A function from inputs to the list of outputs, for a Keras model or a TFLite source."""
    if isinstance(model, (bytes, bytearray, str, os.PathLike, TFLiteModel)):
        predict = load(model).predict
    else:
        def predict(inputs):
            return model(list(inputs) if isinstance(inputs, tuple) else inputs, training=False)
    return lambda inputs: _as_list(predict(inputs))


def _as_list(outputs) -> list[np.ndarray]:
    return ([np.asarray(output) for output in outputs] if isinstance(outputs, (list, tuple))
            else [np.asarray(outputs)])


def evaluate_accuracy(model: ModelSource | keras.Model, data: Any) -> float:
    """Top-1 accuracy over one exact pass of the evaluation data.

    Args:
        model: a TFLite model (bytes, path or ``TFLiteModel``) or a Keras model.
        data: a ``datasets.Dataset`` (its ``eval_dataset()`` is used), a ``tf.data.Dataset`` or
            an iterable of ``(images, integer labels)`` batches.

    Raises:
        ValueError: if the data is empty.
    """
    predict = _predictor(model)
    nb_correct = nb_total = 0
    for images, labels in _iterate_batches(data):
        predictions = np.argmax(predict(images)[0], axis=-1)
        nb_correct += int(np.sum(predictions == labels.reshape(-1)))
        nb_total += len(labels)
    if nb_total == 0:
        raise ValueError("Expected at least one evaluation example. Received: empty data.")
    return nb_correct / nb_total


def max_abs_logit_diff(keras_model: keras.Model, tflite_model: ModelSource,
                       inputs: Inputs) -> float:
    """Largest absolute difference between the Keras and the TFLite outputs on ``inputs`` (one
    array, or one per input), over every output."""
    return max(max_abs_output_diffs(keras_model, tflite_model, inputs))


def max_abs_output_diffs(keras_model: keras.Model, tflite_model: ModelSource,
                         inputs: Inputs) -> list[float]:
    """Largest absolute Keras - TFLite difference of each output, in the Keras model's order.

    Raises:
        ValueError: if the two models do not have the same number of outputs or output shapes.
    """
    references, received = _predictor(keras_model)(inputs), _predictor(tflite_model)(inputs)
    shapes = ([reference.shape for reference in references], [out.shape for out in received])
    if shapes[0] != shapes[1]:
        raise ValueError(f"Expected TFLite outputs of shapes {shapes[0]} (the Keras model's). "
                         f"Received: {shapes[1]}")
    return [float(np.max(np.abs(reference - output)))
            for reference, output in zip(references, received)]
