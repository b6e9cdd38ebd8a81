"""``pocketflow.compress``: the Python API runs the command line's runs from a model and arrays,
checks settings as the command line does (raising, never exiting), and reruns as a command does."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import pocketflow
from pocketflow import compress

_FAST = {"cp_prune_option": "uniform", "cp_uniform_preserve_ratio": 0.5, "nb_iters_train": 4,
         "batch_size": 8, "batch_size_eval": 8, "nb_smpls_val": 8, "augment": False,
         "enbl_export": False}


def _data(nb=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (nb, 8, 8, 1)).astype("float32")  # inputs, not pixels: any floats
    return x, np.arange(nb) % 3


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax")])


def test_arrays_in_a_compressed_model_and_its_tflite_files_out(tmp_path):
    model = _model()
    weights = [w.copy() for w in model.get_weights()]
    x, y = _data()
    result = compress(model, (x, y), (x[:16], y[:16]), save_dir=str(tmp_path / "run"),
                      **{**_FAST, "enbl_export": True, "enbl_benchmark": False,
                         "nb_calibration": 8})
    assert isinstance(result.model, keras.Model)
    assert result.metrics == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result.metrics["params"] < result.metrics["dense_params"]
    assert sorted(result.tflite) == ["float", "int8"]
    assert all(os.path.isfile(path) for path in result.tflite.values())
    assert "eval_accuracy=" in repr(result) and "params" in result.summary()
    # the user's model is theirs: same layers, same weights, softmax and all
    assert len(model.layers) == 4 and model.layers[-1].activation.__name__ == "softmax"
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    stored = np.load(tmp_path / "run" / "inputs" / "data.npz")
    np.testing.assert_array_equal(stored["x_train"], x)  # as given: --input_scale none


@pytest.mark.parametrize("batched", [False, True])
def test_a_tf_data_dataset_is_read_once_and_a_rerun_returns_the_same_run(tmp_path, batched):
    x, y = _data()
    train, evaluation = (tf.data.Dataset.from_tensor_slices(pair)
                         for pair in ((x, y), (x[:16], y[:16])))
    if batched:
        train, evaluation = train.batch(5), evaluation.batch(5)
    run, model = dict(save_dir=str(tmp_path / "run"), **_FAST), _model()
    first = compress(model, train, evaluation, **run)
    inputs = tmp_path / "run" / "inputs"
    np.testing.assert_array_equal(np.load(inputs / "data.npz")["y_train"], y)
    stamps = {name: os.stat(inputs / name).st_mtime_ns for name in ("model.keras", "data.npz")}
    again = compress(model, (x, y), (x[:16], y[:16]), **run)  # the same inputs: none rewritten
    assert {name: os.stat(inputs / name).st_mtime_ns for name in stamps} == stamps
    assert again.metrics["eval"] == first.metrics["eval"]
    assert again.metrics["params"] == first.metrics["params"]
    with pytest.raises(ValueError, match=r"Expected the model of the run in save_dir=.*"
                                         r"Received: another model"):
        compress(_model(), train, evaluation, **run)  # built again: other layer names


def test_a_model_file_is_copied_not_changed(tmp_path):
    path = tmp_path / "mine.keras"
    _model().save(path)
    written = path.read_bytes()
    x, y = _data()
    result = compress(str(path), (x, y), (x[:16], y[:16]), save_dir=str(tmp_path / "run"),
                      **_FAST)
    assert result.model.output_shape == (None, 3)
    assert path.read_bytes() == written
    assert (tmp_path / "run" / "inputs" / "model.keras").read_bytes() == written


def test_pixels_are_mapped_when_input_scale_is_given(tmp_path):
    x, y = _data()
    pixels = np.random.default_rng(0).integers(0, 256, x.shape).astype("uint8")
    result = compress(_model(), (pixels, y), (pixels[:16], y[:16]), input_scale="0_1",
                      save_dir=str(tmp_path / "run"), **_FAST)
    recorded = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert recorded["data"]["input_scale"] == "0_1" and "eval" in result.metrics


@pytest.mark.parametrize("settings, message", [
    ({"cp_preserve_ration": 0.5}, r"Received: cp_preserve_ration=0.5\. Did you mean "
                                  r"cp_preserve_ratio"),
    ({"dataset": "digits"}, r"Expected `dataset` as compress\(\)'s argument `train_data`"),
    ({"seed": 0.5}, r"Expected a value --seed accepts for `seed`. Received: seed=0.5"),
    ({"input_scale": "0_9"}, r"--input_scale accepts.*0_1\|-1_1\|0_255\|none"),
    ({"cp_preserve_ratio": 2.0}, r"cp_preserve_ratio"),  # checked by the config, as the CLI does
])
def test_a_bad_setting_raises_a_value_error_naming_it(tmp_path, settings, message):
    x, y = _data()
    with pytest.raises(ValueError, match=message):
        compress(_model(), (x, y), (x, y), save_dir=str(tmp_path / "run"), **settings)


def test_data_that_is_not_x_y_is_named(tmp_path):
    x, y = _data()
    with pytest.raises(ValueError, match=r"Expected `eval_data` as \(x, y\).*Received: ndarray"):
        compress(_model(), (x, y), x, save_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="infinite"):
        compress(_model(), tf.data.Dataset.from_tensor_slices((x, y)).repeat(), (x, y),
                 save_dir=str(tmp_path / "run"))


def test_setting_names_are_the_command_lines_flags():
    names = pocketflow.setting_names()
    assert {"nb_epochs_rat", "cp_preserve_ratio", "enbl_export", "hpo_space", "log_dir",
            "input_scale"} <= set(names)
    assert not {"model_file", "dataset", "data_dir_local", "save_dir", "learner"} & set(names)


def test_an_automl_search_runs_from_its_settings(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps([{"name": "lrn_rate_init", "type": "categorical",
                                  "choices": [1e-3, 3e-3]}]))
    x, y = _data()
    result = compress(_model(), (x, y), (x[:16], y[:16]), save_dir=str(tmp_path / "run"),
                      hpo_space=str(space), hpo_backend="random", hpo_nb_trials=2,
                      hpo_trial_epochs_rat=0.5, **_FAST)
    assert result.metrics["automl"]["nb_trials"] == 2
    assert result.metrics["automl"]["best_setting"]["lrn_rate_init"] in (1e-3, 3e-3)
