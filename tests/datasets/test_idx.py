"""MNIST / Fashion-MNIST IDX datasets: contract, pixels, and bad-header errors."""

import gzip
import os

import numpy as np
import pytest

from datasets import DataConfig, DataError, create_dataset
from tests.fixtures.data_fixtures import write_idx, write_idx_dataset
from tests.fixtures.dataset_checks import check_dataset_contract


def _config(data_dir, dataset="mnist", **overrides):
    values = {"dataset": dataset, "data_dir": str(data_dir), "batch_size": 8, "batch_size_eval": 4,
              "validation_size": 8, "shuffle_buffer": 64}
    values.update(overrides)
    return DataConfig(**values)


@pytest.mark.parametrize("dataset_name, gzipped", [("mnist", True), ("fmnist", False)])
def test_contract(tmp_path, dataset_name, gzipped):
    write_idx_dataset(tmp_path, nb_train=32, nb_eval=10, gzipped=gzipped)
    dataset = create_dataset(_config(tmp_path, dataset_name))
    assert dataset.input_shape == (28, 28, 1) and dataset.nb_classes == 10
    check_dataset_contract(dataset, nb_train=32, nb_eval=10, nb_val=8)


def test_eval_images_are_standardised_per_image(tmp_path):
    arrays = write_idx_dataset(tmp_path, nb_train=16, nb_eval=6)
    dataset = create_dataset(_config(tmp_path))
    images, labels = zip(*dataset.eval_dataset().as_numpy_iterator())
    raw = arrays["x_eval"].astype(np.float64)
    expected = (raw - raw.mean(axis=(1, 2), keepdims=True)) / raw.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(np.concatenate(images)[..., 0], expected, atol=1e-4)
    np.testing.assert_array_equal(np.concatenate(labels), arrays["y_eval"])


def test_mnist_does_not_flip_fmnist_does(tmp_path):
    """An asymmetric image padded/cropped but never mirrored in MNIST; mirrored in Fashion-MNIST."""
    images = np.zeros((64, 28, 28), np.uint8)
    images[:, 10:18, 4:12] = 255  # a block in the left half
    write_idx_dataset(tmp_path, nb_train=64, nb_eval=4)
    write_idx(os.path.join(tmp_path, "train-images-idx3-ubyte.gz"), images)
    for name, expect_flips in (("mnist", False), ("fmnist", True)):
        dataset = create_dataset(_config(tmp_path, name, batch_size=64, validation_size=0))
        batch = next(iter(dataset.train_dataset()))[0].numpy()[..., 0]
        left_heavy = batch[:, :, :14].sum(axis=(1, 2)) > batch[:, :, 14:].sum(axis=(1, 2))
        assert left_heavy.all() != expect_flips


def test_missing_file_is_named(tmp_path):
    write_idx_dataset(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        create_dataset(_config(tmp_path))


def test_empty_dir(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}.*train-images-idx3-ubyte"):
        create_dataset(_config(tmp_path))


def test_bad_magic_names_the_file(tmp_path):
    arrays = write_idx_dataset(tmp_path)
    # Labels where images are expected: magic 0x00000801 instead of 0x00000803.
    write_idx(os.path.join(tmp_path, "train-images-idx3-ubyte.gz"), arrays["y_train"])
    with pytest.raises(DataError, match=r"0x00000803 in '.*train-images-idx3-ubyte\.gz'.*"
                                        r"0x00000801"):
        create_dataset(_config(tmp_path))


def test_truncated_file_names_the_file(tmp_path):
    write_idx_dataset(tmp_path, gzipped=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte'. Received: \d+ bytes"):
        create_dataset(_config(tmp_path))


def test_truncated_gzip_names_the_file(tmp_path):
    write_idx_dataset(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-3]))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz"):
        create_dataset(_config(tmp_path))


def test_not_gzip_names_the_file(tmp_path):
    write_idx_dataset(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all" * 4)
    with pytest.raises(DataError, match=r"gzip.*train-labels-idx1-ubyte\.gz"):
        create_dataset(_config(tmp_path))


def test_image_label_count_mismatch(tmp_path):
    arrays = write_idx_dataset(tmp_path, nb_train=20)
    write_idx(os.path.join(tmp_path, "train-labels-idx1-ubyte.gz"), arrays["y_train"][:-1])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz.*Received: 19"):
        create_dataset(_config(tmp_path))
