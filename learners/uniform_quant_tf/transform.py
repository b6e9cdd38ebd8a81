"""Rewrites a float Keras model into its quantization-aware twin (``layers``'s layers).

:func:`quantize_model` walks the model's calls once, in graph order (``utils.keras_graph.
FlatGraph``: the layers of a Sequential model and of nested sub-models, and raw ``keras.ops``
calls such as ``x + 3.0``), and rewrites each by the rule of its class in ``QUANTIZATION_RULES``:

* a Conv2D (grouped too) / DepthwiseConv2D whose only reader is a BatchNormalization becomes one
  :class:`FoldedConv2D` with the BatchNorm folded in; other convolutions a FoldedConv2D without
  one; a SeparableConv2D a depthwise then a pointwise FoldedConv2D (a BatchNorm folds into the
  pointwise one); a Dense a :class:`QuantDense`;
* an affine layer (Rescaling, Normalization, a BatchNormalization no convolution folds, with
  its moving statistics frozen) becomes a ``keras.ops`` multiply and add with a quantizer
  between them: TFLite runs them as two ops, each with its own output scale;
* a LayerNormalization over the channels becomes the int8 ops it is made of (mean, subtract,
  square, mean, rsqrt, multiply), each output quantized;
* every other layer or operation is copied;
* an activation given as a layer's ``activation=`` argument stays fused into the layer when it is
  ReLU / ReLU6, and is split into an ``Activation`` layer of its own otherwise;
* an :class:`ActivationQuantizer` follows the input and every tensor TFLite stores with its own
  scale: not after ops whose int8 kernel keeps the input's scale and zero point (max and average
  pooling, reshapes, padding, dropout, a linear activation), and not after a convolution / dense
  / add that only a ReLU reads, since TFLite fuses that ReLU into the op, so the quantizer goes
  after the ReLU.

A layer without a rule, or in a form TFLite has no int8 kernel for (an ELU activation, a
GroupNormalization, channels-first convolutions ...), raises a ``ValueError`` naming the layer,
its class and what to do: nothing is left in float. :func:`register_quantization_rule` adds a
rule for a custom layer.

:func:`calibrate_ranges` then sets each activation range from training batches, in graph order,
so the fine-tuning starts from ranges that fit (the moving averages then track them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np

from learners.uniform_quant_tf.layers import ActivationQuantizer, FoldedConv2D, QuantDense
from utils.keras_graph import (
    FlatGraph,
    GraphCall,
    IncrementalForward,
    batch_norm_reader,
    keras_internal_modules,
)

layers = keras.layers

#: Activations whose int8 TFLite kernels the converter uses (it fuses silu, hard_silu and gelu
#: into one op each); others (elu, selu, softplus, hard_sigmoid ...) would run in float.
INT8_ACTIVATIONS = frozenset({"linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh",
                              "silu", "hard_silu", "gelu", "softmax"})
_FUSED_ACTIVATIONS = ("relu", "relu6")  # FoldedConv2D / QuantDense apply them, TFLite fuses them


def _activation_name(layer) -> str:
    """The name of the function behind a layer's ``activation`` (``linear`` when none)."""
    activation = getattr(layer, "activation", None)
    return "linear" if activation is None else getattr(activation, "__name__", repr(activation))


def _fused_activation(layer) -> str | None:
    """The activation a rewritten ``layer`` applies itself: ReLU / ReLU6, or none."""
    name = _activation_name(layer)
    return name if name in _FUSED_ACTIVATIONS else None


def _is_relu(operation) -> bool:
    """A ReLU / ReLU6 layer, which TFLite fuses into the convolution, dense or add before it."""
    if isinstance(operation, layers.ReLU):
        config = operation.get_config()
        return (not config.get("negative_slope") and not config.get("threshold")
                and config.get("max_value") in (None, 6.0, 6))
    return isinstance(operation, layers.Activation) and (
        _activation_name(operation) in _FUSED_ACTIVATIONS)


@dataclasses.dataclass(frozen=True)
class _Settings:
    weight_bits: int
    activation_bits: int
    quant_delay: int
    freeze_bn_delay: int


class _Rewriter:
    """The state of one :func:`quantize_model` walk: the new tensor of every key of the graph."""

    def __init__(self, graph: FlatGraph, settings: _Settings):
        self.graph = graph
        self.settings = settings
        self.values: dict[int, object] = {}
        self.folded: set[int] = set()  # ids of the BatchNorms folded into their convolution
        self._calls = {id(call.operation): call for call in graph.calls}

    def name(self, call: GraphCall) -> str:
        """The rewritten layer's name: the original's, prefixed by its sub-models' names."""
        return "_".join((*call.scope, call.operation.name))

    def arguments(self, call: GraphCall) -> tuple[list, dict]:
        """The call's arguments, on the rewritten tensors."""
        return self.graph.arguments(call, self.values)

    def source(self, call: GraphCall):
        """The rewritten tensor of the call's single input."""
        return self.values[call.inputs[0]]

    def quantize(self, tensor, name: str):
        """``tensor`` through a new :class:`ActivationQuantizer` named ``{name}_quant``."""
        return ActivationQuantizer(num_bits=self.settings.activation_bits,
                                   quant_delay=self.settings.quant_delay,
                                   name=f"{name}_quant")(tensor)

    def copy(self, call: GraphCall):
        """The call's layer or operation re-created from its config (weights copied), called on
        the rewritten tensors."""
        operation = call.operation
        clone = type(operation).from_config({**operation.get_config(), "name": self.name(call)})
        args, kwargs = self.arguments(call)
        output = clone(*args, **kwargs)
        if isinstance(operation, layers.Layer):
            clone.set_weights(operation.get_weights())
        return output

    def fold_batch_norm(self, call: GraphCall) -> GraphCall | None:
        """The call of the BatchNormalization to fold into the call's layer (marked folded: the
        walk skips it), or ``None``."""
        if _activation_name(call.operation) != "linear":
            return None
        batch_norm = batch_norm_reader(call.outputs[0], self.graph.readers)
        if batch_norm is None:
            return None
        self.folded.add(id(batch_norm))
        return self._calls[id(batch_norm)]

    def activate(self, output, layer, name: str):
        """``output`` through ``layer``'s own activation where the rewritten layer does not fuse
        it: quantized, then an ``Activation`` layer named ``{name}_activation``."""
        if _activation_name(layer) in ("linear", *_FUSED_ACTIVATIONS):
            return output
        activation = layers.Activation(layer.activation, name=f"{name}_activation")
        return activation(self.quantize(output, f"{name}_preactivation"))

    def run(self) -> keras.Model:
        """The rewritten model."""
        source = self.graph.inputs[0]
        inputs = keras.Input(source.shape[1:], name=source.name)
        self.values[id(source)] = self.quantize(inputs, "input")
        for call in self.graph.calls:
            if id(call.operation) not in self.folded:
                self._rewrite(call)
        outputs = [self.values[key] for key in self.graph.outputs]
        model = self.graph.model
        return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                           name=f"{model.name}_qat")

    def _rewrite(self, call: GraphCall) -> None:
        rule = _rule(call.operation)
        output, last = rule.rewrite(call, self)
        key = last.outputs[0]
        readers = self.graph.readers[key]
        fused = (rule.fuses_relu and _activation_name(call.operation) == "linear" and readers
                 and all(_is_relu(reader) for reader in readers) and key not in self.graph.outputs)
        if not (rule.keeps_scale(call.operation) or fused):
            output = self.quantize(output, self.name(last))
        self.values[key] = output


class QuantizationRule:
    """How :func:`quantize_model` rewrites the calls of one layer (or ``keras.ops``) class.

    This base rule copies the layer (config and weights) and quantizes its output.

    Attributes:
        fuses_relu: TFLite fuses a ReLU / ReLU6 that alone reads the op's output into the op
            (the quantizer then follows the ReLU instead).
    """

    fuses_relu = False

    def problem(self, layer, rank: int) -> str | None:
        """Why ``layer`` (its input of ``rank`` axes) has no int8 TFLite equivalent in this
        form, with what to do; or ``None``."""
        return None

    def keeps_scale(self, layer) -> bool:
        """Whether TFLite's int8 op keeps its input's scale and zero point: no quantizer after
        it (average pooling requires it)."""
        return False

    def rewrite(self, call: GraphCall, rewriter: _Rewriter) -> tuple[object, GraphCall]:
        """The call's rewritten output (before its quantizer), and the call whose output it
        stands for (a folded BatchNorm's, else ``call``)."""
        return rewriter.copy(call), call


