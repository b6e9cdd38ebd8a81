"""``utils.keras_graph``: ``IncrementalForward`` gives the values of a forward pass, computed
once; a loaded ``Sequential`` becomes functional, sub-models are inlined and a softmax head comes
off, outputs kept."""

import keras
import numpy as np
import pytest

from nets.resnet_cifar import build_resnet_cifar
from tests.fixtures.pruning_models import nested_net, randomize_weights
from utils.keras_graph import (
    FlatGraph,
    IncrementalForward,
    call_count,
    to_functional,
    without_softmax,
)


def _inception_like() -> keras.Model:
    inputs = keras.Input((8, 8, 3), name="images")
    a = keras.layers.Conv2D(4, 1, name="branch_a")(inputs)
    b = keras.layers.Conv2D(5, 3, padding="same", name="branch_b")(inputs)
    x = keras.layers.Concatenate(name="concat")([a, b])
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="after")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _batches(model, nb=3, size=4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((size, *model.input_shape[1:])).astype(np.float32)
            for _ in range(nb)]


def _expected_input(model, layer, batches):
    extractor = keras.Model(model.input, layer.input)
    return [np.asarray(extractor(images, training=False)) for images in batches]


@pytest.mark.parametrize("build", [
    lambda: build_resnet_cifar((16, 16, 3), 10, resnet_size=8, filters=(4, 8, 16)),
    _inception_like,
])
def test_inputs_of_every_layer_match_a_full_forward_pass(build):
    model = build()
    batches = _batches(model)
    forward = IncrementalForward(model, batches)
    for layer in model.layers[1:]:
        if isinstance(layer.input, (list, tuple)):
            continue
        for got, expected in zip(forward.input_of(layer), _expected_input(model, layer, batches),
                                 strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_weights_changed_before_the_next_layer_are_used_and_values_are_dropped():
    model = build_resnet_cifar((16, 16, 3), 10, resnet_size=8, filters=(4, 8, 16))
    batches = _batches(model)
    forward = IncrementalForward(model, batches)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer in convs:  # visit each conv, then change its weights, as a layer-wise re-fit does
        for got, expected in zip(forward.input_of(layer), _expected_input(model, layer, batches),
                                 strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        layer.kernel.assign(layer.kernel * 0.5 + 0.01)
        # only tensors that layers not computed yet still read are kept (at most a residual
        # stream and the tensors of the block being computed)
        assert len(forward._values) <= 4


def test_a_layer_with_several_inputs_is_refused():
    model = _inception_like()
    forward = IncrementalForward(model, _batches(model))
    with pytest.raises(ValueError, match="one input tensor. Received: 'concat' with 2"):
        forward.input_of(model.get_layer("concat"))


def _saved_and_loaded(model, tmp_path):
    model.save(tmp_path / "model.keras")
    return keras.models.load_model(tmp_path / "model.keras")


def test_a_loaded_sequential_model_becomes_functional_with_the_same_outputs(tmp_path):
    sequential = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.Flatten(), keras.layers.Dense(5)])
    randomize = np.random.default_rng(0)
    sequential.set_weights([randomize.standard_normal(w.shape).astype(np.float32)
                            for w in sequential.get_weights()])
    loaded = _saved_and_loaded(sequential, tmp_path)
    assert max(call_count(layer) for layer in loaded.layers) > 1  # why it must be rebuilt
    functional = to_functional(loaded)
    assert not isinstance(functional, keras.Sequential)
    assert [call_count(layer) for layer in functional.layers] == [1] * 5
    images = _batches(functional, nb=1)[0]
    np.testing.assert_allclose(functional(images), loaded(images), atol=1e-6)
    assert to_functional(functional) is functional


def test_an_unbuilt_sequential_model_is_refused():
    with pytest.raises(ValueError, match="Expected a built Sequential model"):
        to_functional(keras.Sequential([keras.layers.Dense(3)]))


def test_sub_models_are_inlined_with_their_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = randomize_weights(nested_net())
    flat = to_functional(model)
    assert [layer.name for layer in flat.layers] == [
        "images", "conv", "block_conv", "block_bn", "block_relu", "block_add", "head_conv",
        "head_relu", "gap", "logits"]  # the Sequential's "conv" renamed after it
    assert [call_count(layer) for layer in flat.layers[1:]] == [1] * 9
    images = _batches(model, nb=1)[0]
    np.testing.assert_allclose(flat(images), model(images), atol=1e-6)
    assert flat.count_params() == model.count_params()
    # The original keeps its layers and their calls.
    assert model.get_layer("block").get_layer("block_conv") is not flat.get_layer("block_conv")
    assert call_count(model.get_layer("block").get_layer("block_conv")) == 1
    # The block was called with training=False: its layers are.
    layer_configs = {entry["name"]: entry for entry in flat.get_config()["layers"]}
    assert layer_configs["block_bn"]["inbound_nodes"][0]["kwargs"]["training"] is False
    flat.save(tmp_path / "flat.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "flat.keras")(images),
                               flat(images), atol=1e-6)


