"""``--learner uniform``: settings checks, a bit search in process, the command line end to end."""

import json

import keras
import numpy as np
import pytest

from datasets.base import DataConfig
from learners.config import ExportConfig, RunConfig, TrainConfig
from learners.quantization.packing import read_packed, size_report
from learners.runner import run
from learners.uniform_quant.config import UniformQuantConfig
from nets.model_helper import NetConfig
from tests.learners.cli import run_learner, train_tiny_lenet


def _config(tmp_path, learner, **overrides):
    values = {
        "learner": learner, "net": "lenet_at_digits", "model_dir": str(tmp_path / "models"),
        "save_dir": str(tmp_path / learner), "log_dir": str(tmp_path / "logs"),
        "data": DataConfig(batch_size=32, validation_size=200), "net_config": NetConfig(tiny=True),
        "train": TrainConfig(train_steps=150, learning_rate=0.02, reference_batch_size=32,
                             weight_decay=1e-4, summary_step=50, save_step=1000),
        "export": ExportConfig(enabled=False)}
    values.update(overrides)
    return RunConfig(**values)


@pytest.mark.parametrize("settings,message", [
    ({"weight_bits": 0}, r"--uql_weight_bits an integer in \[1, 16\]. Received: 0"),
    ({"weight_bits": 17}, r"--uql_weight_bits an integer in \[1, 16\]. Received: 17"),
    ({"activation_bits": 20}, r"--uql_activation_bits .* or 32 for float activations"),
    ({"min_weight_bits": 6, "max_weight_bits": 4}, r"--uql_w_bit_min <= --uql_w_bit_max. Received: 6 > 4"),
    ({"equivalent_bits": 9.0}, r"--uql_equivalent_bits in .* = \[2, 8\]. Received: 9.0"),
    ({"bucket_size": 0}, r"--uql_bucket_size >= 1. Received: 0"),
    ({"bucket_type": "rows"}, r"--uql_bucket_type in \('split', 'channel'\)"),
    ({"search_backend": "bayes"}, r"--uql_search_backend in"),
    ({"finetune_steps": -1}, r"--uql_nb_iters_ft >= 0"),
])
def test_bad_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=f"Expected {message}"):
        UniformQuantConfig(**settings)


def test_bit_search_meets_the_average_and_persists_its_trials(tmp_path):
    """Two random roll-outs of the bit search, in process (the CLI variants are slow tests)."""
    run(_config(tmp_path, "full-prec", train=TrainConfig(
        train_steps=150, learning_rate=0.02, reference_batch_size=32, summary_step=50)))
    settings = UniformQuantConfig(per_layer_bits=True, equivalent_bits=3.0, min_weight_bits=2,
                                  max_weight_bits=6, rollouts=2, search_backend="random",
                                  finetune_steps=5, quantize_all_layers=True)
    config = _config(tmp_path, "uniform", settings=settings,
                     train=TrainConfig(train_steps=20, reference_batch_size=32, summary_step=50))
    metrics = run(config)
    out = tmp_path / "uniform"
    trials = [json.loads(line) for line in (out / "search/trials.jsonl").read_text().splitlines()]
    assert len(trials) == 2
    assert set(trials[0]["projected"].values()) == {3}  # the fixed-bit plan is tried first
    assert metrics["bits_source"] == "search" and set(metrics["bits"]) == {
        "conv1", "conv2", "fc3", "logits"}
    assert metrics["search_seconds"] > 0 and metrics["search_seconds"] == pytest.approx(
        sum(trial["seconds"] for trial in trials))
    assert all(2 <= bits <= 6 for bits in metrics["bits"].values())
    assert 2.0 <= metrics["average_bits"] <= 3.0 + 1e-9
    best = max(trials, key=lambda t: t["reward"])
    assert [metrics["bits"][n] for n in ("conv1", "conv2", "fc3", "logits")] == [
        best["projected"][f"bits_{i:03d}"] for i in range(4)]
    plan = json.loads((out / "plan.json").read_text())
    assert {name: entry["bits"] for name, entry in plan["layers"].items()} == metrics["bits"]

    model = keras.models.load_model(out / "model.keras")
    for name, bits in metrics["bits"].items():
        assert len(np.unique(np.asarray(model.get_layer(name).kernel))) <= 2 ** bits
    restored = read_packed(str(out / "model_packed.pfq"))
    for variable in model.weights:
        np.testing.assert_array_equal(restored[variable.path], np.asarray(variable))
    assert metrics["size"] == size_report(str(out / "model_packed.pfq")) | {
        "keras_file_bytes": (out / "model.keras").stat().st_size}
    size = metrics["size"]  # the JSON header dominates this tiny model's file
    assert size["total_bytes"] - size["header_bytes"] < size["float_model_bytes"] / 5

    again = run(config)  # every trial is stored: no roll-out runs again, same bits
    assert again["bits"] == metrics["bits"]
    assert len((out / "search/trials.jsonl").read_text().splitlines()) == 2
    assert again["search_seconds"] == pytest.approx(metrics["search_seconds"])