class WeightlessLayerRule(QuantizationRule):
    """A weightless layer of a class with no rule (a ``Lambda``, a user's custom layer): copied
    and its output quantized. A ``Lambda`` is copied around its Python function (Keras's safe
    mode refuses to re-create one from its config). Whether its ops have int8 kernels is the
    converter's to say: the int8 audit of the export names every op that stays float."""

    def rewrite(self, call: GraphCall, rewriter: _Rewriter) -> tuple[object, GraphCall]:
        operation = call.operation
        if not isinstance(operation, layers.Lambda):
            return rewriter.copy(call), call
        clone = layers.Lambda(operation.function, arguments=operation.arguments,
                              name=rewriter.name(call))
        args, kwargs = rewriter.arguments(call)
        return clone(*args, **kwargs), call


class KeepsScaleRule(QuantizationRule):
    """A copy whose int8 TFLite op keeps its input's scale (pooling, reshapes, padding)."""

    def keeps_scale(self, layer) -> bool:
        return True


class FusingRule(QuantizationRule):
    """A copy TFLite fuses a following ReLU into (Add)."""

    fuses_relu = True


def _activation_problem(layer) -> str | None:
    name = _activation_name(layer)
    if name in INT8_ACTIVATIONS:
        return None
    return (f"activation {name!r} has no int8 TFLite kernel; use one of "
            f"{', '.join(sorted(INT8_ACTIVATIONS))}")


class ActivationRule(QuantizationRule):
    """An ``Activation`` layer: copied; a linear one keeps the scale (it is no op at all)."""

    def problem(self, layer, rank):
        return _activation_problem(layer)

    def keeps_scale(self, layer) -> bool:
        return _activation_name(layer) == "linear"


class UnsupportedRule(QuantizationRule):
    """A layer class TFLite has no int8 kernels for: always a problem, with ``reason``."""

    def __init__(self, reason: str):
        self.reason = reason

    def problem(self, layer, rank):
        return self.reason


def _channels_first_problem(layer) -> str | None:
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        return "channels-first data; TFLite convolutions are channels-last: rebuild it so"
    return None


def _folded_conv(call: GraphCall, rewriter: _Rewriter, batch_norm: GraphCall | None, **shape):
    """A :class:`FoldedConv2D` of ``shape`` (filters, kernel_size ...) named after ``call``,
    folding ``batch_norm``, applying the fusable activation of the call's layer."""
    settings = rewriter.settings
    extra = {}
    if batch_norm is not None:
        config = batch_norm.operation.get_config()
        extra = {"fold_batch_norm": True, "bn_momentum": config["momentum"],
                 "bn_epsilon": config["epsilon"]}
    return FoldedConv2D(**shape, activation=_fused_activation(call.operation),
                        num_bits=settings.weight_bits, quant_delay=settings.quant_delay,
                        freeze_bn_delay=settings.freeze_bn_delay, name=rewriter.name(call),
                        **extra)


def _copy_folded_weights(folded: FoldedConv2D, kernel, bias, batch_norm: GraphCall | None):
    """Copies a convolution's kernel and bias and the folded BatchNorm's weights."""
    folded.kernel.assign(kernel)
    if folded.use_bias:
        folded.bias.assign(bias)
    if batch_norm is None:
        return
    batch_norm = batch_norm.operation
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


class ConvRule(QuantizationRule):
    """Conv2D (grouped too) / DepthwiseConv2D -> :class:`FoldedConv2D` (+ a folded BatchNorm)."""

    fuses_relu = True

    def problem(self, layer, rank):
        return _channels_first_problem(layer) or _activation_problem(layer)

    def rewrite(self, call, rewriter):
        layer = call.operation
        config = layer.get_config()
        depthwise = isinstance(layer, layers.DepthwiseConv2D)
        in_channels = int(call.node.input_tensors[0].shape[-1])
        filters = in_channels * config["depth_multiplier"] if depthwise else config["filters"]
        batch_norm = rewriter.fold_batch_norm(call)
        folded = _folded_conv(call, rewriter, batch_norm, filters=filters,
                              kernel_size=config["kernel_size"], strides=config["strides"],
                              padding=config["padding"], dilation_rate=config["dilation_rate"],
                              depthwise=depthwise, groups=config.get("groups", 1),
                              use_bias=config["use_bias"])
        output = folded(rewriter.source(call))
        _copy_folded_weights(folded, layer.kernel, layer.bias, batch_norm)
        return rewriter.activate(output, layer, rewriter.name(call)), batch_norm or call


