"""``learners/quantization/tflite_weights.py``: what the int8 file holds for each k-bit kernel."""

import keras
import numpy as np

from export import convert_int8
from learners.quantization.tflite_weights import int8_kernel_report


def test_kernels_followed_by_batch_norm_match_their_own_folded_int8_tensor(tmp_path):
    rng = np.random.default_rng(0)
    inputs = keras.Input((8, 8, 4))
    x = inputs
    for name in ("conv_a", "conv_b", "conv_c"):  # same shapes: only the values tell them apart
        x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name=name)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization(name=f"{name}_bn")(x))
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_bn")(x)
    outputs = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    levels = np.linspace(-0.5, 0.5, 8)  # 3-bit kernels: 8 values per output channel
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # far from the identity
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(-2.0, 2.0, channels))
            layer.moving_variance.assign(rng.uniform(0.1, 4.0, channels))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            layer.kernel.assign(rng.choice(levels, size=layer.kernel.shape))
    path = tmp_path / "model_int8.tflite"
    path.write_bytes(convert_int8(
        model, rng.normal(size=(16, 8, 8, 4)).astype(np.float32)))

    bits = {"conv_a": 3, "conv_b": 3, "conv_c": 3, "depthwise": 3}
    report = int8_kernel_report(str(path), model, bits)

    assert report["unmatched"] == []
    tensors = [report["layers"][name]["tensor"] for name in bits]
    assert len(set(tensors)) == len(tensors)
    for name, entry in report["layers"].items():
        assert name in entry["tensor"], (name, entry["tensor"])
        assert entry["max_distinct_values_per_channel"] <= 8
        # re-rounded to the int8 grid: within half a step of the folded kernel
        assert entry["max_abs_error_vs_keras"] <= 0.5 * entry["max_int8_scale"] + 1e-6
