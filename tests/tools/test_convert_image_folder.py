"""Image folder / tarball -> CIFAR-10 binaries and TFRecords, read back by the datasets."""

import os

import numpy as np
import pytest

from datasets import DataConfig, DataError, create_dataset
from datasets.cifar10 import read_cifar_binary
from tests.fixtures.data_fixtures import write_image_folder, write_tarball
from tools.conversion import convert_image_folder as converter


def _match_sources(converted, sources):
    """Index of the source image equal to each converted image (exact, lossless PNG input)."""
    keys = {image.tobytes(): index for index, image in enumerate(sources)}
    return np.array([keys[image.tobytes()] for image in converted])


def test_folder_to_cifar10_round_trip(tmp_path):
    written = write_image_folder(tmp_path / "images", nb_per_class={"train": 7, "test": 2})
    counts = converter.main(["--input", str(tmp_path / "images"),
                             "--cifar10_dir", str(tmp_path / "cifar"), "--nb_train_files", "2"])
    assert counts == {"cifar10": {"train": 21, "eval": 6}}
    assert sorted(os.listdir(tmp_path / "cifar")) == ["data_batch_1.bin", "data_batch_2.bin",
                                                      "test_batch.bin"]
    dataset = create_dataset(DataConfig(dataset="cifar10", data_dir=str(tmp_path / "cifar"),
                                        validation_size=3))
    assert (dataset.train_size, dataset.eval_size) == (21, 6)
    for split, paths in (("train", ["data_batch_1.bin", "data_batch_2.bin"]),
                         ("test", ["test_batch.bin"])):
        images, labels = read_cifar_binary([str(tmp_path / "cifar" / name) for name in paths])
        sources = _match_sources(images, written[split]["images"])
        assert sorted(sources) == list(range(len(written[split]["images"])))
        np.testing.assert_array_equal(labels, written[split]["labels"][sources])
    # The training records are interleaved across classes, deterministically.
    _, labels = read_cifar_binary([str(tmp_path / "cifar" / "data_batch_1.bin")])
    assert len(set(labels[:6])) > 1
    converter.main(["--input", str(tmp_path / "images"), "--cifar10_dir", str(tmp_path / "again"),
                    "--nb_train_files", "2"])
    for name in ("data_batch_1.bin", "test_batch.bin"):
        assert (tmp_path / "cifar" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_tarball_with_eval_index_range(tmp_path, capsys):
    written = write_image_folder(tmp_path / "images", nb_per_class={"train": 10}, image_size=20)
    archive = write_tarball(tmp_path / "images", str(tmp_path / "images.tar.gz"), arcname="top")
    counts = converter.main(["--input", archive, "--cifar10_dir", str(tmp_path / "cifar"),
                             "--eval_index_range", "7-8"])
    assert counts["cifar10"] == {"train": 24, "eval": 6}
    assert "24 training records, 6 evaluation records" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "cifar")) == 6  # data_batch_1..5 + test_batch
    dataset = create_dataset(DataConfig(dataset="cifar10", data_dir=str(tmp_path / "cifar"),
                                        validation_size=4))
    eval_images, eval_labels = dataset._eval_arrays
    assert eval_images.shape == (6, 32, 32, 3)  # 20x20 images were resized
    np.testing.assert_array_equal(np.bincount(eval_labels), [2, 2, 2])
    np.testing.assert_array_equal(np.bincount(dataset._train_arrays[1]), [8, 8, 8])
    # The evaluation records are the resized files 0007 and 0008 of each class.
    collection = converter.read_image_source(archive)
    _, evaluation = converter.split_collection(collection, (7, 8))
    assert [os.path.basename(image.path) for image in evaluation] == ["0007.png",
                                                                       "0008.png"] * 3
    resized = converter.decode_images(evaluation, 32, "test")
    assert sorted(_match_sources(eval_images, resized)) == list(range(6))
    assert written["train"]["images"].shape == (30, 20, 20, 3)


def _read_records(path):
    import tensorflow as tf

    return [tf.train.Example.FromString(record.numpy()).features.feature
            for record in tf.data.TFRecordDataset(str(path))]