class SeparableConvRule(ConvRule):
    """SeparableConv2D -> a depthwise :class:`FoldedConv2D`, its output quantized (TFLite stores
    it), then a pointwise one (+ a folded BatchNorm)."""

    def rewrite(self, call, rewriter):
        layer = call.operation
        config = layer.get_config()
        name = rewriter.name(call)
        settings = rewriter.settings
        in_channels = int(call.node.input_tensors[0].shape[-1])
        depthwise = FoldedConv2D(in_channels * config["depth_multiplier"], config["kernel_size"],
                                 config["strides"], config["padding"], config["dilation_rate"],
                                 depthwise=True, use_bias=False, num_bits=settings.weight_bits,
                                 quant_delay=settings.quant_delay, name=f"{name}_depthwise")
        spatial = rewriter.quantize(depthwise(rewriter.source(call)), f"{name}_depthwise")
        depthwise.kernel.assign(layer.depthwise_kernel)
        batch_norm = rewriter.fold_batch_norm(call)
        pointwise = _folded_conv(call, rewriter, batch_norm, filters=config["filters"],
                                 kernel_size=(1, 1), use_bias=config["use_bias"])
        output = pointwise(spatial)
        _copy_folded_weights(pointwise, layer.pointwise_kernel, layer.bias, batch_norm)
        return rewriter.activate(output, layer, name), batch_norm or call


class DenseRule(QuantizationRule):
    """Dense -> :class:`QuantDense`."""

    fuses_relu = True

    def problem(self, layer, rank):
        return _activation_problem(layer)

    def rewrite(self, call, rewriter):
        layer = call.operation
        settings = rewriter.settings
        clone = QuantDense(layer.units, use_bias=layer.use_bias,
                           activation=_fused_activation(layer),
                           num_bits=settings.weight_bits, quant_delay=settings.quant_delay,
                           name=rewriter.name(call))
        output = clone(rewriter.source(call))
        clone.set_weights(layer.get_weights() + [np.zeros((), np.int64)])
        return rewriter.activate(output, layer, rewriter.name(call)), call


class AffineRule(QuantizationRule):
    """A per-channel affine layer, ``x * scale + offset``, as a ``keras.ops`` multiply, its
    output quantized, then an add: TFLite computes the two apart, and the tensor between them
    needs a scale of its own (one converted layer would leave both ops in float)."""

    def affine(self, layer) -> tuple[np.ndarray, np.ndarray]:
        """The layer's ``(scale, offset)``, broadcast along the last axis."""
        raise NotImplementedError

    def rewrite(self, call, rewriter):
        scale, offset = self.affine(call.operation)
        return _affine(rewriter.source(call), scale, offset, rewriter, rewriter.name(call)), call


def _affine(tensor, scale, offset, rewriter: _Rewriter, name: str):
    """``tensor * scale + offset`` as a multiply, its output quantized (``{name}_scaled``), and
    an add; a factor of one or an offset of zero is left out."""
    if np.any(scale != 1.0):
        tensor = keras.ops.multiply(tensor, scale)
        if np.any(offset != 0.0):
            tensor = rewriter.quantize(tensor, f"{name}_scaled")
    if np.any(offset != 0.0):
        tensor = keras.ops.add(tensor, offset)
    return tensor


class LayerScaleRule(AffineRule):
    """ConvNeXt's LayerScale: ``x * gamma``."""

    def affine(self, layer):
        return np.asarray(layer.gamma, np.float32), np.zeros((), np.float32)


def _last_axis_only(axis, rank: int) -> bool:
    """Whether ``axis`` (an int or a sequence of them) names the last of ``rank`` axes only."""
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return [int(each) % rank for each in axes] == [rank - 1]


