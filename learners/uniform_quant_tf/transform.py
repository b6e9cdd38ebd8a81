"""Rewrites a float functional model into its quantization-aware twin (``layers``'s layers).

:func:`quantize_model` walks the model's graph once, in order:

* a Conv2D / DepthwiseConv2D whose only reader is a BatchNormalization becomes one
  :class:`FoldedConv2D` with the BatchNorm folded in (both weights copied); other convolutions a
  :class:`FoldedConv2D` without one; a Dense a :class:`QuantDense`; every other layer is copied;
* an :class:`ActivationQuantizer` follows the input and every tensor TFLite stores with its own
  scale: not after ops that keep their input's scale (max pooling, reshapes, padding, dropout),
  and not after a convolution / dense / add that only a ReLU reads, since TFLite fuses that ReLU
  into the op, so the quantizer goes after the ReLU.

:func:`calibrate_ranges` then sets each activation range from training batches, in graph order,
so the fine-tuning starts from ranges that fit (the moving averages then track them).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from learners.uniform_quant_tf.layers import ActivationQuantizer, FoldedConv2D, QuantDense
from utils.keras_graph import IncrementalForward, consumers, foldable_batch_norm, tensors_of

layers = keras.layers

# Layers whose int8 output keeps the input's scale and zero point (no quantizer after them).
_SCALE_PRESERVING = (layers.MaxPooling2D, layers.GlobalMaxPooling2D, layers.Flatten,
                     layers.Reshape, layers.Dropout, layers.ZeroPadding2D, layers.Cropping2D)
# Ops TFLite fuses a following ReLU / ReLU6 into.
_FUSING = (FoldedConv2D, QuantDense, layers.Add)


def _is_relu(layer) -> bool:
    if isinstance(layer, layers.ReLU):
        config = layer.get_config()
        return (not config.get("negative_slope") and not config.get("threshold")
                and config.get("max_value") in (None, 6.0, 6))
    return isinstance(layer, layers.Activation) and layer.get_config()["activation"] in (
        "relu", "relu6")


def _activation_name(layer) -> str | None:
    activation = layer.get_config().get("activation")
    return None if activation in (None, "linear") else activation


def _folded_conv(conv, batch_norm, weight_bits: int, quant_delay: int, freeze_bn_delay: int):
    """The :class:`FoldedConv2D` of ``conv`` (+ ``batch_norm``), weights copied once built."""
    config = conv.get_config()
    depthwise = isinstance(conv, layers.DepthwiseConv2D)
    in_channels = int(conv.input.shape[-1])
    filters = in_channels * config["depth_multiplier"] if depthwise else config["filters"]
    extra = {}
    if batch_norm is not None:
        bn_config = batch_norm.get_config()
        extra = {"fold_batch_norm": True, "bn_momentum": bn_config["momentum"],
                 "bn_epsilon": bn_config["epsilon"]}
    return FoldedConv2D(filters, config["kernel_size"], config["strides"], config["padding"],
                        config["dilation_rate"], depthwise=depthwise, use_bias=config["use_bias"],
                        activation=_activation_name(conv), num_bits=weight_bits,
                        quant_delay=quant_delay, freeze_bn_delay=freeze_bn_delay,
                        name=conv.name, **extra)


def _copy_folded_weights(folded: FoldedConv2D, conv, batch_norm) -> None:
    folded.kernel.assign(conv.kernel)
    if folded.use_bias:
        folded.bias.assign(conv.bias)
    if batch_norm is None:
        return
    channels = folded.filters
    values = {"gamma": batch_norm.gamma if batch_norm.scale else np.ones(channels, np.float32),
              "beta": batch_norm.beta if batch_norm.center else np.zeros(channels, np.float32),
              "moving_mean": batch_norm.moving_mean,
              "moving_variance": batch_norm.moving_variance}
    for name, value in values.items():
        getattr(folded, name).assign(value)
    if not batch_norm.scale:
        folded.gamma.trainable = False
    if not batch_norm.center:
        folded.beta.trainable = False


def _check_supported(model: keras.Model) -> None:
    if len(model.inputs) != 1:
        raise ValueError(f"Expected a functional model with one input. Received: '{model.name}' "
                         f"with {len(model.inputs)}")
    calls = {entry["name"]: len(entry.get("inbound_nodes", []))
             for entry in model.get_config()["layers"]}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ValueError(f"Expected a flat functional model. Received: a nested model "  # noqa: TRY004
                             f"'{layer.name}' inside '{model.name}'")
        if calls.get(layer.name, 0) > 1:
            raise ValueError(f"Expected every layer of '{model.name}' called once. Received: "
                             f"'{layer.name}' is shared ({calls[layer.name]} calls)")
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            config = layer.get_config()
            if config.get("data_format", "channels_last") != "channels_last" or config.get(
                    "groups", 1) != 1 or isinstance(layer, layers.Conv2DTranspose):
                raise ValueError(f"Expected channels-last, ungrouped convolutions. Received: "
                                 f"'{layer.name}' ({type(layer).__name__}, {config.get('groups')} "
                                 f"groups, {config.get('data_format')})")
            _activation(_activation_name(layer), layer)
        if isinstance(layer, layers.Dense):
            _activation(_activation_name(layer), layer)


def _activation(name, layer) -> None:
    if name not in (None, "relu", "relu6"):
        raise ValueError(f"Expected convolutions and dense layers without an activation, or with "
                         f"relu / relu6. Received: '{layer.name}' with activation={name!r}")


def quantize_model(model: keras.Model, *, weight_bits: int = 8, activation_bits: int = 8,
                   quant_delay: int = 0, freeze_bn_delay: int = 0) -> keras.Model:
    """The quantization-aware twin of ``model`` (module docstring), with its weights.

    Raises:
        ValueError: for a model this rewrite does not handle (several inputs, nested models,
            shared layers, channels-first or grouped convolutions, other fused activations).
    """
    _check_supported(model)
    readers = consumers(model)

    def quantizer(name: str):
        return ActivationQuantizer(num_bits=activation_bits, quant_delay=quant_delay,
                                   name=f"{name}_quant")

    inputs = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name)
    new = {id(model.inputs[0]): quantizer("input")(inputs)}
    folded = set()  # ids of the BatchNorms folded into their convolution
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        if id(layer) in folded:  # its output is the folded convolution's
            continue
        sources = [new[id(tensor)] for tensor in tensors_of(layer.input)]
        source = sources if isinstance(layer.input, (list, tuple)) else sources[0]
        last = layer  # the layer whose output the new output stands for
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            batch_norm = foldable_batch_norm(layer, readers)
            clone = _folded_conv(layer, batch_norm, weight_bits, quant_delay, freeze_bn_delay)
            output = clone(source)
            _copy_folded_weights(clone, layer, batch_norm)
            if batch_norm is not None:
                folded.add(id(batch_norm))
                last = batch_norm
        elif isinstance(layer, layers.Dense):
            clone = QuantDense(layer.units, use_bias=layer.use_bias,
                               activation=_activation_name(layer), num_bits=weight_bits,
                               quant_delay=quant_delay, name=layer.name)
            output = clone(source)
            clone.set_weights(layer.get_weights() + [np.zeros((), np.int64)])
        else:
            clone = layer.__class__.from_config(layer.get_config())
            output = clone(source)
            clone.set_weights(layer.get_weights())
        followers = readers[id(last.output)]
        fused = isinstance(clone, _FUSING) and clone.get_config().get("activation") is None \
            and followers and all(_is_relu(f) for f in followers)
        if not (isinstance(clone, _SCALE_PRESERVING) or fused):
            output = quantizer(last.name)(output)
        new[id(last.output)] = output
    outputs = [new[id(tensor)] for tensor in model.outputs]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                       name=f"{model.name}_qat")


def activation_quantizers(model: keras.Model) -> list[ActivationQuantizer]:
    """The model's activation quantizers, in graph order."""
    return [layer for layer in model.layers if isinstance(layer, ActivationQuantizer)]


