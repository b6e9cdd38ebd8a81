"""learners.pruning.graph: which channels are cut together, on tiny models of every kind."""

import logging

import keras
import numpy as np
import pytest
from keras import layers

from learners.pruning import (
    PassThroughHandler,
    PerChannelHandler,
    apply_plan,
    build_graph,
    register_handler,
)
from learners.pruning.graph import (
    LayerHandler,
    UnknownLayerHandler,
    analysed_model,
    handler_for,
)
from tests.fixtures.pruning_models import (
    MODEL_BUILDERS,
    cached_model,
    convnext_block_net,
    masked_copy,
    nested_net,
    random_plan,
    sample_images,
)


def _membership(graph):
    """{group name: (channels, producers, consumers, followers, prunable)}."""
    return {group.name: (group.channels, set(group.producers), set(group.consumers),
                         set(group.followers), group.prunable) for group in graph.groups}


def test_residual_stages_are_one_group_each():
    graph = build_graph(cached_model("resnet20"))
    groups = _membership(graph)
    assert groups["stem_conv"] == (
        4, {"stem_conv", "stage1_block1_conv2", "stage1_block2_conv2", "stage1_block3_conv2"},
        {"stage1_block1_conv1", "stage1_block2_conv1", "stage1_block3_conv1",
         "stage2_block1_conv1", "stage2_block1_shortcut_conv"},
        {"stem_bn", "stage1_block1_bn2", "stage1_block2_bn2", "stage1_block3_bn2"}, True)
    assert groups["stage2_block1_conv2"][:2] == (
        8, {"stage2_block1_conv2", "stage2_block1_shortcut_conv", "stage2_block2_conv2",
            "stage2_block3_conv2"})
    assert groups["stage3_block1_conv2"][:3] == (
        16, {"stage3_block1_conv2", "stage3_block1_shortcut_conv", "stage3_block2_conv2",
             "stage3_block3_conv2"}, {"stage3_block2_conv1", "stage3_block3_conv1", "logits"})
    # Inside each block, the first convolution is a group of its own.
    for stage, width in ((1, 4), (2, 8), (3, 16)):
        for block in (1, 2, 3):
            name = f"stage{stage}_block{block}_conv1"
            assert groups[name] == (width, {name}, {f"stage{stage}_block{block}_conv2"},
                                    {f"stage{stage}_block{block}_bn1"}, True)
    assert len(graph.groups) == 14 and len(graph.prunable_groups) == 12


def test_model_input_and_output_groups_are_not_prunable():
    graph = build_graph(cached_model("resnet20"))
    images, logits = graph.group("images"), graph.group("logits")
    assert not images.prunable and "model input 'images'" in images.reason
    assert not logits.prunable and "model output 'logits'" in logits.reason
    assert graph.groups[0] is images and graph.groups[-1] is logits


def test_groups_are_in_graph_order_with_stable_names():
    model = cached_model("resnet20")
    first = build_graph(model)
    again = build_graph(keras.models.clone_model(model))
    assert [group.to_dict() for group in first.groups] == \
        [group.to_dict() for group in again.groups]
    order = {layer.name: index for index, layer in enumerate(model.layers)}
    firsts = [min(order[name] for name in group.producers) for group in first.groups]
    assert firsts == sorted(firsts)
    assert [group.index for group in first.groups] == list(range(len(first.groups)))


def test_concatenated_branches_stay_separate_groups():
    groups = _membership(build_graph(cached_model("inception")))
    assert groups["stem"] == (6, {"stem"}, {"branch1", "branch2_reduce", "branch3"}, set(), True)
    for branch, width in (("branch1", 4), ("branch2", 5), ("branch3", 3)):
        assert groups[branch] == (width, {branch}, {"head"}, {"concat_bn"}, True)
    assert groups["branch2_reduce"] == (3, {"branch2_reduce"}, {"branch2"}, set(), True)


