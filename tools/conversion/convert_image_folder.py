"""Converts an image folder (or a ``.tar.gz`` of one) to CIFAR-10 binaries and/or TFRecords.

Input: ``<root>/train/<class>/<image>`` and optionally an evaluation split
``<root>/{val,validation,test,eval}/<class>/<image>`` (JPEG, PNG or BMP), as a directory or as a
``.tar.gz``/``.tgz``/``.tar`` archive (``<root>`` may be nested inside the archive). Labels are the
sorted class names' indices. The evaluation images are either that split, or, with
``--eval_index_range START-END``, the files whose position within their class (files sorted by
name, counting from 0, both ends included) lies in the range; the other files are for training.

Outputs:

* ``--cifar10_dir``: the CIFAR-10 "binary version" read by the ``cifar10`` dataset:
  ``data_batch_{1..N}.bin`` (``--nb_train_files``, default 5, near-equal sizes) and
  ``test_batch.bin``; images are resized to 32x32 when they are not. The training records are
  interleaved across classes by a shuffle seeded with ``--seed``; so are the evaluation records.
* ``--tfrecord_dir``: TFRecords in the layout of TF models' ``build_imagenet_data.py`` read by
  the ``ilsvrc12`` dataset: ``train-00000-of-0000N`` (shuffled) and ``validation-...``
  (in order), with ``image/encoded`` (JPEG; other formats are re-encoded), ``image/format``,
  ``image/height``, ``image/width``, ``image/channels``, ``image/colorspace``,
  ``image/filename``, ``image/class/label`` (class index + 1: 0 is the background class),
  ``image/class/synset`` and ``image/class/text`` (the class name).

Example (the shared CIFAR-10 JPEG archive: 45,000 training / 5,000 evaluation images)::

    python -m tools.conversion.convert_image_folder \\
        --input ../shared/data/cifar10/cifar10-train-jpg.tar.gz \\
        --cifar10_dir ~/pocketflow_data/cifar10 --eval_index_range 4500-4999
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tarfile
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from datasets.base import DataError
from datasets.cifar10 import EVAL_FILE, IMAGE_SIZE, NB_CLASSES, write_cifar_binary
from datasets.files import check_image_data, decode_error_message, decode_image
from datasets.image_folder import TRAIN_SPLIT, build_image_tree, scan_image_folder

_DECODE_BATCH = 256


@dataclasses.dataclass(frozen=True)
class ImageFile:
    """One labelled image of the input.

    Attributes:
        path: where it is (a file path, or ``archive:member``), for messages.
        label: its class index.
        index: its position among its class's files, sorted by name.
        read: returns the encoded bytes.
    """

    path: str
    label: int
    index: int
    read: Callable[[], bytes]


@dataclasses.dataclass(frozen=True)
class ImageCollection:
    """The labelled images of an input folder or archive.

    Attributes:
        class_names: sorted class names; label ``i`` is ``class_names[i]``.
        train: the training split's images, sorted by class, then file name.
        evaluation: the evaluation split's images (empty when the input has none).
    """

    class_names: tuple[str, ...]
    train: list[ImageFile]
    evaluation: list[ImageFile]


def _read_file(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _archive_root(names: Sequence[str], archive: str) -> str:
    """The prefix (``''`` or ``'dir/'``) under which an archive holds ``train/<class>/<file>``."""
    roots = {"/".join(parts[:-3]) for parts in (name.split("/") for name in names)
             if len(parts) >= 3 and parts[-3] == TRAIN_SPLIT}
    if not roots:
        raise DataError(f"Expected an archive of <split>/<class>/<image> files with a "
                        f"'{TRAIN_SPLIT}' split. Received: '{archive}' has no "
                        f"'{TRAIN_SPLIT}/<class>/<image>' member")
    root = min(roots, key=lambda prefix: (prefix.count("/"), prefix))
    return f"{root}/" if root else ""


def read_image_source(source: str) -> ImageCollection:
    """Lists (and checks) the images of a folder or of a ``.tar.gz`` / ``.tgz`` / ``.tar`` archive.

    An archive is read into memory once (the file contents are needed later anyway); a folder's
    files are read when converted.

    Raises:
        DataError: ``source`` does not exist, or holds a misplaced, non-image or corrupt file
            (see ``datasets.image_folder.build_image_tree``).
    """
    if os.path.isdir(source):
        tree = scan_image_folder(source)

        def reader(relative_path):
            path = os.path.join(source, relative_path)
            return path, lambda: _read_file(path)
    elif os.path.isfile(source) and tarfile.is_tarfile(source):
        contents, directories = {}, []
        with tarfile.open(source, "r:*") as archive:
            for member in tqdm(archive, desc=f"reading {os.path.basename(source)}", unit=" files"):
                name = member.name.removeprefix("./")
                if member.isdir():
                    directories.append(name)
                elif member.isfile():
                    contents[name] = archive.extractfile(member).read()
        root = _archive_root(list(contents), source)
        members = {name[len(root):]: data for name, data in contents.items()
                   if name.startswith(root)}
        tree = build_image_tree(members, [name[len(root):] for name in directories
                                          if name.startswith(root)], f"{source}:{root}")
        for split, entries in tree.splits.items():
            for relative_path, label, _ in entries:
                check_image_data(f"{source}:{root}{relative_path}", members[relative_path],
                                 tree.describe(split, label))

        def reader(relative_path):
            data = members[relative_path]
            return f"{source}:{root}{relative_path}", lambda: data
    else:
        raise DataError(f"Expected an image folder or a .tar.gz of one. Received: "
                        f"--input='{source}', which is neither a directory nor a tar archive")

    def files(split):
        images = []
        for relative_path, label, index in tree.splits.get(split, []):
            path, read = reader(relative_path)
            images.append(ImageFile(path, label, index, read))
        return images

    return ImageCollection(tree.class_names, files(TRAIN_SPLIT),
                           files(tree.eval_split) if tree.eval_split else [])


def parse_index_range(text: str) -> tuple[int, int]:
    """Parses ``START-END`` (both included, ``0 <= START <= END``) into ``(START, END)``."""
    try:
        start, end = (int(part) for part in text.split("-"))
    except ValueError:
        start, end = -1, -1
    if not 0 <= start <= end:
        raise ValueError(f"Expected --eval_index_range as START-END with 0 <= START <= END, e.g. "
                         f"4500-4999. Received: --eval_index_range={text!r}")
    return start, end


def _index_range_argument(text: str) -> tuple[int, int]:
    try:
        return parse_index_range(text)
    except ValueError as error:  # argparse shows the message of an ArgumentTypeError only
        raise argparse.ArgumentTypeError(str(error)) from None


def split_collection(collection: ImageCollection, eval_index_range: tuple[int, int] | None
                     ) -> tuple[list[ImageFile], list[ImageFile]]:
    """The ``(training, evaluation)`` images: by index range within each class, or as given."""
    if eval_index_range is None:
        return collection.train, collection.evaluation
    if collection.evaluation:
        raise ValueError("Expected either an evaluation split in the input or "
                         "--eval_index_range, not both. Received: both")
    start, end = eval_index_range
    evaluation = [image for image in collection.train if start <= image.index <= end]
    if not evaluation:
        raise ValueError(f"Expected --eval_index_range to select some images. Received: "
                         f"{start}-{end}, past the end of every class")
    return [image for image in collection.train if not start <= image.index <= end], evaluation


def decode_images(images: Sequence[ImageFile], image_size: int, description: str) -> np.ndarray:
    """Decodes images to ``uint8 [N, image_size, image_size, 3]``, in order, with a progress bar.

    Raises:
        DataError: an image cannot be decoded (the message names it).
    """
    def contents():
        for image in images:
            yield image.read()

    ds = tf.data.Dataset.from_generator(contents, output_signature=tf.TensorSpec((), tf.string))
    ds = ds.map(lambda data: decode_image(data, image_size), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True).batch(_DECODE_BATCH)
    batches = []
    with tqdm(total=len(images), desc=description, unit=" images") as progress:
        try:
            for batch in ds.as_numpy_iterator():
                batches.append(batch)
                progress.update(len(batch))
        except tf.errors.InvalidArgumentError:
            _raise_undecodable(images[sum(map(len, batches)):])
            raise
    if not batches:
        return np.zeros((0, image_size, image_size, 3), np.uint8)
    return np.concatenate(batches)


def _raise_undecodable(images: Sequence[ImageFile]) -> None:
    """Finds the first image that does not decode and raises a DataError naming it."""
    for image in images:
        try:
            decode_image(tf.constant(image.read()))
        except tf.errors.InvalidArgumentError as error:
            raise DataError(f"Expected a decodable JPEG, PNG or BMP image. Received: "
                            f"'{image.path}' ({decode_error_message(error)})") from None


def convert_to_cifar10(collection: ImageCollection, output_dir: str,
                       eval_index_range: tuple[int, int] | None = None, nb_train_files: int = 5,
                       seed: int = 0) -> dict[str, int]:
    """Writes ``data_batch_{1..nb_train_files}.bin`` and ``test_batch.bin`` to ``output_dir``.

    Args:
        collection: the input images (at most 10 classes).
        output_dir: the output directory (created).
        eval_index_range: if given, the evaluation images are those at these positions within
            their class, and the input must have no evaluation split.
        nb_train_files: number of training files the training records are spread over.
        seed: seed of the shuffles that interleave the classes.

    Returns:
        ``{"train": nb_training_records, "eval": nb_evaluation_records}``.
    """
    if len(collection.class_names) > NB_CLASSES:
        raise ValueError(f"Expected at most {NB_CLASSES} classes for CIFAR-10 binaries. "
                         f"Received: {len(collection.class_names)} classes")
    if nb_train_files < 1:
        raise ValueError(f"Expected --nb_train_files >= 1. Received: {nb_train_files}")
    train, evaluation = split_collection(collection, eval_index_range)
    rng = np.random.default_rng(seed)
    train = [train[index] for index in rng.permutation(len(train))]
    evaluation = [evaluation[index] for index in rng.permutation(len(evaluation))]
    os.makedirs(output_dir, exist_ok=True)

    images = decode_images(train, IMAGE_SIZE, "training images")
    labels = np.array([image.label for image in train], np.int64)
    chunks = np.array_split(np.arange(len(train)), min(nb_train_files, max(len(train), 1)))
    for number, chunk in enumerate(chunks, start=1):
        write_cifar_binary(os.path.join(output_dir, f"data_batch_{number}.bin"),
                           images[chunk], labels[chunk])
    for number in range(len(chunks) + 1, 6):  # stale files from an earlier conversion
        stale = os.path.join(output_dir, f"data_batch_{number}.bin")
        if os.path.exists(stale):
            os.remove(stale)
    if evaluation:
        images = decode_images(evaluation, IMAGE_SIZE, "evaluation images")
        write_cifar_binary(os.path.join(output_dir, EVAL_FILE), images,
                           np.array([image.label for image in evaluation], np.int64))
    return {"train": len(train), "eval": len(evaluation)}


def _int64_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _bytes_feature(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _tf_example(image: ImageFile, class_name: str) -> tf.train.Example:
    """A ``build_imagenet_data`` Example: JPEG bytes, size, label + 1, class name."""
    data = image.read()
    decoded = decode_image(tf.constant(data))
    if not data.startswith(b"\xff\xd8"):
        data = tf.io.encode_jpeg(decoded, quality=95).numpy()
    height, width, channels = decoded.shape
    features = {
        "image/height": _int64_feature([height]),
        "image/width": _int64_feature([width]),
        "image/colorspace": _bytes_feature([b"RGB"]),
        "image/channels": _int64_feature([channels]),
        "image/class/label": _int64_feature([image.label + 1]),
        "image/class/synset": _bytes_feature([class_name.encode()]),
        "image/class/text": _bytes_feature([class_name.encode()]),
        "image/format": _bytes_feature([b"JPEG"]),
        "image/filename": _bytes_feature([os.path.basename(image.path).encode()]),
        "image/encoded": _bytes_feature([data]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def _write_shards(images: Sequence[ImageFile], class_names: Sequence[str], output_dir: str,
                  prefix: str, nb_shards: int) -> None:
    nb_shards = min(nb_shards, max(len(images), 1))
    chunks = np.array_split(np.arange(len(images)), nb_shards)
    with tqdm(total=len(images), desc=f"{prefix} records", unit=" images") as progress:
        for shard, chunk in enumerate(chunks):
            path = os.path.join(output_dir, f"{prefix}-{shard:05d}-of-{nb_shards:05d}")
            with tf.io.TFRecordWriter(path) as writer:
                for index in chunk:
                    image = images[index]
                    try:
                        example = _tf_example(image, class_names[image.label])
                    except tf.errors.InvalidArgumentError:
                        _raise_undecodable([image])
                        raise
                    writer.write(example.SerializeToString())
                    progress.update()


def convert_to_tfrecords(collection: ImageCollection, output_dir: str,
                         eval_index_range: tuple[int, int] | None = None, train_shards: int = 8,
                         validation_shards: int = 2, seed: int = 0) -> dict[str, int]:
    """Writes ``train-*-of-*`` (shuffled) and ``validation-*-of-*`` TFRecords to ``output_dir``.

    Args:
        collection: the input images.
        output_dir: the output directory (created).
        eval_index_range: as in :func:`convert_to_cifar10`.
        train_shards: number of training shards.
        validation_shards: number of validation shards.
        seed: seed of the training shuffle.

    Returns:
        ``{"train": nb_training_records, "eval": nb_validation_records}``.
    """
    if train_shards < 1 or validation_shards < 1:
        raise ValueError(f"Expected --train_shards and --validation_shards >= 1. Received: "
                         f"{train_shards} and {validation_shards}")
    train, evaluation = split_collection(collection, eval_index_range)
    train = [train[index] for index in np.random.default_rng(seed).permutation(len(train))]
    os.makedirs(output_dir, exist_ok=True)
    _write_shards(train, collection.class_names, output_dir, "train", train_shards)
    if evaluation:
        _write_shards(evaluation, collection.class_names, output_dir, "validation",
                      validation_shards)
    return {"train": len(train), "eval": len(evaluation)}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description="Convert an image folder (or a .tar.gz of one) to CIFAR-10 binaries and/or "
                    "build_imagenet_data TFRecords.")
    parser.add_argument("--input", required=True,
                        help="image folder <root>/train/<class>/<image>, or a .tar.gz of one")
    parser.add_argument("--cifar10_dir", help="write CIFAR-10 binary batches here")
    parser.add_argument("--tfrecord_dir", help="write train-*/validation-* TFRecords here")
    parser.add_argument("--eval_index_range", type=_index_range_argument, default=None,
                        help="START-END: the files at these positions within each class (sorted "
                             "by name, from 0, both ends included) form the evaluation split")
    parser.add_argument("--nb_train_files", type=int, default=5,
                        help="number of data_batch_*.bin files")
    parser.add_argument("--train_shards", type=int, default=8, help="training TFRecord shards")
    parser.add_argument("--validation_shards", type=int, default=2,
                        help="validation TFRecord shards")
    parser.add_argument("--seed", type=int, default=0, help="seed of the record shuffles")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """Runs the conversion; returns the counts written per output format."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.cifar10_dir and not args.tfrecord_dir:
        parser.error("Expected --cifar10_dir and/or --tfrecord_dir. Received: neither")
    collection = read_image_source(args.input)
    print(f"{len(collection.class_names)} classes, {len(collection.train)} training and "
          f"{len(collection.evaluation)} evaluation images in '{args.input}'")
    counts = {}
    if args.cifar10_dir:
        counts["cifar10"] = convert_to_cifar10(collection, args.cifar10_dir, args.eval_index_range,
                                               args.nb_train_files, args.seed)
        print(f"CIFAR-10 binaries in '{args.cifar10_dir}': {counts['cifar10']['train']} training "
              f"records, {counts['cifar10']['eval']} evaluation records")
    if args.tfrecord_dir:
        counts["tfrecord"] = convert_to_tfrecords(
            collection, args.tfrecord_dir, args.eval_index_range, args.train_shards,
            args.validation_shards, args.seed)
        print(f"TFRecords in '{args.tfrecord_dir}': {counts['tfrecord']['train']} training "
              f"records, {counts['tfrecord']['eval']} validation records")
    return counts


if __name__ == "__main__":
    try:
        main()
    except (DataError, ValueError) as error:
        sys.exit(f"error: {error}")