def quantization_plan(model: keras.Model) -> dict:
    """The compression plan of a quantization-aware model: bits of every quantized layer (and
    whether a BatchNorm is folded in), range and bits of every activation quantizer."""
    weights, activations = {}, {}
    for layer in model.layers:
        if isinstance(layer, (FoldedConv2D, QuantDense)):
            weights[layer.name] = {
                "bits": layer.num_bits, "kind": type(layer).__name__,
                "per_channel": isinstance(layer, FoldedConv2D),
                "folded_batch_norm": bool(getattr(layer, "fold_batch_norm", False))}
        elif isinstance(layer, ActivationQuantizer):
            activations[layer.name] = {"bits": layer.num_bits,
                                       "range": [float(layer.range_min.numpy()),
                                                 float(layer.range_max.numpy())]}
    return {"weights": weights, "activations": activations}


def calibrate_ranges(model: keras.Model, batches: Sequence[np.ndarray]) -> dict[str, tuple]:
    """Sets every activation range to the mean batch minimum / maximum of its input.

    Visits the quantizers in graph order, each seeing the model as quantized up to it (so the
    ranges fit what the int8 model computes). Returns ``{quantizer: (min, max)}``.
    """
    if not batches:
        raise ValueError("Expected at least one calibration batch. Received: none")
    forward = IncrementalForward(model, batches)
    ranges = {}
    for quantizer in activation_quantizers(model):
        values = forward.input_of(quantizer)
        low = float(np.mean([batch.min() for batch in values]))
        high = float(np.mean([batch.max() for batch in values]))
        quantizer.set_range(low, high)
        ranges[quantizer.name] = (float(quantizer.range_min.numpy()),
                                  float(quantizer.range_max.numpy()))
    return ranges


def with_activation_bits(model: keras.Model, num_bits: int) -> keras.Model:
    """A copy of a quantization-aware model whose activations quantize to ``num_bits`` over the
    same ranges (TFLite has int8 activation kernels only: a model trained with fewer bits
    deploys with 8-bit activations on its trained ranges)."""
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, ActivationQuantizer):
            config["num_bits"] = num_bits
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin
