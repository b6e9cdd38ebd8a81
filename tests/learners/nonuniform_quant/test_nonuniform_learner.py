"""``--learner non-uniform``: settings checks and the command line end to end."""

import json

import keras
import numpy as np
import pytest

from learners.nonuniform_quant.config import NonUniformQuantConfig
from tests.learners.cli import run_learner, train_tiny_lenet


@pytest.mark.parametrize("settings,message", [
    ({"weight_bits": 0}, r"--nuql_weight_bits an integer in \[1, 16\]"),
    ({"min_weight_bits": 5, "max_weight_bits": 3}, r"--nuql_w_bit_min <= --nuql_w_bit_max"),
    ({"equivalent_bits": 1.5}, r"--nuql_equivalent_bits in"),
    ({"init_style": "kmeans"}, r"--nuql_init_style in \('quantile', 'uniform'\). Received: 'kmeans'"),
    ({"opt_mode": "centroids"}, r"--nuql_opt_mode in \('weights', 'cluster', 'both'\)"),
    ({"bucket_type": "block"}, r"--nuql_bucket_type in"),
    ({"bucket_size": 0}, r"--nuql_bucket_size >= 1"),
])
def test_bad_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=f"Expected {message}"):
        NonUniformQuantConfig(**settings)


def test_documented_clusters_spelling_is_accepted():
    assert NonUniformQuantConfig(opt_mode="clusters").opt_mode == "cluster"
    assert NonUniformQuantConfig().bucket_type == "split"  # the original code's default


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return train_tiny_lenet(tmp_path_factory.mktemp("dense"))


def _metrics(tmp_path):
    return json.loads((tmp_path / "models_non-uniform/metrics.json").read_text())


@pytest.mark.slow
def test_cli_cluster_mode_trains_only_codebooks(tmp_path, pretrained):
    finished = run_learner(tmp_path, pretrained, "non-uniform", "--nuql_weight_bits=3",
                           "--nuql_opt_mode=clusters", "--nuql_init_style=uniform",
                           "--enbl_export=false")
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert metrics["bits"] == {"conv2": 3, "fc3": 3}
    dense = keras.models.load_model(tmp_path / "models/tiny_lenet_at_digits.keras")
    model = keras.models.load_model(tmp_path / "models_non-uniform/model.keras")
    for name in ("conv1", "logits"):  # frozen and float
        for trained, original in zip(model.get_layer(name).weights, dense.get_layer(name).weights,
                                     strict=True):
            np.testing.assert_array_equal(trained, original)
    kernel = np.asarray(model.get_layer("conv2").kernel)
    assert len(np.unique(kernel)) <= 8
    size = metrics["size"]
    assert size["codebooks_bytes"] == 2 * 8 * 4 and size["ranges_bytes"] == 0
    assert size["total_bytes"] == (tmp_path / "models_non-uniform/model_packed.pfq").stat().st_size


@pytest.mark.slow
def test_cli_split_buckets_and_tpe_search(tmp_path, pretrained):
    finished = run_learner(tmp_path, pretrained, "non-uniform", "--nuql_use_buckets",
                           "--nuql_bucket_size=128", "--nuql_enbl_rl_agent",
                           "--nuql_equivalent_bits=3", "--nuql_w_bit_min=2", "--nuql_w_bit_max=4",
                           "--nuql_nb_rlouts=2", "--nuql_search_backend=tpe",
                           "--nuql_nb_iters_ft=5", "--nuql_opt_mode=both")
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = _metrics(tmp_path)
    assert metrics["bits_source"] == "search" and metrics["average_bits"] <= 3 + 1e-9
    nb_buckets = sum(-(-n // 128) for n in (5 * 5 * 4 * 8, 32 * 16))
    expected = 4 * sum(-(-n // 128) * 2 ** metrics["bits"][name]
                       for name, n in (("conv2", 5 * 5 * 4 * 8), ("fc3", 32 * 16)))
    assert nb_buckets > 2 and metrics["size"]["codebooks_bytes"] == expected
    assert metrics["export"]["int8_audit"]["passed"]