class LayerNormalizationRule(QuantizationRule):
    """LayerNormalization over the channels, as the int8 TFLite ops it is made of, each output
    quantized (``{name}_{step}_quant``): the mean, the centered input, its square, their mean
    (the variance), plus epsilon, its rsqrt, the normalized input, then the affine map of
    gamma and beta. TFLite has no int8 layer normalization op: converted whole, these ops run
    in float."""

    def problem(self, layer, rank):
        if not _last_axis_only(layer.axis, rank) or getattr(layer, "rms_scaling", False):
            return ("normalizes other axes than the channels, or by RMS; TFLite has no int8 "
                    "kernel for it: use BatchNormalization")
        return None

    def rewrite(self, call, rewriter):
        layer = call.operation
        name = rewriter.name(call)

        def step(tensor, part: str):
            return rewriter.quantize(tensor, f"{name}_{part}")

        inputs = rewriter.source(call)
        mean = step(keras.ops.mean(inputs, axis=-1, keepdims=True), "mean")
        centered = step(inputs - mean, "centered")
        variance = step(keras.ops.mean(step(centered * centered, "squared"), axis=-1,
                                       keepdims=True), "variance")
        inverse = step(keras.ops.rsqrt(step(variance + layer.epsilon, "shifted")), "rsqrt")
        normalized = centered * inverse
        gamma = np.asarray(layer.gamma, np.float32) if layer.scale else np.ones((), np.float32)
        beta = np.asarray(layer.beta, np.float32) if layer.center else np.zeros((), np.float32)
        if np.any(gamma != 1.0) or np.any(beta != 0.0):
            normalized = step(normalized, "normalized")
        return _affine(normalized, gamma, beta, rewriter, name), call


class RescalingRule(AffineRule):
    """Rescaling: ``x * scale + offset``."""

    def affine(self, layer):
        config = layer.get_config()
        return (np.asarray(config["scale"], np.float32),
                np.asarray(config["offset"], np.float32))


class NormalizationRule(AffineRule):
    """Normalization: ``(x - mean) / max(sqrt(variance), epsilon)``, over the last axis."""

    def problem(self, layer, rank):
        if layer.invert or not _last_axis_only(layer.axis, rank):
            return "an inverted or not per-channel Normalization; fold it into the data"
        return None

    def affine(self, layer):
        deviation = np.maximum(np.sqrt(np.asarray(layer.variance)), keras.config.epsilon())
        scale = (1.0 / deviation).astype(np.float32)
        return scale.reshape(-1), (-np.asarray(layer.mean) * scale).astype(np.float32).reshape(-1)


class BatchNormalizationRule(AffineRule):
    """A BatchNormalization no convolution folds (after a concatenation, an add, the input):
    the affine map of its moving statistics, frozen."""

    def problem(self, layer, rank):
        if not _last_axis_only(layer.axis, rank):
            return "normalizes a channels-first axis; TFLite tensors are channels-last"
        return None

    def affine(self, layer):
        gamma = np.asarray(layer.gamma) if layer.scale else 1.0
        beta = np.asarray(layer.beta) if layer.center else 0.0
        scale = gamma / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
        return (np.asarray(scale, np.float32),
                np.asarray(beta - np.asarray(layer.moving_mean) * scale, np.float32))


#: Layer (or ``keras.ops`` operation) class -> its rule, matched by exact class.
QUANTIZATION_RULES: dict[type, QuantizationRule] = {}


def register_quantization_rule(layer_cls: type, rule: QuantizationRule, *,
                               replace: bool = False) -> None:
    """Registers how :func:`quantize_model` rewrites ``layer_cls`` (exactly that class).

    Raises:
        TypeError: if ``rule`` is not a :class:`QuantizationRule`.
        ValueError: if ``layer_cls`` has a rule already and ``replace`` is false.
    """
    if not isinstance(rule, QuantizationRule):
        raise TypeError(f"Expected a QuantizationRule for {layer_cls.__name__}. "
                        f"Received: {rule!r}")
    if layer_cls in QUANTIZATION_RULES and not replace:
        raise ValueError(f"Layer class {layer_cls.__name__} already has a quantization rule; "
                         f"pass replace=True to replace it")
    QUANTIZATION_RULES[layer_cls] = rule


