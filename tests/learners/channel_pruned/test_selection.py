"""learners.channel_pruned.selection: which groups LASSO selects for."""

import keras
import numpy as np
import pytest
from keras import layers

from learners.channel_pruned.selection import lasso_consumers, sample_features, select_group
from learners.pruning import build_graph
from tests.fixtures.pruning_models import randomize_weights, sample_images


def _conv_pair(normalize: bool) -> keras.Model:
    """conv1 -> (LayerNorm) -> conv2: a linear consumer reading conv1's group."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    if normalize:
        x = layers.LayerNormalization(name="ln")(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return randomize_weights(keras.Model(inputs, layers.Dense(3, name="logits")(x)))


@pytest.mark.parametrize("normalize", [False, True])
def test_lasso_selects_only_for_groups_no_layer_normalizes(normalize):
    model = _conv_pair(normalize)
    group = build_graph(model).group("conv1")
    assert group.normalizers == (("ln",) if normalize else ())
    # Cutting channels renormalizes the kept ones after a LayerNorm: LASSO's model of the
    # consumer's inputs no longer holds, so the group is ranked by L1.
    assert lasso_consumers(model, group) == ([] if normalize else ["conv2"])
    samples = sample_features(model, ["conv2"], [sample_images(model, batch_size=4)], 10,
                              np.random.default_rng(0))
    lasso = select_group(model, group, 3, "lasso", samples=samples)
    l1 = select_group(model, group, 3, "l1")
    assert len(lasso) == 3
    if normalize:
        assert lasso == l1