def test_concatenation_added_to_a_projection_couples_all_branches():
    graph = build_graph(cached_model("inception_residual"))
    groups = _membership(graph)
    assert groups["branch1"] == (12, {"branch1", "branch2", "branch3", "projection"},
                                 {"logits"}, set(), True)
    # Each branch's channel i is the projection's channel at the branch's offset.
    kept = {"branch1": [0, 5, 10]}  # branch1[0], branch2[?] and branch3[?] in graph order
    masks = graph.layer_masks(kept)
    projection, concat = masks["projection"].outputs[0], masks["concat"].outputs[0]
    np.testing.assert_array_equal(projection, concat)
    assert concat.sum() == 3
    assert [mask.sum() for mask in masks["concat"].inputs] == [1, 1, 1]
    # Each branch holds part of the group: a plan must keep one of its channels.
    segments = dict(graph.group("branch1").segments)
    assert sorted(map(len, segments.values())) == [3, 4, 5]
    assert set(segments) == {"branch1", "branch2", "branch3"}
    assert sorted(sum(segments.values(), ())) == list(range(12))
    assert graph.emptied_layers({"branch1": segments["branch1"]}) == ["branch2", "branch3"]


def test_depthwise_multiplier_couples_each_input_channel_to_its_outputs():
    graph = build_graph(cached_model("depthwise_multiplier"))
    group = graph.group("conv1")
    assert (group.channels, set(group.producers)) == (4, {"conv1", "parallel"})
    assert {"depthwise", "bn"} <= set(group.followers)
    masks = graph.layer_masks({"conv1": [1, 3]})
    np.testing.assert_array_equal(masks["depthwise"].inputs[0], [False, True, False, True])
    # Output channel c * 2 + j of the depthwise convolution follows input channel c.
    expected = [False, False, True, True, False, False, True, True]
    np.testing.assert_array_equal(masks["depthwise"].outputs[0], expected)
    np.testing.assert_array_equal(masks["parallel"].outputs[0], expected)


def test_separable_conv_reads_its_input_and_starts_a_new_group():
    groups = _membership(build_graph(cached_model("separable")))
    assert groups["conv1"] == (6, {"conv1"}, {"sep1"}, set(), True)
    assert groups["sep1"] == (8, {"sep1"}, {"sep2"}, {"bn1"}, True)
    assert groups["sep2"] == (8, {"sep2"}, {"logits"}, set(), True)


def test_squeeze_excitation_couples_the_expanding_dense_to_the_main_path():
    groups = _membership(build_graph(cached_model("squeeze_excitation")))
    assert groups["conv1"] == (8, {"conv1", "se_expand"}, {"se_reduce", "conv2"},
                               {"bn1", "se_reshape"}, True)
    assert groups["se_reduce"] == (3, {"se_reduce"}, {"se_expand"}, set(), True)


def test_subtract_and_multiply_couple_inputs_and_a_broadcast_gate_does_not():
    graph = build_graph(cached_model("merge"))
    groups = _membership(graph)
    assert groups["conv_a"] == (6, {"conv_a", "conv_b", "conv_c"}, {"gate", "conv_d"}, set(),
                                True)
    gate = graph.group("gate")
    assert gate.channels == 1 and not gate.prunable and "single channel" in gate.reason


def test_flatten_expands_each_channel_to_its_spatial_rows():
    graph = build_graph(cached_model("plain_convnet"))
    groups = _membership(graph)
    assert groups["conv1"] == (4, {"conv1"}, {"conv2"}, {"bn1"}, True)
    assert groups["conv2"] == (6, {"conv2"}, {"fc1"}, set(), True)
    assert groups["fc1"] == (8, {"fc1"}, {"logits"}, set(), True)
    rows = graph.layer_masks({"conv2": [1, 4]})["fc1"].inputs[0]
    # conv2's output is 2x2x6 after pooling; flattened channels last: row = position * 6 + c.
    assert rows.shape == (2 * 2 * 6,)
    np.testing.assert_array_equal(np.flatnonzero(rows), [1, 4, 7, 10, 13, 16, 19, 22])


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_mobilenet_depthwise_layers_follow_their_input_group(name):
    graph = build_graph(cached_model(name))
    stem = graph.group("stem_conv")
    assert stem.prunable and "block1_depthwise" in stem.followers
    for group in graph.prunable_groups:
        for follower in group.followers:
            if follower.endswith("_depthwise"):
                # The depthwise convolution reads the group; its output is the same group.
                assert f"{follower}_bn" in group.followers
    if name == "mobilenet_v2":
        # The residual blocks of a stage share one group: block 4's projection feeds the adds
        # of blocks 5 and 6.
        assert set(graph.group("block4_project_conv").producers) == {
            "block4_project_conv", "block5_project_conv", "block6_project_conv"}
        assert graph.group("block2_expand_conv").followers == (
            "block2_expand_bn", "block2_depthwise", "block2_depthwise_bn")


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS))
def test_every_tiny_model_is_analysed_without_warnings(name, caplog):
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(cached_model(name))
    assert not caplog.records
    assert graph.prunable_groups
    assert not graph.groups[0].prunable and not graph.groups[-1].prunable