def test_folder_to_tfrecords_read_by_ilsvrc12(tmp_path):
    written = write_image_folder(tmp_path / "images", nb_per_class={"train": 4}, image_size=24,
                                 image_format="jpg")
    counts = converter.main(["--input", str(tmp_path / "images"),
                             "--tfrecord_dir", str(tmp_path / "records"),
                             "--eval_index_range", "3-3", "--train_shards", "2",
                             "--validation_shards", "1"])
    assert counts == {"tfrecord": {"train": 9, "eval": 3}}
    assert sorted(os.listdir(tmp_path / "records")) == [
        "train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"]
    # JPEG files are stored as they are, with the build_imagenet_data features.
    features = _read_records(tmp_path / "records" / "validation-00000-of-00001")
    for feature, source, label in zip(features, [3, 7, 11], [1, 2, 3]):
        with open(written["train"]["paths"][source], "rb") as file:
            assert feature["image/encoded"].bytes_list.value[0] == file.read()
        assert feature["image/class/label"].int64_list.value == [label]
        assert feature["image/class/text"].bytes_list.value[0] == ("cat", "dog", "frog")[
            label - 1].encode()
        assert feature["image/height"].int64_list.value == [24]
    dataset = create_dataset(DataConfig(dataset="ilsvrc12", data_dir=str(tmp_path / "records"),
                                        image_size=24, validation_size=2, batch_size_eval=3))
    assert (dataset.train_size, dataset.eval_size) == (9, 3)
    images, labels = next(dataset.eval_dataset().as_numpy_iterator())
    assert images.shape == (3, 24, 24, 3)
    np.testing.assert_array_equal(labels, [1, 2, 3])  # class index + 1, in order
    train_labels = [int(feature["image/class/label"].int64_list.value[0])
                    for shard in ("train-00000-of-00002", "train-00001-of-00002")
                    for feature in _read_records(tmp_path / "records" / shard)]
    assert sorted(train_labels) == [1] * 3 + [2] * 3 + [3] * 3 and train_labels != sorted(
        train_labels)


def test_png_is_reencoded_as_jpeg(tmp_path):
    write_image_folder(tmp_path / "images", nb_per_class={"train": 1}, image_size=10)
    converter.main(["--input", str(tmp_path / "images"), "--tfrecord_dir", str(tmp_path / "out"),
                    "--train_shards", "1"])
    for feature in _read_records(tmp_path / "out" / "train-00000-of-00001"):
        assert feature["image/encoded"].bytes_list.value[0].startswith(b"\xff\xd8")
        assert feature["image/format"].bytes_list.value == [b"JPEG"]
        assert feature["image/width"].int64_list.value == [10]


@pytest.mark.parametrize("contents, message", [
    (b"GIF89a not a jpeg", "starts with bytes"),
    (b"\xff\xd8\xff\xe0 truncated jpeg", "cut short"),
    (b"\xff\xd8\xff\xe0 garbage between the markers \xff\xd9", "decodable"),
])
def test_corrupt_image_in_tarball_is_named(tmp_path, contents, message):
    write_image_folder(tmp_path / "images", nb_per_class={"train": 2}, image_format="jpg")
    (tmp_path / "images" / "train" / "dog" / "0001.jpg").write_bytes(contents)
    archive = write_tarball(tmp_path / "images", str(tmp_path / "images.tar.gz"))
    with pytest.raises(DataError, match=rf"{message}.*images\.tar\.gz:train/dog/0001\.jpg|"
                                        rf"images\.tar\.gz:train/dog/0001\.jpg.*{message}"):
        converter.main(["--input", archive, "--cifar10_dir", str(tmp_path / "cifar")])


def test_non_image_file_in_folder_is_named(tmp_path):
    write_image_folder(tmp_path / "images", nb_per_class={"train": 2})
    (tmp_path / "images" / "train" / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt"):
        converter.read_image_source(str(tmp_path / "images"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="4500-4999"):
        converter.parse_index_range("4999-4500")
    assert converter.parse_index_range("4500-4999") == (4500, 4999)
    with pytest.raises(DataError, match="neither a directory nor a tar archive"):
        converter.read_image_source(str(tmp_path / "nothing"))
    write_image_folder(tmp_path / "images", nb_per_class={"train": 2, "val": 1})
    collection = converter.read_image_source(str(tmp_path / "images"))
    with pytest.raises(ValueError, match="not both"):
        converter.convert_to_cifar10(collection, str(tmp_path / "cifar"), (0, 0))
    with pytest.raises(ValueError, match="select some images"):
        converter.split_collection(
            converter.ImageCollection(collection.class_names, collection.train, []), (5, 9))
    many = write_image_folder(tmp_path / "many", class_names=tuple(f"c{i:02d}" for i in range(11)),
                              nb_per_class={"train": 1}, image_size=4)
    assert len(many["train"]["labels"]) == 11
    with pytest.raises(ValueError, match="at most 10 classes"):
        converter.convert_to_cifar10(converter.read_image_source(str(tmp_path / "many")),
                                     str(tmp_path / "cifar"))
