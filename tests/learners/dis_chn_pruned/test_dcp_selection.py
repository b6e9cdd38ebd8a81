"""DCP's pieces on tiny planted models: greedy selection, stage boundaries, heads."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from learners.dis_chn_pruned.selection import (
    build_head,
    finetune_block,
    select_group,
    slice_head,
    stage_cuts,
    stage_of,
)
from learners.pruning import PruningPlan, apply_plan, build_graph

_LIVE = (1, 4)  # the producer channels that carry the signal; the others are dead (always 0)


def _planted_model() -> keras.Model:
    """images -> producer (6 channels, only _LIVE alive) -> consumer -> pool -> logits."""
    inputs = keras.Input((6, 6, 2), name="images")
    x = keras.layers.Conv2D(6, 1, name="producer")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="consumer")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs, name="planted")
    kernel, bias = model.get_layer("producer").get_weights()
    kernel[:] = 0.0
    bias[:] = 0.0
    kernel[0, 0, 0, _LIVE[0]] = 1.0
    kernel[0, 0, 1, _LIVE[1]] = 1.0
    model.get_layer("producer").set_weights([kernel, bias])
    return model


def _batches(seed: int = 0):
    rng = np.random.default_rng(seed)

    def batch():
        images = rng.normal(size=(16, 6, 6, 2)).astype(np.float32)
        labels = (images[..., 0].mean(axis=(1, 2)) > 0).astype(np.int32)
        return tf.constant(images), tf.constant(labels)

    return (batch() for _ in itertools.count())


def _select(nb_keep: int, nb_iters: int = 1):
    dense = _planted_model()
    model = keras.models.clone_model(dense)
    model.set_weights(dense.get_weights())
    graph = build_graph(model)
    group = graph.group("producer")
    probe = keras.Model(dense.inputs, [dense.get_layer("consumer").output])
    result = select_group(model, graph, group, nb_keep, dense_probe=probe, output_indices=[None],
                          head=None, stage_layer=None, batches=_batches(), nb_iters=nb_iters,
                          learning_rate=1e-3)
    return model, graph, result


def test_greedy_selection_picks_a_live_channel_over_dead_ones():
    _, _, result = _select(nb_keep=1, nb_iters=0)
    assert len(result.kept) == 1 and result.kept[0] in _LIVE


def test_greedy_selection_keeps_the_requested_count_and_zeroes_the_rest():
    model, graph, result = _select(nb_keep=2, nb_iters=2)
    assert sorted(result.kept) == list(_LIVE)
    kernel = model.get_layer("consumer").get_weights()[0]
    cut = [c for c in range(6) if c not in result.kept]
    assert np.all(kernel[:, :, cut, :] == 0.0)
    assert np.any(kernel[:, :, result.kept, :] != 0.0)
    assert np.isfinite(result.loss) and result.reconstruction >= 0.0
    # Cutting the zeroed channels for real changes nothing.
    pruned = apply_plan(model, PruningPlan.for_graph(graph, {"producer": result.kept}), graph)
    images = next(_batches(1))[0]
    np.testing.assert_allclose(pruned(images), model(images), atol=1e-5)


def test_stages_split_a_plain_network_evenly_and_a_residual_one_between_blocks():
    plain = keras.Sequential([keras.Input((8, 8, 1))] + [
        keras.layers.Conv2D(2, 3, padding="same", name=f"conv{i}") for i in range(1, 6)] + [
        keras.layers.Flatten(name="flatten"), keras.layers.Dense(3, name="logits")])
    assert stage_cuts(plain, 2) == ["conv2", "conv4"]

    inputs = keras.Input((8, 8, 4))
    x = inputs
    for block in range(1, 4):
        y = keras.layers.Conv2D(4, 3, padding="same", name=f"b{block}_conv1")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", name=f"b{block}_conv2")(y)
        x = keras.layers.ReLU(name=f"b{block}_out")(keras.layers.Add(name=f"b{block}_add")([x, y]))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    residual = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    cuts = stage_cuts(residual, 2)
    assert cuts == ["b1_out", "b2_out"]  # never inside a block, where the shortcut is alive
    assert [stage_of(residual, cuts, name) for name in ("b1_conv2", "b2_conv1", "logits")] == [0, 1, 2]
    assert len(stage_cuts(residual, 10)) == 3  # no more boundaries than blocks


def test_heads_train_and_follow_their_input_channels():
    head = build_head(4, 4, 3, "head")
    features = tf.random.normal((8, 5, 5, 4))
    assert head(features).shape == (8, 3)
    kept = np.array([True, False, True, True])
    sliced = slice_head(head, kept)
    assert sliced.input.shape[-1] == 3
    np.testing.assert_allclose(sliced.get_layer("head_logits").get_weights()[0],
                               head.get_layer("head_logits").get_weights()[0][kept])

    model = _planted_model()
    head = build_head(6, 4, 2, "head")
    first, last = finetune_block(model, head, "relu", _batches(), 3, 1e-3)
    assert np.isfinite(first) and np.isfinite(last)
