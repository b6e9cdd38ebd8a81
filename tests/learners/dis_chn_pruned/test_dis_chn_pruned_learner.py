"""``--learner dis-chn-pruned`` end to end on digits, with tiny settings."""

import json

import keras
import pytest

from learners.pruning import PruningPlan, apply_plan, keep_count
from tests.learners.cli import run_learner, train_tiny_lenet

_DCP_FLAGS = ("--dcp_nb_iters_block=5", "--dcp_nb_iters_layer=1", "--dcp_batch_size=32")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny LeNet trained on digits: the dense model every test prunes."""
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


def _run(tmp_path, pretrained, *flags):
    return run_learner(tmp_path, pretrained, "dis-chn-pruned", *_DCP_FLAGS, *flags)


def test_prunes_logs_exports_and_the_plan_replays(tmp_path, pretrained):
    finished = _run(tmp_path, pretrained, "--dcp_prune_ratio=0.5")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "dis-chn-pruned: stage 1/4 (head after pool1)" in finished.stderr
    assert "dis-chn-pruned: group conv1: kept" in finished.stderr
    out = tmp_path / "models_dis-chn-pruned"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("eval", "eval_before_finetuning", "dense_eval", "params", "macs", "dense_params",
                "dense_macs", "macs_kept", "kept_channels", "train"):
        assert key in metrics
    assert metrics["params"] < 0.6 * metrics["dense_params"] and metrics["macs_kept"] < 0.6
    plan = PruningPlan.load(str(out / "plan.json"))
    assert metrics["kept_channels"] == {name: keep_count(plan.channels[name], 0.5)
                                        for name in plan.kept}
    assert (out / "model.tflite").is_file() and (out / "model_int8.tflite").is_file()
    dense = keras.models.load_model(tmp_path / "models/tiny_lenet_at_digits.keras")
    pruned = keras.models.load_model(out / "model.keras")
    replayed = apply_plan(dense, plan)
    assert [w.shape for w in replayed.weights] == [w.shape for w in pruned.weights]

    again = _run(tmp_path, pretrained, "--dcp_prune_ratio=0.5", "--enbl_export=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming with the pruned model" in again.stderr
    assert "block-wise fine-tuning" not in again.stderr


@pytest.mark.parametrize("flags, expected", [
    (("--dcp_prune_ratio=1.0",), ["0 <= --dcp_prune_ratio < 1", "1.0"]),
    (("--dcp_nb_stages=0",), ["--dcp_nb_stages >= 1", "0"]),
    (("--dcp_lrn_rate_adam=0",), ["--dcp_lrn_rate_adam > 0", "0"]),
])
def test_bad_settings_stop_before_any_work(tmp_path, pretrained, flags, expected):
    finished = _run(tmp_path, pretrained, *flags)
    assert finished.returncode == 2, finished.stderr[-3000:]
    for text in expected:
        assert text in finished.stderr
    assert not (tmp_path / "models_dis-chn-pruned").exists()
