"""Pad-crop-flip augmentation shared by the small-image datasets (CIFAR-10, MNIST, image folders).

The training stream of these datasets is augmented per *batch*: every image still gets its own
random crop offset and flip, but the work is two batched gathers instead of three ops per image,
which keeps one CPU core well above the throughput a small network trains at. ``preprocess``
(used for single images and the deterministic splits) applies the same augmentation per image.
The draws are stateless, keyed by the training stream's seed and the batch's index.
"""

from __future__ import annotations

import tensorflow as tf

from datasets.base import AUTOTUNE, augment_key


def pad_crop_flip_batch(images: tf.Tensor, padding: int, flip: bool = True, *,
                        seed: tf.Tensor) -> tf.Tensor:
    """Zero-pads a batch by ``padding`` per side and crops each image back to ``H x W`` at a random
    offset (and flips it with probability 1/2): an independent crop and flip per image.

    Args:
        images: ``[B, H, W, C]`` float images (static H and W).
        padding: pixels of zero padding on each side before cropping back to ``H x W``.
        flip: whether to flip each image horizontally with probability 1/2.
        seed: ``[2]`` integer seed of the stateless draws: the same seed gives the same crops and
            flips, whatever else ran in the process (stateful random ops share their state across
            a pipeline's parallel calls and every pipeline built before).

    Returns:
        The augmented ``[B, H, W, C]`` batch.
    """
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offset_seed = tf.random.experimental.stateless_fold_in(seed, 0)
    offsets = tf.random.stateless_uniform((batch, 2), offset_seed, 0, 2 * padding + 1,
                                          dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None, :]
    columns = offsets[:, 1:] + tf.range(width)[None, :]
    if flip:
        flip_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        flipped = tf.random.stateless_uniform((batch, 1), flip_seed, 0, 2, dtype=tf.int32) > 0
        columns = tf.where(flipped, tf.reverse(columns, axis=[1]), columns)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, columns, axis=2, batch_dims=1)


class PadCropFlipMixin:
    """Preprocessing of a ``Dataset`` whose augmentation is pad + random crop (+ flip).

    A subclass (listing this mixin before ``Dataset``) implements (the mixin defines neither, so
    a ``decode`` inherited from another base class is found):

    * ``decode(raw, label)``: one raw example -> ``([H, W, C]`` image of static shape,
      int32 label); the identity for in-memory arrays, file reading and decoding for folders;
    * ``normalize(images)``: float normalisation that works on one image and on a batch;

    and sets ``augment_padding`` and ``augment_flip``. The mixin then provides ``preprocess``
    and a ``train_dataset`` whose augmentation runs batch-wise with the same semantics.
    """

    augment_padding: int = 4
    augment_flip: bool = True

    def normalize(self, images: tf.Tensor) -> tf.Tensor:
        """Float normalisation of one ``[H, W, C]`` image or a ``[B, H, W, C]`` batch."""
        raise NotImplementedError

    def preprocess(self, image, label, augment_seed):
        image, label = self.decode(image, label)
        image = self.normalize(image)
        if augment_seed is not None:
            image = pad_crop_flip_batch(image[None], self.augment_padding, self.augment_flip,
                                        seed=augment_seed)[0]
        return image, label

    def train_dataset(self, *, exclude_val: bool = False, repeat: bool = True,
                      shuffle_seed: int | None = None, batch_size: int | None = None
                      ) -> tf.data.Dataset:
        """Shuffled training batches, augmented batch-wise; see ``Dataset.train_dataset``."""
        ds = self.shuffled_train_examples(exclude_val=exclude_val, repeat=repeat,
                                          shuffle_seed=shuffle_seed)
        ds = ds.map(self.decode, num_parallel_calls=AUTOTUNE)
        # Batch i is augmented from the seed (shuffle seed, i): a fine-tune draws the same crops
        # and flips whatever pipelines the process built before (a search's roll-outs, say).
        ds = ds.batch(batch_size or self.config.batch_size, drop_remainder=True).enumerate()
        augment, padding, flip = self.config.augment, self.augment_padding, self.augment_flip
        seed = self.train_seed(shuffle_seed)

        def normalize_and_augment(index, batch):
            images, labels = batch
            images = self.normalize(images)
            if augment:
                images = pad_crop_flip_batch(images, padding, flip, seed=augment_key(seed, index))
            return images, labels

        return ds.map(normalize_and_augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
