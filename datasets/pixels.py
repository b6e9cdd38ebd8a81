"""Pixels as the model takes them: the preprocessing a user states (``--input_scale``,
``--input_mean``, ``--input_std``) and the input shape of their model.

Pixels 0..255 are mapped linearly to the range of ``--input_scale`` (``0_1``, ``-1_1`` or
``0_255``), then the per-channel ``--input_mean`` is subtracted and the result divided by the
per-channel ``--input_std``: ``(x / 255 * (high - low) + low - mean) / std``. ``--input_scale
none`` maps nothing (``(x - mean) / std``): an ``npz`` file's arrays are then the model's inputs
as they are (what the Python API writes), encoded images stay 0..255. The datasets of
pixels (``image_folder``, ``npz``, ``tfrecord``) use :class:`ScaledPixelsMixin`; the others have
their fixed preprocessing and refuse these settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from datasets.augment import PadCropFlipMixin
from datasets.base import INPUT_SCALES, DataConfig, DataError

DEFAULT_INPUT_SCALE = "-1_1"
"""The scale without ``--input_scale`` (what the image folders always used)."""

DECODED_CHANNELS = (1, 3)
"""The channel counts an encoded image can be decoded to (grey, RGB)."""


def scale_pixels(images: tf.Tensor, input_scale: str, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> tf.Tensor:
    """Float32 model inputs from pixels 0..255 (one image or a batch, channels last).

    Args:
        images: pixels 0..255, any real dtype.
        input_scale: a key of ``INPUT_SCALES``: the range 0..255 is mapped to (``none``:
            the values are kept as they are).
        mean: subtracted after the scaling, per channel (or one value for all).
        std: divided by after the mean, per channel (or one value for all).
    """
    images = tf.cast(images, tf.float32)
    if INPUT_SCALES[input_scale] is not None:
        low, high = INPUT_SCALES[input_scale]
        images = images * ((high - low) / 255.0) + low
    if mean is not None:
        images = images - tf.constant(mean, tf.float32)
    if std is not None:
        images = images / tf.constant(std, tf.float32)
    return images


def decoded_input_shape(config: DataConfig, default_size: int) -> tuple[int, int, int]:
    """``(height, width, channels)`` images are decoded and resized to: the model's input
    (``config.input_shape``) where it is fixed, else ``config.image_size`` or ``default_size``
    squares; RGB unless the model takes grey images.

    Raises:
        DataError: the model takes another channel count than 1 or 3.
    """
    height, width, channels = config.input_shape or (None, None, None)
    size = config.image_size or default_size
    channels = 3 if channels is None else channels
    if channels not in DECODED_CHANNELS:
        raise DataError(f"Expected a model that takes grey (1-channel) or RGB (3-channel) images "
                        f"for dataset of encoded images. Received: a model input of shape "
                        f"{config.input_shape}")
    return (height or size, width or size, channels)


class ScaledPixelsMixin(PadCropFlipMixin):
    """``normalize`` from the config's ``input_scale`` / ``input_mean`` / ``input_std``, and
    pad-crop-flip augmentation padded by an eighth of the image's shorter side.

    A subclass (listing this mixin before ``Dataset``) implements ``input_shape`` and ``decode``
    (pixels 0..255, any real dtype) and calls :meth:`check_channel_statistics` in ``__init__``
    once ``input_shape`` is known.
    """

    pixel_scaling = True
    augment_flip = True

    @property
    def default_validation_size(self) -> int:
        """A user's data set of any size: a tenth of the training examples, at most 5,000."""
        return min(5000, self.train_size // 10)

    @property
    def augment_padding(self) -> int:
        return max(1, min(self.input_shape[:2]) // 8)

    def check_channel_statistics(self) -> None:
        """Raises a ``DataError`` unless ``input_mean`` / ``input_std`` hold one value, or one
        per channel of the images."""
        channels = self.input_shape[-1]
        for name in ("input_mean", "input_std"):
            values = getattr(self.config, name)
            if values is not None and len(values) not in (1, channels):
                raise DataError(f"Expected --{name} to hold one value, or one per channel of the "
                                f"{channels}-channel images of dataset '{self.name}'. Received: "
                                f"--{name}={','.join(map(str, values))}")

    def normalize(self, images: tf.Tensor) -> tf.Tensor:
        return scale_pixels(images, self.config.input_scale or DEFAULT_INPUT_SCALE,
                            self.config.input_mean, self.config.input_std)
