"""Quantized models and the packed artifact: layers chosen, exact round trip, honest sizes."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from learners.quantization.layers import MinMaxActivationQuantizer
from learners.quantization.model import (
    QuantizationSpec,
    build_quantized_model,
    finalize,
    select_layers,
    set_trainable,
)
from learners.quantization.packing import (
    load_packed_into,
    pack_bits,
    read_packed,
    size_report,
    unpack_bits,
    write_packed,
)


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="first")(inputs)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(6, 1, name="pointwise")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(12, name="hidden")(x)
    outputs = keras.layers.Dense(5, name="last")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8, 11, 16])
def test_bits_pack_to_ceil_n_bits_over_8_bytes_and_unpack(bits):
    codes = np.random.default_rng(bits).integers(0, 2 ** bits, size=1001)
    data = pack_bits(codes, bits)
    assert len(data) == -(-1001 * bits // 8)
    np.testing.assert_array_equal(unpack_bits(data, bits, 1001), codes)


def test_first_and_last_layers_stay_float_unless_all_are_quantized():
    model = _model()
    assert select_layers(model, False) == (["depthwise", "pointwise", "hidden"], ["first", "last"])
    assert select_layers(model, True) == (["first", "depthwise", "pointwise", "hidden", "last"], [])


@pytest.mark.parametrize("kind,bucket_type", [("uniform", "none"), ("uniform", "split"),
                                              ("uniform", "channel"), ("codebook", "none"),
                                              ("codebook", "split"), ("codebook", "channel")])
def test_packed_artifact_restores_the_final_weights_exactly(tmp_path, kind, bucket_type):
    model = _model()
    names, kept = select_layers(model, False)
    spec = QuantizationSpec(kind, {name: 3 for name in names}, bucket_type, bucket_size=10)
    quantized = build_quantized_model(model, spec)
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32)
    final, packed = finalize(quantized, model, spec)
    np.testing.assert_allclose(final(images), quantized(images), atol=1e-5)
    assert all(type(layer).__module__.startswith("keras") for layer in final.layers)  # plain

    path = write_packed(str(tmp_path / "model.pfq"), packed)
    restored = read_packed(path)
    assert sorted(restored) == sorted(v.path for v in final.weights)
    for variable in final.weights:
        np.testing.assert_array_equal(restored[variable.path], np.asarray(variable))
    for name in kept:  # kept layers are the float model's, bit for bit
        np.testing.assert_array_equal(final.get_layer(name).kernel, model.get_layer(name).kernel)
    for name in names:
        kernel = np.asarray(final.get_layer(name).kernel)
        channels = kernel.reshape(-1, kernel.shape[-1]).T
        if bucket_type == "channel":
            assert max(len(np.unique(c)) for c in channels) <= 8
        elif bucket_type == "none":
            assert len(np.unique(kernel)) <= 8

    final.save(tmp_path / "final.keras")
    reloaded = keras.models.load_model(tmp_path / "final.keras")
    reloaded.set_weights([np.zeros_like(w) for w in reloaded.get_weights()])
    load_packed_into(reloaded, path)
    np.testing.assert_array_equal(reloaded(images), final(images))

    report = size_report(path)
    assert report["total_bytes"] == report["file_bytes"] == os.path.getsize(path)
    nb_quantized = sum(int(np.prod(model.get_layer(n).kernel.shape)) for n in names)
    assert report["nb_quantized_weights"] == nb_quantized
    assert report["codes_bytes"] == sum(-(-int(np.prod(model.get_layer(n).kernel.shape)) * 3 // 8)
                                        for n in names)
    assert report["float_model_bytes"] == 4 * sum(int(np.prod(w.shape)) for w in model.weights)


def test_codebook_modes_decide_what_trains():
    model = _model()
    spec = QuantizationSpec("codebook", {"pointwise": 2, "hidden": 2})
    for mode, expected in (("weights", {"pointwise/kernel", "hidden/kernel", "first/kernel"}),
                           ("cluster", {"pointwise/codebook", "hidden/codebook"}),
                           ("both", {"pointwise/codebook", "first/kernel", "hidden/kernel"})):
        quantized = build_quantized_model(model, spec)
        set_trainable(quantized, mode)
        trainable = {v.path for v in quantized.trainable_variables}
        assert expected <= trainable, mode
        if mode == "cluster":
            assert trainable == expected
        if mode == "weights":
            assert not any("codebook" in path for path in trainable)


def test_activation_quantizer_is_inserted_and_serialisable(tmp_path):
    model = _model()
    spec = QuantizationSpec("uniform", {"pointwise": 4}, activation_bits=3)
    quantized = build_quantized_model(model, spec)
    names = [layer.name for layer in quantized.layers]
    assert "first_act_quant" in names and "relu_act_quant" in names
    assert "last_act_quant" not in names and "hidden_act_quant" not in names  # linear
    images = np.random.default_rng(1).normal(size=(8, 8, 8, 3)).astype(np.float32)
    quantized(images, training=True)  # sets the ranges
    final, _ = finalize(quantized, model, spec)
    layer = final.get_layer("relu_act_quant")
    assert isinstance(layer, MinMaxActivationQuantizer) and float(layer.range_set) == 1.0
    probe = keras.Model(final.input, layer.output)
    assert len(np.unique(probe(images).numpy())) <= 8
    final.save(tmp_path / "act.keras")
    reloaded = keras.models.load_model(tmp_path / "act.keras")
    np.testing.assert_array_equal(reloaded(images), final(images))


def test_quantized_training_step_reaches_every_trainable_variable():
    model = _model()
    spec = QuantizationSpec("codebook", {"depthwise": 2, "pointwise": 2, "hidden": 2}, "split", 7)
    quantized = build_quantized_model(model, spec)
    set_trainable(quantized, "both")
    images = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype(np.float32)

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(quantized(images, training=True) ** 2)
        return tape.gradient(loss, quantized.trainable_variables)

    missing = [v.path for v, g in zip(quantized.trainable_variables, gradients(), strict=True)
               if g is None]
    assert not missing
