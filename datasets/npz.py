"""A user's arrays in one NumPy ``.npz`` file (``--dataset npz``).

``--data_dir_local`` is the ``.npz`` file, or a directory that holds exactly one. It holds four
arrays (what ``np.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)`` writes):

* ``x_train``, ``x_val``: images ``[N, height, width, channels]`` (or ``[N, height, width]`` for
  grey images), either ``uint8`` pixels 0..255 or floats in [0, 1] (pixels / 255); with
  ``--input_scale none``, any finite floats: the model's inputs as they are (what the Python
  API, ``pocketflow.compress``, writes);
* ``y_train``, ``y_val``: integer class labels ``[N]`` (or ``[N, 1]``) from 0.

``x_val`` / ``y_val`` are the evaluation split (what accuracy is reported on); the validation
split a search scores its candidates on is carved from the training arrays, as for every dataset.
The training arrays are taken in a fixed, seeded permutation (so the validation split mixes the
classes however the arrays are sorted). The number of classes is the largest label + 1. Pixels
are mapped as ``--input_scale`` / ``--input_mean`` / ``--input_std`` say (``datasets.pixels``);
images are not resized (they must have the model's input shape), and training pads, crops and
flips them (``datasets.augment``).

Everything is checked in ``__init__``, each problem a ``DataError`` naming the file and the
array. The arrays are held in memory: for data larger than memory use an image folder or
TFRecords.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import tensorflow as tf

from datasets.base import DataConfig, DataError, Dataset
from datasets.pixels import ScaledPixelsMixin
from datasets.registry import DATASETS

KEYS = ("x_train", "y_train", "x_val", "y_val")
_SPLIT_SEED = 20180601  # fixed: the validation split must not move with --seed


def find_npz_file(data_dir: str | None) -> str:
    """The ``.npz`` file ``--data_dir_local`` names: itself, or the one ``.npz`` in it.

    Raises:
        DataError: no such file, or a directory without exactly one ``.npz`` file.
    """
    expected = "a NumPy .npz file (or a directory holding one) with arrays " + ", ".join(KEYS)
    if data_dir is None:
        raise DataError(f"Expected --data_dir_local to name {expected} for dataset 'npz'. "
                        "Received: none")
    if os.path.isdir(data_dir):
        found = sorted(name for name in os.listdir(data_dir) if name.lower().endswith(".npz"))
        if len(found) != 1:
            raise DataError(f"Expected {expected} at --data_dir_local. Received: '{data_dir}', "
                            f"a directory with {len(found)} .npz files {found}")
        return os.path.join(data_dir, found[0])
    if not os.path.isfile(data_dir):
        raise DataError(f"Expected {expected} at --data_dir_local. Received: '{data_dir}', "
                        "which does not exist")
    return data_dir


def _images(path: str, key: str, array: np.ndarray, as_stored: bool) -> np.ndarray:
    """``array`` as ``[N, H, W, C]`` pixels (``uint8``, or ``float32`` 0..255), or, when
    ``as_stored`` (``--input_scale none``), as the ``float32`` model inputs it holds."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise DataError(f"Expected '{key}' in '{path}' to hold images [N, height, width, "
                        f"channels] (or [N, height, width]). Received: shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"Expected '{key}' in '{path}' to hold uint8 pixels 0..255 or floats in "
                        f"[0, 1]. Received: dtype {array.dtype}")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if as_stored:
        if not (np.isfinite(low) and np.isfinite(high)):
            raise DataError(f"Expected finite model inputs in '{key}' of '{path}' "
                            f"(--input_scale none). Received: values in [{low:g}, {high:g}]")
        return array.astype(np.float32)
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low and high <= 1.0):
        raise DataError(f"Expected '{key}' in '{path}' to hold floats in [0, 1] (pixels / 255; "
                        f"--input_scale then maps them). Received: values in [{low:g}, {high:g}]")
    return (array * 255.0).astype(np.float32)


