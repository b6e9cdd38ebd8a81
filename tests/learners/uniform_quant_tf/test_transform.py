"""The quantization-aware rewrite: structure, folding arithmetic, TFLite conversion and audit,
on the kinds of models users bring (slow: the CNNs of ``keras.applications``)."""

import keras
import numpy as np
import pytest

from benchmarks.qat_coverage_probe import MODELS, probe
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
    keras.utils.set_random_seed(0)  # the initial weights: the bounds below are checked on them
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
    outputs = keras.layers.Conv2D(4, 3, activation="elu", name="odd_conv")(inputs)
    with pytest.raises(ValueError, match="odd_conv.*elu"):
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


# ------------------------------------------------------------------ models users bring
def _images(model, seed=4, nb=16):
    shape = model.input_shape[1:]
    return np.random.default_rng(seed).uniform(-1, 1, size=(nb, *shape)).astype(np.float32)


def _int8(model, images):
    """The model's quantization-aware twin (ranges calibrated) and its int8 TFLite, which
    must pass the integer-only audit and agree with the twin."""
    quantized = quantize_model(model)
    ranges = calibrate_ranges(quantized, [images])
    int8 = convert_quantization_aware(quantized)
    audit = audit_int8(int8)
    assert audit.passed, audit.summary()
    low, high = ranges[activation_quantizers(quantized)[-1].name]
    np.testing.assert_allclose(interpreter.load(int8).predict(images),
                               quantized.predict(images, verbose=0), atol=4 * (high - low) / 255)
    return quantized, audit


def _kinds(model):
    """Class names of the model's layers and raw ``keras.ops`` operations."""
    return [type(operation).__name__ for operation in model.operations]


def test_a_sequential_model_with_a_softmax_head_quantizes():
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1),
        keras.layers.Conv2D(6, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, activation="softmax")])
    model = _with_trained_statistics(model, np.random.default_rng(5))
    images = _images(model) * 127.5 + 127.5
    quantized, audit = _int8(model, images)
    assert next(layer for layer in quantized.layers if isinstance(layer, FoldedConv2D)
                ).fold_batch_norm
    assert quantized.layers[-2].activation.__name__ == "softmax"  # split off the Dense
    assert {"MUL", "ADD", "SOFTMAX"} <= {op.name for op in audit.ops}
    expected = model.predict(images, verbose=0)
    assert np.abs(quantized.predict(images, verbose=0) - expected).max() < 0.05


