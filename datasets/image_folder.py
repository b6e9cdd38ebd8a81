"""Bring-your-own image folders, and CIFAR-10 stored as an image folder.

Layout: ``<data_dir>/<split>/<class>/<image>``, with ``train`` for training and the first of
``val``, ``validation``, ``test``, ``eval`` present for evaluation; without any of them, a fixed
tenth of each class's training images (``EVAL_FRACTION``, at least one of every class with two
or more images, drawn by a permutation with a fixed seed: the same files give the same split)
is the evaluation split and is left out of training. Images are JPEG, PNG or BMP
(``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, any case). Class names are the sorted subdirectories of
``train`` and label ``i`` is the ``i``-th of them; the evaluation split must have the same
classes. Hidden entries (``.DS_Store``) are skipped; any other file that is not an image, or an
image whose header describes no image or that is cut short (``datasets.files.check_image_file``:
its first and last bytes), is a ``DataError`` naming the file, its class and split, raised in
``__init__``. An image damaged inside its compressed data fails when the pipeline decodes it;
the run then asks :meth:`~datasets.base.Dataset.explain_error`, which names it the same way.

Training examples are the training files in a fixed, seeded permutation (the validation split,
the first ``validation_size`` of them, so mixes all classes); evaluation examples are in sorted
order. Files are read and decoded in the pipeline, so the shuffle buffer holds file names only.

``image_folder`` decodes to the channels and resizes to the input size of a user's model
(``DataConfig.input_shape``; else RGB ``--image_size`` squares, default 32) and maps pixels as
``--input_scale`` / ``--input_mean`` / ``--input_std`` say (``datasets.pixels``; default
``-1_1``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
from absl import logging

from datasets.base import DataConfig, DataError, Dataset
from datasets.cifar10 import NB_CLASSES as CIFAR_NB_CLASSES
from datasets.cifar10 import CifarPreprocessingMixin
from datasets.files import (
    IMAGE_EXTENSIONS,
    check_data_dir,
    check_image_file,
    check_image_name,
    decode_image,
    is_hidden,
    undecodable_files,
)
from datasets.pixels import ScaledPixelsMixin, decoded_input_shape
from datasets.registry import DATASETS

TRAIN_SPLIT = "train"
EVAL_SPLITS = ("val", "validation", "test", "eval")
EVAL_FRACTION = 0.1
"""The share of each class's training images that is the evaluation split when there is none."""
_SPLIT_SEED = 20180601  # fixed: the validation split must not move with --seed


@dataclasses.dataclass(frozen=True)
class ImageTree:
    """The image files of a ``<split>/<class>/<file>`` tree, grouped and sorted.

    Attributes:
        class_names: sorted class names of the training split; label ``i`` is ``class_names[i]``.
        splits: split name -> ``(relative path, label, index within its class)`` tuples, sorted by
            class, then file name; paths are relative to the tree's root, ``/``-separated.
    """

    class_names: tuple[str, ...]
    splits: dict[str, list[tuple[str, int, int]]]

    @property
    def eval_split(self) -> str | None:
        """The evaluation split's name: the first of ``EVAL_SPLITS`` present, else ``None``."""
        return next((name for name in EVAL_SPLITS if name in self.splits), None)

    def describe(self, split: str, label: int) -> str:
        """How messages place a file: ``class 'cat', split 'train'``."""
        return f"class '{self.class_names[label]}', split '{split}'"


def _join(location: str, *parts: str) -> str:
    """``location/part/...`` for a directory; ``archive:part/...`` for an archive's root."""
    separator = "" if location.endswith((":", "/")) else "/"
    return location + separator + "/".join(parts)


