"""``learners.model_data``: a user's model decides the data's shape, and a mismatch names both."""

import keras
import pytest

from datasets import DataConfig, create_dataset
from learners.base import MissingModelError
from learners.model_data import (
    ModelSignature,
    check_model_fits_data,
    data_config_for,
    read_signature,
)
from nets import NetConfig, create_model_helper
from tests.fixtures.data_fixtures import write_npz


def _helper(path):
    return create_model_helper("user_model", NetConfig(model_file=str(path)))


def test_the_signature_is_read_from_the_logits_model(tmp_path):
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x)).save(tmp_path / "m.keras")
    signature = read_signature(_helper(tmp_path / "m.keras"))
    assert signature == ModelSignature(str(tmp_path / "m.keras"), (None, None, 3), 7)
    assert read_signature(create_model_helper("lenet_at_digits", NetConfig())) is None


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(MissingModelError, match="--model_file.*nowhere.keras"):
        read_signature(_helper(tmp_path / "nowhere.keras"))


def test_the_models_input_shape_goes_to_the_data_config():
    data = DataConfig(dataset="image_folder", data_dir="/x")
    signature = ModelSignature("m.keras", (24, 24, 1), 5)
    fitted = data_config_for(data, signature)
    assert (fitted.input_shape, fitted.image_size) == ((24, 24, 1), 24)
    assert data_config_for(data, None) is data
    with pytest.raises(ValueError, match=r"input size of the model 'm.keras' \(24x24\).*"
                                         r"--image_size=32"):
        data_config_for(DataConfig(dataset="image_folder", image_size=32), signature)
    free = ModelSignature("m.keras", (None, None, 3), 5)
    assert data_config_for(DataConfig(image_size=48), free).image_size == 48


@pytest.fixture()
def npz_dataset(tmp_path):
    write_npz(tmp_path / "data.npz", shape=(8, 8, 3), nb_classes=4)
    return create_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "data.npz"),
                                     input_scale="0_1"))


@pytest.mark.parametrize("signature, fragments", [
    (ModelSignature("m.keras", (8, 8, 1), 4),
     ["1 channel(s) the model 'm.keras'", "3 channel(s), of shape (8, 8, 3)", "--dataset npz"]),
    (ModelSignature("m.keras", (16, 16, 3), 4), ["the model 'm.keras' takes, (16, 16, 3)",
                                                 "(8, 8, 3) from --dataset npz"]),
    (ModelSignature("m.keras", (8, 8, 3), 3), ["at most 3 classes, the outputs of the model "
                                               "'m.keras'", "4 classes (labels 0 to 3)",
                                               "data.npz"]),
], ids=["channels", "size", "classes"])
def test_a_mismatch_names_the_model_and_the_data(npz_dataset, signature, fragments):
    with pytest.raises(ValueError) as raised:
        check_model_fits_data(signature, npz_dataset)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_what_fits_passes(npz_dataset):
    check_model_fits_data(ModelSignature("m.keras", (8, 8, 3), 4), npz_dataset)
    check_model_fits_data(ModelSignature("m.keras", (None, None, 3), 10), npz_dataset)
    check_model_fits_data(None, npz_dataset)


def test_pixel_data_needs_the_input_scale(tmp_path):
    write_npz(tmp_path / "data.npz")
    dataset = create_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "data.npz")))
    with pytest.raises(ValueError, match="Expected --input_scale .*'m.keras'.*--dataset npz"):
        check_model_fits_data(ModelSignature("m.keras", (8, 8, 3), 3), dataset)
