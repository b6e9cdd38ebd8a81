"""The ``user_model`` helper: a user's ``.keras`` file as the pre-trained model, functional and
outputting logits, its custom layers imported from ``--custom_objects``."""

import sys

import keras
import numpy as np
import pytest

from nets import NetConfig, create_model_helper
from nets.user_model import import_custom_objects

CUSTOM_LAYERS = '''
import keras


class Doubling(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0
'''


def _sequential_softmax(path):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")])
    model.save(path)
    return model


def test_the_file_names_the_model_and_is_loaded_functional_with_logits(tmp_path):
    original = _sequential_softmax(tmp_path / "my_net.keras")
    helper = create_model_helper("user_model", NetConfig(model_file=str(tmp_path / "my_net.keras")))
    assert helper.model_name == "my_net" and helper.default_dataset is None
    assert helper.model_file == str(tmp_path / "my_net.keras")
    model = helper.build_model((8, 8, 1), 5)  # the trained model, not a fresh one
    assert not isinstance(model, keras.Sequential)
    images = np.random.default_rng(0).random((2, 8, 8, 1), np.float32)
    np.testing.assert_allclose(keras.ops.softmax(model(images)), original(images), atol=1e-6)
    defaults = helper.train_defaults()
    assert (defaults.optimizer, defaults.learning_rate_schedule) == ("adam", "cosine")


def test_a_model_that_is_no_image_classifier_is_refused(tmp_path):
    inputs = keras.Input((8, 8, 3))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    helper = create_model_helper("user_model", NetConfig(model_file="m.keras"))
    with pytest.raises(ValueError, match=r"one input and one output.*m.keras with 1 input\(s\) "
                                         r"and 2 output\(s\)"):
        helper.prepare_loaded(two)
    with pytest.raises(ValueError, match=r"inputs of shape \(batch, height.*\(None, 12\)"):
        helper.prepare_loaded(keras.Sequential([keras.Input((12,)), keras.layers.Dense(3)]))

    class Subclassed(keras.Model):
        def call(self, images):
            return images

    with pytest.raises(ValueError, match="a subclassed model \\(Subclassed\\)"):
        helper.prepare_loaded(Subclassed())


@pytest.mark.parametrize("config, message", [
    ({"model_file": "model.h5"}, "ending in .keras.*model.h5 \\(a legacy format"),
    ({"model_file": "model.pt"}, "ending in .keras. Received: --model_file=model.pt$"),
    ({"custom_objects": "layers"}, "Expected --model_file with --custom_objects"),
])
def test_bad_settings_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        NetConfig(**config)
    with pytest.raises(ValueError, match="Expected --model_file with --net user_model"):
        create_model_helper("user_model", NetConfig())


def test_custom_objects_from_a_file_and_from_a_module_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    (tmp_path / "pf_test_layers.py").write_text(CUSTOM_LAYERS)
    found = import_custom_objects(str(tmp_path / "pf_test_layers.py"))
    assert list(found) == ["Doubling"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pf_test_package").mkdir()
    (tmp_path / "pf_test_package" / "__init__.py").write_text("")
    (tmp_path / "pf_test_package" / "layers.py").write_text(CUSTOM_LAYERS)
    assert list(import_custom_objects("pf_test_package.layers")) == ["Doubling"]


def test_bad_custom_objects_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="--custom_objects=pf_no_such_module .*ModuleNotFound"):
        import_custom_objects("pf_no_such_module")
    with pytest.raises(ValueError, match="no_such_file.py"):
        import_custom_objects("no_such_file.py")
    (tmp_path / "broken.py").write_text("raise RuntimeError('oops')\n")
    with pytest.raises(ValueError, match="RuntimeError: oops"):
        import_custom_objects(str(tmp_path / "broken.py"))
    (tmp_path / "empty.py").write_text("import keras\n")
    with pytest.raises(ValueError, match="defines none"):
        import_custom_objects(str(tmp_path / "empty.py"))
