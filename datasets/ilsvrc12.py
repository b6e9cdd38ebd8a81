"""ILSVRC-12 (ImageNet) as TFRecords in the layout of TF models' ``build_imagenet_data.py``.

``data_dir`` holds ``train-*-of-*`` and ``validation-*-of-*`` files of ``tf.train.Example``
records with ``image/encoded`` (JPEG bytes), ``image/class/label`` (int64, 1..1000; 0 is kept for
the background class, so there are 1,001 logits as in PocketFlow) and optional bounding boxes
``image/object/bbox/{xmin,ymin,xmax,ymax}`` (normalised floats). Other features are ignored.
``tools/conversion/convert_image_folder.py --tfrecord_dir`` writes this layout from any image
folder.

Example counts: the official layout (1,024 training and 128 validation shards) has the official
counts, 1,281,167 and 50,000, taken without reading anything. Any other layout is counted once,
on first use, by walking the TFRecord framing of each file (a seek per record, no data read;
a truncated file is a ``DataError`` naming it). ``__init__`` checks that both file sets exist
and that the first training record has the two required features.

Preprocessing follows the TF official ResNet ImageNet pipeline used by PocketFlow. Training: a
random crop sampled by ``tf.image.stateless_sample_distorted_bounding_box`` (covering at least
10 % of the union of the bounding boxes, or of the whole image when there are none; aspect ratio
3/4..4/3; 5-100 % of the area), decoded with ``decode_and_crop_jpeg``, a random horizontal flip
and a bilinear resize to ``image_size``; the draws are keyed by the stream's seed and the
example's index. Evaluation: an aspect-preserving resize of the short side to ``256 / 224 *
image_size``, then a central ``image_size`` crop. Both subtract the RGB mean (123.68, 116.78,
103.94), without scaling by a standard deviation.
"""

from __future__ import annotations

import functools
import os
import struct

import tensorflow as tf

from datasets.base import DataConfig, DataError, Dataset
from datasets.files import check_data_dir, check_first_example, shard_files
from datasets.registry import DATASETS

TRAIN_PATTERN = "train-*-of-*"
EVAL_PATTERN = "validation-*-of-*"
OFFICIAL_SHARDS = {"train": 1024, "validation": 128}
OFFICIAL_COUNTS = {"train": 1_281_167, "validation": 50_000}
RGB_MEAN = (123.68, 116.78, 103.94)
RESIZE_RATIO = 256 / 224  # short side before the central crop, relative to image_size

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    **{f"image/object/bbox/{key}": tf.io.VarLenFeature(tf.float32)
       for key in ("ymin", "xmin", "ymax", "xmax")},
}
_REQUIRED_FEATURES = ("image/encoded", "image/class/label")


def count_tfrecords(path: str) -> int:
    """Counts the records of a TFRecord file by walking its framing (no record is read).

    Each record is ``uint64 length``, ``uint32 crc``, ``length`` bytes, ``uint32 crc``.

    Raises:
        DataError: the file ends inside a record (truncated) or is not a TFRecord file.
    """
    size = os.path.getsize(path)
    count, offset = 0, 0
    with open(path, "rb") as file:
        while offset < size:
            header = file.read(8)
            if len(header) < 8:
                break
            offset += 16 + struct.unpack("<Q", header)[0]
            count += 1
            file.seek(offset)
    if offset != size:
        raise DataError(f"Expected a TFRecord file of whole records. Received: '{path}' of "
                        f"{size} bytes, which ends inside record {count} (truncated or not a "
                        f"TFRecord file)")
    return count


def _is_official(paths: list[str], split: str) -> bool:
    nb_shards = OFFICIAL_SHARDS[split]
    return len(paths) == nb_shards and all(path.endswith(f"-of-{nb_shards:05d}") for path in paths)


