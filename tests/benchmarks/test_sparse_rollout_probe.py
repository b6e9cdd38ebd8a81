"""Tests of benchmarks/sparse_rollout_probe.py on digits and a tiny convolutional model."""

import pytest

from benchmarks import sparse_rollout_probe
from benchmarks.sparse_rollout_probe import Variant
from datasets.base import DataConfig
from tests.fixtures.digits_models import digits_convnet


def test_variant_parse_and_its_error():
    assert Variant.parse("3e-2:20:3e-4:200") == Variant(0.03, 20, 3e-4, 200)
    with pytest.raises(ValueError, match="Expected a variant .* Received: '3e-2:20'"):
        Variant.parse("3e-2:20")


def test_probe_rows_and_a_roll_out_without_training_scores_the_pruned_model():
    rows = sparse_rollout_probe.probe(
        digits_convnet(), DataConfig(batch_size=32), [0.5, 0.75],
        [Variant(1e-3, 0, 1e-3, 0), Variant(1e-3, 2, 1e-3, 2)], reward_batches=2, seed=0)
    assert [(row["ratio"], row["variant"]) for row in rows] == [
        (0.5, "rg 0 x 0.001, ft 0 x 0.001"), (0.5, "rg 2 x 0.001, ft 2 x 0.001"),
        (0.75, "rg 0 x 0.001, ft 0 x 0.001"), (0.75, "rg 2 x 0.001, ft 2 x 0.001")]
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["seconds"] >= 0.0
    untrained = [row for row in rows if row["variant"].startswith("rg 0")]
    assert all(row["accuracy"] == row["accuracy_before_ft"] for row in untrained)
    assert "regression_loss" in rows[1] and "finetune_loss" in rows[1]