class DoubleValues(layers.Layer):
    """A custom channel-wise layer the graph does not know."""

    def call(self, inputs):
        return inputs * 2.0


class ChannelScale(layers.Layer):
    """A custom layer with one weight per channel."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs * self.scale


def _custom_layer_model(custom):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = custom(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="logits")(x))


def test_unknown_layer_pins_its_groups_with_a_warning_naming_it(caplog):
    model = _custom_layer_model(DoubleValues(name="double"))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    # The layer, its class and the groups it keeps whole.
    assert "'double' (DoubleValues)" in messages[0]
    assert "'conv1' (6 channels), 'double' (6 channels)" in messages[0]
    conv1 = graph.group("conv1")
    assert not conv1.prunable and "DoubleValues" in conv1.reason
    # The unknown layer's output is a new, pinned group; conv2 is unaffected.
    assert not graph.group("double").prunable
    assert graph.group("conv2").prunable
    assert isinstance(handler_for(model.get_layer("double")), UnknownLayerHandler)


def test_registering_a_handler_makes_a_custom_layer_prunable(restore_handlers, caplog):
    register_handler(DoubleValues, PassThroughHandler())
    model = _custom_layer_model(DoubleValues(name="double"))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert not caplog.records
    assert graph.group("conv1").prunable and graph.group("conv1").consumers == ("conv2",)
    with pytest.raises(ValueError, match="already has a channel-pruning handler"):
        register_handler(DoubleValues, PassThroughHandler())
    with pytest.raises(TypeError, match="Expected a LayerHandler"):
        register_handler(DoubleValues, object(), replace=True)


def test_a_custom_per_channel_layer_is_sliced_by_its_handler(restore_handlers):
    register_handler(ChannelScale, PerChannelHandler(("scale",)))
    model = _custom_layer_model(ChannelScale(name="scale"))
    model.get_layer("scale").scale.assign(np.arange(1.0, 7.0))
    graph = build_graph(model)
    assert graph.group("conv1").followers == ("scale",)
    plan = random_plan(graph, 0.5, seed=3)
    pruned = apply_plan(model, plan, graph)
    kept = list(plan.kept["conv1"])
    np.testing.assert_array_equal(pruned.get_layer("scale").scale.numpy(),
                                  np.arange(1.0, 7.0)[kept])
    images = sample_images(model)
    np.testing.assert_allclose(pruned(images), masked_copy(model, graph, plan)(images),
                               atol=1e-5)


def test_raw_keras_operations_without_handler_are_unknown_and_pinned(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.ops.flip(x, axis=-1)  # reorders the channels: no handler
    x = layers.Conv2D(4, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert any("Flip" in record.getMessage() for record in caplog.records)
    assert not graph.group("conv1").prunable
    pruned = apply_plan(model, random_plan(graph, 0.5), graph)
    assert pruned.get_layer("conv2").filters == 2


def _hard_swish_residual_model():
    """A MobileNetV3-style hard-swish and a residual, written with raw keras.ops arithmetic."""
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    gate = layers.ReLU(6.0, name="gate_relu6")(x + 3.0) * (1.0 / 6.0)
    x = layers.Multiply(name="hard_swish")([x, gate])
    y = layers.Conv2D(6, 3, padding="same", name="conv2")(x)
    y = keras.ops.relu6(y)
    x = x + y  # a residual written as keras.ops.add
    scale = layers.Dense(1, name="scale")(layers.GlobalAveragePooling2D(name="pool")(x))
    x = x * layers.Reshape((1, 1, 1), name="scale_map")(scale)  # one channel, broadcast
    x = layers.Conv2D(5, 1, name="conv3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="logits")(x))


def test_keras_ops_arithmetic_is_cut_through_like_merge_layers(caplog):
    keras.utils.set_random_seed(0)
    model = _hard_swish_residual_model()
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert not caplog.records
    conv1 = graph.group("conv1")
    assert conv1.prunable and set(conv1.producers) == {"conv1", "conv2"}
    assert set(conv1.consumers) == {"conv2", "scale", "conv3"}
    plan = random_plan(graph, 0.5, seed=4)
    pruned = apply_plan(model, plan, graph)
    assert pruned.get_layer("conv2").filters == len(plan.kept["conv1"])
    images = sample_images(model)
    np.testing.assert_allclose(pruned(images), masked_copy(model, graph, plan)(images),
                               atol=1e-5)


def test_keras_ops_with_a_per_channel_constant_are_not_cut_through(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = x * np.arange(1.0, 5.0, dtype="float32")
    x = layers.Conv2D(4, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "(Multiply)" in messages[0] and "(4,)" in messages[0]
    assert not graph.group("conv1").prunable and graph.group("conv2").prunable


def test_grouped_convolution_is_not_cut_through(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(8, 3, name="conv1")(inputs)
    x = layers.Conv2D(8, 3, groups=2, name="grouped")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert any("'grouped' (Conv2D)" in record.getMessage() for record in caplog.records)
    assert "groups=2" in graph.group("conv1").reason
    assert not graph.group("grouped").prunable


def test_softmax_across_channels_is_not_cut_and_not_warned_about(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, activation="softmax", name="attention")(inputs)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, layers.Softmax(name="probabilities")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert not caplog.records
    assert "softmax" in graph.group("attention").reason
    assert graph.group("conv2").prunable
    assert "normalizes across channels" in graph.group("logits").reason


def test_shared_layer_couples_the_inputs_of_its_calls():
    inputs = keras.Input((8, 8, 3), name="images")
    a = layers.Conv2D(4, 1, name="conv_a")(inputs)
    b = layers.Conv2D(4, 1, name="conv_b")(inputs)
    shared = layers.Conv2D(5, 3, padding="same", name="shared")
    x = layers.Concatenate(name="concat")([shared(a), shared(b)])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    graph = build_graph(model)
    assert set(graph.group("conv_a").producers) == {"conv_a", "conv_b"}
    assert graph.group("shared").consumers == ("logits",)
    plan = random_plan(graph, 0.5, seed=1)
    pruned = apply_plan(model, plan, graph)
    images = sample_images(model)
    np.testing.assert_allclose(pruned(images), masked_copy(model, graph, plan)(images),
                               atol=1e-5)


def test_sequential_model_is_supported():
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, name="conv"),
                              layers.ReLU(name="relu"), layers.Flatten(name="flatten"),
                              layers.Dense(3, name="logits")])
    graph = build_graph(model)
    assert graph.group("conv").prunable and graph.group("conv").consumers == ("logits",)
    pruned = apply_plan(model, random_plan(graph, 0.5), graph)
    assert pruned.get_layer("logits").kernel.shape == (4 * 4 * 2, 3)


def test_subclassed_model_is_rejected():
    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(ValueError, match="functional or sequential"):
        build_graph(Subclassed())


def test_unknown_group_name_lists_the_prunable_groups():
    graph = build_graph(cached_model("plain_convnet"))
    with pytest.raises(ValueError, match="Unknown channel group 'nope'.*conv1, conv2, fc1"):
        graph.group("nope")
    assert "conv1" in graph and "nope" not in graph


def test_handler_base_class_has_no_default_propagation():
    with pytest.raises(NotImplementedError):
        LayerHandler().propagate(None, None)


def test_nested_functional_and_sequential_models_are_looked_into(caplog):
    model = nested_net()
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert not caplog.records
    groups = _membership(graph)
    # The sub-model's residual couples the outer conv to the block's conv; the Sequential's
    # conv, named like the outer one, is renamed after its sub-model.
    assert groups["conv"] == (6, {"conv", "block_conv"}, {"block_conv", "head_conv"},
                              {"block_bn"}, True)
    assert groups["head_conv"] == (5, {"head_conv"}, {"logits"}, set(), True)
    assert [layer.name for layer in analysed_model(model).layers] == [
        "images", "conv", "block_conv", "block_bn", "block_relu", "block_add", "head_conv",
        "head_relu", "gap", "logits"]


class _ScaleWithoutConfig(layers.Layer):
    """A layer with a weight whose config cannot re-create it."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def get_config(self):
        return {"name": self.name}  # forgets `factor`

    def call(self, inputs):
        return inputs * self.scale * self.factor


