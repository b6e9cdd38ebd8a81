"""A user's images in TFRecord files (``--dataset tfrecord``).

``--data_dir_local`` holds ``train-*`` and ``validation-*`` files (``train-00000-of-00004`` ...)
of ``tf.train.Example`` records with two features (others are ignored):

* ``image/encoded``: the encoded image, JPEG, PNG or BMP bytes;
* ``image/class/label``: its class, an int64 from 0 (TF-Slim's convention).

(The ``ilsvrc12`` dataset, and what ``tools/conversion/convert_image_folder.py --tfrecord_dir``
writes for it, follow ImageNet's convention instead: labels from 1, 0 being the background.)

``__init__`` checks that both sets of files exist and that the first training record has the two
features, then reads the label of every record (no image is decoded): the numbers of examples
and of classes (the largest label + 1) come from them, and a missing or negative label, or a
file that is no whole TFRecord file, is a ``DataError`` naming the file.

Training examples are the records of the training files in a fixed interleave (the validation
split a search scores on is the first ``validation_size`` of them: write the training records
shuffled); evaluation examples are the ``validation-*`` records. Images are decoded to the
channels of the model's input and resized to its size (else RGB ``--image_size`` squares,
default 32), mapped as ``--input_scale`` / ``--input_mean`` / ``--input_std`` say
(``datasets.pixels``; default ``-1_1``), and training pads, crops and flips them.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from datasets.base import DataConfig, DataError, Dataset
from datasets.files import check_data_dir, check_first_example, decode_image, shard_files
from datasets.pixels import ScaledPixelsMixin, decoded_input_shape
from datasets.registry import DATASETS

TRAIN_PATTERN = "train-*"
EVAL_PATTERN = "validation-*"
IMAGE_FEATURE = "image/encoded"
LABEL_FEATURE = "image/class/label"
_PARALLEL_READS = 8


def read_labels(path: str) -> np.ndarray:
    """The ``image/class/label`` of every record of a TFRecord file, in order.

    Raises:
        DataError: naming the file: no whole TFRecord file of Examples, or a record without an
            int64 label, or with a negative one.
    """
    spec = {LABEL_FEATURE: tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
    records = tf.data.TFRecordDataset(path).batch(4096)
    labels = records.map(lambda batch: tf.io.parse_example(batch, spec)[LABEL_FEATURE])
    try:
        found = list(labels.as_numpy_iterator())
    except tf.errors.OpError as error:
        raise DataError(f"Expected whole TFRecord files of tf.train.Example records with an int64 "
                        f"'{LABEL_FEATURE}'. Received: '{path}' "
                        f"({error.message.splitlines()[0]})") from None
    labels = np.concatenate(found) if found else np.zeros(0, np.int64)
    if labels.size and labels.min() < 0:
        record = int(np.argmin(labels))
        raise DataError(f"Expected an int64 '{LABEL_FEATURE}' >= 0 in every record of '{path}'. "
                        f"Received: record {record} without one, or with a negative one")
    return labels


def _parse(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    features = tf.io.parse_single_example(serialized, {
        IMAGE_FEATURE: tf.io.FixedLenFeature([], tf.string, default_value=""),
        LABEL_FEATURE: tf.io.FixedLenFeature([], tf.int64, default_value=-1)})
    return features[IMAGE_FEATURE], tf.cast(features[LABEL_FEATURE], tf.int32)


@DATASETS.register("tfrecord")
class TfRecordDataset(ScaledPixelsMixin, Dataset):
    """TFRecord files of encoded images and labels from 0 (see the module docstring)."""

    name = "tfrecord"
    default_image_size = 32

    def __init__(self, config: DataConfig):
        super().__init__(config)
        expected = (f"TFRecord files {TRAIN_PATTERN} and {EVAL_PATTERN} of tf.train.Example "
                    f"records with '{IMAGE_FEATURE}' and '{LABEL_FEATURE}'")
        data_dir = check_data_dir(config.data_dir, self.name, expected)
        self.train_paths = shard_files(data_dir, TRAIN_PATTERN)
        self.eval_paths = shard_files(data_dir, EVAL_PATTERN)
        for paths, pattern in ((self.train_paths, TRAIN_PATTERN), (self.eval_paths, EVAL_PATTERN)):
            if not paths:
                raise DataError(f"Expected {expected} in '{data_dir}'. Received: no {pattern} "
                                "file there")
        check_first_example(self.train_paths[0], (IMAGE_FEATURE, LABEL_FEATURE))
        train = [read_labels(path) for path in self.train_paths]
        evaluation = [read_labels(path) for path in self.eval_paths]
        self._nb_smpls_train = sum(map(len, train))
        self._nb_smpls_eval = sum(map(len, evaluation))
        for count, pattern in ((self._nb_smpls_train, TRAIN_PATTERN),
                               (self._nb_smpls_eval, EVAL_PATTERN)):
            if not count:
                raise DataError(f"Expected records in the {pattern} files of '{data_dir}'. "
                                "Received: none")
        self._nb_classes = int(max(labels.max() for labels in train + evaluation if labels.size)
                               ) + 1
        self.check_channel_statistics()

    @property
    def nb_classes(self) -> int:
        """The largest label + 1."""
        return self._nb_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return decoded_input_shape(self.config, self.default_image_size)

    @property
    def train_size(self) -> int:
        return self._nb_smpls_train

    @property
    def eval_size(self) -> int:
        return self._nb_smpls_eval

    def _records(self, paths: list[str]) -> tf.data.Dataset:
        ds = tf.data.TFRecordDataset(paths, num_parallel_reads=min(len(paths), _PARALLEL_READS))
        return ds.map(_parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _train_examples(self):
        return self._records(self.train_paths)

    def _eval_examples(self):
        return self._records(self.eval_paths)

    def decode(self, encoded, label):
        """Decodes one image to ``uint8`` of ``input_shape``."""
        height, width, channels = self.input_shape
        return decode_image(encoded, (height, width), channels), tf.cast(label, tf.int32)