def parse_example(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """Parses one record into ``({"encoded": JPEG bytes, "bbox": [N, 4] ymin-xmin-ymax-xmax},
    int32 label)``."""
    features = tf.io.parse_single_example(serialized, _FEATURES)
    bbox = tf.stack([tf.sparse.to_dense(features[f"image/object/bbox/{key}"])
                     for key in ("ymin", "xmin", "ymax", "xmax")], axis=1)
    image = {"encoded": features["image/encoded"], "bbox": bbox}
    return image, tf.cast(features["image/class/label"], tf.int32)


def random_resized_crop(encoded: tf.Tensor, bbox: tf.Tensor, image_size: int,
                        seed: tf.Tensor) -> tf.Tensor:
    """Decodes a distorted-bounding-box crop of a JPEG, flips it at random, resizes it (float).

    The box and the flip are drawn from stateless ops keyed by ``seed`` (``[2]`` integers).
    """
    whole_image = tf.constant([[0.0, 0.0, 1.0, 1.0]])
    bbox = tf.cond(tf.shape(bbox)[0] > 0, lambda: bbox, lambda: whole_image)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.io.extract_jpeg_shape(encoded), bounding_boxes=bbox[None],
        seed=tf.random.experimental.stateless_fold_in(seed, 0), min_object_covered=0.1,
        aspect_ratio_range=(0.75, 1.33), area_range=(0.05, 1.0), max_attempts=100,
        use_image_if_no_bounding_boxes=True)
    crop_window = tf.stack([begin[0], begin[1], size[0], size[1]])
    image = tf.io.decode_and_crop_jpeg(encoded, crop_window, channels=3)
    image = tf.image.stateless_random_flip_left_right(
        image, seed=tf.random.experimental.stateless_fold_in(seed, 1))
    return tf.image.resize(image, (image_size, image_size))


def resize_and_central_crop(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decodes a JPEG, resizes its short side to ``256 / 224 * image_size``, crops the centre."""
    image = tf.io.decode_jpeg(encoded, channels=3)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = round(RESIZE_RATIO * image_size) / tf.reduce_min(shape)
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), image_size)
    image = tf.image.resize(image, new_shape)
    top = (new_shape[0] - image_size) // 2
    left = (new_shape[1] - image_size) // 2
    return tf.ensure_shape(image[top:top + image_size, left:left + image_size],
                           (image_size, image_size, 3))


@DATASETS.register("ilsvrc12")
class Ilsvrc12Dataset(Dataset):
    """ILSVRC-12 TFRecords: RGB ``image_size`` squares (default 224), 1,001 classes."""

    name = "ilsvrc12"
    nb_classes = 1001
    default_validation_size = 10_000
    default_image_size = 224
    _parallel_reads = 8

    def __init__(self, config: DataConfig):
        super().__init__(config)
        expected = f"TFRecord files {TRAIN_PATTERN} and {EVAL_PATTERN}"
        data_dir = check_data_dir(config.data_dir, self.name, expected)
        self.train_paths = shard_files(data_dir, TRAIN_PATTERN)
        self.eval_paths = shard_files(data_dir, EVAL_PATTERN)
        for paths, pattern in ((self.train_paths, TRAIN_PATTERN),
                               (self.eval_paths, EVAL_PATTERN)):
            if not paths:
                raise DataError(f"Expected {expected} in '{data_dir}'. Received: no {pattern} "
                                f"file there")
        check_first_example(self.train_paths[0], _REQUIRED_FEATURES)

    @property
    def image_size(self) -> int:
        return self.config.image_size or self.default_image_size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    @functools.cached_property
    def train_size(self) -> int:
        if _is_official(self.train_paths, "train"):
            return OFFICIAL_COUNTS["train"]
        return sum(map(count_tfrecords, self.train_paths))

    @functools.cached_property
    def eval_size(self) -> int:
        if _is_official(self.eval_paths, "validation"):
            return OFFICIAL_COUNTS["validation"]
        return sum(map(count_tfrecords, self.eval_paths))

    def _records(self, paths: list[str]) -> tf.data.Dataset:
        # A fixed interleave of the shards: deterministic, and the first examples (the
        # validation split) come from several shards.
        ds = tf.data.TFRecordDataset(paths, num_parallel_reads=min(len(paths),
                                                                   self._parallel_reads))
        return ds.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _train_examples(self):
        return self._records(self.train_paths)

    def _eval_examples(self):
        return self._records(self.eval_paths)

    def preprocess(self, image, label, augment_seed):
        if augment_seed is not None:
            pixels = random_resized_crop(image["encoded"], image["bbox"], self.image_size,
                                         augment_seed)
        else:
            pixels = resize_and_central_crop(image["encoded"], self.image_size)
        return pixels - tf.constant(RGB_MEAN), tf.cast(label, tf.int32)