def build_image_tree(files: Iterable[str], directories: Iterable[str], location: str
                     ) -> ImageTree:
    """Groups the image files of a ``<split>/<class>/<file>`` tree by split and class.

    Only top-level directories named ``train`` or one of ``EVAL_SPLITS`` are read; other
    top-level entries are ignored. Inside a split every entry must be a class directory, and
    inside a class directory every entry an image file (checked by extension only).

    Args:
        files: ``/``-separated file paths relative to the root.
        directories: ``/``-separated directory paths relative to the root (finds empty classes).
        location: the root, for messages (a directory or an archive).

    Raises:
        DataError: no ``train`` split, a misplaced or non-image file, an empty class directory,
            or an evaluation split whose classes differ from the training classes.
    """
    split_names = (TRAIN_SPLIT, *EVAL_SPLITS)
    classes: dict[str, dict[str, list[str]]] = {}
    for directory in directories:
        parts = directory.strip("/").split("/")
        if parts[0] in split_names and len(parts) >= 2 and not any(map(is_hidden, parts)):
            if len(parts) > 2:
                raise DataError(f"Expected <split>/<class>/<image> files in '{location}'. "
                                f"Received: a nested directory '{_join(location, directory)}'")
            classes.setdefault(parts[0], {}).setdefault(parts[1], [])
    for path in files:
        parts = path.split("/")
        if parts[0] not in split_names or len(parts) < 2 or any(map(is_hidden, parts)):
            continue
        where = _join(location, path)
        if len(parts) != 3:
            raise DataError(f"Expected <split>/<class>/<image> files in '{location}'. "
                            f"Received: '{where}'")
        check_image_name(where)
        classes.setdefault(parts[0], {}).setdefault(parts[1], []).append(parts[2])

    if TRAIN_SPLIT not in classes:
        raise DataError(f"Expected image files <split>/<class>/<image> with a '{TRAIN_SPLIT}' "
                        f"split ({', '.join(IMAGE_EXTENSIONS)}) in '{location}'. Received: "
                        f"no '{TRAIN_SPLIT}' directory of class directories there")
    for split, split_classes in classes.items():
        for class_name, names in split_classes.items():
            if not names:
                raise DataError(f"Expected at least one image in class directory "
                                f"'{_join(location, split, class_name)}'. Received: none")
    class_names = tuple(sorted(classes[TRAIN_SPLIT]))
    splits = {}
    for split, split_classes in classes.items():
        if set(split_classes) != set(class_names):
            raise DataError(
                f"Expected the classes of '{_join(location, split)}' to be those of "
                f"'{_join(location, TRAIN_SPLIT)}': {list(class_names)}. Received: "
                f"{sorted(split_classes)}")
        splits[split] = [(f"{split}/{class_name}/{name}", label, index)
                         for label, class_name in enumerate(class_names)
                         for index, name in enumerate(sorted(split_classes[class_name]))]
    return ImageTree(class_names, splits)


def split_off_evaluation(entries: list[tuple[str, int, int]], location: str
                         ) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """``(training, evaluation)`` entries of a training split: ``EVAL_FRACTION`` of each class
    (rounded, at least one of a class with two or more images) drawn by a permutation with a
    fixed seed, the rest for training; both keep the entries' order.

    Raises:
        DataError: no class has two images, so nothing can be split off.
    """
    rng = np.random.default_rng(_SPLIT_SEED)
    by_label: dict[int, list[int]] = {}
    for position, (_, label, _) in enumerate(entries):
        by_label.setdefault(label, []).append(position)
    held_out = set()
    for _, members in sorted(by_label.items()):
        count = max(1, round(EVAL_FRACTION * len(members))) if len(members) >= 2 else 0
        held_out.update(members[index] for index in rng.permutation(len(members))[:count])
    if not held_out:
        raise DataError(f"Expected an evaluation split {' or '.join(EVAL_SPLITS)} next to "
                        f"'{TRAIN_SPLIT}' in '{location}', or two or more images in a class to "
                        "split one off. Received: neither")
    return ([entry for position, entry in enumerate(entries) if position not in held_out],
            [entry for position, entry in enumerate(entries) if position in held_out])


def scan_image_folder(root: str) -> ImageTree:
    """Lists and checks (extension, header and end: ``datasets.files.check_image_file``) the
    images under ``root``.

    Raises:
        DataError: see :func:`build_image_tree`, or a file that is not a whole JPEG/PNG/BMP image
            (naming it, its class and its split).
    """
    files, directories = [], []
    for split in (TRAIN_SPLIT, *EVAL_SPLITS):
        split_dir = os.path.join(root, split)
        if not os.path.isdir(split_dir):
            continue
        for directory, subdirectories, names in os.walk(split_dir):
            relative = os.path.relpath(directory, root).replace(os.sep, "/")
            directories.append(relative)
            files.extend(f"{relative}/{name}" for name in names)
            subdirectories[:] = [name for name in subdirectories if not is_hidden(name)]
    tree = build_image_tree(files, directories, root)
    for split, entries in tree.splits.items():
        for relative_path, label, _ in entries:
            check_image_file(os.path.join(root, relative_path), tree.describe(split, label))
    return tree