def test_a_sub_model_called_twice_is_inlined_with_shared_layers():
    keras.utils.set_random_seed(0)
    block_inputs = keras.Input((6,))
    block = keras.Model(block_inputs, keras.layers.Dense(6, name="dense")(block_inputs))
    inputs = keras.Input((6,), name="features")
    model = keras.Model(inputs, block(block(inputs)))
    flat = to_functional(model)
    assert [layer.name for layer in flat.layers] == ["features", "dense"]
    assert call_count(flat.get_layer("dense")) == 2
    features = _batches(model, nb=1)[0]
    np.testing.assert_allclose(flat(features), model(features), atol=1e-6)


class _WeightedWithoutConfig(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def get_config(self):
        raise NotImplementedError("no config")

    def call(self, inputs):
        return inputs * self.scale


def test_a_sub_model_with_a_layer_that_cannot_be_recreated_is_refused():
    block_inputs = keras.Input((6,))
    block = keras.Model(block_inputs, _WeightedWithoutConfig(name="custom")(block_inputs))
    inputs = keras.Input((6,))
    with pytest.raises(ValueError, match=r"re-create layer 'custom' \(_WeightedWithoutConfig\)"):
        to_functional(keras.Model(inputs, block(inputs)))


def _softmax_heads():
    def head(last):
        inputs = keras.Input((8, 8, 3), name="images")
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        return keras.Model(inputs, last(x))

    return {
        "dense-activation": lambda: head(keras.layers.Dense(5, activation="softmax")),
        "softmax-layer": lambda: head(lambda x: keras.layers.Softmax()(keras.layers.Dense(5)(x))),
        "activation-layer": lambda: head(
            lambda x: keras.layers.Activation("softmax")(keras.layers.Dense(5)(x))),
    }


@pytest.mark.parametrize("build", _softmax_heads().values(), ids=_softmax_heads().keys())
def test_a_softmax_head_comes_off_and_its_logits_give_the_same_probabilities(build, tmp_path):
    model = _saved_and_loaded(build(), tmp_path)
    logits_model, removed = without_softmax(model)
    assert removed is not None and "softmax" in removed
    images = _batches(model, nb=1)[0]
    np.testing.assert_allclose(keras.ops.softmax(logits_model(images)), model(images), atol=1e-6)
    assert not np.allclose(np.sum(np.asarray(logits_model(images)), axis=-1), 1.0)
    reloaded = _saved_and_loaded(logits_model, tmp_path)  # it saves as a plain model
    np.testing.assert_allclose(reloaded(images), logits_model(images), atol=1e-6)


def test_logits_and_other_heads_are_left_alone():
    inputs = keras.Input((4,))
    for last in (keras.layers.Dense(3), keras.layers.Dense(3, activation="sigmoid"),
                 keras.layers.Activation("relu")):
        model = keras.Model(inputs, last(inputs))
        assert without_softmax(model) == (model, None)
    images = keras.Input((4, 4, 3))
    spatial = keras.Model(images, keras.layers.Softmax(axis=1)(images))  # not over the classes
    assert without_softmax(spatial)[1] is None


def test_flat_graph_inlines_sub_models_and_lists_keras_ops_calls():
    block_in = keras.Input((4,))
    block = keras.Model(block_in, keras.layers.Dense(4, name="inner")(block_in), name="block")
    head = keras.Sequential([keras.layers.Dense(2, name="logits")], name="head")
    inputs = keras.Input((4,))
    hidden = block(inputs) * 0.5
    model = keras.Model(inputs, head(hidden + inputs))
    graph = FlatGraph(model)
    assert [(call.scope, type(call.operation).__name__) for call in graph.calls] == [
        (("block",), "Dense"), ((), "Multiply"), ((), "Add"), (("head",), "Dense")]
    inner, multiply, add, logits = graph.calls
    assert inner.inputs == (graph.key(inputs),)  # the sub-model's input is the outer tensor
    assert multiply.inputs == inner.outputs and graph.outputs == list(logits.outputs)
    assert graph.readers[graph.key(inputs)] == [inner.operation, add.operation]
    args, _ = graph.arguments(multiply, {inner.outputs[0]: "value"})
    assert args == ["value", 0.5]
    assert [type(call.operation).__name__ for call in FlatGraph(
        model, inline_models=False).calls] == ["Functional", "Multiply", "Add", "Sequential"]
