"""``tfrecord``: a user's encoded images and labels from 0 in TFRecord files."""

import numpy as np
import pytest
import tensorflow as tf

from datasets import DataConfig, DataError, create_dataset
from tests.fixtures.data_fixtures import image_example, write_image_tfrecords


def _config(data_dir, **overrides):
    values = {"dataset": "tfrecord", "data_dir": str(data_dir), "batch_size": 4,
              "batch_size_eval": 4, "validation_size": 4, "shuffle_buffer": 64, "image_size": 12}
    values.update(overrides)
    return DataConfig(**values)


def _eval_arrays(dataset):
    images, labels = zip(*dataset.eval_dataset().as_numpy_iterator())
    return np.concatenate(images), np.concatenate(labels)


def test_tfrecord_contract(tmp_path):
    from tests.fixtures.dataset_checks import check_dataset_contract

    write_image_tfrecords(tmp_path, nb_train=16, nb_eval=6, nb_classes=4)
    dataset = create_dataset(_config(tmp_path))
    assert dataset.input_shape == (12, 12, 3) and dataset.nb_classes == 4
    check_dataset_contract(dataset, nb_train=16, nb_eval=6, nb_val=4)


def test_pixels_labels_and_the_models_input_shape(tmp_path):
    written = write_image_tfrecords(tmp_path, nb_eval=6)
    images, labels = _eval_arrays(create_dataset(_config(tmp_path, input_scale="0_1")))
    np.testing.assert_allclose(images, written["x_eval"] / 255, atol=1e-6)  # PNG: lossless
    np.testing.assert_array_equal(labels, written["y_eval"])
    grey = create_dataset(_config(tmp_path, image_size=None, input_shape=(6, 10, 1)))
    assert grey.input_shape == (6, 10, 1)
    assert _eval_arrays(grey)[0].shape == (6, 6, 10, 1)


def test_missing_files_and_features_are_named(tmp_path):
    with pytest.raises(DataError, match="no train-\\* file"):
        create_dataset(_config(tmp_path))
    write_image_tfrecords(tmp_path)
    (tmp_path / "validation-00000-of-00001").unlink()
    with pytest.raises(DataError, match="no validation-\\* file"):
        create_dataset(_config(tmp_path))


def test_a_record_without_a_label_is_named(tmp_path):
    write_image_tfrecords(tmp_path)
    path = tmp_path / "validation-00000-of-00001"
    unlabelled = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))}))
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(image_example(np.zeros((4, 4, 3), np.uint8), 1))
        writer.write(unlabelled.SerializeToString())
    with pytest.raises(DataError, match="validation-00000-of-00001'.*record 1 without"):
        create_dataset(_config(tmp_path))


def test_a_truncated_file_is_named(tmp_path):
    write_image_tfrecords(tmp_path)
    path = tmp_path / "train-00001-of-00002"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="train-00001-of-00002"):
        create_dataset(_config(tmp_path))
