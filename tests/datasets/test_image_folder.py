"""Image-folder datasets (``image_folder``, ``cifar10_folder``): contract, pixels, bad files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from datasets import DataConfig, DataError, create_dataset
from datasets.cifar10 import CIFAR_MEAN, CIFAR_STD
from tests.fixtures.data_fixtures import write_image_folder

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")


def _config(data_dir, dataset="image_folder", **overrides):
    values = {"dataset": dataset, "data_dir": str(data_dir), "batch_size": 4, "batch_size_eval": 4,
              "validation_size": 6, "shuffle_buffer": 64}
    values.update(overrides)
    return DataConfig(**values)


def _eval_arrays(dataset):
    images, labels = zip(*dataset.eval_dataset().as_numpy_iterator())
    return np.concatenate(images), np.concatenate(labels)


def test_image_folder_contract(tmp_path):
    from tests.fixtures.dataset_checks import check_dataset_contract

    write_image_folder(tmp_path, nb_per_class={"train": 8, "val": 3}, image_size=16)
    dataset = create_dataset(_config(tmp_path, image_size=16))
    assert dataset.input_shape == (16, 16, 3) and dataset.nb_classes == 3
    assert dataset.class_names == ("cat", "dog", "frog")
    check_dataset_contract(dataset, nb_train=24, nb_eval=9, nb_val=6)


def test_image_folder_pixels_labels_and_resizing(tmp_path):
    written = write_image_folder(tmp_path, class_names=("zebra", "ant"),
                                 nb_per_class={"train": 2, "test": 2}, image_size=8)
    dataset = create_dataset(_config(tmp_path, image_size=8, validation_size=1))
    images, labels = _eval_arrays(dataset)
    np.testing.assert_allclose(images, written["test"]["images"] / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])  # ant < zebra
    resized = create_dataset(_config(tmp_path, image_size=4, validation_size=1))
    assert _eval_arrays(resized)[0].shape == (4, 4, 4, 3)
    assert create_dataset(_config(tmp_path, validation_size=1)).input_shape == (32, 32, 3)


def test_jpeg_and_bmp_and_hidden_files(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2, "eval": 1}, image_format="jpg")
    write_image_folder(tmp_path / "other", nb_per_class={"train": 1}, image_format="bmp")
    os.replace(tmp_path / "other" / "train" / "cat" / "0000.bmp",
               tmp_path / "train" / "cat" / "extra.BMP")
    (tmp_path / "train" / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "README.txt").write_text("top-level files are ignored")
    dataset = create_dataset(_config(tmp_path, validation_size=1))
    assert dataset.train_size == 7 and dataset.eval_size == 3
    assert len(dataset.calibration_images(7)) == 7


def test_cifar10_folder_contract_and_pixels(tmp_path):
    from tests.fixtures.dataset_checks import check_dataset_contract

    written = write_image_folder(tmp_path, class_names=CIFAR_CLASSES,
                                 nb_per_class={"train": 3, "test": 1})
    dataset = create_dataset(_config(tmp_path, "cifar10_folder", batch_size=5))
    images, labels = _eval_arrays(dataset)
    expected = (written["test"]["images"] - np.array(CIFAR_MEAN)) / np.array(CIFAR_STD)
    np.testing.assert_allclose(images, expected, atol=1e-5)
    np.testing.assert_array_equal(labels, np.arange(10))
    check_dataset_contract(dataset, nb_train=30, nb_eval=10, nb_val=6)


def test_cifar10_folder_resizes_other_sizes(tmp_path):
    write_image_folder(tmp_path, class_names=CIFAR_CLASSES, nb_per_class={"train": 1, "test": 1},
                       image_size=20)
    dataset = create_dataset(_config(tmp_path, "cifar10_folder", validation_size=2))
    assert _eval_arrays(dataset)[0].shape == (10, 32, 32, 3)


def test_cifar10_folder_needs_ten_classes(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 1, "test": 1})
    with pytest.raises(DataError, match="Expected 10 class directories"):
        create_dataset(_config(tmp_path, "cifar10_folder", validation_size=1))


def test_non_image_file_is_named(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2, "test": 1})
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.txt"):
        create_dataset(_config(tmp_path))


def test_corrupt_jpeg_is_named(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2, "test": 1}, image_format="jpg")
    (tmp_path / "test" / "frog" / "0000.jpg").write_bytes(b"GIF89a garbage")
    with pytest.raises(DataError, match=r"test/frog/0000\.jpg"):
        create_dataset(_config(tmp_path))


def test_missing_train_split(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"test": 2})
    with pytest.raises(DataError, match="no 'train' directory"):
        create_dataset(_config(tmp_path))


def test_without_an_evaluation_split_a_fixed_tenth_of_each_class_is_held_out(tmp_path):
    written = write_image_folder(tmp_path, class_names=("a", "b", "c"),
                                 nb_per_class={"train": 20}, image_size=8)
    first = create_dataset(_config(tmp_path, image_size=8, input_scale="0_255"))
    assert (first.train_size, first.eval_size) == (54, 6)
    images, labels = _eval_arrays(first)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])
    held_out = {image.tobytes() for image in images.astype(np.uint8)}
    trained = {image.tobytes() for image in first.calibration_images(54).astype(np.uint8)}
    assert held_out <= {image.tobytes() for image in written["train"]["images"]}
    assert not held_out & trained
    again = create_dataset(_config(tmp_path, image_size=8, input_scale="0_255", seed=5))
    np.testing.assert_array_equal(_eval_arrays(again)[0], images)  # the same files every time


def test_a_class_of_one_image_stays_in_training(tmp_path):
    write_image_folder(tmp_path, class_names=("a",), nb_per_class={"train": 1})
    with pytest.raises(DataError, match="two or more images in a class"):
        create_dataset(_config(tmp_path))
    write_image_folder(tmp_path, class_names=("b",), nb_per_class={"train": 3})
    dataset = create_dataset(_config(tmp_path, validation_size=1))
    assert (dataset.train_size, dataset.eval_size) == (3, 1)


def test_grey_non_square_images_for_a_models_input(tmp_path):
    written = write_image_folder(tmp_path, nb_per_class={"train": 2, "val": 1}, image_size=8)
    dataset = create_dataset(_config(tmp_path, validation_size=1, input_shape=(8, 8, 1),
                                     input_scale="0_1", input_mean=(0.5,), input_std=(0.25,)))
    images, _ = _eval_arrays(dataset)
    assert dataset.input_shape == (8, 8, 1) and images.shape == (3, 8, 8, 1)
    grey = np.asarray(tf.image.rgb_to_grayscale(written["val"]["images"]))
    np.testing.assert_allclose(images, (grey / 255 - 0.5) / 0.25, atol=0.03)
    wide = create_dataset(_config(tmp_path, validation_size=1, input_shape=(6, 10, 3)))
    assert _eval_arrays(wide)[0].shape == (3, 6, 10, 3)
    with pytest.raises(DataError, match="grey .* or RGB"):
        create_dataset(_config(tmp_path, validation_size=1, input_shape=(8, 8, 4)))


def test_fixed_preprocessing_refuses_input_scale(tmp_path):
    write_image_folder(tmp_path, class_names=CIFAR_CLASSES, nb_per_class={"train": 1, "test": 1})
    with pytest.raises(DataError, match="--input_scale.*'cifar10_folder'.*fixed"):
        create_dataset(_config(tmp_path, "cifar10_folder", validation_size=2, input_scale="0_1"))


def test_missing_and_empty_dir(tmp_path):
    with pytest.raises(DataError, match="missing"):
        create_dataset(_config(tmp_path / "missing"))
    with pytest.raises(DataError, match="no 'train' directory"):
        create_dataset(_config(tmp_path))


def test_eval_classes_must_match(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2})
    write_image_folder(tmp_path, class_names=("cat", "dog", "emu"), nb_per_class={"test": 1})
    with pytest.raises(DataError, match=r"classes of '.*test'.*Received: \['cat', 'dog', 'emu'\]"):
        create_dataset(_config(tmp_path))


def test_empty_class_and_misplaced_files(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2, "test": 1})
    (tmp_path / "train" / "owl").mkdir()
    with pytest.raises(DataError, match=r"train/owl'"):
        create_dataset(_config(tmp_path))
    (tmp_path / "train" / "owl").rmdir()
    (tmp_path / "train" / "loose.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match=r"train/loose\.png"):
        create_dataset(_config(tmp_path))


def test_an_image_cut_short_is_named_with_its_class_and_split_before_any_decoding(tmp_path):
    write_image_folder(tmp_path, nb_per_class={"train": 2, "test": 1})
    path = tmp_path / "train" / "dog" / "0001.png"
    path.write_bytes(path.read_bytes()[:200])  # a valid signature and IHDR, then nothing
    with pytest.raises(DataError, match=r"train/dog/0001\.png' \(class 'dog', split 'train'; "
                                        r"200 bytes\), with no IEND chunk: the file is cut short"):
        create_dataset(_config(tmp_path))


def test_an_image_that_fails_to_decode_in_a_pipeline_is_named_by_the_dataset(tmp_path):
    import tensorflow as tf

    write_image_folder(tmp_path, nb_per_class={"train": 4, "test": 2})
    path = tmp_path / "test" / "frog" / "0001.png"
    data = path.read_bytes()
    middle = len(data) // 2  # damage inside the compressed data: the start-up check passes
    path.write_bytes(data[:middle] + bytes(b ^ 0x55 for b in data[middle:middle + 50])
                     + data[middle + 50:])
    dataset = create_dataset(_config(tmp_path))
    with pytest.raises(DataError) as raised, dataset.explained_errors():
        _eval_arrays(dataset)
    assert str(raised.value).startswith(f"Expected images that decode in the image folder "
                                        f"'{tmp_path}'. Received: 1 image that does not: "
                                        f"'{path}' (class 'frog', split 'test': Invalid PNG data")
    assert isinstance(raised.value.__cause__, tf.errors.InvalidArgumentError)
    with pytest.raises(tf.errors.NotFoundError), dataset.explained_errors():  # not a decoding
        raise tf.errors.NotFoundError(None, None, "elsewhere")
