"""The contract every registered learner meets, checked through the same ``run(config)`` as main.py.

Each learner, on a tiny LeNet over digits (the pre-trained model is trained first when the
learner needs one): trains, keeps the output shape, writes ``model.keras`` that loads back with
the same outputs, writes a completed ``metrics.json``, exports a float TFLite with parity to
Keras and an int8 TFLite that passes the integer audit, and evaluates its saved model in
``--exec_mode eval``.
"""

import json
import os

import keras
import numpy as np
import pytest

import datasets  # noqa: F401  (registers)
import nets  # noqa: F401  (registers)
from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.channel_pruned.config import ChannelPruningConfig
from learners.config import ExportConfig, RunConfig, TrainConfig
from learners.dis_chn_pruned.config import DisChnPruningConfig
from learners.nonuniform_quant.config import NonUniformQuantConfig
from learners.metrics import validate as validate_metrics
from learners.registry import get_learner_class, load_builtin_learners
from learners.runner import run
from learners.uniform_quant.config import UniformQuantConfig
from learners.weight_sparse.config import WeightSparseConfig
from nets.model_helper import NetConfig
from utils.io import is_completed


def _config(tmp_path, learner, **overrides):
    values = {
        "learner": learner, "net": "lenet_at_digits", "model_dir": str(tmp_path / "models"),
        "save_dir": str(tmp_path / learner), "log_dir": str(tmp_path / "logs"),
        "data": DataConfig(batch_size=32), "net_config": NetConfig(tiny=True),
        "train": TrainConfig(train_steps=200, learning_rate=0.02, reference_batch_size=32,
                          weight_decay=1e-4, summary_step=100, save_step=100),
        "export": ExportConfig(calibration_size=64, benchmark_threads=(1,), benchmark_repeats=5)}
    values.update(overrides)
    return RunConfig(**values)


# Settings that keep a learner's own work small (its defaults are sized for real models).
_UNIFORM_HALF = ChannelPruningConfig(prune_option="uniform", uniform_preserve_ratio=0.5)
_SMALL = {
    **{name: {"settings": _UNIFORM_HALF}
       for name in ("channel", "chn-pruned-gpu", "chn-pruned-rmt")},
    "dis-chn-pruned": {"settings": DisChnPruningConfig(
        prune_ratio=0.5, block_steps=5, layer_steps=1, batch_size=32)},
    "uniform": {"settings": UniformQuantConfig(weight_bits=4, use_buckets=True)},
    "non-uniform": {"settings": NonUniformQuantConfig(weight_bits=4)},
    "weight-sparse": {"settings": WeightSparseConfig(
        prune_ratio=0.5, ratio_policy="uniform", mask_update_step=20)},
}


@pytest.mark.parametrize("learner", load_builtin_learners().names())
def test_learner_contract(tmp_path, learner):
    if learner != "full-prec":
        run(_config(tmp_path, "full-prec", export=ExportConfig(enabled=False)))
    metrics = run(_config(tmp_path, learner, **_SMALL.get(learner, {})))

    output_dir = tmp_path / learner
    model = keras.models.load_model(output_dir / "model.keras")
    assert model.output_shape == (None, 10)
    images = create_dataset(DataConfig()).calibration_images(16)
    reloaded = keras.models.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(model.predict(images, verbose=0), reloaded.predict(images, verbose=0))

    assert is_completed(str(output_dir / "metrics.json"))
    saved = json.loads((output_dir / "metrics.json").read_text())  # strict JSON
    validate_metrics(saved, get_learner_class(learner).metrics_keys)  # the one schema
    assert saved["learner"] == learner and saved["eval"]["nb_examples"] == 360
    assert saved["export"]["max_abs_logit_diff"] <= 1e-4
    assert saved["export"]["int8_audit"]["passed"]
    assert os.path.getsize(output_dir / "model_int8.tflite") > 0
    assert {row["threads"] for row in saved["latency"]} == {1}
    assert metrics["eval"]["accuracy"] == pytest.approx(saved["eval"]["accuracy"])

    evaluated = run(_config(tmp_path, learner, exec_mode="eval", **_SMALL.get(learner, {})))
    assert evaluated["eval"]["accuracy"] == pytest.approx(saved["eval"]["accuracy"])


@pytest.mark.parametrize("learner", load_builtin_learners().names())
def test_every_learner_starts_from_a_users_model(tmp_path, learner):
    """``--model_file``: a user's Sequential model with a softmax head is every learner's
    pre-trained model; the learner's result outputs logits, and the user's file is never
    written (nor any pre-trained model under ``--model_dir``)."""
    from tests.fixtures.user_models import save_sequential_softmax

    path = save_sequential_softmax(tmp_path / "user.keras")
    before = (tmp_path / "user.keras").read_bytes()
    config = _config(tmp_path, learner, net="user_model", net_config=NetConfig(model_file=path),
                     train=TrainConfig(train_steps=20, learning_rate=1e-3, optimizer="adam",
                                       summary_step=10, save_step=100),
                     export=ExportConfig(enabled=False), **_SMALL.get(learner, {}))
    metrics = run(config)
    assert metrics["model"] == "user_at_digits" and metrics["learner"] == learner
    model = keras.models.load_model(tmp_path / learner / "model.keras")
    logits = np.asarray(model(create_dataset(DataConfig()).calibration_images(8)))
    assert logits.shape == (8, 10) and not np.allclose(logits.sum(axis=-1), 1.0)  # no softmax
    assert (tmp_path / "user.keras").read_bytes() == before
    assert not (tmp_path / "models").exists()
