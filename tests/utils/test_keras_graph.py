"""``utils.keras_graph.IncrementalForward``: the same values as a forward pass, computed once."""

import keras
import numpy as np
import pytest

from nets.resnet_cifar import build_resnet_cifar
from utils.keras_graph import IncrementalForward


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
