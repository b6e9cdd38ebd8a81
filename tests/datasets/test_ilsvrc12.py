"""ILSVRC-12 TFRecord dataset on a few generated records: contract, preprocessing, errors."""

import numpy as np
import pytest
import tensorflow as tf

from datasets import DataConfig, DataError, create_dataset, ilsvrc12
from tests.fixtures.data_fixtures import ilsvrc12_example, write_ilsvrc12_tfrecords
from tests.fixtures.dataset_checks import check_dataset_contract


def _config(data_dir, **overrides):
    values = {"dataset": "ilsvrc12", "data_dir": str(data_dir), "batch_size": 4,
              "batch_size_eval": 4, "validation_size": 4, "shuffle_buffer": 16, "image_size": 24}
    values.update(overrides)
    return DataConfig(**values)


def test_contract(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=12, nb_eval=6, train_shards=3, eval_shards=2)
    dataset = create_dataset(_config(tmp_path))
    assert dataset.input_shape == (24, 24, 3) and dataset.nb_classes == 1001
    check_dataset_contract(dataset, nb_train=12, nb_eval=6, nb_val=4)
    labels = np.concatenate([y for _, y in dataset.eval_dataset().as_numpy_iterator()])
    assert sorted(labels) == sorted(1 + np.arange(6) % 5)  # labels 1..1000 are kept as they are


def test_defaults(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=2, nb_eval=1, train_shards=1)
    dataset = create_dataset(DataConfig(dataset="ilsvrc12", data_dir=str(tmp_path)))
    assert dataset.input_shape == (224, 224, 3) and dataset.default_validation_size == 10_000


def test_official_shard_counts_need_no_reading(tmp_path, monkeypatch):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=4, nb_eval=2, train_shards=2, eval_shards=1)
    monkeypatch.setattr(ilsvrc12, "OFFICIAL_SHARDS", {"train": 2, "validation": 1})
    dataset = create_dataset(_config(tmp_path))
    assert (dataset.train_size, dataset.eval_size) == (1_281_167, 50_000)


def test_eval_preprocessing_subtracts_the_rgb_mean(tmp_path):
    colour = np.array([200, 100, 50], np.uint8)
    for prefix in ("train", "validation"):
        with tf.io.TFRecordWriter(str(tmp_path / f"{prefix}-00000-of-00001")) as writer:
            writer.write(ilsvrc12_example(np.tile(colour, (30, 60, 1)), 7))
    dataset = create_dataset(_config(tmp_path, validation_size=0))
    images, labels = next(dataset.eval_dataset().as_numpy_iterator())
    assert images.shape == (1, 24, 24, 3) and labels.tolist() == [7]
    np.testing.assert_allclose(images[0], np.broadcast_to(colour - np.array(ilsvrc12.RGB_MEAN),
                                                          (24, 24, 3)), atol=3)
    train_images = next(iter(dataset.train_dataset(batch_size=1)))[0].numpy()
    np.testing.assert_allclose(train_images[0], images[0], atol=3)


def test_short_side_resize_and_central_crop():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 30:50] = 255  # a white vertical band in the centre
    encoded = tf.io.encode_jpeg(image, quality=100)
    cropped = ilsvrc12.resize_and_central_crop(encoded, 28).numpy()  # short side 40 -> 32
    assert cropped.shape == (28, 28, 3)
    columns = cropped.mean(axis=(0, 2))
    # Columns 30..49 of 80 -> 24..39 of 64 -> 6..21 of the crop (offset (64 - 28) / 2 = 18).
    assert columns[7:21].min() > 200 and columns[:5].max() < 50 and columns[23:].max() < 50


def test_missing_and_empty_dir(tmp_path):
    with pytest.raises(DataError, match="missing"):
        create_dataset(_config(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"no train-\*-of-\* file"):
        create_dataset(_config(tmp_path))


def test_missing_validation_files(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=2, nb_eval=1)
    (tmp_path / "validation-00000-of-00001").unlink()
    with pytest.raises(DataError, match=r"no validation-\*-of-\* file"):
        create_dataset(_config(tmp_path))


def test_truncated_shard_is_named(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=4, nb_eval=2, train_shards=2)
    path = tmp_path / "train-00001-of-00002"
    path.write_bytes(path.read_bytes()[:-10])
    dataset = create_dataset(_config(tmp_path))
    with pytest.raises(DataError, match=r"train-00001-of-00002' of \d+ bytes.*truncated"):
        _ = dataset.train_size


def test_records_without_label_are_rejected(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=2, nb_eval=1)
    encoded = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff\xd8"]))
    example = tf.train.Example(features=tf.train.Features(feature={"image/encoded": encoded}))
    with tf.io.TFRecordWriter(str(tmp_path / "train-00000-of-00001")) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(DataError, match=r"train-00000-of-00001.*image/class/label"):
        create_dataset(_config(tmp_path))


def test_not_a_tfrecord_file(tmp_path):
    write_ilsvrc12_tfrecords(tmp_path, nb_train=2, nb_eval=1)
    (tmp_path / "train-00000-of-00001").write_bytes(b"plain text, not records")
    with pytest.raises(DataError, match=r"train-00000-of-00001"):
        create_dataset(_config(tmp_path))
