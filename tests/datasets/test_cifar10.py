"""CIFAR-10 binary dataset: contract, pixels and labels, and bad-input errors."""

import os

import numpy as np
import pytest

from datasets import DataConfig, DataError, create_dataset
from datasets.augment import pad_crop_flip_batch
from datasets.cifar10 import CIFAR_MEAN, CIFAR_STD
from tests.fixtures.data_fixtures import write_cifar10_binary
from tests.fixtures.dataset_checks import check_dataset_contract


def _config(data_dir, **overrides):
    values = {"dataset": "cifar10", "data_dir": str(data_dir), "batch_size": 8,
              "batch_size_eval": 5, "validation_size": 10, "shuffle_buffer": 64}
    values.update(overrides)
    return DataConfig(**values)


def test_contract(tmp_path):
    write_cifar10_binary(tmp_path, nb_train_per_file=(10, 14), nb_eval=12, nb_train_files=2)
    dataset = create_dataset(_config(tmp_path))
    assert dataset.input_shape == (32, 32, 3) and dataset.nb_classes == 10
    check_dataset_contract(dataset, nb_train=24, nb_eval=12, nb_val=10)


def test_reads_pixels_and_labels_in_file_order(tmp_path):
    arrays = write_cifar10_binary(tmp_path, nb_train_per_file=6, nb_eval=7, nb_train_files=3)
    dataset = create_dataset(_config(tmp_path, validation_size=4))
    expected = (arrays["x_eval"] - np.array(CIFAR_MEAN)) / np.array(CIFAR_STD)
    images, labels = zip(*dataset.eval_dataset().as_numpy_iterator())
    np.testing.assert_allclose(np.concatenate(images), expected, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate(labels), arrays["y_eval"])
    val_labels = np.concatenate([y for _, y in dataset.val_dataset().as_numpy_iterator()])
    np.testing.assert_array_equal(val_labels, arrays["y_train"][:4])


def test_training_augmentation_is_a_shifted_and_maybe_flipped_window(tmp_path):
    """Each augmented image is a window of the normalised image zero-padded by 4 pixels."""
    arrays = write_cifar10_binary(tmp_path, nb_train_per_file=16, nb_eval=2, nb_train_files=1)
    dataset = create_dataset(_config(tmp_path, batch_size=16, validation_size=0))
    images, labels = next(iter(dataset.train_dataset()))
    normalised = (arrays["x_train"] - np.array(CIFAR_MEAN)) / np.array(CIFAR_STD)
    padded = np.pad(normalised, [(0, 0), (4, 4), (4, 4), (0, 0)])
    crops = [image[top:top + 32, left:left + 32]
             for image in padded for top in range(9) for left in range(9)]
    windows = np.stack([window for crop in crops for window in (crop, crop[:, ::-1])])
    sources = []
    for image in images.numpy():
        distances = np.abs(windows - image).reshape(len(windows), -1).max(axis=1)
        assert distances.min() < 1e-4
        sources.append(int(distances.argmin()) // (9 * 9 * 2))
    np.testing.assert_array_equal(labels.numpy(), arrays["y_train"][sources])


def test_batch_augmentation_varies_per_image():
    images = np.tile(np.arange(32 * 32, dtype=np.float32).reshape(1, 32, 32, 1), (64, 1, 1, 1))
    augmented = pad_crop_flip_batch(images, padding=4, seed=[0, 0]).numpy()
    assert len({image.tobytes() for image in augmented}) > 10
    assert np.array_equal(pad_crop_flip_batch(images, padding=4, seed=[0, 0]).numpy(), augmented)
    assert not np.array_equal(pad_crop_flip_batch(images, padding=4, seed=[0, 1]).numpy(), augmented)


def test_missing_dir(tmp_path):
    with pytest.raises(DataError, match="nowhere.*"):
        create_dataset(_config(tmp_path / "nowhere"))


def test_empty_dir_names_the_expected_files(tmp_path):
    with pytest.raises(DataError, match=r"data_batch_1\.bin.*test_batch\.bin"):
        create_dataset(_config(tmp_path))


def test_missing_test_batch(tmp_path):
    write_cifar10_binary(tmp_path, nb_train_per_file=2, nb_eval=2, nb_train_files=1)
    os.remove(tmp_path / "test_batch.bin")
    with pytest.raises(DataError, match=r"no test_batch\.bin"):
        create_dataset(_config(tmp_path))


def test_truncated_batch_names_file_size_and_record_size(tmp_path):
    write_cifar10_binary(tmp_path, nb_train_per_file=3, nb_eval=2, nb_train_files=2)
    path = tmp_path / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"3073-byte records.*data_batch_2\.bin' of 9119 bytes"):
        create_dataset(_config(tmp_path))


def test_bad_label_names_the_file(tmp_path):
    write_cifar10_binary(tmp_path, nb_train_per_file=3, nb_eval=2, nb_train_files=1)
    path = tmp_path / "test_batch.bin"
    data = bytearray(path.read_bytes())
    data[3073] = 10  # label of the second record
    path.write_bytes(bytes(data))
    dataset = create_dataset(_config(tmp_path, validation_size=1))
    with pytest.raises(DataError, match=r"label 10 in record 1 of .*test_batch\.bin"):
        dataset.eval_dataset()
