"""``npz``: a user's arrays in one ``.npz`` file -- contract, pixels, and every bad file named."""

import numpy as np
import pytest

from datasets import DataConfig, DataError, create_dataset
from tests.fixtures.data_fixtures import write_npz


def _config(path, **overrides):
    values = {"dataset": "npz", "data_dir": str(path), "batch_size": 4, "batch_size_eval": 4,
              "validation_size": 4, "shuffle_buffer": 64, "input_scale": "0_1"}
    values.update(overrides)
    return DataConfig(**values)


def _eval_arrays(dataset):
    images, labels = zip(*dataset.eval_dataset().as_numpy_iterator())
    return np.concatenate(images), np.concatenate(labels)


def test_npz_contract(tmp_path):
    from tests.fixtures.dataset_checks import check_dataset_contract

    write_npz(tmp_path / "data.npz", nb_train=24, nb_eval=8)
    dataset = create_dataset(_config(tmp_path))  # the directory that holds the one .npz
    assert dataset.input_shape == (8, 8, 3) and dataset.nb_classes == 3
    check_dataset_contract(dataset, nb_train=24, nb_eval=8, nb_val=4)


@pytest.mark.parametrize("input_scale, low, high", [("0_1", 0, 1), ("-1_1", -1, 1),
                                                    ("0_255", 0, 255)])
def test_pixels_are_mapped_to_the_input_scale(tmp_path, input_scale, low, high):
    written = write_npz(tmp_path / "data.npz")
    images, labels = _eval_arrays(create_dataset(_config(tmp_path / "data.npz",
                                                         input_scale=input_scale)))
    np.testing.assert_allclose(images, written["x_val"] / 255 * (high - low) + low, atol=1e-5)
    np.testing.assert_array_equal(labels, written["y_val"])


def test_input_scale_none_takes_the_arrays_as_the_models_inputs(tmp_path):
    """``none`` (what ``pocketflow.compress`` writes): any finite floats, kept as they are, then
    the mean and std; a non-finite value is named."""
    x_val = np.random.default_rng(1).normal(0, 3, (8, 8, 8, 3)).astype("float32")
    write_npz(tmp_path / "data.npz", dtype="float32", x_val=x_val)
    images, _ = _eval_arrays(create_dataset(_config(tmp_path / "data.npz", input_scale="none",
                                                    input_mean=(1.0,), input_std=(2.0,))))
    np.testing.assert_allclose(images, (x_val - 1) / 2, atol=1e-6)
    x_val[0, 0, 0, 0] = np.nan
    write_npz(tmp_path / "data.npz", dtype="float32", x_val=x_val)
    with pytest.raises(DataError, match=r"finite model inputs in 'x_val'.*input_scale none"):
        create_dataset(_config(tmp_path / "data.npz", input_scale="none"))


def test_mean_and_std_apply_per_channel_after_the_scale(tmp_path):
    written = write_npz(tmp_path / "data.npz")
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.5)
    dataset = create_dataset(_config(tmp_path / "data.npz", input_mean=mean, input_std=std))
    images, _ = _eval_arrays(dataset)
    np.testing.assert_allclose(images, (written["x_val"] / 255 - mean) / std, atol=1e-5)


def test_float_pixels_grey_images_and_column_labels(tmp_path):
    written = write_npz(tmp_path / "data.npz", shape=(6, 6), dtype="float32",
                        y_val=np.arange(8)[:, None] % 3)
    dataset = create_dataset(_config(tmp_path / "data.npz", input_scale="0_255"))
    assert dataset.input_shape == (6, 6, 1)
    images, labels = _eval_arrays(dataset)
    np.testing.assert_allclose(images[..., 0], written["x_val"] * 255, atol=1e-3)
    np.testing.assert_array_equal(labels, np.arange(8) % 3)


def test_classes_are_the_largest_label_plus_one(tmp_path):
    write_npz(tmp_path / "data.npz", y_val=np.full(8, 6))
    assert create_dataset(_config(tmp_path / "data.npz")).nb_classes == 7


@pytest.mark.parametrize("overrides, fragments", [
    ({"y_val": None}, ["missing: y_val"]),
    ({"x_train": np.zeros((24, 8), np.uint8)}, ["'x_train'", "(24, 8)"]),
    ({"x_val": np.full((8, 8, 8, 3), 2.0, np.float32)}, ["'x_val'", "[0, 1]", "[2, 2]"]),
    ({"x_val": np.zeros((8, 8, 8, 3), np.int16)}, ["'x_val'", "int16"]),
    ({"y_train": np.eye(3)[np.arange(24) % 3].astype(np.int64)}, ["'y_train'", "one-hot"]),
    ({"y_train": np.zeros(24, np.float32)}, ["'y_train'", "float32"]),
    ({"y_train": np.zeros(23, np.int64)}, ["'y_train'", "23 labels, 24 images"]),
    ({"y_val": -np.ones(8, np.int64)}, ["'y_val'", ">= 0"]),
    ({"x_val": np.zeros((8, 6, 6, 3), np.uint8)}, ["(8, 8, 3)", "(6, 6, 3)"]),
], ids=["missing-key", "rank", "float-range", "int-pixels", "one-hot", "float-labels",
        "lengths", "negative", "shapes"])
def test_bad_arrays_name_the_file_and_the_array(tmp_path, overrides, fragments):
    write_npz(tmp_path / "data.npz", **overrides)
    with pytest.raises(DataError, match="data.npz") as raised:
        create_dataset(_config(tmp_path / "data.npz"))
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_bad_files_and_directories(tmp_path):
    (tmp_path / "text.npz").write_text("not numpy")
    with pytest.raises(DataError, match="text.npz"):
        create_dataset(_config(tmp_path / "text.npz"))
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"\.npy file of one array"):
        create_dataset(_config(tmp_path / "one.npy"))
    with pytest.raises(DataError, match="2 .npz files"):
        write_npz(tmp_path / "a.npz")
        create_dataset(_config(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        create_dataset(_config(tmp_path / "missing.npz"))


def test_statistics_need_one_value_or_one_per_channel(tmp_path):
    write_npz(tmp_path / "data.npz")
    with pytest.raises(DataError, match="--input_mean.*3-channel.*0.1,0.2"):
        create_dataset(_config(tmp_path / "data.npz", input_mean=(0.1, 0.2)))
    create_dataset(_config(tmp_path / "data.npz", input_std=(0.5,)))  # one for all channels