def test_a_sub_model_that_cannot_be_inlined_is_kept_whole_with_warnings(caplog):
    block_inputs = keras.Input((8, 8, 6))
    block = keras.Model(block_inputs, _ScaleWithoutConfig(2.0, name="custom")(block_inputs),
                        name="block")
    inputs = keras.Input((8, 8, 3), name="images")
    x = block(layers.Conv2D(6, 3, padding="same", name="conv1")(inputs))
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(4, 3, name="conv2")(x))
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    messages = [record.getMessage() for record in caplog.records]
    assert "re-create layer 'custom' (_ScaleWithoutConfig)" in messages[0]
    assert "'block' (Functional)" in messages[1] and "'conv1' (6 channels)" in messages[1]
    assert not graph.group("conv1").prunable and graph.group("conv2").prunable
    assert graph.model_name == model.name and "block" in {layer.name for layer in model.layers}


def test_a_depthwise_grouped_convolution_follows_its_input_group(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(4, 1, name="conv1")(inputs)
    x = layers.Conv2D(8, 3, groups=4, name="grouped")(x)  # one input channel per group
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert not caplog.records
    group = graph.group("conv1")
    assert group.prunable and group.followers == ("grouped",) and group.consumers == ("logits",)
    # Output channel c * 2 + j follows input channel c, as with DepthwiseConv2D.
    masks = graph.layer_masks({"conv1": [1, 3]})
    np.testing.assert_array_equal(masks["grouped"].outputs[0], [0, 0, 1, 1, 0, 0, 1, 1])


def test_a_convnext_block_is_prunable_through_layer_norm_and_layer_scale(caplog):
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(convnext_block_net())
    assert not caplog.records
    stream = graph.group("stem")
    assert stream.prunable and set(stream.producers) == {"stem", "pointwise_2"}
    assert set(stream.consumers) == {"pointwise_1", "logits"}
    assert set(stream.followers) == {"stem_ln", "depthwise", "ln", "layer_scale", "head_ln"}
    assert stream.normalizers == ("stem_ln", "ln", "head_ln")
    assert stream.to_dict()["normalizers"] == ["stem_ln", "ln", "head_ln"]
    hidden = graph.group("pointwise_1")
    assert hidden.prunable and hidden.consumers == ("pointwise_2",) and not hidden.normalizers
    assert len(graph.prunable_groups) == 2


def test_layer_norm_over_other_axes_is_not_cut_through(caplog):
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(6, 3, name="conv1")(inputs)
    x = layers.LayerNormalization(axis=(1, 2, 3), name="ln")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(model)
    assert len(caplog.records) == 1 and "'ln' (LayerNormalization)" in caplog.records[0].message
    assert not graph.group("conv1").prunable and "normalizes axes" in graph.group("conv1").reason


class _VectorScale(layers.Layer):
    """A LayerScale-like custom layer: ``x * gamma``, its size in its config."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.dim,), initializer="ones", name="gamma")

    def call(self, inputs):
        return inputs * self.gamma

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


class _MatrixMix(_VectorScale):
    """A custom layer whose weight mixes channels: not per channel."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.dim, self.dim), name="gamma")

    def call(self, inputs):
        return inputs @ self.gamma


def test_a_registered_layer_scale_like_layer_is_sliced_and_resized(restore_handlers):
    register_handler(_VectorScale, PerChannelHandler(channels_key="dim"))
    model = _custom_layer_model(_VectorScale(6, name="scale"))
    model.get_layer("scale").gamma.assign(np.arange(1.0, 7.0))
    graph = build_graph(model)
    assert graph.group("conv1").followers == ("scale",)
    plan = random_plan(graph, 0.5, seed=3)
    pruned = apply_plan(model, plan, graph)
    kept = list(plan.kept["conv1"])
    assert pruned.get_layer("scale").dim == len(kept)
    np.testing.assert_array_equal(pruned.get_layer("scale").gamma.numpy(),
                                  np.arange(1.0, 7.0)[kept])
    images = sample_images(model)
    np.testing.assert_allclose(pruned(images), masked_copy(model, graph, plan)(images),
                               atol=1e-5)


def test_a_per_channel_handler_blocks_a_layer_whose_weights_are_not_vectors(
        restore_handlers, caplog):
    register_handler(_MatrixMix, PerChannelHandler(channels_key="dim"))
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(_custom_layer_model(_MatrixMix(6, name="mix")))
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "'mix' (_MatrixMix)" in message and "(6, 6)" in message and "'conv1'" in message
    assert not graph.group("conv1").prunable
