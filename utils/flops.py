"""Per-layer multiply-accumulates (MACs) and parameter counts of a built Keras model.

Costs come from each layer's configuration and its input/output shapes; no profiler runs.

Convention (the one MobileNet, ResNet and channel-pruning papers use when they say "FLOPs"):
only the multiply-accumulates of convolutions and dense layers count. One MAC is one
multiplication and one addition; bias additions, BatchNorm, activations, pooling and residual
additions count as 0 MACs (they fold into the convolutions or are negligible). ``flops = 2 * macs``
for those who count multiplications and additions separately. Parameters are every weight a layer
holds, trainable or not (BatchNorm's moving mean and variance included), so ``total_params``
equals ``model.count_params()``.

Supported MAC-bearing layers: Conv1D/2D/3D (including ``groups``), Conv1D/2D/3DTranspose,
DepthwiseConv1D/2D (``depth_multiplier``), SeparableConv1D/2D and Dense (on inputs of any rank).
Nested models are expanded, their layers named ``<model>/<layer>``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras
from keras import layers

CONVOLUTIONS = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
TRANSPOSED_CONVOLUTIONS = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
DEPTHWISE_CONVOLUTIONS = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
SEPARABLE_CONVOLUTIONS = (layers.SeparableConv1D, layers.SeparableConv2D)


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """The cost of one layer.

    Attributes:
        name: layer name (``<model>/<layer>`` inside nested models).
        type: layer class name, e.g. ``Conv2D``.
        params: number of weights (trainable and not).
        macs: multiply-accumulates for one input sample.
    """

    name: str
    type: str
    params: int
    macs: int

    @property
    def flops(self) -> int:
        """Floating-point operations, counting a multiply-accumulate as two."""
        return 2 * self.macs


def _channels_and_spatial(shape: Sequence[int | None], data_format: str, layer_name: str,
                          which: str) -> tuple[int, tuple[int, ...]]:
    """Splits a batched shape into (channels, spatial dims); spatial dims must be known."""
    if data_format == "channels_first":
        channels, spatial = shape[1], tuple(shape[2:])
    else:
        channels, spatial = shape[-1], tuple(shape[1:-1])
    if channels is None or any(size is None for size in spatial):
        raise ValueError(f"Expected a static {which} shape for layer '{layer_name}' to count its "
                         f"MACs (build the model with a fixed input size). Received: {shape}")
    return channels, spatial


def _layer_shapes(layer: keras.layers.Layer) -> tuple[tuple, tuple]:
    try:
        return tuple(layer.input.shape), tuple(layer.output.shape)
    except (AttributeError, ValueError) as error:
        raise ValueError(f"Expected layer '{layer.name}' to be called exactly once in the model; "
                         f"shared or unused layers are not supported ({error}).") from None


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of one call of ``layer`` on one sample (0 for layers not listed above).

    Raises:
        ValueError: if a MAC-bearing layer has unknown spatial sizes or several inbound calls.
    """
    mac_layers = (CONVOLUTIONS + TRANSPOSED_CONVOLUTIONS + DEPTHWISE_CONVOLUTIONS
                  + SEPARABLE_CONVOLUTIONS + (layers.Dense,))
    if not isinstance(layer, mac_layers):
        return 0
    input_shape, output_shape = _layer_shapes(layer)
    if isinstance(layer, layers.Dense):
        # A Dense on a rank > 2 input applies its matrix at every leading position.
        _, positions = _channels_and_spatial(output_shape, "channels_last", layer.name, "output")
        return math.prod(positions) * input_shape[-1] * layer.units
    data_format = layer.data_format
    in_channels, in_spatial = _channels_and_spatial(input_shape, data_format, layer.name, "input")
    out_channels, out_spatial = _channels_and_spatial(output_shape, data_format, layer.name,
                                                      "output")
    kernel_positions = math.prod(layer.kernel_size)
    if isinstance(layer, CONVOLUTIONS):
        return math.prod(out_spatial) * kernel_positions * (in_channels // layer.groups) \
            * out_channels
    if isinstance(layer, TRANSPOSED_CONVOLUTIONS):
        # Every input position scatters a kernel-sized patch into every output channel.
        return math.prod(in_spatial) * kernel_positions * in_channels * out_channels
    if isinstance(layer, DEPTHWISE_CONVOLUTIONS):
        return math.prod(out_spatial) * kernel_positions * in_channels * layer.depth_multiplier
    # Separable: a depthwise convolution, then a 1x1 convolution on the output grid.
    depthwise_channels = in_channels * layer.depth_multiplier
    return math.prod(out_spatial) * (kernel_positions * depthwise_channels
                                     + depthwise_channels * out_channels)


def layer_costs(model: keras.Model) -> list[LayerCost]:
    """The cost of every layer of a built functional or sequential model, in model order.

    Nested models are expanded into their layers (named ``<model>/<layer>``).

    Raises:
        ValueError: if the model is not built, or a MAC-bearing layer's sizes are unknown.
    """
    if not model.built:
        raise ValueError(f"Expected a built model. Received: model '{model.name}' is not built.")
    costs = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            costs.extend(dataclasses.replace(cost, name=f"{layer.name}/{cost.name}")
                         for cost in layer_costs(layer))
            continue
        costs.append(LayerCost(name=layer.name, type=type(layer).__name__,
                               params=layer.count_params(), macs=layer_macs(layer)))
    return costs


def total_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass on one sample."""
    return sum(cost.macs for cost in layer_costs(model))


def total_flops(model: keras.Model) -> int:
    """``2 * total_macs(model)``."""
    return 2 * total_macs(model)


def total_params(model: keras.Model) -> int:
    """Number of weights, trainable or not (equals ``model.count_params()``)."""
    return sum(cost.params for cost in layer_costs(model))


def format_table(costs: Sequence[LayerCost], *, skip_empty: bool = True) -> str:
    """Formats costs as a fixed-width text table with a total row.

    Args:
        costs: what ``layer_costs`` returned.
        skip_empty: leave out layers with neither parameters nor MACs (activations, adds...).
    """
    rows = [cost for cost in costs if not skip_empty or cost.params or cost.macs]
    name_width = max([len("layer"), *(len(cost.name) for cost in rows)])
    type_width = max([len("type"), *(len(cost.type) for cost in rows)])
    header = f"{'layer':<{name_width}}  {'type':<{type_width}}  {'params':>12}  {'MACs':>15}"
    lines = [header, "-" * len(header)]
    lines += [f"{cost.name:<{name_width}}  {cost.type:<{type_width}}  {cost.params:>12,}  "
              f"{cost.macs:>15,}" for cost in rows]
    lines.append("-" * len(header))
    lines.append(f"{'total':<{name_width}}  {'':<{type_width}}  "
                 f"{sum(cost.params for cost in costs):>12,}  "
                 f"{sum(cost.macs for cost in costs):>15,}")
    return "\n".join(lines)