def test_activations_that_are_not_relu_are_quantized_after_them():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="silu", name="conv_silu")(inputs)
    x = keras.layers.Activation("hard_swish", name="hard_swish")(x)
    x = keras.layers.Conv2D(6, 1, activation="gelu", name="conv_gelu")(x)
    x = keras.layers.Activation("tanh")(keras.layers.Activation("sigmoid")(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    quantized, audit = _int8(keras.Model(inputs, keras.layers.Dense(3)(x)),
                             _images(keras.Model(inputs, x)))
    names = [layer.name for layer in quantized.layers]
    assert names.index("conv_silu_preactivation_quant") < names.index("conv_silu_activation") \
        < names.index("conv_silu_quant") < names.index("hard_swish") < names.index(
            "hard_swish_quant")
    assert {"LOGISTIC", "HARD_SWISH", "GELU", "TANH"} <= {op.name for op in audit.ops}


def test_squeeze_excitation_and_keras_ops_arithmetic_quantize_and_reload(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = keras.layers.ReLU(6.0)(keras.layers.Conv2D(8, 1)(gate) + 3.0) * (1.0 / 6.0)
    x = keras.layers.Multiply()([x, gate])  # broadcast over the positions
    x = keras.layers.GlobalAveragePooling2D()(x - 0.5)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    images = _images(model)
    quantized, audit = _int8(model, images)
    assert {"Add", "Multiply", "Subtract"} <= set(_kinds(quantized))  # the keras.ops calls
    assert {"ADD", "MUL", "SUB"} <= {op.name for op in audit.ops}
    quantized.save(tmp_path / "qat.keras")
    reloaded = keras.models.load_model(tmp_path / "qat.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0),
                               quantized.predict(images, verbose=0), atol=1e-6)


def test_nested_sub_models_are_inlined():
    block_in = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(block_in)
    x = keras.layers.BatchNormalization(name="bn")(x)
    block = keras.Model(block_in, keras.layers.Add(name="add")([block_in, x]), name="block")
    head = keras.Sequential([keras.layers.GlobalAveragePooling2D(name="pool"),
                             keras.layers.Dense(3, name="logits")], name="head")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, activation="relu", name="stem")(inputs)
    model = keras.Model(inputs, head(keras.layers.ReLU(name="relu")(block(x))))
    model = _with_trained_statistics(model, np.random.default_rng(6))
    images = _images(model)
    quantized, _ = _int8(model, images)
    names = {layer.name for layer in quantized.layers}
    assert {"block_conv", "block_add", "head_pool", "head_logits"} <= names
    assert "block_add_quant" not in names  # the ReLU after the sub-model fuses into the Add
    assert not any(isinstance(layer, keras.Model) for layer in quantized.layers)
    expected = model.predict(images, verbose=0)
    assert np.abs(quantized.predict(images, verbose=0) - expected).max() < 0.05 * np.abs(
        expected).max() + 0.02


def test_separable_depthwise_and_grouped_convolutions_quantize_and_train():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.SeparableConv2D(6, 3, depth_multiplier=2, use_bias=False,
                                     name="separable")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn")(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = _with_trained_statistics(keras.Model(inputs, keras.layers.Dense(3)(x)),
                                     np.random.default_rng(7))
    images = _images(model)
    quantized, audit = _int8(model, images)
    convs = {layer.name: layer for layer in quantized.layers if isinstance(layer, FoldedConv2D)}
    assert convs["grouped"].groups == 2 and convs["depthwise"].depthwise
    assert convs["separable_depthwise"].depthwise and convs["separable_depthwise"].filters == 16
    assert convs["separable"].fold_batch_norm and convs["separable"].kernel_size == (1, 1)
    assert [op.name for op in audit.ops].count("CONV_2D") == 2
    expected = model.predict(images, verbose=0)
    assert np.abs(quantized.predict(images, verbose=0) - expected).max() < 0.05 * np.abs(
        expected).max() + 0.02
    quantized.compile(optimizer="adam", loss="mse")
    quantized.fit(images, np.zeros((len(images), 3), np.float32), epochs=1, verbose=0)


def test_average_pooling_keeps_its_input_scale_beside_a_concatenation():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = keras.layers.Conv2D(2, 1)(inputs)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.BatchNormalization()(x)  # after a concatenation: not folded
    x = keras.layers.AveragePooling2D(2, name="transition_pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = _with_trained_statistics(keras.Model(inputs, keras.layers.Dense(3)(x)),
                                     np.random.default_rng(8))
    quantized, audit = _int8(model, _images(model))
    assert "transition_pool_quant" not in {layer.name for layer in quantized.layers}
    assert {"AVERAGE_POOL_2D", "CONCATENATION"} <= {op.name for op in audit.ops}


def test_layer_normalization_runs_as_int8_ops():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    normalization = keras.layers.LayerNormalization(epsilon=1e-6, name="layer_norm")
    x = keras.layers.Dense(4)(normalization(x))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(9)
    normalization.gamma.assign(rng.uniform(0.5, 1.5, 8))
    normalization.beta.assign(rng.normal(0, 0.2, 8))
    images = _images(model)
    quantized, audit = _int8(model, images)
    assert {"MEAN", "SUB", "RSQRT"} <= {op.name for op in audit.ops}
    expected = model.predict(images, verbose=0)
    assert np.abs(quantized.predict(images, verbose=0) - expected).max() < 0.1 * np.abs(
        expected).max()


class _Scale(keras.layers.Layer):
    """A user's custom layer with a weight: no rule can know what to do with it."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


def test_layers_without_int8_kernels_are_named_with_what_to_do():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubling")(x)  # weightless: copied
    x = _Scale(name="scaled")(x)
    x = keras.layers.GroupNormalization(2, name="group_norm")(x)
    x = keras.layers.Activation("elu", name="elu")(x)
    with pytest.raises(ValueError) as error:
        quantize_model(keras.Model(inputs, x))
    message = str(error.value)
    assert "'scaled' (_Scale): no quantization rule for this class of layer with weights" \
        in message
    assert "'doubling'" not in message
    assert "'group_norm' (GroupNormalization): TFLite has no int8 kernel" in message
    assert "'elu' (Activation): activation 'elu' has no int8 TFLite kernel" in message
    assert "'conv'" not in message


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_applications_quantize_to_an_all_integer_tflite(name):
    keras.utils.set_random_seed(0)
    result = probe(MODELS[name](), train_steps=0)
    assert result.error is None, result.error
    assert result.passed, "\n".join(result.float_ops)