class _ImageFolderBase(Dataset):
    """Examples ``(file path, label)`` of an image folder; decoding to ``input_shape``."""

    def __init__(self, config: DataConfig):
        super().__init__(config)
        root = check_data_dir(config.data_dir, self.name,
                              f"image folders {TRAIN_SPLIT}/<class>/<image> and "
                              f"{'|'.join(EVAL_SPLITS)}/<class>/<image>")
        self.root = root
        self.tree = scan_image_folder(root)
        self.class_names = self.tree.class_names
        train = self.tree.splits[TRAIN_SPLIT]
        if self.tree.eval_split is None:
            train, evaluation = split_off_evaluation(train, root)
            logging.info("%s: no %s split in '%s': evaluating on %d of the %d images of '%s' "
                         "(%.0f %% of each class, a fixed draw), training on the others",
                         self.name, "/".join(EVAL_SPLITS), root, len(evaluation),
                         len(train) + len(evaluation), TRAIN_SPLIT, 100 * EVAL_FRACTION)
        else:
            evaluation = self.tree.splits[self.tree.eval_split]
        order = np.random.default_rng(_SPLIT_SEED).permutation(len(train))
        self._train_files = ([os.path.join(root, train[index][0]) for index in order],
                             np.array([train[index][1] for index in order], np.int32))
        self._eval_files = ([os.path.join(root, path) for path, _, _ in evaluation],
                            np.array([label for _, label, _ in evaluation], np.int32))

    @property
    def train_size(self) -> int:
        return len(self._train_files[0])

    @property
    def eval_size(self) -> int:
        return len(self._eval_files[0])

    def _train_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._train_files)

    def _eval_examples(self):
        return tf.data.Dataset.from_tensor_slices(self._eval_files)

    def decode(self, path, label):
        """Reads and decodes one file to a ``uint8`` image of ``input_shape``."""
        height, width, channels = self.input_shape
        image = decode_image(tf.io.read_file(path), (height, width), channels)
        return image, tf.cast(label, tf.int32)

    def explain_error(self, error: Exception) -> DataError | None:
        """A ``DataError`` naming the images of the training and evaluation splits that do not
        decode (with class and split), when ``error`` is TensorFlow's ``InvalidArgumentError``
        and some do; ``None`` otherwise. Decodes every image once (in parallel)."""
        if not isinstance(error, tf.errors.InvalidArgumentError):
            return None
        files = [(split, path, label) for split in (TRAIN_SPLIT, self.tree.eval_split)
                 for path, label, _ in self.tree.splits[split]]
        logging.info("Reading the data failed; decoding the %d images of '%s' to name the ones "
                     "that do not decode ...", len(files), self.root)
        failed = undecodable_files([os.path.join(self.root, path) for _, path, _ in files])
        if not failed:
            return None
        named = [f"'{os.path.join(self.root, files[index][1])}' "
                 f"({self.tree.describe(files[index][0], files[index][2])}: {message})"
                 for index, message in sorted(failed.items())]
        more = f"; and {len(named) - 5} more" if len(named) > 5 else ""
        count = "1 image that does not" if len(named) == 1 else f"{len(named)} images that do not"
        return DataError(f"Expected images that decode in the image folder '{self.root}'. "
                         f"Received: {count}: {'; '.join(named[:5])}{more}. Replace or remove "
                         "them, then rerun the same command.")


@DATASETS.register("image_folder")
class ImageFolderDataset(ScaledPixelsMixin, _ImageFolderBase):
    """Any image folder: images of the model's input shape (else RGB squares of
    ``config.image_size``, default 32), pixels mapped as ``config.input_scale`` (default
    ``-1_1``), ``input_mean`` and ``input_std`` say.

    Training pads by an eighth of the image's shorter side (zero in normalised space), crops
    back at random and flips at random.
    """

    name = "image_folder"
    default_image_size = 32

    def __init__(self, config: DataConfig):
        super().__init__(config)
        self.check_channel_statistics()

    @property
    def nb_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return decoded_input_shape(self.config, self.default_image_size)


@DATASETS.register("cifar10_folder")
class Cifar10FolderDataset(CifarPreprocessingMixin, _ImageFolderBase):
    """CIFAR-10 as ``<data_dir>/{train,test}/<class>/<image>``, with CIFAR-10 preprocessing.

    Images that are not 32x32 are resized. Exactly 10 class directories are expected.
    """

    name = "cifar10_folder"
    nb_classes = CIFAR_NB_CLASSES
    default_validation_size = 5000

    def __init__(self, config: DataConfig):
        super().__init__(config)
        if len(self.class_names) != CIFAR_NB_CLASSES:
            raise DataError(f"Expected {CIFAR_NB_CLASSES} class directories in "
                            f"'{os.path.join(self.root, TRAIN_SPLIT)}'. Received: "
                            f"{len(self.class_names)}: {list(self.class_names)}")
