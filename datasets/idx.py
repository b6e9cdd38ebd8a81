"""MNIST and Fashion-MNIST in the IDX format (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels).

``data_dir`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``, preferred when
both exist) or not. An IDX file is a big-endian header (magic number ``0x00000803`` for a 3-d
uint8 array of images, ``0x00000801`` for a 1-d uint8 array of labels, then one 32-bit size per
dimension) followed by the data. ``__init__`` checks every header and that each file's length
matches its header (a gzip file's length is read from its trailer, without decompressing), and
that images and labels agree in number; the arrays are loaded into memory on first use.

Preprocessing follows PocketFlow's Fashion-MNIST example: per-image standardisation; training
pads to 36x36 (zero in standardised space), crops 28x28 at random and, for Fashion-MNIST only,
flips at random (a mirrored digit is another glyph).
"""

from __future__ import annotations

import functools
import gzip
import os
import struct

import numpy as np
import tensorflow as tf

from datasets.augment import PadCropFlipMixin
from datasets.base import DataConfig, DataError, Dataset
from datasets.files import check_data_dir
from datasets.registry import DATASETS

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "eval_images": "t10k-images-idx3-ubyte",
    "eval_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_SIZE = 28
NB_CLASSES = 10


def _open(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _data_length(path: str) -> int:
    """Uncompressed length of a file (for gzip, from the ISIZE trailer: length mod 2**32)."""
    if not path.endswith(".gz"):
        return os.path.getsize(path)
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < 18:  # gzip header (10) + trailer (8)
            return -1
        file.seek(-4, os.SEEK_END)
        return struct.unpack("<I", file.read(4))[0]


def read_idx_header(path: str, magic: int) -> tuple[int, ...]:
    """Checks an IDX file's magic number and length; returns its dimensions.

    Args:
        path: the file, gzipped if its name ends with ``.gz``.
        magic: the expected magic number (``IMAGES_MAGIC`` or ``LABELS_MAGIC``).

    Raises:
        DataError: the file is not gzip when named so, has another magic number, or its length
            does not match its header (truncated or padded).
    """
    nb_dimensions = magic & 0xFF
    header_length = 4 + 4 * nb_dimensions
    try:
        with _open(path) as file:
            header = file.read(header_length)
    except (OSError, EOFError) as error:
        raise DataError(f"Expected a gzip-compressed IDX file. Received: '{path}' ({error})"
                        ) from None
    if len(header) < 4 or struct.unpack(">I", header[:4])[0] != magic:
        received = f"0x{struct.unpack('>I', header[:4])[0]:08x}" if len(header) >= 4 else "none"
        raise DataError(f"Expected IDX magic number 0x{magic:08x} in '{path}'. Received: "
                        f"{received} (not an IDX file of this kind)")
    if len(header) < header_length:
        raise DataError(f"Expected an IDX header of {header_length} bytes in '{path}'. "
                        f"Received: {len(header)} bytes")
    dimensions = struct.unpack(f">{nb_dimensions}I", header[4:])
    expected = header_length + int(np.prod(dimensions))
    length = _data_length(path)
    if path.endswith(".gz"):
        expected %= 2**32  # the gzip trailer stores the length modulo 2**32
    if length != expected:
        raise DataError(f"Expected {expected} bytes (header of dimensions {dimensions}) in "
                        f"'{path}'. Received: {length} bytes (truncated or corrupt)")
    return dimensions


def read_idx(path: str, magic: int) -> np.ndarray:
    """Reads an IDX file (gzipped or not) into a ``uint8`` array of its header's shape."""
    dimensions = read_idx_header(path, magic)
    with _open(path) as file:
        data = file.read()
    header_length = 4 + 4 * len(dimensions)
    if len(data) != header_length + int(np.prod(dimensions)):
        raise DataError(f"Expected {header_length + int(np.prod(dimensions))} bytes in '{path}'. "
                        f"Received: {len(data)} bytes")
    return np.frombuffer(data, np.uint8, offset=header_length).reshape(dimensions)


class _IdxDataset(PadCropFlipMixin, Dataset):
    """28x28x1 grey images and labels 0..9 from four IDX files; see the module docstring."""

    nb_classes = NB_CLASSES
    default_validation_size = 5000
    augment_padding = 4

    def __init__(self, config: DataConfig):
        super().__init__(config)
        expected = "IDX files " + ", ".join(f"{name}[.gz]" for name in FILE_NAMES.values())
        data_dir = check_data_dir(config.data_dir, self.name, expected)
        self.paths = {}
        for key, name in FILE_NAMES.items():
            candidates = [os.path.join(data_dir, name + suffix) for suffix in (".gz", "")]
            path = next((path for path in candidates if os.path.isfile(path)), None)
            if path is None:
                raise DataError(f"Expected {expected} in '{data_dir}'. Received: no {name}.gz "
                                f"or {name} there")
            self.paths[key] = path
        self._counts = {}
        for split in ("train", "eval"):
            images_path, labels_path = self.paths[f"{split}_images"], self.paths[f"{split}_labels"]
            image_dimensions = read_idx_header(images_path, IMAGES_MAGIC)
            (nb_labels,) = read_idx_header(labels_path, LABELS_MAGIC)
            if image_dimensions[1:] != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(f"Expected {IMAGE_SIZE}x{IMAGE_SIZE} images in '{images_path}'. "
                                f"Received: {image_dimensions[1]}x{image_dimensions[2]}")
            if image_dimensions[0] != nb_labels:
                raise DataError(f"Expected as many labels in '{labels_path}' as images in "
                                f"'{images_path}' ({image_dimensions[0]}). Received: {nb_labels}")
            self._counts[split] = nb_labels

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE, 1)

    @property
    def train_size(self) -> int:
        return self._counts["train"]

    @property
    def eval_size(self) -> int:
        return self._counts["eval"]

    def _load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images = read_idx(self.paths[f"{split}_images"], IMAGES_MAGIC)[..., None]
        labels_path = self.paths[f"{split}_labels"]
        labels = read_idx(labels_path, LABELS_MAGIC).astype(np.int32)
        bad = np.flatnonzero(labels >= NB_CLASSES)
        if bad.size:
            raise DataError(f"Expected labels in 0..{NB_CLASSES - 1}. Received: label "
                            f"{labels[bad[0]]} at position {bad[0]} of '{labels_path}'")
        return images, labels

    @functools.cached_property
    def _train_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._load("train")

    @functools.cached_property
    def _eval_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._load("eval")

    def _train_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._train_arrays)

    def _eval_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._eval_arrays)

    def decode(self, image, label):
        return image, tf.cast(label, tf.int32)

    def normalize(self, images):
        return tf.image.per_image_standardization(tf.cast(images, tf.float32))


@DATASETS.register("mnist")
class MnistDataset(_IdxDataset):
    """MNIST handwritten digits: 60,000 train / 10,000 eval; no flip in the augmentation."""

    name = "mnist"
    augment_flip = False


@DATASETS.register("fmnist")
class FashionMnistDataset(_IdxDataset):
    """Fashion-MNIST: 60,000 train / 10,000 eval; augmentation with random flips."""

    name = "fmnist"
    augment_flip = True
