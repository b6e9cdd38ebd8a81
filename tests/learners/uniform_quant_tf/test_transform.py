"""The quantization-aware rewrite: structure, folding arithmetic, TFLite conversion and audit."""

import keras
import numpy as np
import pytest

from export import audit_int8, convert_quantization_aware, interpreter
from learners.uniform_quant_tf.layers import ActivationQuantizer, FoldedConv2D, QuantDense
from learners.uniform_quant_tf.transform import (
    activation_quantizers,
    calibrate_ranges,
    quantize_model,
    with_activation_bits,
)
from nets.resnet_cifar import TINY_CIFAR_RESNET_FILTERS, build_resnet_cifar


def _with_trained_statistics(model, rng):
    """Random but non-trivial BatchNorm statistics and scales, so folding has work to do."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels))
            layer.beta.assign(rng.normal(0, 0.2, channels))
            layer.moving_mean.assign(rng.normal(0, 0.5, channels))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels))
    return model


@pytest.fixture(scope="module")
def resnet():
    rng = np.random.default_rng(0)
    model = build_resnet_cifar((16, 16, 3), 10, resnet_size=8, filters=TINY_CIFAR_RESNET_FILTERS)
    return _with_trained_statistics(model, rng), rng.normal(size=(48, 16, 16, 3)).astype(np.float32)


def test_batch_norms_fold_and_quantizers_sit_where_tflite_stores_tensors(resnet):
    model, _ = resnet
    quantized = quantize_model(model)
    kinds = [type(layer) for layer in quantized.layers]
    assert keras.layers.BatchNormalization not in kinds
    convs = [layer for layer in quantized.layers if isinstance(layer, FoldedConv2D)]
    assert len(convs) == sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert all(layer.fold_batch_norm for layer in convs)
    assert sum(isinstance(layer, QuantDense) for layer in quantized.layers) == 1
    # input, each ReLU output, each conv feeding an Add, the pooled features and the logits
    nb_relus = sum(isinstance(layer, keras.layers.ReLU) for layer in model.layers)
    nb_adds = sum(isinstance(layer, keras.layers.Add) for layer in model.layers)
    nb_projections = sum("shortcut_conv" in layer.name for layer in model.layers)
    assert len(activation_quantizers(quantized)) == 1 + nb_relus + nb_adds + nb_projections + 2
    producer = {id(layer.output): layer for layer in quantized.layers}
    for layer in quantized.layers:  # a conv read only by a ReLU: the quantizer follows the ReLU
        if isinstance(layer, keras.layers.ReLU):
            assert isinstance(producer[id(layer.input)], (FoldedConv2D, keras.layers.Add))


def test_folded_float_arithmetic_equals_the_model(resnet):
    model, images = resnet
    quantized = quantize_model(model, weight_bits=8)
    expected = model.predict(images, verbose=0)
    # through the folded layers' float path (quantization bypassed), by hand
    values = {id(quantized.inputs[0]): images}
    for layer in quantized.layers[1:]:
        inputs = layer.input
        value = ([values[id(t)] for t in inputs] if isinstance(inputs, list)
                 else values[id(inputs)])
        if isinstance(layer, ActivationQuantizer):
            result = value
        elif isinstance(layer, FoldedConv2D):
            kernel, bias = layer.folded()
            result = np.asarray(layer._convolve(value, kernel) + bias)
        elif isinstance(layer, QuantDense):
            result = value @ np.asarray(layer.kernel) + np.asarray(layer.bias)
        else:
            result = np.asarray(layer(value))
        values[id(layer.output)] = result
    np.testing.assert_allclose(values[id(quantized.outputs[0])], expected, atol=2e-4)


def test_the_int8_tflite_is_all_integer_and_matches_the_keras_model(resnet):
    model, images = resnet
    quantized = quantize_model(model)
    ranges = calibrate_ranges(quantized, [images[:24], images[24:]])
    assert len(ranges) == len(activation_quantizers(quantized))
    assert all(low <= 0.0 < high for low, high in ranges.values())
    int8 = convert_quantization_aware(quantized)
    audit = audit_int8(int8)
    assert audit.passed, audit.summary()
    keras_logits = quantized.predict(images, verbose=0)
    tflite_logits = interpreter.load(int8).predict(images)
    output_range = ranges[quantized.layers[-1].name]
    step = (output_range[1] - output_range[0]) / 255
    assert np.abs(keras_logits - tflite_logits).max() <= 3 * step
    # the 8-bit model stays close to the float one it came from
    assert np.abs(keras_logits - model.predict(images, verbose=0)).max() < 0.1 * np.abs(
        keras_logits).max() + 3 * step


def test_weights_take_at_most_2_to_the_bits_values_per_output_channel(resnet):
    model, _ = resnet
    quantized = quantize_model(model, weight_bits=3)
    conv = next(layer for layer in quantized.layers if isinstance(layer, FoldedConv2D))
    kernel, _ = conv.folded()
    values = np.asarray(conv._quantize_kernel(kernel))
    for channel in range(values.shape[-1]):
        assert len(np.unique(values[..., channel])) <= 2 ** 3 - 1  # narrow range: 7 levels
    np.testing.assert_allclose(np.abs(values).max(axis=(0, 1, 2)),
                               np.abs(np.asarray(kernel)).max(axis=(0, 1, 2)), rtol=1e-5)


def test_depthwise_convolutions_fold_and_convert():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU(max_value=6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2D(5, 1, use_bias=False)(x)
    x = keras.layers.ReLU(max_value=6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    model = _with_trained_statistics(keras.Model(inputs, x), np.random.default_rng(1))
    images = np.random.default_rng(2).normal(size=(16, 12, 12, 3)).astype(np.float32)
    quantized = quantize_model(model)
    depthwise = [layer for layer in quantized.layers
                 if isinstance(layer, FoldedConv2D) and layer.depthwise]
    assert len(depthwise) == 1 and depthwise[0].fold_batch_norm and depthwise[0].filters == 6
    calibrate_ranges(quantized, [images])
    int8 = convert_quantization_aware(quantized)
    audit = audit_int8(int8)
    assert audit.passed, audit.summary()
    assert {op.name for op in audit.ops} >= {"DEPTHWISE_CONV_2D", "CONV_2D"}
    np.testing.assert_allclose(interpreter.load(int8).predict(images),
                               quantized.predict(images, verbose=0), atol=0.05)


def test_training_tracks_statistics_until_frozen_and_delays_quantization():
    inputs = keras.Input((6, 6, 2))
    outputs = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3, use_bias=False)(inputs))
    quantized = quantize_model(keras.Model(inputs, outputs), quant_delay=2, freeze_bn_delay=3)
    conv = next(layer for layer in quantized.layers if isinstance(layer, FoldedConv2D))
    images = np.random.default_rng(3).normal(2.0, 1.0, size=(16, 6, 6, 2)).astype(np.float32)
    means = []
    for _ in range(5):
        quantized(images, training=True)
        means.append(np.asarray(conv.moving_mean).copy())
    assert int(conv.step.numpy()) == 5
    assert not np.allclose(means[0], means[2])  # tracking the batch statistics
    np.testing.assert_array_equal(means[2], means[4])  # frozen after 3 steps

    fresh = quantize_model(keras.Model(inputs, outputs), quant_delay=2)
    quantizer = activation_quantizers(fresh)[0]
    calibrate_ranges(fresh, [images])
    trained = np.asarray(fresh.layers[1](images, training=True))  # step 0: within the delay
    np.testing.assert_array_equal(trained, images)
    assert not np.array_equal(np.asarray(quantizer(images, training=False)), images)

    frozen = next(layer for layer in fresh.layers if isinstance(layer, FoldedConv2D))
    before = np.asarray(frozen.moving_mean).copy()
    for _ in range(3):
        fresh(images, training=True)
    np.testing.assert_array_equal(np.asarray(frozen.moving_mean), before)  # default: frozen


def test_unsupported_models_are_refused_with_the_layer_named():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(4, 3, activation="tanh", name="odd_conv")(inputs)
    with pytest.raises(ValueError, match="odd_conv.*tanh"):
        quantize_model(keras.Model(inputs, outputs))
    shared = keras.layers.Dense(3, name="shared_dense")
    flat = keras.Input((4,))
    with pytest.raises(ValueError, match="shared_dense"):
        quantize_model(keras.Model(flat, shared(shared(keras.layers.Dense(3)(flat)))))


def test_fewer_activation_bits_deploy_as_8_bit_activations_on_the_trained_ranges(resnet):
    model, images = resnet
    quantized = quantize_model(model, weight_bits=4, activation_bits=4)
    ranges = calibrate_ranges(quantized, [images])
    twin = with_activation_bits(quantized, 8)
    assert {layer.num_bits for layer in activation_quantizers(twin)} == {8}
    assert {q.name: (float(q.range_min.numpy()), float(q.range_max.numpy()))
            for q in activation_quantizers(twin)} == ranges
    audit = audit_int8(convert_quantization_aware(twin))
    assert audit.passed, audit.summary()
