"""CIFAR-10 in the official binary format, and the CIFAR preprocessing shared with image folders.

``data_dir`` holds the "binary version" files: ``data_batch_1.bin`` ... ``data_batch_5.bin``
(training; any non-empty subset of the five) and ``test_batch.bin`` (evaluation). Each file is a
sequence of 3,073-byte records: one label byte (0-9) and a 32x32x3 image in CHW order. The files
are loaded into memory with numpy (150 MB for the full training set) on first use; ``__init__``
only checks that they exist and that their sizes are whole numbers of records.

Preprocessing follows PocketFlow: per-channel normalisation with the CIFAR-10 mean and standard
deviation; training adds a zero padding of 4 pixels (zero in normalised space, i.e. the mean
colour), a random 32x32 crop and a random horizontal flip, batch-wise (``datasets.augment``).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf

from datasets.augment import PadCropFlipMixin
from datasets.base import DataConfig, DataError, Dataset
from datasets.files import check_data_dir
from datasets.registry import DATASETS

IMAGE_SIZE = 32
NB_CHANNELS = 3
NB_CLASSES = 10
RECORD_BYTES = 1 + IMAGE_SIZE * IMAGE_SIZE * NB_CHANNELS  # label byte + CHW image
TRAIN_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
EVAL_FILE = "test_batch.bin"

CIFAR_MEAN = (125.3, 123.0, 113.9)
CIFAR_STD = (63.0, 62.1, 66.7)
CIFAR_PADDING = 4


def cifar_normalize(images: tf.Tensor) -> tf.Tensor:
    """Per-channel CIFAR-10 normalisation of ``[..., 3]`` images with values in 0..255."""
    images = tf.cast(images, tf.float32)
    return (images - tf.constant(CIFAR_MEAN)) / tf.constant(CIFAR_STD)


class CifarPreprocessingMixin(PadCropFlipMixin):
    """CIFAR-10 preprocessing: per-channel normalisation; pad 4, random 32x32 crop, random flip.

    Subclasses implement ``decode``: one raw example -> a ``[32, 32, 3]`` image with values
    0..255 and an int32 label.
    """

    augment_padding = CIFAR_PADDING
    augment_flip = True

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE, NB_CHANNELS)

    def normalize(self, images: tf.Tensor) -> tf.Tensor:
        return cifar_normalize(images)


def _file_records(path: str) -> int:
    """Number of records in a CIFAR-10 batch file; raises DataError when it is truncated."""
    size = os.path.getsize(path)
    if size == 0:
        raise DataError(f"Expected a CIFAR-10 batch file of {RECORD_BYTES}-byte records. "
                        f"Received: '{path}', which is empty")
    if size % RECORD_BYTES:
        raise DataError(
            f"Expected a CIFAR-10 batch file of whole {RECORD_BYTES}-byte records. Received: "
            f"'{path}' of {size} bytes ({size % RECORD_BYTES} bytes past the last whole record; "
            f"truncated or not a CIFAR-10 binary file)")
    return size // RECORD_BYTES


def write_cifar_binary(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes ``uint8 [N, 32, 32, 3]`` images and labels 0..9 as a CIFAR-10 binary batch file."""
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, NB_CHANNELS) or len(labels) != len(images):
        raise ValueError(f"Expected images [N, 32, 32, 3] and N labels. Received: images "
                         f"{images.shape}, {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= NB_CLASSES):
        raise ValueError(f"Expected labels in 0..{NB_CLASSES - 1}. Received: labels in "
                         f"{labels.min()}..{labels.max()}")
    chw = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    np.concatenate([labels.astype(np.uint8)[:, None], chw], axis=1).tofile(path)


def read_cifar_binary(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reads CIFAR-10 binary batch files into ``uint8 [N, 32, 32, 3]`` images and int32 labels.

    Raises:
        DataError: a file is truncated or holds a label outside 0..9.
    """
    images, labels = [], []
    for path in paths:
        _file_records(path)
        records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
        file_labels = records[:, 0].astype(np.int32)
        bad = np.flatnonzero(file_labels >= NB_CLASSES)
        if bad.size:
            raise DataError(
                f"Expected CIFAR-10 labels in 0..{NB_CLASSES - 1}. Received: label "
                f"{file_labels[bad[0]]} in record {bad[0]} of '{path}'")
        chw = records[:, 1:].reshape(-1, NB_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
        images.append(chw.transpose(0, 2, 3, 1))
        labels.append(file_labels)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


@DATASETS.register("cifar10")
class Cifar10Dataset(CifarPreprocessingMixin, Dataset):
    """CIFAR-10 binary files: 32x32x3, 10 classes (50,000 train / 10,000 eval officially)."""

    name = "cifar10"
    nb_classes = NB_CLASSES
    default_validation_size = 5000

    def __init__(self, config: DataConfig):
        super().__init__(config)
        expected = f"CIFAR-10 binary files {', '.join(TRAIN_FILES)} (at least one) and {EVAL_FILE}"
        data_dir = check_data_dir(config.data_dir, self.name, expected)
        self.train_paths = [os.path.join(data_dir, name) for name in TRAIN_FILES
                            if os.path.isfile(os.path.join(data_dir, name))]
        self.eval_path = os.path.join(data_dir, EVAL_FILE)
        missing = [] if self.train_paths else ["data_batch_{1..5}.bin"]
        if not os.path.isfile(self.eval_path):
            missing.append(EVAL_FILE)
        if missing:
            raise DataError(f"Expected {expected} in '{data_dir}'. Received: no "
                            f"{' and no '.join(missing)} there")
        self._nb_smpls_train = sum(_file_records(path) for path in self.train_paths)
        self._nb_smpls_eval = _file_records(self.eval_path)

    @property
    def train_size(self) -> int:
        return self._nb_smpls_train

    @property
    def eval_size(self) -> int:
        return self._nb_smpls_eval

    @functools.cached_property
    def _train_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return read_cifar_binary(self.train_paths)

    @functools.cached_property
    def _eval_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return read_cifar_binary([self.eval_path])

    def decode(self, image, label):
        return image, tf.cast(label, tf.int32)

    def _train_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._train_arrays)

    def _eval_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._eval_arrays)
