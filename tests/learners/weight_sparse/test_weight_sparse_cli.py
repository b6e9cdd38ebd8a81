"""``--learner weight-sparse`` through the real command line, one run per protocol (slow: each is
a process of its own; ``test_weight_sparse_learner.py`` covers the same through ``run(config)``
in the fast suite)."""

import json

import keras
import numpy as np
import pytest

from tests.learners.cli import run_learner, train_tiny_lenet

pytestmark = pytest.mark.slow

_FLAGS = ("--ws_prune_ratio=0.5", "--ws_mask_update_step=5", "--nb_epochs_rat=0.1")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny LeNet trained on digits: the dense model every test prunes."""
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


@pytest.mark.parametrize("protocol, extra", [
    ("uniform", ()),
    ("heurist", ("--enbl_export=false",)),
    ("optimal", ("--ws_nb_rlouts=2", "--ws_nb_rlouts_min=1", "--ws_nb_iters_rg=5",
                 "--ws_nb_iters_ft=10", "--ws_nb_iters_feval=2", "--enbl_export=false")),
])
def test_each_protocol_end_to_end(tmp_path, pretrained, protocol, extra):
    finished = run_learner(tmp_path, pretrained, "weight-sparse", *_FLAGS,
                           f"--ws_prune_ratio_prtl={protocol}", *extra)
    assert finished.returncode == 0, finished.stderr[-3000:]
    out = tmp_path / "models_weight-sparse"
    plan = json.loads((out / "plan.json").read_text())
    model = keras.models.load_model(out / "model.keras")
    zeros = {name: int(np.size(model.get_layer(name).kernel) -
                       np.count_nonzero(np.asarray(model.get_layer(name).kernel)))
             for name in plan["layers"]}
    assert zeros == {name: layer["pruned"] for name, layer in plan["layers"].items()}
    assert sum(zeros.values()) == round(0.5 * plan["nb_weights"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == protocol and metrics["eval"]["accuracy"] > 0.2
    if protocol == "uniform":
        assert (out / "model_sparse.tflite").is_file()
        assert "model_sparse.tflite" in finished.stderr
    if protocol == "optimal":
        assert len((out / "search/trials.jsonl").read_text().splitlines()) == 2
        again = run_learner(tmp_path, pretrained, "weight-sparse", *_FLAGS,
                            f"--ws_prune_ratio_prtl={protocol}", *extra)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "resuming with the plan" in again.stderr
