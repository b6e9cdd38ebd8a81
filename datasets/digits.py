"""scikit-learn's handwritten digits: the embedded default, no download needed.

1,797 grey 8x8 images of the digits 0-9 with values 0..16. A fixed, seeded, class-stratified
permutation puts 20 % (360 images) in the evaluation split and the rest in training.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from datasets.base import Dataset
from datasets.registry import DATASETS

_EVAL_FRACTION = 0.2
_SPLIT_SEED = 20180601  # fixed: the evaluation split must not move with --seed


@functools.lru_cache(maxsize=1)
def _load_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[..., None]  # 8x8x1 in [0, 1]
    labels = digits.target.astype(np.int32)
    x_train, x_eval, y_train, y_eval = train_test_split(
        images, labels, test_size=_EVAL_FRACTION, random_state=_SPLIT_SEED, stratify=labels)
    return x_train, y_train, x_eval, y_eval


@DATASETS.register("digits")
class DigitsDataset(Dataset):
    """scikit-learn digits, 8x8x1, 10 classes, 1,437 train / 360 eval."""

    name = "digits"
    nb_classes = 10
    default_validation_size = 200

    @property
    def input_shape(self):
        return (8, 8, 1)

    @property
    def train_size(self):
        return len(_load_split()[0])

    @property
    def eval_size(self):
        return len(_load_split()[2])

    def _train_examples(self):
        x, y, _, _ = _load_split()
        return tf.data.Dataset.from_tensor_slices((x, y))

    def _eval_examples(self):
        _, _, x, y = _load_split()
        return tf.data.Dataset.from_tensor_slices((x, y))

    def preprocess(self, image, label, augment_seed):
        image = tf.cast(image, tf.float32)
        if augment_seed is not None:
            # One-pixel random translation on the blank background: the digits are only 8x8.
            image = tf.image.resize_with_crop_or_pad(image, 10, 10)
            image = tf.image.stateless_random_crop(image, (8, 8, 1), seed=augment_seed)
        return (image - 0.3) / 0.4, tf.cast(label, tf.int32)
