"""Which layers are quantized, the quantizing training model, and the final plain model.

* :func:`select_layers`: the Conv2D / DepthwiseConv2D / Dense layers in graph order; the first
  and the last stay in float unless ``quantize_all_layers`` (the original's rule).
* :func:`build_quantized_model`: a copy of the float model whose selected layers compute with
  quantized kernels (``learners.quantization.layers``), with the float model's weights, codebooks
  initialised from them, and (activation bits < 32) a :class:`MinMaxActivationQuantizer` after
  every non-linear activation.
* :func:`finalize`: the plain Keras model (the float model's classes) whose kernels hold exactly
  the quantized values, and the :class:`PackedWeight` list the packed artifact is written from.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers

from learners.quantization.layers import (
    QUANTIZED_CLASSES,
    KernelQuantization,
    MinMaxActivationQuantizer,
)
from learners.quantization.packing import PackedWeight
from learners.quantization.quantizers import codebook_codes, init_codebook, uniform_codes
from utils.keras_graph import output_layers

_LINEAR = (None, "linear")
ACTIVATION_SUFFIX = "_act_quant"


@dataclasses.dataclass(frozen=True)
class QuantizationSpec:
    """How a model is quantized: the quantizer, per-layer bits, buckets and activations.

    Attributes:
        kind: ``uniform`` or ``codebook``.
        bits: bits per quantized layer, ``{layer name: bits}``.
        bucket_type: ``none``, ``split`` or ``channel``.
        bucket_size: weights per bucket (``split``).
        activation_bits: bits of activations; 32 leaves them in float.
        init_style: codebook initialisation, ``quantile`` or ``uniform``.
    """

    kind: str
    bits: dict
    bucket_type: str = "none"
    bucket_size: int = 256
    activation_bits: int = 32
    init_style: str = "quantile"

    def layer_quantization(self, name: str) -> KernelQuantization:
        return KernelQuantization(self.kind, int(self.bits[name]), self.bucket_type,
                                  self.bucket_size)


def quantizable_layers(model: keras.Model) -> list:
    """Conv2D, DepthwiseConv2D and Dense layers (exact classes), in graph order."""
    return [layer for layer in model.layers if type(layer) in QUANTIZED_CLASSES]


def select_layers(model: keras.Model, quantize_all_layers: bool) -> tuple[list[str], list[str]]:
    """``(quantized, kept in float)`` layer names; first and last kept unless all are quantized.

    Raises:
        ValueError: if nothing is left to quantize.
    """
    names = [layer.name for layer in quantizable_layers(model)]
    if quantize_all_layers or len(names) <= 2:
        quantized, kept = names, []
    else:
        quantized, kept = names[1:-1], [names[0], names[-1]]
    if not quantized:
        raise ValueError(f"Expected Conv2D, DepthwiseConv2D or Dense layers to quantize in "
                         f"'{model.name}'. Received: none")
    return quantized, kept


def kernel_size(model: keras.Model, name: str) -> int:
    return int(np.prod(model.get_layer(name).kernel.shape))


def _activates(layer) -> bool:
    """Whether ``layer``'s output is a non-linear activation's."""
    if isinstance(layer, (layers.ReLU, layers.ELU, layers.LeakyReLU, layers.Softmax)):
        return not isinstance(layer, layers.Softmax)
    activation = layer.get_config().get("activation") if hasattr(layer, "activation") else None
    if isinstance(layer, layers.Activation) or activation is not None:
        return activation not in _LINEAR and activation != "softmax"
    return False


def _clone(model: keras.Model, spec: QuantizationSpec, quantize: bool) -> keras.Model:
    """``model``'s architecture with quantizing layers (``quantize``) and activation quantizers."""
    outputs = {id(layer) for layer in output_layers(model)}
    quantized_acts = {layer.name for layer in model.layers if spec.activation_bits < 32
                      and _activates(layer) and id(layer) not in outputs}

    def clone_function(layer):
        config = layer.get_config()
        if quantize and layer.name in spec.bits:
            return QUANTIZED_CLASSES[type(layer)](spec.layer_quantization(layer.name), **config)
        return layer.__class__.from_config(config)

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if layer.name in quantized_acts:
            return MinMaxActivationQuantizer(spec.activation_bits, name=layer.name + ACTIVATION_SUFFIX)(
                outputs)
        return outputs

    return keras.models.clone_model(model, clone_function=clone_function,
                                    call_function=call_function)


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copies each layer's weights by name (a quantizing layer's codebook comes after them)."""
    for layer in source.layers:
        if not layer.weights:
            continue
        clone = target.get_layer(layer.name)
        for variable, value in zip(clone.weights, layer.weights, strict=False):
            variable.assign(value)


def build_quantized_model(model: keras.Model, spec: QuantizationSpec) -> keras.Model:
    """The quantizing training copy of ``model`` (build it under the strategy's scope)."""
    for name in spec.bits:
        if type(model.get_layer(name)) not in QUANTIZED_CLASSES:
            raise ValueError(f"Expected layer '{name}' to be Conv2D, DepthwiseConv2D or Dense. "
                             f"Received: {type(model.get_layer(name)).__name__}")
    quantized = _clone(model, spec, quantize=True)
    _copy_weights(model, quantized)
    if spec.kind == "codebook":
        for name in spec.bits:
            layer = quantized.get_layer(name)
            layout = layer.quantization.layout(layer.kernel.shape)
            rows = layout.to_rows(np.asarray(layer._float_kernel()))
            layer.codebook.assign(init_codebook(rows, layer.quantization.bits, spec.init_style))
    return quantized


def set_trainable(model: keras.Model, opt_mode: str) -> None:
    """``weights``: every variable but the codebooks trains; ``cluster``: only the codebooks;
    ``both``: everything."""
    for layer in model.layers:
        codebook = getattr(layer, "codebook", None)
        if codebook is not None:
            codebook.trainable = opt_mode in ("cluster", "both")
            for variable in layer.weights:
                if variable is not codebook:
                    variable.trainable = opt_mode != "cluster"
        elif opt_mode == "cluster" and layer.weights:
            layer.trainable = False


def finalize(quantized: keras.Model, original: keras.Model, spec: QuantizationSpec
             ) -> tuple[keras.Model, list[PackedWeight]]:
    """The plain model holding the quantized kernels, and its weights for the packed artifact."""
    final = _clone(original, spec, quantize=False)
    _copy_weights(quantized, final)
    packed = []
    for layer in final.layers:
        source = quantized.get_layer(layer.name)
        for variable in layer.weights:
            if layer.name in spec.bits and variable is layer.kernel:
                quantization = source.quantization
                layout = quantization.layout(variable.shape)
                rows = layout.to_rows(np.asarray(source._float_kernel()))
                if quantization.kind == "uniform":
                    codes, low, scale = uniform_codes(rows, quantization.bits)
                    weight = PackedWeight(variable.path, tuple(variable.shape), "uniform",
                                          bits=quantization.bits, layout=layout, codes=codes,
                                          low=low, scale=scale)
                else:
                    codes, table = codebook_codes(rows, np.asarray(source.codebook))
                    weight = PackedWeight(variable.path, tuple(variable.shape), "codebook",
                                          bits=quantization.bits, layout=layout, codes=codes,
                                          table=table)
                variable.assign(weight.dequantized())
            else:
                weight = PackedWeight(variable.path, tuple(variable.shape), "float32",
                                      values=np.asarray(variable, dtype=np.float32))
            packed.append(weight)
    names = [weight.name for weight in packed]
    if len(set(names)) != len(names):
        raise ValueError(f"Expected unique variable paths in '{final.name}'. Received: "
                         f"{sorted({n for n in names if names.count(n) > 1})}")
    return final, packed


def without_activation_quantizers(model: keras.Model) -> keras.Model:
    """A copy of ``model`` (weights shared by value) with its activation quantizers removed:
    what the TFLite export converts, since TFLite quantizes activations itself (int8, calibrated)
    and the quantizers' rounding would otherwise stay float ops in the int8 file."""
    def call_function(layer, *args, **kwargs):
        if isinstance(layer, MinMaxActivationQuantizer):
            return args[0]
        return layer(*args, **kwargs)

    twin = keras.models.clone_model(model, call_function=call_function)
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin

