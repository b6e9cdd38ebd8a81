"""A roll-out's fast fine-tuning keeps the candidate's zeros and leaves the dense model alone."""

from unittest import mock

import keras
import numpy as np
import pytest

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.weight_sparse import rollout
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
                           WeightSparseConfig(regression_steps=3, finetune_steps=3, reward_batches=1))
    for counts in ([4, 4, 300], [1, 6, 5000]):
        metrics = scorer(counts)
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["accuracy_before_ft"] <= 1.0
        assert np.isfinite(metrics["regression_loss"]) and np.isfinite(metrics["finetune_loss"])
        zeros = [int(np.sum(np.asarray(v) == 0)) for v in scorer.variables]
        assert zeros == counts
    for weight, original in zip(dense.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), original)


def _conv_net() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="fc")(x))


@pytest.mark.parametrize("learning_rate, undone", [(30.0, True), (1e-5, False)])
def test_a_regression_that_raises_its_loss_is_undone_and_warned_about(learning_rate, undone):
    dense = _conv_net()
    kernels = maskable_kernels(dense)
    scorer = RolloutScorer(dense, kernels, create_dataset(DataConfig(batch_size=32)),
                           WeightSparseConfig(regression_learning_rate=learning_rate, regression_steps=5,
                                              finetune_steps=0, reward_batches=1))
    counts = [36, 288, 40]
    with mock.patch.object(rollout.logging, "warning") as warning:
        metrics = scorer(counts)
        scorer(counts)
    assert metrics["regression_undone"] == float(undone)
    assert (metrics["regression_loss"] > metrics["regression_loss_start"]) == undone
    assert warning.call_count == int(undone)  # once per scorer, not once per roll-out
    if undone:
        assert "--ws_lrn_rate_rg" in warning.call_args.args[0]
    pruned = [np.asarray(k.variable(dense)) * np.asarray(m) for k, m in zip(kernels, scorer.masks)]
    same = [np.array_equal(np.asarray(v), p) for v, p in zip(scorer.variables, pruned)]
    assert same == ([True] * 3 if undone else [False, False, False])


@pytest.mark.parametrize("same_batches", [True, False])
def test_same_batches_makes_a_plans_reward_repeat_and_the_running_stream_does_not(same_batches):
    dense = _conv_net()
    scorer = RolloutScorer(dense, maskable_kernels(dense), create_dataset(DataConfig(batch_size=32)),
                           WeightSparseConfig(regression_learning_rate=1e-4, regression_steps=2, finetune_steps=3,
                                              reward_batches=1), same_batches=same_batches)
    counts = [36, 288, 40]
    first, again = scorer(counts), scorer(counts)
    # Same batches repeat a reward up to float summation order (multi-threaded kernels on a
    # many-core machine differ in the 7th digit); other batches move the losses by several %.
    repeats = [np.isclose(first[key], again[key], rtol=1e-4)
               for key in ("regression_loss_start", "regression_loss", "finetune_loss")]
    assert repeats == [same_batches] * 3


def test_a_fine_tuning_that_diverges_stops_the_search_naming_its_learning_rate_flag():
    from utils.errors import TrainingDivergedError

    dense = _conv_net()
    dataset = create_dataset(DataConfig(batch_size=32))
    scorer = RolloutScorer(dense, maskable_kernels(dense), dataset,
                           WeightSparseConfig(finetune_learning_rate=1e38, regression_steps=0, finetune_steps=5,
                                              reward_batches=1))
    with pytest.raises(TrainingDivergedError,
                       match=r"roll-out fine-tuning step 5 of 5 gave loss=nan.*--ws_lrn_rate_ft"):
        scorer([36, 288, 40])
