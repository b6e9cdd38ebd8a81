"""The dataset contract: deterministic example streams in, batched tf.data pipelines out.

A concrete dataset only says where its examples come from (``_train_examples`` /
``_eval_examples``, unbatched ``(image, label)`` pairs in a fixed order) and how one image is
normalised and augmented. This base class derives from that:

* ``train_dataset()``: shuffled, augmented, repeated batches (the validation split can be left out);
* ``val_dataset()``: a validation split carved from the *training* data (for searches: never the
  evaluation split), deterministic, one pass;
* ``eval_dataset()``: the evaluation split, deterministic, one exact pass, no shuffle, no repeat.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import tensorflow as tf

from utils.dataclass_flags import flag_field

AUTOTUNE = tf.data.AUTOTUNE


def augment_key(seed: int, index: tf.Tensor) -> tf.Tensor:
    """The ``[2]`` int64 seed of the stateless augmentation of item ``index`` (an example or a
    batch) of the training stream with seed ``seed``."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])


class DataError(ValueError):
    """Bad input data: a missing directory, a corrupt file, an unexpected format."""


INPUT_SCALES = {"0_1": (0.0, 1.0), "-1_1": (-1.0, 1.0), "0_255": (0.0, 255.0), "none": None}
"""``--input_scale`` values: the range pixels 0..255 are mapped to, linearly; ``none`` maps
nothing: the values are the model's inputs as stored (an ``npz`` file's arrays, any finite
floats, as the Python API writes them; encoded images stay 0..255)."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is batched.

    Attributes:
        dataset: registered dataset name (``digits``, ``cifar10``, ``mnist``, ...).
        data_dir: directory holding the dataset files; ``None`` for embedded datasets.
        batch_size: training batch size per replica.
        batch_size_eval: evaluation batch size.
        validation_size: size of the validation split carved from the training data; ``None`` takes
            the dataset's default.
        image_size: side of the square network input for datasets of variable-size images
            (image folders, ILSVRC-12); ``None`` takes the dataset's default.
        seed: seed of the shuffling and of the validation split.
        shuffle_buffer: shuffle buffer size, in examples.
        augment: whether training batches are augmented.
        input_scale: for datasets of pixels (image folders, ``npz``, ``tfrecord``): the range
            pixels are mapped to, a key of ``INPUT_SCALES`` (``0_1``, ``-1_1``, ``0_255``, or
            ``none``: the stored values as they are); ``None`` takes the dataset's default.
            Other datasets have fixed preprocessing.
        input_mean: per-channel means subtracted after the scaling (one value, or one per
            channel), or ``None``.
        input_std: per-channel standard deviations divided by after the mean, or ``None``.
        input_shape: ``(height, width, channels)`` a user's model takes (``None`` where it takes
            any size): datasets of pixels decode images to these channels and resize them to
            this size (a ``None`` size: ``image_size`` or the dataset's default).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    batch_size: int = 128
    batch_size_eval: int = 100
    validation_size: int | None = flag_field(None, "nb_smpls_val")
    image_size: int | None = None
    seed: int = 0
    shuffle_buffer: int = 10_000
    augment: bool = True
    input_scale: str | None = None
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    input_shape: tuple[int | None, int | None, int | None] | None = None

    def __post_init__(self):
        for name in ("batch_size", "batch_size_eval", "shuffle_buffer"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Expected `{name}` > 0. Received: {name}={value!r}")
        if self.validation_size is not None and self.validation_size < 0:
            raise ValueError(f"Expected `nb_smpls_val` >= 0. Received: nb_smpls_val={self.validation_size}")
        if self.image_size is not None and self.image_size <= 0:
            raise ValueError(f"Expected `image_size` > 0. Received: image_size={self.image_size}")
        if self.input_scale is not None and self.input_scale not in INPUT_SCALES:
            raise ValueError(f"Expected `input_scale` in {tuple(INPUT_SCALES)}. "
                             f"Received: input_scale={self.input_scale!r}")
        for name in ("input_mean", "input_std"):
            values = getattr(self, name)
            if values is not None and not values:
                raise ValueError(f"Expected `{name}` to hold one value, or one per channel. "
                                 "Received: none")
        if self.input_std is not None and min(self.input_std) <= 0:
            raise ValueError(f"Expected `input_std` values > 0. Received: input_std="
                             f"{','.join(map(str, self.input_std))}")


class Dataset(abc.ABC):
    """Base class of every dataset; see the module docstring for the contract.

    Subclasses set the class attributes and implement the abstract methods. They validate their
    files in ``__init__`` (cheaply: existence, sizes, headers), so bad input fails before any long
    work starts, with a ``DataError`` naming the file and what was expected.
    """

    name: ClassVar[str]
    nb_classes: ClassVar[int]
    default_validation_size: ClassVar[int] = 5000
    pixel_scaling: ClassVar[bool] = False
    """Whether the dataset maps pixels as ``input_scale``, ``input_mean`` and ``input_std``
    say (``datasets.pixels``); the others have fixed preprocessing and refuse them."""

    def __init__(self, config: DataConfig):
        self.config = config
        given = [f"--{name}" for name in ("input_scale", "input_mean", "input_std")
                 if getattr(config, name) is not None]
        if given and not self.pixel_scaling:
            raise DataError(f"Expected no {', '.join(given)} with dataset '{self.name}': its "
                            "preprocessing is fixed (only image_folder, npz and tfrecord take "
                            f"them). Received: {', '.join(given)}")

    # ----------------------------------------------------------------- to implement
    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, int, int]:
        """Shape ``(height, width, channels)`` of one preprocessed image."""

    @property
    @abc.abstractmethod
    def train_size(self) -> int:
        """Number of training examples (validation split included)."""

    @property
    @abc.abstractmethod
    def eval_size(self) -> int:
        """Number of evaluation examples."""

    @abc.abstractmethod
    def _train_examples(self) -> tf.data.Dataset:
        """Unbatched ``(image, label)`` training examples in a fixed, deterministic order."""

    @abc.abstractmethod
    def _eval_examples(self) -> tf.data.Dataset:
        """Unbatched ``(image, label)`` evaluation examples in a fixed, deterministic order."""

    @abc.abstractmethod
    def preprocess(self, image: tf.Tensor, label: tf.Tensor, augment_seed: tf.Tensor | None):
        """Maps one raw example to ``(float32 image of input_shape, int32 label)``.

        Args:
            image, label: one raw example.
            augment_seed: ``None`` for the deterministic splits; for an augmented training example
                the ``[2]`` int64 seed its random draws are made from, with stateless ops: the same
                seed gives the same image whatever else ran in the process before (stateful random
                ops share one state with every pipeline the process built, a search's included).
        """

    def explain_error(self, error: Exception) -> Exception | None:
        """A clearer error for ``error``, which reading one of this dataset's pipelines raised,
        when the dataset finds its cause in its files (the image that does not decode, named);
        ``None`` (the default) otherwise.

        Called on the failure path only (:meth:`explained_errors`), so it may read every file;
        the normal path carries no file names through the pipelines.
        """
        return None

    @contextlib.contextmanager
    def explained_errors(self) -> Iterator[None]:
        """Re-raises an error of the ``with`` block as :meth:`explain_error` explains it, when it
        does (the original is its ``__cause__``); any other error as it is."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 -- re-raised unless explained
            explained = self.explain_error(error)
            if explained is None:
                raise
            raise explained from error

    # ----------------------------------------------------------------- derived
    @property
    def validation_size(self) -> int:
        """Size of the validation split of the training data."""
        n = self.config.validation_size
        n = self.default_validation_size if n is None else n
        if n >= self.train_size:
            raise DataError(
                f"Expected `nb_smpls_val` < {self.train_size} (the training examples of "
                f"'{self.name}'). Received: nb_smpls_val={n}"
            )
        return n

    def train_dataset(self, *, exclude_val: bool = False, repeat: bool = True,
                      shuffle_seed: int | None = None, batch_size: int | None = None
                      ) -> tf.data.Dataset:
        """Shuffled, augmented training batches (repeated forever unless ``repeat=False``).

        Args:
            exclude_val: leave out the validation split (what a search trains on).
            repeat: repeat forever.
            shuffle_seed: seed of the shuffle order; defaults to ``config.seed``. A resumed run
                passes a different seed so it does not replay the batches it already saw.
            batch_size: overrides ``config.batch_size`` (e.g. the global batch of several replicas).
        """
        ds = self.shuffled_train_examples(exclude_val=exclude_val, repeat=repeat,
                                          shuffle_seed=shuffle_seed)
        # Example i of the stream is augmented from the seed (shuffle seed, i).
        augment, seed = self.config.augment, self.train_seed(shuffle_seed)

        def preprocess_example(index, example):
            key = augment_key(seed, index) if augment else None
            return self.preprocess(*example, augment_seed=key)

        ds = ds.enumerate().map(preprocess_example, num_parallel_calls=AUTOTUNE)
        return ds.batch(batch_size or self.config.batch_size, drop_remainder=True).prefetch(AUTOTUNE)

    def train_seed(self, shuffle_seed: int | None) -> int:
        """The seed of the training stream (shuffle, and augmentation where it is keyed):
        ``shuffle_seed``, or ``config.seed`` without one."""
        return self.config.seed if shuffle_seed is None else shuffle_seed

    def shuffled_train_examples(self, *, exclude_val: bool, repeat: bool,
                                shuffle_seed: int | None) -> tf.data.Dataset:
        """Raw training examples, shuffled (and repeated); what ``train_dataset`` batches."""
        ds = self._train_examples()
        if exclude_val:
            ds = ds.skip(self.validation_size)
        ds = ds.shuffle(self.config.shuffle_buffer, seed=self.train_seed(shuffle_seed),
                        reshuffle_each_iteration=True)
        return ds.repeat() if repeat else ds

    def val_dataset(self, batch_size: int | None = None) -> tf.data.Dataset:
        """The validation split (the first ``validation_size`` training examples), one pass."""
        ds = self._train_examples().take(self.validation_size)
        return self._single_pass(ds, batch_size)

    def eval_dataset(self, batch_size: int | None = None) -> tf.data.Dataset:
        """The evaluation split, one exact pass in a fixed order."""
        return self._single_pass(self._eval_examples(), batch_size)

    def calibration_images(self, nb_images: int) -> np.ndarray:
        """``nb_images`` preprocessed training images without augmentation (int8 calibration)."""
        ds = self._train_examples().take(nb_images)
        ds = ds.map(lambda x, y: self.preprocess(x, y, augment_seed=None)[0],
                    num_parallel_calls=AUTOTUNE)
        batches = list(ds.batch(256).as_numpy_iterator())
        if not batches:
            return np.zeros((0, *self.input_shape), np.float32)
        return np.concatenate(batches, axis=0)

    def _single_pass(self, ds: tf.data.Dataset, batch_size: int | None) -> tf.data.Dataset:
        ds = ds.map(lambda x, y: self.preprocess(x, y, augment_seed=None),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.batch(batch_size or self.config.batch_size_eval).prefetch(AUTOTUNE)