# ------------------------------------------------------------------------ command line (slow)
@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


def _metrics(tmp_path):
    return json.loads((tmp_path / "models_uniform/metrics.json").read_text())


@pytest.mark.slow
def test_cli_split_buckets_export_and_resume(tmp_path, pretrained):
    flags = ("--uql_weight_bits=3", "--uql_use_buckets", "--uql_bucket_type=split",
             "--uql_bucket_size=64")
    finished = run_learner(tmp_path, pretrained, "uniform", *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert metrics["bits"] == {"conv2": 3, "fc3": 3} and metrics["kept_float"] == ["conv1", "logits"]
    assert metrics["bits_source"] == "fixed" and metrics["search_seconds"] is None
    size = metrics["size"]
    assert size["total_bytes"] == (tmp_path / "models_uniform/model_packed.pfq").stat().st_size
    assert size["ranges_bytes"] == 8 * sum(-(-n // 64) for n in (5 * 5 * 4 * 8, 32 * 16))
    assert metrics["eval"]["accuracy"] > 0.2
    assert metrics["export"]["int8_audit"]["passed"]
    held = metrics["int8_weights"]["layers"]
    assert set(held) == {"conv2", "fc3"} and all(
        entry["stored_as"] == "int8" for entry in held.values())
    again = run_learner(tmp_path, pretrained, "uniform", *flags, "--enbl_export=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already finished" in again.stderr
    changed = run_learner(tmp_path, pretrained, "uniform", "--uql_weight_bits=5",
                          "--enbl_export=false")
    assert changed.returncode == 2 and "weight_bits: 3 -> 5" in changed.stderr


@pytest.mark.slow
def test_cli_channel_buckets_with_activation_bits(tmp_path, pretrained):
    finished = run_learner(tmp_path, pretrained, "uniform", "--uql_weight_bits=2",
                           "--uql_use_buckets", "--uql_bucket_type=channel",
                           "--uql_activation_bits=8", "--uql_quantize_all_layers")
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert set(metrics["bits"]) == {"conv1", "conv2", "fc3", "logits"}
    model = keras.models.load_model(tmp_path / "models_uniform/model.keras")
    assert {"conv1_act_quant", "conv2_act_quant", "fc3_act_quant"} <= {
        layer.name for layer in model.layers}
    kernel = np.asarray(model.get_layer("conv2").kernel)
    assert max(len(np.unique(kernel[..., c])) for c in range(kernel.shape[-1])) <= 4
    assert metrics["export"]["max_abs_logit_diff"] <= 1e-4
    # the activation quantizers' rounding is not left as float ops in the int8 file
    assert metrics["export"]["int8_audit"]["passed"]
    assert "without the 8-bit activation quantizers" in metrics["int8_weights"]["note"]


@pytest.mark.slow
def test_cli_ddpg_bit_search_with_two_rollouts(tmp_path, pretrained):
    finished = run_learner(tmp_path, pretrained, "uniform", "--uql_enbl_rl_agent",
                           "--uql_equivalent_bits=4", "--uql_nb_rlouts=2",
                           "--uql_nb_rlouts_min=1", "--uql_nb_iters_ft=5",
                           "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert metrics["bits_source"] == "search" and metrics["average_bits"] <= 4 + 1e-9
    assert "trial 2/2" in finished.stderr
