"""Top-1 accuracy and logit parity of Keras and ``.tflite`` models on the same images."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from export.interpreter import ModelSource, TFLiteModel, load

if TYPE_CHECKING:
    import keras


def _iterate_batches(data: Any) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Yields numpy ``(images, labels)`` from a ``datasets`` Dataset (its evaluation split), a
    ``tf.data.Dataset`` or any iterable of pairs."""
    if hasattr(data, "eval_dataset"):
        data = data.eval_dataset()
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    for images, labels in data:
        yield np.asarray(images), np.asarray(labels)


def _predictor(model: ModelSource | keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A function from images to logits for a Keras model or a TFLite model source."""
    if isinstance(model, (bytes, bytearray, str, os.PathLike, TFLiteModel)):
        return load(model).predict
    return lambda images: np.asarray(model(images, training=False))


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
        predictions = np.argmax(predict(images), axis=-1)
        nb_correct += int(np.sum(predictions == labels.reshape(-1)))
        nb_total += len(labels)
    if nb_total == 0:
        raise ValueError("Expected at least one evaluation example. Received: empty data.")
    return nb_correct / nb_total


def max_abs_logit_diff(keras_model: keras.Model, tflite_model: ModelSource,
                       images: np.ndarray) -> float:
    """Largest absolute difference between the Keras and the TFLite logits on ``images``."""
    images = np.asarray(images, np.float32)
    reference = _predictor(keras_model)(images)
    return float(np.max(np.abs(reference - load(tflite_model).predict(images))))
