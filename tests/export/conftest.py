"""Models shared by the export tests: a tiny LeNet trained on digits and its TFLite files."""

import keras
import numpy as np
import pytest

import datasets
import nets
from export import convert_float, convert_int8


@pytest.fixture(scope="session")
def digits():
    return datasets.create_dataset(datasets.DataConfig(dataset="digits", augment=False))


@pytest.fixture(scope="session")
def eval_images(digits):
    return np.concatenate([images for images, _ in digits.eval_dataset().as_numpy_iterator()])


@pytest.fixture(scope="session")
def trained_lenet(digits):
    """Tiny LeNet fitted on digits for a few seconds (~90 % top-1)."""
    keras.utils.set_random_seed(0)
    helper = nets.create_model_helper("lenet_at_digits", nets.NetConfig(tiny=True))
    model = helper.build_model(digits.input_shape, digits.nb_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.train_dataset(repeat=False, batch_size=64), epochs=4, verbose=0,
              shuffle=False)
    return model


@pytest.fixture(scope="session")
def float_model(trained_lenet):
    return convert_float(trained_lenet)


@pytest.fixture(scope="session")
def int8_model(trained_lenet, digits):
    return convert_int8(trained_lenet, digits.calibration_images(200))

