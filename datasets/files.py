"""File checks and image decoding shared by the datasets and the data-conversion tool.

Bad input must fail before training starts, with a ``DataError`` that names the file: the
checks here are cheap enough for ``__init__`` (directory listings, file extensions, the first
bytes of each image file, the first record of a TFRecord file), and :func:`decode_image` is the
one image decoder used by the image datasets and by ``tools/conversion/convert_image_folder.py``.
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf

from datasets.base import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

# Leading bytes of each accepted image format (JPEG SOI marker, PNG signature, BMP 'BM').
_IMAGE_SIGNATURES = {
    "JPEG": b"\xff\xd8",
    "PNG": b"\x89PNG\r\n\x1a\n",
    "BMP": b"BM",
}
SIGNATURE_BYTES = max(len(signature) for signature in _IMAGE_SIGNATURES.values())


def check_data_dir(data_dir: str | None, dataset_name: str, expected: str) -> str:
    """Returns ``data_dir`` if it is an existing directory.

    Args:
        data_dir: the configured data directory.
        dataset_name: the dataset's registered name (for the message).
        expected: what the dataset expects there, e.g. ``"CIFAR-10 binary files ..."``.

    Raises:
        DataError: ``data_dir`` is ``None`` or not a directory.
    """
    if data_dir is None:
        raise DataError(f"Expected a data directory (--data_dir_local) holding {expected} for "
                        f"dataset '{dataset_name}'. Received: none")
    if not os.path.isdir(data_dir):
        raise DataError(f"Expected {expected} in the data directory (--data_dir_local). "
                        f"Received: '{data_dir}', which is not a directory")
    return data_dir


def is_hidden(name: str) -> bool:
    """Whether a directory entry is hidden (``.DS_Store``, ``._x.jpg``, ``.ipynb_checkpoints``)."""
    return name.startswith(".")


def check_image_name(path: str) -> None:
    """Raises a ``DataError`` unless ``path`` has an image extension (case-insensitive)."""
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        raise DataError(f"Expected only image files ({', '.join(IMAGE_EXTENSIONS)}) in an image "
                        f"folder. Received: '{path}'")


def image_format(header: bytes) -> str | None:
    """The format (``JPEG``, ``PNG``, ``BMP``) whose signature starts ``header``, else ``None``."""
    for name, signature in _IMAGE_SIGNATURES.items():
        if header.startswith(signature):
            return name
    return None


def check_image_header(path: str, header: bytes) -> str:
    """Returns the image format of a file from its first bytes; raises ``DataError`` if none.

    Args:
        path: the file (named in the message).
        header: its first :data:`SIGNATURE_BYTES` bytes (or all of them if shorter).
    """
    check_image_name(path)
    name = image_format(header)
    if name is None:
        raise DataError(f"Expected a JPEG, PNG or BMP file. Received: '{path}', which starts with "
                        f"bytes {header[:SIGNATURE_BYTES]!r} (corrupt or not an image)")
    return name


def check_image_file(path: str) -> str:
    """Checks the extension and the leading bytes of an image file; returns its format."""
    check_image_name(path)
    with open(path, "rb") as file:
        return check_image_header(path, file.read(SIGNATURE_BYTES))


def shard_files(data_dir: str, pattern: str) -> list[str]:
    """The files of ``data_dir`` that match the glob ``pattern``, sorted."""
    return sorted(path for path in glob.glob(os.path.join(data_dir, pattern))
                  if os.path.isfile(path))


def check_first_example(path: str, required: tuple[str, ...]) -> None:
    """Checks that the first record of a TFRecord file is a ``tf.train.Example`` with the
    ``required`` features.

    Raises:
        DataError: naming the file: no record, not an Example, or a feature missing.
    """
    try:
        record = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        example = tf.train.Example.FromString(record.numpy()) if record is not None else None
    except (tf.errors.OpError, ValueError) as error:  # DecodeError is a ValueError
        raise DataError(f"Expected TFRecords of tf.train.Example. Received: '{path}' "
                        f"({type(error).__name__})") from None
    if example is None:
        raise DataError(f"Expected at least one record in '{path}'. Received: none")
    missing = [key for key in required if key not in example.features.feature]
    if missing:
        raise DataError(f"Expected features {list(required)} in the records of '{path}'. "
                        f"Received: a record without {missing}")


def decode_image(contents: tf.Tensor, image_size: int | tuple[int, int] | None = None,
                 channels: int = 3) -> tf.Tensor:
    """Decodes JPEG/PNG/BMP bytes to a ``uint8 [H, W, channels]`` image.

    Args:
        contents: a scalar string tensor, the encoded file.
        image_size: if given (a side, or ``(height, width)``), the image is resized (bilinear,
            antialiased) to that size unless it has it already, and the result has that static
            shape.
        channels: 3 (RGB; grey images are expanded) or 1 (grey; colour images are converted).

    Returns:
        A ``uint8`` tensor ``[H, W, channels]``.
    """
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
    if image_size is None:
        return image
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)

    def resize():
        resized = tf.image.resize(image, size, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    shape = tf.shape(image)
    same_size = tf.logical_and(tf.equal(shape[0], size[0]), tf.equal(shape[1], size[1]))
    image = tf.cond(same_size, lambda: image, resize)
    return tf.ensure_shape(image, (*size, channels))
