"""Contract tests over every registered model helper: build, defaults, save/load, TFLite."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import nets
from learners.config import TrainConfig
from nets import MODEL_HELPERS, NetConfig, create_model_helper

# Input shape and class count of each helper's default dataset. ImageNet nets are built at full
# size (never run) and at 64x64 for the tiny variants, which keeps the tests fast.
DATASET_SHAPES = {
    "cifar10": ((32, 32, 3), 10),
    "mnist": ((28, 28, 1), 10),
    "fmnist": ((28, 28, 1), 10),
    "digits": ((8, 8, 1), 10),
    "ilsvrc12": ((224, 224, 3), 1001),
}
TINY_IMAGENET_SHAPE = (64, 64, 3)
HELPER_CONFIGS = [
    ("convnet_at_fmnist", {}),
    ("lenet_at_cifar10", {}),
    ("lenet_at_digits", {}),
    ("lenet_at_mnist", {}),
    ("mobilenet_at_ilsvrc12", {"mobilenet_version": 1}),
    ("mobilenet_at_ilsvrc12", {"mobilenet_version": 2}),
    ("resnet_at_cifar10", {}),
    ("resnet_at_ilsvrc12", {}),
]


def _input_shape(helper, tiny):
    shape, nb_classes = DATASET_SHAPES[helper.default_dataset]
    if tiny and helper.default_dataset == "ilsvrc12":
        shape = TINY_IMAGENET_SHAPE
    return shape, nb_classes


def test_every_registered_helper_is_covered():
    # user_model stands for a user's file, not a builder: tests/nets/test_user_model.py
    assert sorted({name for name, _ in HELPER_CONFIGS} | {"user_model"}) == MODEL_HELPERS.names()
    assert nets.ModelHelper is not None


@pytest.mark.parametrize("tiny", [False, True], ids=["default", "tiny"])
@pytest.mark.parametrize("name, options", HELPER_CONFIGS)
def test_helper_builds_logits_model(name, options, tiny):
    helper = create_model_helper(name, NetConfig(tiny=tiny, **options))
    assert helper.name == name
    input_shape, nb_classes = _input_shape(helper, tiny)
    model = helper.build_model(input_shape, nb_classes)
    assert isinstance(model, keras.Model)
    assert model.input_shape == (None, *input_shape)
    assert model.output_shape == (None, nb_classes)
    assert model.name == helper.model_name
    assert model.layers[-1].name == "logits"
    assert model.layers[-1].get_config()["activation"] == "linear"  # logits, no softmax
    assert helper.model_name.startswith("tiny_") == tiny
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name, options", HELPER_CONFIGS)
def test_train_defaults_are_consistent(name, options):
    defaults = create_model_helper(name, NetConfig(**options)).train_defaults()
    TrainConfig.from_defaults(defaults)  # validates the schedule
    if defaults.learning_rate_schedule == "piecewise":
        boundaries = defaults.decay_boundaries
        assert 0 < boundaries[0] and boundaries[-1] < defaults.epochs
        assert defaults.decay_rates[0] == 1.0
    else:
        assert 0 < defaults.decay_epochs < defaults.epochs
    assert 0 < defaults.momentum < 1 and defaults.weight_decay > 0


def test_original_per_model_defaults():
    """The per-model flag defaults of the original PocketFlow (reference, section 1.10)."""
    expected = {  # name: (lrn_rate_init, batch_size_norm, momentum, loss_w_dcy)
        "lenet_at_cifar10": (1e-2, 128, 0.9, 5e-4),
        "lenet_at_mnist": (1e-2, 128, 0.9, 5e-4),
        "resnet_at_cifar10": (0.1, 128, 0.9, 2e-4),
        "resnet_at_ilsvrc12": (0.1, 256, 0.9, 1e-4),
        "mobilenet_at_ilsvrc12": (0.045, 96, 0.9, 4e-5),
        "convnet_at_fmnist": (0.1, 128, 0.9, 3e-4),
    }
    for name, values in expected.items():
        defaults = create_model_helper(name, NetConfig()).train_defaults()
        received = (defaults.learning_rate, defaults.reference_batch_size, defaults.momentum,
                    defaults.weight_decay)
        assert received == values, name
    lenet = create_model_helper("lenet_at_mnist", NetConfig()).train_defaults()
    assert (lenet.epochs, lenet.decay_boundaries) == (250, (100, 150, 200))
    convnet = create_model_helper("convnet_at_fmnist", NetConfig()).train_defaults()
    assert (convnet.epochs, convnet.decay_boundaries) == (160, (40, 80, 120))
    assert convnet.decay_rates == (1.0, 0.1, 0.01, 0.001)
    resnet = create_model_helper("resnet_at_ilsvrc12", NetConfig()).train_defaults()
    assert (resnet.epochs, resnet.decay_boundaries, resnet.batch_size) == (
        100, (30, 60, 80, 90), 64)


# Keras's own `save` trips NumPy 2's `__array__(copy=...)` deprecation; not our code.
@pytest.mark.parametrize("name, options", [("resnet_at_cifar10", {}),
                                           ("mobilenet_at_ilsvrc12", {"mobilenet_version": 2}),
                                           ("convnet_at_fmnist", {})])
def test_tiny_model_round_trips_through_keras_file(name, options, tmp_path):
    helper = create_model_helper(name, NetConfig(tiny=True, **options))
    input_shape, nb_classes = _input_shape(helper, tiny=True)
    model = helper.build_model(input_shape, nb_classes)
    images = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    path = tmp_path / f"{helper.model_name}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(restored.predict_on_batch(images),
                                  model.predict_on_batch(images))


def test_tiny_resnet_and_mobilenet_v2_convert_to_tflite():
    for name, options in [("resnet_at_cifar10", {}),
                          ("mobilenet_at_ilsvrc12", {"mobilenet_version": 2})]:
        helper = create_model_helper(name, NetConfig(tiny=True, **options))
        input_shape, nb_classes = _input_shape(helper, tiny=True)
        model = helper.build_model(input_shape, nb_classes)
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
        assert isinstance(flatbuffer, bytes) and len(flatbuffer) > 1000, name
