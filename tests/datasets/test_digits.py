"""scikit-learn digits, the embedded default: split sizes, the augmentation's one-pixel shift."""

import dataclasses

import numpy as np

from datasets import DataConfig, create_dataset
from tests.fixtures.dataset_checks import check_training_stream_is_keyed


def _dataset(**overrides):
    return create_dataset(DataConfig(dataset="digits", batch_size=16, shuffle_buffer=64,
                                     **overrides))


def test_splits_and_shapes():
    dataset = _dataset()
    assert (dataset.train_size, dataset.eval_size, dataset.validation_size) == (1437, 360, 200)
    images, labels = next(iter(dataset.train_dataset()))
    assert images.shape == (16, 8, 8, 1) and images.dtype == "float32" and labels.dtype == "int32"


def test_augmentation_shifts_by_at_most_one_pixel():
    dataset = _dataset()
    plain = type(dataset)(dataclasses.replace(dataset.config, augment=False))
    augmented = next(iter(dataset.train_dataset(shuffle_seed=5)))[0].numpy()
    originals = next(iter(plain.train_dataset(shuffle_seed=5)))[0].numpy()
    background = originals.min()
    padded = np.pad(originals, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=background)
    shifts = [padded[:, r:r + 8, c:c + 8] for r in range(3) for c in range(3)]
    matches = np.stack([np.abs(augmented - shift).max(axis=(1, 2, 3)) < 1e-6 for shift in shifts])
    assert matches.any(axis=0).all()  # every image is one of the 9 shifts of its original
    assert not matches[4].all()  # and not all of them are the unshifted one


def test_training_stream_is_keyed_by_its_seed():
    check_training_stream_is_keyed(_dataset())
