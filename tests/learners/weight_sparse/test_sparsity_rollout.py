"""A roll-out's fast fine-tuning keeps the candidate's zeros and leaves the dense model alone."""

import keras
import numpy as np

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.weight_sparse.config import WeightSparseConfig
from learners.weight_sparse.masks import maskable_kernels
from learners.weight_sparse.rollout import RolloutScorer


def test_rollouts_keep_each_candidates_zeros_and_start_from_the_dense_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(inputs)
    x = keras.layers.Flatten()(x)
    dense = keras.Model(inputs, keras.layers.Dense(10, name="fc")(x))
    before = [np.asarray(w).copy() for w in dense.weights]
    kernels = maskable_kernels(dense, include_depthwise=True)
    assert [k.name for k in kernels] == ["sep/depthwise_kernel", "sep", "fc"]
    scorer = RolloutScorer(dense, kernels, create_dataset(DataConfig(batch_size=32)),
                           WeightSparseConfig(nb_iters_rg=3, nb_iters_ft=3, nb_iters_feval=1))
    for counts in ([4, 4, 300], [1, 6, 5000]):
        metrics = scorer(counts)
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["accuracy_before_ft"] <= 1.0
        assert np.isfinite(metrics["regression_loss"]) and np.isfinite(metrics["finetune_loss"])
        zeros = [int(np.sum(np.asarray(v) == 0)) for v in scorer.variables]
        assert zeros == counts
    for weight, original in zip(dense.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), original)