def _register_builtin_rules() -> None:
    convnext, nn_ops, numpy_ops = keras_internal_modules()

    def each(module, *names: str) -> list[type]:
        return [getattr(module, name) for name in names if hasattr(module, name)]

    rules = {ConvRule(): each(layers, "Conv2D", "DepthwiseConv2D"),
             SeparableConvRule(): each(layers, "SeparableConv2D"),
             DenseRule(): each(layers, "Dense"),
             ActivationRule(): each(layers, "Activation"),
             FusingRule(): [layers.Add, *each(numpy_ops, "Add")],
             KeepsScaleRule(): each(layers, "MaxPooling2D", "AveragePooling2D",
                                    "GlobalMaxPooling2D", "Flatten", "Reshape", "Permute",
                                    "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Dropout",
                                    "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                                    "AlphaDropout", "ActivityRegularization", "Identity")
             + each(numpy_ops, "Reshape", "Squeeze", "ExpandDims"),
             QuantizationRule(): each(layers, "ReLU", "LeakyReLU", "Softmax", "Subtract",
                                      "Multiply", "Maximum", "Minimum", "Average",
                                      "Concatenate",
                                      "GlobalAveragePooling2D")
             + each(numpy_ops, "Subtract", "Multiply", "Maximum", "Minimum", "Tanh")
             + each(nn_ops, "Relu", "Relu6", "LeakyRelu", "Sigmoid", "Silu", "HardSilu",
                    "Gelu", "Softmax"),
             RescalingRule(): each(layers, "Rescaling"),
             NormalizationRule(): each(layers, "Normalization"),
             BatchNormalizationRule(): each(layers, "BatchNormalization"),
             LayerNormalizationRule(): each(layers, "LayerNormalization"),
             LayerScaleRule(): each(convnext, "LayerScale"),
             UnsupportedRule("TFLite has no int8 kernel for it (it converts to float ops); use "
                             "BatchNormalization"):
                 each(layers, "GroupNormalization", "UnitNormalization")}
    for rule, classes in rules.items():
        for cls in classes:
            register_quantization_rule(cls, rule)


_register_builtin_rules()
_WEIGHTLESS_LAYER_RULE = WeightlessLayerRule()


def _rule(operation) -> QuantizationRule | None:
    """The rule of ``operation``'s class; for a weightless layer of a class without one, the
    :class:`WeightlessLayerRule`; else ``None``."""
    rule = QUANTIZATION_RULES.get(type(operation))
    if rule is None and isinstance(operation, layers.Layer) and not operation.weights:
        return _WEIGHTLESS_LAYER_RULE
    return rule


def _problem(call: GraphCall, calls: int) -> str | None:
    """Why :func:`quantize_model` cannot rewrite ``call`` (of an operation called ``calls``
    times), or ``None``."""
    operation = call.operation
    rule = _rule(operation)
    if rule is None:
        return ("no quantization rule for this class of layer with weights; rebuild it from the "
                "layers docs/quantization.md lists, or register_quantization_rule() one")
    if calls > 1:
        return f"shared ({calls} calls); quantize_model needs each layer called once"
    if len(call.outputs) != 1:
        return f"{len(call.outputs)} outputs; quantize_model rewrites single-output layers"
    tensors = call.node.input_tensors
    return rule.problem(operation, len(tensors[0].shape) if tensors else 0)


def _check_supported(graph: FlatGraph) -> None:
    """Raises a ``ValueError`` naming every layer of the graph :func:`quantize_model` cannot
    rewrite, with its class and what to do."""
    model = graph.model
    if len(graph.inputs) != 1:
        raise ValueError(f"Expected a model with one input. Received: '{model.name}' with "
                         f"{len(graph.inputs)}")
    calls: dict[int, int] = {}
    for call in graph.calls:
        calls[id(call.operation)] = calls.get(id(call.operation), 0) + 1
    problems, seen = [], set()
    for call in graph.calls:
        problem = None if id(call.operation) in seen else _problem(call, calls[id(call.operation)])
        seen.add(id(call.operation))
        if problem:
            problems.append(f"'{'/'.join((*call.scope, call.operation.name))}' "
                            f"({type(call.operation).__name__}): {problem}")
    if problems:
        raise ValueError(f"Expected layers that quantize to int8 TFLite ops. Received: "
                         f"{len(problems)} in '{model.name}' that do not:\n  "
                         + "\n  ".join(problems))


def quantize_model(model: keras.Model, *, weight_bits: int = 8, activation_bits: int = 8,
                   quant_delay: int = 0, freeze_bn_delay: int = 0) -> keras.Model:
    """The quantization-aware twin of ``model`` (module docstring), with its weights.

    Args:
        model: a functional or built Sequential model with one input; nested functional /
            Sequential sub-models are inlined (their layers named ``{sub-model}_{layer}``).
        weight_bits, activation_bits, quant_delay, freeze_bn_delay: see
            :class:`FoldedConv2D` and :class:`ActivationQuantizer`.

    Returns:
        A flat functional model named ``{model.name}_qat``.

    Raises:
        ValueError: naming every layer the rewrite does not handle (no rule, shared, or a form
            without int8 TFLite kernels), or for a model with several inputs or no graph.
    """
    graph = FlatGraph(model)
    _check_supported(graph)
    settings = _Settings(weight_bits, activation_bits, quant_delay, freeze_bn_delay)
    return _Rewriter(graph, settings).run()


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
