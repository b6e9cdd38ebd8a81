"""File checks and image decoding shared by the datasets and the data-conversion tool.

Bad input must fail before training starts, with a ``DataError`` that names the file: the
checks here are cheap enough for ``__init__`` (directory listings, file extensions, the first
and last bytes of each image file: its header, and the end that a file cut short lacks; the
first record of a TFRecord file), and :func:`decode_image` is the one image decoder used by
the image datasets and by ``tools/conversion/convert_image_folder.py``. What the start-up
check cannot see (damage inside the compressed data) fails when the image is decoded;
:func:`undecodable_files` then finds the files to name, on that failure path only.
"""

from __future__ import annotations

import glob
import os
import re
import struct
from collections.abc import Callable, Sequence

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
HEADER_BYTES = 64
"""Leading bytes the start-up check reads: the signature, PNG's IHDR chunk, BMP's file and
info headers."""
TAIL_BYTES = 4096
"""Trailing bytes the start-up check reads: a whole JPEG's end-of-image marker or a whole PNG's
IEND chunk lies in them (a window, not the last bytes: some writers append a few bytes after
those; a file with more appended is read whole)."""
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC
_JPEG_END = b"\xff\xd9"  # EOI; in entropy-coded data an FF is followed by 00 or D0-D7 only


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


def check_image_header(path: str, header: bytes, detail: str | None = None) -> str:
    """Returns the image format of a file from its first bytes; raises ``DataError`` if none.

    Args:
        path: the file (named in the message).
        header: its first :data:`SIGNATURE_BYTES` bytes (or all of them if shorter).
        detail: what the message adds after the path (the file's class and split).
    """
    check_image_name(path)
    name = image_format(header)
    if name is None:
        where = f"'{path}' ({detail})" if detail else f"'{path}'"
        raise DataError(f"Expected a JPEG, PNG or BMP file. Received: {where}, which starts with "
                        f"bytes {header[:SIGNATURE_BYTES]!r} (corrupt or not an image)")
    return name


def _jpeg_problem(header: bytes, size: int) -> str | None:
    if header[2:3] != b"\xff":
        return "no marker after its start-of-image marker (FF D8)"
    return None


def _png_problem(header: bytes, size: int) -> str | None:
    if len(header) < 24 or header[8:16] != b"\x00\x00\x00\x0dIHDR":
        return "no IHDR chunk after its signature"
    width, height = struct.unpack(">II", header[16:24])
    if not width or not height:
        return f"an IHDR chunk that gives a {width}x{height} image"
    return None


def _bmp_problem(header: bytes, size: int) -> str | None:
    if len(header) < 26:
        return "a header shorter than a BMP header"
    offset, info_size = struct.unpack("<II", header[10:18])
    if info_size == 12:  # BITMAPCOREHEADER (OS/2): 16-bit sizes, never compressed
        width, height, _, bits = struct.unpack("<HHHH", header[18:26])
        compression = 0
    elif info_size >= 40 and len(header) >= 34:  # BITMAPINFOHEADER and its successors
        width, height, _, bits, compression = struct.unpack("<iiHHI", header[18:34])
    else:
        return f"an info header of {info_size} bytes (expected 12, or 40 or more)"
    if width <= 0 or height == 0 or bits not in (1, 4, 8, 16, 24, 32):
        return f"a header that gives a {width}x{abs(height)} image of {bits} bits per pixel"
    needed = offset
    if compression in (0, 3, 6):  # uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS)
        needed += (bits * width + 31) // 32 * 4 * abs(height)
    if size < needed:
        return (f"a header that gives {needed:,} bytes (pixels from offset {offset:,}): the "
                "file is cut short")
    return None


_HEADER_PROBLEMS = {"JPEG": _jpeg_problem, "PNG": _png_problem, "BMP": _bmp_problem}
"""Per format, ``(first bytes, file size) -> what is wrong`` (``None``: nothing)."""
_END_MARKERS = {"JPEG": (_JPEG_END, "no end-of-image marker (FF D9)"),
                "PNG": (_PNG_END, "no IEND chunk")}


def check_image_bytes(path: str, header: bytes, size: int, tail: bytes,
                      read_whole: Callable[[], bytes] | None = None,
                      detail: str | None = None) -> str:
    """Checks an image file by its header and its end; returns its format.

    Catches a file that is not an image, a header that describes no image, and a file cut
    short: a JPEG without its end-of-image marker, a PNG without its IEND chunk, a BMP shorter
    than its header says. Damage inside the compressed data is only found by decoding.

    Args:
        path: the file.
        header: its first :data:`HEADER_BYTES` bytes (or all of them if shorter).
        size: its size in bytes.
        tail: its last :data:`TAIL_BYTES` bytes (or more).
        read_whole: returns the whole file, read only when ``tail`` lacks the format's end
            marker (a file with more than ``TAIL_BYTES`` after it: a phone's motion photo).
        detail: what messages add after the path (the file's class and split).

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    name = check_image_header(path, header, detail)
    problem = _HEADER_PROBLEMS[name](header, size)
    marker, missing = _END_MARKERS.get(name, (None, None))
    if problem is None and marker is not None and marker not in tail and (
            read_whole is None or marker not in read_whole()):
        problem = f"{missing}: the file is cut short"
    if problem is not None:
        where = f"'{path}' ({detail}; {size:,} bytes)" if detail else f"'{path}' ({size:,} bytes)"
        raise DataError(f"Expected a whole {name} image. Received: {where}, with {problem}. "
                        "Replace or remove the file.")
    return name


def check_image_file(path: str, detail: str | None = None) -> str:
    """Checks the extension, the header and the end of an image file (see
    :func:`check_image_bytes`: two small reads, whatever the file's size); returns its format."""
    check_image_name(path)
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size <= TAIL_BYTES:
            tail = file.read()
            return check_image_bytes(path, tail[:HEADER_BYTES], size, tail, detail=detail)
        header = file.read(HEADER_BYTES)
        file.seek(size - TAIL_BYTES)
        tail = file.read()

        def read_whole() -> bytes:
            file.seek(0)
            return file.read()

        return check_image_bytes(path, header, size, tail, read_whole, detail)


def check_image_data(path: str, data: bytes, detail: str | None = None) -> str:
    """:func:`check_image_file` for an image already in memory (an archive's member)."""
    check_image_name(path)
    return check_image_bytes(path, data[:HEADER_BYTES], len(data), data, detail=detail)


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


def decode_error_message(error: tf.errors.OpError) -> str:
    """The first line of a TensorFlow error's message, without its function and op names."""
    message = re.sub(r"\{\{[^}]*\}\}", "", error.message).strip().splitlines()[0]
    return message.split(" [Op:")[0].strip()


def undecodable_files(paths: Sequence[str]) -> dict[int, str]:
    """The files among ``paths`` that cannot be read and decoded: ``{index: TensorFlow's
    message}``.

    For the failure path of a run, after a pipeline raised, to name the culprits: every file is
    decoded once, in parallel (a pipeline that drops the failures), and those that failed again
    one by one, for their messages.
    """
    indexed = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                                  tf.constant(list(paths), tf.string)))

    def decoded_shape(index, path):
        return index, tf.shape(decode_image(tf.io.read_file(path)))

    decoded = indexed.map(decoded_shape, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    failed = set(range(len(paths))) - {int(index) for index, _ in decoded.as_numpy_iterator()}
    messages = {}
    for index in sorted(failed):
        try:
            decode_image(tf.io.read_file(paths[index]))
            messages[index] = "decodes on its own, but not in the pipeline"
        except tf.errors.OpError as error:
            messages[index] = decode_error_message(error)
    return messages