def _labels(path: str, key: str, array: np.ndarray, nb_images: int) -> np.ndarray:
    """``array`` as ``int32 [N]`` labels >= 0."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        hint = " (one-hot? store y.argmax(axis=1))" if array.ndim == 2 else ""
        raise DataError(f"Expected '{key}' in '{path}' to hold class labels [N]. Received: shape "
                        f"{array.shape}{hint}")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"Expected '{key}' in '{path}' to hold integer class labels. Received: "
                        f"dtype {array.dtype}")
    if len(array) != nb_images:
        raise DataError(f"Expected as many labels in '{key}' as images in "
                        f"'x{key[1:]}' of '{path}'. Received: {len(array)} labels, {nb_images} "
                        "images")
    if array.size and array.min() < 0:
        raise DataError(f"Expected class labels >= 0 in '{key}' of '{path}'. Received: "
                        f"{int(array.min())}")
    return array.astype(np.int32)


def load_npz(path: str, input_scale: str | None = None) -> dict[str, np.ndarray]:
    """The checked arrays of ``path``: images ``[N, H, W, C]`` (``uint8``, or ``float32`` pixels
    0..255; with ``input_scale="none"``, floats as stored) and ``int32`` labels ``[N]``.

    Raises:
        DataError: naming the file and the array: not an ``.npz`` archive, a missing array, a
            bad shape, dtype or value range, or training and evaluation images of different
            shapes.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"Expected a NumPy .npz file (np.savez) at '{path}'. Received: a file "
                        f"NumPy cannot read ({type(error).__name__}: {error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"Expected a NumPy .npz file (np.savez) at '{path}'. Received: a .npy "
                        f"file of one array, of shape {archive.shape}")
    with archive:
        missing = [key for key in KEYS if key not in archive.files]
        if missing:
            raise DataError(f"Expected arrays {', '.join(KEYS)} in '{path}'. Received: "
                            f"{sorted(archive.files)} (missing: {', '.join(missing)})")
        try:
            raw = {key: archive[key] for key in KEYS}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise DataError(f"Expected a whole NumPy .npz file at '{path}'. Received: arrays "
                            f"NumPy cannot read ({type(error).__name__}: {error})") from None
    arrays = {}
    for split in ("train", "val"):
        images = _images(path, f"x_{split}", raw[f"x_{split}"], input_scale == "none")
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = _labels(path, f"y_{split}", raw[f"y_{split}"], len(images))
        if not len(images):
            raise DataError(f"Expected images in 'x_{split}' of '{path}'. Received: none")
    if arrays["x_train"].shape[1:] != arrays["x_val"].shape[1:]:
        raise DataError(f"Expected the images of 'x_train' and 'x_val' in '{path}' to have one "
                        f"shape. Received: {arrays['x_train'].shape[1:]} and "
                        f"{arrays['x_val'].shape[1:]}")
    return arrays


@DATASETS.register("npz")
class NpzDataset(ScaledPixelsMixin, Dataset):
    """The arrays of a ``.npz`` file (see the module docstring)."""

    name = "npz"

    def __init__(self, config: DataConfig):
        super().__init__(config)
        self.path = find_npz_file(config.data_dir)
        self.arrays = load_npz(self.path, config.input_scale)
        order = np.random.default_rng(_SPLIT_SEED).permutation(len(self.arrays["y_train"]))
        for key in ("x_train", "y_train"):
            self.arrays[key] = self.arrays[key][order]
        self.check_channel_statistics()

    @property
    def nb_classes(self) -> int:
        """The largest label + 1."""
        return int(max(self.arrays["y_train"].max(), self.arrays["y_val"].max())) + 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(size) for size in self.arrays["x_train"].shape[1:])

    @property
    def train_size(self) -> int:
        return len(self.arrays["x_train"])

    @property
    def eval_size(self) -> int:
        return len(self.arrays["x_val"])

    def _train_examples(self):
        return tf.data.Dataset.from_tensor_slices((self.arrays["x_train"], self.arrays["y_train"]))

    def _eval_examples(self):
        return tf.data.Dataset.from_tensor_slices((self.arrays["x_val"], self.arrays["y_val"]))

    def decode(self, image, label):
        return image, tf.cast(label, tf.int32)
