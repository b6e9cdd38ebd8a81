"""The channel dependency graph of a Keras 3 model: which channels must be cut together.

Every layer that creates channels (a convolution's filters, a Dense layer's units, the model
input, the output of a layer the graph does not understand) creates one *element* per channel.
Each tensor of the model is described by the elements along its last (channel) axis: BatchNorm
and pooling pass their input's elements through, a DepthwiseConv2D with depth multiplier ``m``
repeats each element ``m`` times, Concatenate joins its inputs' elements, Flatten tiles them
``H * W`` times (channels-last order). Add and the other merge layers *couple* their inputs
position by position: coupled elements are one *channel*, kept or cut together. A *group* holds
the channels of producers connected by couplings, e.g. every convolution feeding the Adds of one
ResNet stage; it is the unit a pruning plan keeps channels of.

A group is not prunable when it reaches the model input or a model output, or touches a layer
the graph cannot cut through: a layer type without a handler (logged as a warning naming it, its
class and the groups it keeps whole), or a known layer in an unsupported configuration (a
grouped convolution with several input channels per group, ``channels_first``). Raw
``keras.ops`` calls in a functional model (``x + 3.0``, ``x * gate``, ``keras.ops.relu6``) are
operations of the graph like layers; the element-wise ones have handlers. Functional and
``Sequential`` sub-models are inlined before the analysis (``analysed_model``), so their layers
join the groups of the outer model.

A group read through a ``LayerNormalization`` over the channels is prunable, but that layer then
normalizes over the kept channels only (``ChannelGroup.normalizers``): the pruned model is not
the original with the cut channels' contributions removed.

The behaviour of each layer type lives in one table, ``LAYER_HANDLERS`` (layer class ->
``LayerHandler``); ``register_handler`` adds a custom layer. A handler says how channels flow
through the layer (``propagate``) and how the layer is resized when channels are cut
(``resize_config``, ``weight_masks``, ``macs``): the same table drives the graph, the cost
prediction of a plan and the surgery.

This is the only module of the package that touches Keras internals (the functional graph's
nodes and their arguments, ``Function._nodes_by_depth``, ``KerasTensor._keras_history``, the
``keras.src.ops`` operation classes, ``Functional`` and ConvNeXt's ``LayerScale``), with
``utils.keras_graph``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import layers
from keras.src.models.functional import Functional

from utils.flops import LayerCost, layer_costs, layer_macs
from utils.keras_graph import functional_graph, is_graph_model, to_functional

logger = logging.getLogger(__name__)

Shape = tuple[int | None, ...]
#: Kept channel indices per group name; groups left out keep all their channels.
KeptChannels = Mapping[str, Sequence[int]]

PRODUCER, CONSUMER, FOLLOWER = "producer", "consumer", "follower"
#: A follower whose output on one channel depends on the group's other channels (LayerNorm).
NORMALIZER = "normalizer"


# --------------------------------------------------------------------------------- data types
@dataclasses.dataclass(frozen=True)
class NodeView:
    """One call of a layer, as a handler sees it during the graph walk.

    Attributes:
        layer: the layer (or raw Keras operation) called.
        index: position of the layer in the model's operations (graph order).
        inputs: for each input tensor, the channel elements along its last axis.
        input_shapes: the input tensors' shapes (batch axis included).
        output_shapes: the output tensors' shapes.
        constants: the call's arguments that are not tensors, e.g. the ``3.0`` of a
            ``keras.ops`` call written ``x + 3.0`` in a functional model.
    """

    layer: Any
    index: int
    inputs: tuple[np.ndarray, ...]
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    constants: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.layer.name

    @property
    def kind(self) -> str:
        """The layer's class name."""
        return type(self.layer).__name__


@dataclasses.dataclass(frozen=True)
class LayerMasks:
    """Which positions of a layer's input and output channel axes a plan keeps.

    Attributes:
        inputs: one boolean mask per input tensor (over its last axis).
        outputs: one boolean mask per output tensor.
    """

    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]

    @property
    def changed(self) -> bool:
        """True iff some input or output channel is cut."""
        return not all(mask.all() for mask in self.inputs + self.outputs)


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """Channels that are kept or cut together.

    Attributes:
        name: stable name: the name of the group's first producer in graph order.
        index: position of the group in graph order.
        channels: number of channels. A plan indexes them ``0 .. channels - 1``: channel ``i``
            is output ``i`` of the first producer; channels the first producer does not cover
            (e.g. a concatenation added to a projection) follow, ordered by the graph order of
            their earliest producer, then by position in it.
        producers: layers creating the group's channels (convolutions, Dense, the model input,
            layers the graph cannot cut through), in graph order.
        consumers: layers reading the group's channels through their weights (their input
            dimension is sliced).
        followers: layers carrying the channels through whose weights or configuration are
            resized with them (BatchNorm, depthwise convolutions, Reshape...).
        normalizers: followers that normalize over the group's channels (LayerNormalization):
            cutting channels changes the statistics they compute, so the pruned model is not
            the original with the cut channels' contributions removed.
        reasons: why the group is not prunable; empty when it is.
        segments: ``(layer, channel indices)`` for each output holding only part of the
            group's channels (e.g. one branch of a concatenation added to a projection): a plan
            must keep at least one channel of each, or the layer would have no output.
    """

    name: str
    index: int
    channels: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    followers: tuple[str, ...]
    normalizers: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    segments: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def prunable(self) -> bool:
        """True iff the group's channels may be cut."""
        return not self.reasons

    @property
    def reason(self) -> str | None:
        """Why the group is not prunable (``None`` when it is)."""
        return "; ".join(self.reasons) if self.reasons else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "index": self.index, "channels": self.channels,
                "producers": list(self.producers), "consumers": list(self.consumers),
                "followers": list(self.followers), "normalizers": list(self.normalizers),
                "prunable": self.prunable,
                "reason": self.reason,
                "segments": [[layer, list(channels)] for layer, channels in self.segments]}


# --------------------------------------------------------------------------------- builder
class _UnionFind:
    """Disjoint sets over the integers ``0 .. n - 1``, grown one element at a time."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, element: int) -> int:
        root = element
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[element] != root:  # path compression
            self.parent[element], element = root, self.parent[element]
        return root

    def union(self, first: int, second: int) -> None:
        first, second = self.find(first), self.find(second)
        if first != second:
            self.parent[max(first, second)] = min(first, second)


class GraphBuilder:
    """What a handler's ``propagate`` uses to create, couple and pin channel elements."""

    def __init__(self) -> None:
        self._channels = _UnionFind()  # positions coupled one to one
        self._groups = _UnionFind()  # plus: all elements of one producer
        self._element_keys: list[tuple[int, int, int]] = []  # (layer index, output, position)
        self._element_layers: list[str] = []
        self._sources: dict[tuple[int, int], np.ndarray] = {}
        self._bindings: dict[tuple[int, str], np.ndarray] = {}
        self._roles: list[tuple[int, str, str, np.ndarray]] = []  # (index, layer, role, elements)
        self._pins: list[tuple[np.ndarray, str]] = []  # (elements, reason)
        self._warnings: list[tuple[str, str, str, np.ndarray]] = []  # (layer, class, reason, ...)

    def new_channels(self, node: NodeView, size: int | None, output_index: int = 0) -> np.ndarray:
        """Creates the elements of a producer's output (reused by every call of a shared layer).

        Args:
            node: the producing call.
            size: number of channels (``None``, an unknown size, creates none).
            output_index: which output of the layer.

        Returns:
            The new elements.
        """
        key = (node.index, output_index)
        if key not in self._sources:
            elements = []
            for position in range(size or 0):
                element = self._channels.add()
                self._groups.add()
                if elements:
                    self._groups.union(elements[0], element)
                self._element_keys.append((node.index, output_index, position))
                self._element_layers.append(node.name if output_index == 0
                                            else f"{node.name}:{output_index}")
                elements.append(element)
            self._sources[key] = np.asarray(elements, np.int64)
            self._roles.append((node.index, node.name, PRODUCER, self._sources[key]))
        return self._sources[key]

    def use(self, node: NodeView, elements: np.ndarray, role: str = CONSUMER,
            key: str = "input") -> None:
        """Records that the layer's weights or configuration follow ``elements``.

        Every call of a shared layer must see the same channels: the elements of later calls
        are coupled to the first call's.

        Args:
            node: the call.
            elements: the channel elements the layer reads.
            role: ``"consumer"`` (input dimension sliced), ``"follower"`` (carried through)
                or ``"normalizer"`` (a follower normalizing over the channels: listed as both).
            key: distinguishes several uses by one layer.
        """
        binding = (node.index, key)
        if binding in self._bindings:
            self.couple(node, self._bindings[binding], elements)
        else:
            self._bindings[binding] = elements
        self._roles.append((node.index, node.name, role, elements))
        if role == NORMALIZER:
            self._roles.append((node.index, node.name, FOLLOWER, elements))

    def couple(self, node: NodeView, first: np.ndarray, second: np.ndarray) -> bool:
        """Couples two channel axes position by position (they are cut together).

        Axes of different lengths cannot be aligned: both are pinned instead.

        Returns:
            True iff the axes were coupled.
        """
        if len(first) != len(second):
            self.pin(np.concatenate([first, second]),
                     f"'{node.name}' ({node.kind}) combines {len(first)} and {len(second)} "
                     "channels that cannot be aligned")
            return False
        for one, other in zip(first.tolist(), second.tolist()):
            self._channels.union(one, other)
            self._groups.union(one, other)
        return True

    def pin(self, elements: np.ndarray, reason: str) -> None:
        """Marks the groups of ``elements`` not prunable, for ``reason``."""
        if len(elements):
            self._pins.append((elements, reason))

    def block(self, node: NodeView, reason: str, warn: bool = True) -> list[np.ndarray]:
        """Makes a call "do not cut through": pins its inputs, gives it new pinned outputs.

        Args:
            node: the call.
            reason: why, for the groups' ``reasons``.
            warn: once the groups are known, log a warning naming the layer, its class, the
                reason and the groups it keeps whole.

        Returns:
            The elements of its outputs.
        """
        for elements in node.inputs:
            self.pin(elements, reason)
        outputs = []
        for output_index, shape in enumerate(node.output_shapes):
            elements = self.new_channels(node, shape[-1] if shape else None, output_index)
            self.pin(elements, reason)
            outputs.append(elements)
        if warn:
            touched = np.concatenate([np.zeros(0, np.int64), *node.inputs, *outputs])
            self._warnings.append((node.name, node.kind, reason, touched))
        return outputs

    # The rest runs once the walk is over (``_finish``).
    def _number(self) -> tuple[np.ndarray, list[tuple[int, int]], list[np.ndarray]]:
        """Numbers the channels and groups in graph order.

        Returns:
            ``(global_channel, group_spans, group_elements)``: the global channel id of every
            element, ``(offset, channels)`` per group, and the elements of every group.
        """
        count = len(self._element_keys)
        channel_root = [self._channels.find(element) for element in range(count)]
        group_root = [self._groups.find(element) for element in range(count)]
        channel_key: dict[int, tuple[int, int, int]] = {}
        group_key: dict[int, tuple[int, int, int]] = {}
        for element, key in enumerate(self._element_keys):
            for table, root in ((channel_key, channel_root[element]),
                                (group_key, group_root[element])):
                if root not in table or key < table[root]:
                    table[root] = key
        group_order = sorted(group_key, key=group_key.__getitem__)
        group_index = {root: index for index, root in enumerate(group_order)}
        channels_of: list[list[int]] = [[] for _ in group_order]
        for root in sorted(channel_key, key=channel_key.__getitem__):
            # A channel's root is one of its elements; coupled elements share one group.
            channels_of[group_index[group_root[root]]].append(root)
        spans, offset, channel_id = [], 0, {}
        for roots in channels_of:
            spans.append((offset, len(roots)))
            for position, root in enumerate(roots):
                channel_id[root] = offset + position
            offset += len(roots)
        global_channel = np.asarray([channel_id[root] for root in channel_root], np.int64)
        group_elements = [[] for _ in group_order]
        for element in range(count):
            group_elements[group_index[group_root[element]]].append(element)
        return global_channel, spans, [np.asarray(e, np.int64) for e in group_elements]

    def _first_layer_name(self, elements: np.ndarray) -> str:
        """The producer name of the earliest element in graph order (a group's name)."""
        first = min(elements.tolist(), key=self._element_keys.__getitem__)
        return self._element_layers[first]


# --------------------------------------------------------------------------------- handlers
class LayerHandler:
    """How one layer type moves channels, and how it is resized when channels are cut.

    Subclass it for a custom layer and register it with ``register_handler``. The defaults
    describe a layer without channel-dependent weights or configuration and without MACs.
    """

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        """Returns the channel elements of each output of ``node``.

        Use ``graph.new_channels`` for new channels, ``graph.use`` for channels the layer's
        weights read, ``graph.couple`` for channels cut together and ``graph.block`` when the
        layer cannot be cut through.
        """
        raise NotImplementedError

    def resize_config(self, layer: keras.layers.Layer, config: dict,
                      masks: LayerMasks) -> dict:
        """Returns the layer's ``get_config()`` for the kept channels (by default unchanged)."""
        return config

    def weight_masks(self, layer: keras.layers.Layer,
                     masks: LayerMasks) -> dict[str, dict[int, np.ndarray]]:
        """Per weight name (``variable.name``), the boolean mask to apply along each axis."""
        return {}

    def macs(self, layer: keras.layers.Layer, input_shapes: Sequence[Shape],
             output_shapes: Sequence[Shape]) -> int:
        """Multiply-accumulates of one call on the given (pruned) shapes (``utils.flops``)."""
        return 0


class UnknownLayerHandler(LayerHandler):
    """A layer type without a handler: do not cut through it (warns, names the layer)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        return graph.block(node, f"no channel-pruning handler for {node.kind}")

    def macs(self, layer, input_shapes, output_shapes) -> int:
        # Its channels are never cut, so its cost is the original one.
        return layer_macs(layer) if isinstance(layer, keras.layers.Layer) else 0


class NestedModelHandler(LayerHandler):
    """A functional or ``Sequential`` sub-model left in the graph: ``build_graph`` inlines
    sub-models, so one is met only when that failed (a warning said why). Not cut through."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        return graph.block(node, f"'{node.name}' is a nested model that could not be inlined")


class BlockingHandler(LayerHandler):
    """A known layer that must not be cut through (e.g. a softmax over channels); no warning."""

    def __init__(self, reason: str):
        self.reason = reason

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        return graph.block(node, f"'{node.name}' ({node.kind}) {self.reason}", warn=False)


class InputHandler(LayerHandler):
    """The model input: its channels are never cut."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        outputs = []
        for output_index, shape in enumerate(node.output_shapes):
            elements = graph.new_channels(node, shape[-1] if shape else None, output_index)
            graph.pin(elements, f"model input '{node.name}'")
            outputs.append(elements)
        return outputs


def _channels_first(layer: Any) -> bool:
    return getattr(layer, "data_format", None) == "channels_first"


def _single_input_problem(node: NodeView) -> str | None:
    """Why a one-input, channel-preserving layer cannot pass channels through, or ``None``."""
    if _channels_first(node.layer):
        return "data_format='channels_first' is not supported"
    if len(node.inputs) != 1 or len(node.output_shapes) != 1:
        return f"expected one input and one output, got {len(node.inputs)} and " \
               f"{len(node.output_shapes)}"
    if node.output_shapes[0][-1:] != node.input_shapes[0][-1:]:
        return (f"its output has {node.output_shapes[0][-1]} channels, its input "
                f"{node.input_shapes[0][-1]}")
    return None


class PassThroughHandler(LayerHandler):
    """Channel-wise layers without channel-dependent weights (activations, pooling, padding)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        problem = _single_input_problem(node)
        if problem:
            return graph.block(node, f"'{node.name}' ({node.kind}): {problem}")
        return [node.inputs[0]]


# Activations that mix channels: cutting one changes the others' values.
CROSS_CHANNEL_ACTIVATIONS = frozenset({"softmax", "log_softmax"})


def _mixes_channels(layer: Any) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") in CROSS_CHANNEL_ACTIVATIONS


def _new_output(node: NodeView, graph: GraphBuilder, size: int) -> list[np.ndarray]:
    """A producer's new channels, pinned when its activation mixes them (softmax)."""
    elements = graph.new_channels(node, size)
    if _mixes_channels(node.layer):
        graph.pin(elements, f"'{node.name}' ends in a softmax across its channels")
    return [elements]


class ActivationHandler(PassThroughHandler):
    """``Activation``: channel-wise unless it normalizes across channels (softmax)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        if _mixes_channels(node.layer):
            return graph.block(node, f"'{node.name}' ({node.kind}) normalizes across channels",
                               warn=False)
        return super().propagate(node, graph)


class RescalingHandler(PassThroughHandler):
    """``Rescaling`` with scalar scale and offset (per-channel vectors are not sliced)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        if not all(np.ndim(value) == 0 for value in (node.layer.scale, node.layer.offset)):
            return graph.block(node, f"'{node.name}' (Rescaling) has a per-channel scale/offset")
        return super().propagate(node, graph)


class PerChannelHandler(PassThroughHandler):
    """Channel-wise layers with per-channel weights, sliced along their last axis: output
    channel ``c`` depends only on input channel ``c`` (BatchNorm, PReLU, a LayerScale).

    Register it for a custom layer of that kind, e.g. ``register_handler(LayerScale,
    PerChannelHandler(channels_key="projection_dim"))``.

    Args:
        weight_names: names (``variable.name``) of the weights whose last axis is the channels
            (a weight whose last axis has length 1 is broadcast and kept whole). ``None``: every
            weight of the layer, each of which must then be a vector with one value per
            channel (the layer blocks its channels otherwise).
        channels_key: the ``get_config()`` entry holding the channel count, when the layer's
            configuration has one (``projection_dim`` of ConvNeXt's ``LayerScale``); it is set
            to the kept count.
    """

    role = FOLLOWER

    def __init__(self, weight_names: Sequence[str] | None = None,
                 channels_key: str | None = None):
        self.weight_names = None if weight_names is None else tuple(weight_names)
        self.channels_key = channels_key

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        problem = _single_input_problem(node) or self._weights_problem(node)
        if problem:
            return graph.block(node, f"'{node.name}' ({node.kind}): {problem}")
        graph.use(node, node.inputs[0], self.role)
        return [node.inputs[0]]

    def _weights_problem(self, node: NodeView) -> str | None:
        """Why the layer's weights are not one vector per channel (``weight_names=None``)."""
        if self.weight_names is not None:
            return None
        channels = node.input_shapes[0][-1]
        shapes = [tuple(variable.shape) for variable in node.layer.weights]
        if any(shape != (channels,) for shape in shapes):
            return f"expected weights of shape ({channels},) only, got {shapes}"
        return None

    def resize_config(self, layer, config, masks):
        if self.channels_key is None:
            return config
        return {**config, self.channels_key: int(masks.inputs[0].sum())}

    def weight_masks(self, layer, masks):
        mask = masks.inputs[0]
        return {variable.name: {-1: mask} for variable in layer.weights
                if (self.weight_names is None or variable.name in self.weight_names)
                and variable.shape[-1] == len(mask) and len(mask) > 1}


class LayerNormalizationHandler(PerChannelHandler):
    """``LayerNormalization`` (gamma, beta) or ``UnitNormalization`` over the channel axis only.

    The kept channels are normalized among themselves: the layer is the group's *normalizer*
    (``ChannelGroup.normalizers``), and the pruned model differs from the original with the cut
    channels' contributions removed.
    """

    role = NORMALIZER

    def __init__(self):
        super().__init__(("gamma", "beta"))

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        rank = len(node.input_shapes[0])
        axes = node.layer.axis if isinstance(node.layer.axis, (list, tuple)) else [node.layer.axis]
        if sorted(axis % rank for axis in axes) != [rank - 1]:
            return graph.block(node, f"'{node.name}' ({node.kind}) normalizes axes {axes}, not "
                                     "only the channels")
        return super().propagate(node, graph)


class BatchNormalizationHandler(PerChannelHandler):
    """``BatchNormalization`` over the last axis: gamma, beta and the moving statistics."""

    def __init__(self):
        super().__init__(("gamma", "beta", "moving_mean", "moving_variance"))

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        rank = len(node.input_shapes[0])
        axis = node.layer.axis
        if isinstance(axis, (list, tuple)) or axis not in (-1, rank - 1):
            return graph.block(node, f"'{node.name}' normalizes axis {axis}, not the channels")
        return super().propagate(node, graph)


def _spatial(shape: Shape) -> tuple[int, ...]:
    return tuple(shape[1:-1])


def _follow_depthwise(node: NodeView, graph: GraphBuilder, multiplier: int) -> list[np.ndarray]:
    """A depthwise convolution's output: channel ``c * multiplier + j`` follows input ``c``."""
    graph.use(node, node.inputs[0], FOLLOWER)
    if _mixes_channels(node.layer):
        graph.pin(node.inputs[0], f"'{node.name}' ends in a softmax across its channels")
    return [np.repeat(node.inputs[0], multiplier)]


def _is_depthwise_grouping(layer: Any, input_channels: int | None) -> bool:
    """True iff a grouped convolution has one input channel per group (a depthwise one)."""
    return getattr(layer, "groups", 1) != 1 and layer.groups == input_channels


class ConvHandler(LayerHandler):
    """Conv1D/2D/3D: reads its input channels, creates ``filters`` new channels.

    A grouped convolution with one input channel per group (``groups`` = input channels, e.g.
    ConvNeXt's) is a depthwise convolution: its output channels follow their input channel and
    whole groups are cut. Other grouped convolutions are not cut through.
    """

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        layer = node.layer
        if _channels_first(layer):
            return graph.block(node, f"'{node.name}' uses data_format='channels_first'")
        if _is_depthwise_grouping(layer, node.input_shapes[0][-1]):
            return _follow_depthwise(node, graph, layer.filters // layer.groups)
        if getattr(layer, "groups", 1) != 1:
            return graph.block(node, f"'{node.name}' is a grouped convolution "
                                     f"(groups={layer.groups}) with several input channels per "
                                     "group, not supported")
        graph.use(node, node.inputs[0], CONSUMER)
        return _new_output(node, graph, layer.filters)

    def resize_config(self, layer, config, masks):
        config = {**config, "filters": int(masks.outputs[0].sum())}
        if _is_depthwise_grouping(layer, len(masks.inputs[0])):  # a group per kept input
            config["groups"] = int(masks.inputs[0].sum())
        return config

    def weight_masks(self, layer, masks):
        if getattr(layer, "groups", 1) != 1:
            # A grouped kernel is [..., in_channels / groups, filters]: whole groups are cut
            # (depthwise) or none (``propagate`` pins the others), so axis -2 keeps its size.
            return {"kernel": {-1: masks.outputs[0]}, "bias": {0: masks.outputs[0]}}
        return {"kernel": {-2: masks.inputs[0], -1: masks.outputs[0]},
                "bias": {0: masks.outputs[0]}}

    def macs(self, layer, input_shapes, output_shapes):
        # A cut keeps the input channels per group of a grouped convolution (kernel axis -2).
        per_group = input_shapes[0][-1] if layer.groups == 1 else layer.kernel.shape[-2]
        return (math.prod(_spatial(output_shapes[0])) * math.prod(layer.kernel_size)
                * per_group * output_shapes[0][-1])


class ConvTransposeHandler(ConvHandler):
    """Conv1D/2D/3DTranspose: kernel ``[..., filters, in_channels]``."""

    def weight_masks(self, layer, masks):
        return {"kernel": {-1: masks.inputs[0], -2: masks.outputs[0]},
                "bias": {0: masks.outputs[0]}}

    def macs(self, layer, input_shapes, output_shapes):
        return (math.prod(_spatial(input_shapes[0])) * math.prod(layer.kernel_size)
                * input_shapes[0][-1] * output_shapes[0][-1])


class DepthwiseConvHandler(LayerHandler):
    """DepthwiseConv1D/2D: output channel ``c * m + j`` follows input channel ``c``."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        if _channels_first(node.layer):
            return graph.block(node, f"'{node.name}' uses data_format='channels_first'")
        return _follow_depthwise(node, graph, node.layer.depth_multiplier)

    def weight_masks(self, layer, masks):
        return {"kernel": {-2: masks.inputs[0]}, "bias": {0: masks.outputs[0]}}

    def macs(self, layer, input_shapes, output_shapes):
        return (math.prod(_spatial(output_shapes[0])) * math.prod(layer.kernel_size)
                * input_shapes[0][-1] * layer.depth_multiplier)


class SeparableConvHandler(LayerHandler):
    """SeparableConv1D/2D: the depthwise part follows the input, the pointwise output is new."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        if _channels_first(node.layer):
            return graph.block(node, f"'{node.name}' uses data_format='channels_first'")
        graph.use(node, node.inputs[0], CONSUMER)
        return _new_output(node, graph, node.layer.filters)

    def resize_config(self, layer, config, masks):
        return {**config, "filters": int(masks.outputs[0].sum())}

    def weight_masks(self, layer, masks):
        depthwise = np.repeat(masks.inputs[0], layer.depth_multiplier)
        return {"depthwise_kernel": {-2: masks.inputs[0]},
                "pointwise_kernel": {-2: depthwise, -1: masks.outputs[0]},
                "bias": {0: masks.outputs[0]}}

    def macs(self, layer, input_shapes, output_shapes):
        depthwise_channels = input_shapes[0][-1] * layer.depth_multiplier
        return math.prod(_spatial(output_shapes[0])) * (
            math.prod(layer.kernel_size) * depthwise_channels
            + depthwise_channels * output_shapes[0][-1])


class DenseHandler(LayerHandler):
    """Dense (on inputs of any rank): reads rows of its kernel, creates ``units`` channels."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        layer = node.layer
        if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
            return graph.block(node, f"'{node.name}' is a LoRA or quantized Dense layer")
        graph.use(node, node.inputs[0], CONSUMER)
        return _new_output(node, graph, layer.units)

    def resize_config(self, layer, config, masks):
        return {**config, "units": int(masks.outputs[0].sum())}

    def weight_masks(self, layer, masks):
        return {"kernel": {0: masks.inputs[0], 1: masks.outputs[0]},
                "bias": {0: masks.outputs[0]}}

    def macs(self, layer, input_shapes, output_shapes):
        return math.prod(_spatial(output_shapes[0])) * input_shapes[0][-1] * output_shapes[0][-1]


def _flatten_elements(node: NodeView) -> list[np.ndarray] | None:
    """Tiles the channels over the spatial positions (channels-last flattening), or ``None``."""
    input_shape, output_shape = node.input_shapes[0], node.output_shapes[0]
    if any(size is None for size in input_shape[1:]) or len(output_shape) != 2 \
            or output_shape[-1] != math.prod(input_shape[1:]):
        return None
    return [np.tile(node.inputs[0], math.prod(input_shape[1:-1]))]


class FlattenHandler(LayerHandler):
    """Flatten: position ``s * C + c`` of the output is channel ``c`` (channels last)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        if _channels_first(node.layer) and len(node.input_shapes[0]) > 2:
            return graph.block(node, f"'{node.name}' uses data_format='channels_first'")
        outputs = _flatten_elements(node)
        if outputs is None:
            return graph.block(node, f"'{node.name}' flattens a tensor of unknown size")
        return outputs


class ReshapeHandler(LayerHandler):
    """Reshape keeping the channel axis last (e.g. ``(1, 1, C)`` in squeeze-excitation), or
    flattening to ``(N, H * W * C)``."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        input_shape, output_shape = node.input_shapes[0], node.output_shapes[0]
        if input_shape[-1] is not None and output_shape[-1] == input_shape[-1]:
            graph.use(node, node.inputs[0], FOLLOWER)
            return [node.inputs[0]]
        outputs = _flatten_elements(node)
        if outputs is None:
            return graph.block(node, f"'{node.name}' moves channels from {input_shape} to "
                                     f"{output_shape}")
        graph.use(node, node.inputs[0], FOLLOWER)
        return outputs

    def resize_config(self, layer, config, masks):
        target = list(config["target_shape"])
        if target and target[-1] != -1:
            target[-1] = int(masks.outputs[0].sum())
        return {**config, "target_shape": tuple(target)}


class MergeHandler(LayerHandler):
    """Add, Subtract, Multiply, Average, Maximum, Minimum: all inputs are coupled; an input
    with one channel broadcast over the others is not."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        width = node.output_shapes[0][-1]
        full = [elements for elements in node.inputs if len(elements) == width]
        if width is None or not full:
            return graph.block(node, f"'{node.name}' merges tensors of unknown channel count")
        for elements in node.inputs:
            if len(elements) == 1 and width != 1:
                continue  # broadcast along channels: its single channel is never cut
            graph.couple(node, full[0], elements)
        return [full[0]]


class ConcatenateHandler(MergeHandler):
    """Concatenate: along channels, each input's channels at their offset; along another axis,
    like a merge (inputs coupled)."""

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        rank = len(node.output_shapes[0])
        if node.layer.axis % rank != rank - 1:
            return super().propagate(node, graph)
        joined = np.concatenate(node.inputs)
        if len(joined) != node.output_shapes[0][-1]:
            return graph.block(node, f"'{node.name}' concatenates tensors of unknown channels")
        return [joined]


def _per_channel_constant(value: Any) -> tuple[int, ...] | None:
    """The shape of a constant argument that varies along the channel axis, else ``None``."""
    if value is None or isinstance(value, (keras.KerasTensor, str, bytes)):
        return None
    try:
        shape = np.shape(value)
    except (TypeError, ValueError):  # not array-like (e.g. a dtype object): not per channel
        return None
    return tuple(shape) if shape and shape[-1] != 1 else None


class ElementwiseOpHandler(MergeHandler):
    """A raw ``keras.ops`` element-wise call in a functional model (``x + 3.0``,
    ``x * (1 / 6)``, ``x + residual``, ``keras.ops.relu6(x)``): like the merge layers, its
    tensor inputs are coupled (an input with one channel is broadcast); scalar constants are
    kept as they are. A constant varying along the channels cannot be sliced: the call blocks.
    """

    def propagate(self, node: NodeView, graph: GraphBuilder) -> list[np.ndarray]:
        for value in node.constants:
            shape = _per_channel_constant(value)
            if shape is not None:
                return graph.block(node, f"'{node.name}' ({node.kind}) uses a constant of shape "
                                         f"{shape} along the channels, which is not sliced")
        return super().propagate(node, graph)


#: Layer class -> handler. Looked up by exact class: a subclass is unknown until registered.
LAYER_HANDLERS: dict[type, LayerHandler] = {}
_UNKNOWN = UnknownLayerHandler()


def register_handler(layer_cls: type, handler: LayerHandler, *, replace: bool = False) -> None:
    """Registers how channel pruning treats ``layer_cls``.

    Args:
        layer_cls: the layer class (matched exactly, not its subclasses).
        handler: the handler.
        replace: allow replacing an existing handler.

    Raises:
        TypeError: if ``handler`` is not a ``LayerHandler``.
        ValueError: if ``layer_cls`` already has a handler and ``replace`` is false.
    """
    if not isinstance(handler, LayerHandler):
        raise TypeError(f"Expected a LayerHandler for {layer_cls.__name__}. "
                        f"Received: {handler!r}")
    if layer_cls in LAYER_HANDLERS and not replace:
        raise ValueError(f"Layer class {layer_cls.__name__} already has a channel-pruning "
                         "handler; pass replace=True to replace it.")
    LAYER_HANDLERS[layer_cls] = handler


def handler_for(layer: Any) -> LayerHandler:
    """The handler of ``layer``'s exact class (``UnknownLayerHandler`` when none)."""
    return LAYER_HANDLERS.get(type(layer), _UNKNOWN)


def _register_builtin_handlers() -> None:
    def each(*names: str):
        # Names missing from this Keras version are skipped.
        return [getattr(layers, name) for name in names if hasattr(layers, name)]

    register_handler(layers.InputLayer, InputHandler())
    pass_through = PassThroughHandler()
    for cls in each("ReLU", "LeakyReLU", "ELU", "Identity", "Dropout", "SpatialDropout1D",
                    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
                    "AlphaDropout", "ActivityRegularization", "MaxPooling1D", "MaxPooling2D",
                    "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
                    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
                    "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"):
        register_handler(cls, pass_through)
    register_handler(layers.Activation, ActivationHandler())
    register_handler(layers.Rescaling, RescalingHandler())
    register_handler(layers.BatchNormalization, BatchNormalizationHandler())
    register_handler(layers.PReLU, PerChannelHandler(("alpha",)))
    for cls in each("Softmax", "GroupNormalization"):
        register_handler(cls, BlockingHandler("normalizes across channels"))
    for cls in each("LayerNormalization", "UnitNormalization"):
        register_handler(cls, LayerNormalizationHandler())
    register_handler(layers.Normalization,  # preprocessing, usually on the model input
                     BlockingHandler("normalizes each channel with constants it cannot slice"))
    for cls in each("Conv1D", "Conv2D", "Conv3D"):
        register_handler(cls, ConvHandler())
    for cls in each("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        register_handler(cls, ConvTransposeHandler())
    for cls in each("DepthwiseConv1D", "DepthwiseConv2D"):
        register_handler(cls, DepthwiseConvHandler())
    for cls in each("SeparableConv1D", "SeparableConv2D"):
        register_handler(cls, SeparableConvHandler())
    register_handler(layers.Dense, DenseHandler())
    register_handler(layers.Flatten, FlattenHandler())
    register_handler(layers.Reshape, ReshapeHandler())
    merge = MergeHandler()
    for cls in each("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        register_handler(cls, merge)
    register_handler(layers.Concatenate, ConcatenateHandler())
    nested = NestedModelHandler()
    for cls in (keras.Sequential, Functional):
        register_handler(cls, nested)
    _register_operation_handlers()
    _register_application_handlers()


def _register_operation_handlers() -> None:
    """Handlers of the raw ``keras.ops`` operations a functional model may call directly."""
    from keras.src.ops import nn as nn_ops
    from keras.src.ops import numpy as numpy_ops

    def each(module: Any, *names: str):
        return [getattr(module, name) for name in names if hasattr(module, name)]

    elementwise = ElementwiseOpHandler()
    for cls in each(numpy_ops, "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum",
                    "Minimum", "Power", "Negative", "Abs", "Absolute", "Square", "Sqrt", "Exp",
                    "Log", "Tanh", "Clip", "Sign", "Reciprocal"):
        register_handler(cls, elementwise)
    for cls in each(nn_ops, "Relu", "Relu6", "Sigmoid", "HardSigmoid", "Silu", "HardSilu",
                    "Gelu", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign", "Celu",
                    "HardTanh", "SoftShrink", "TanhShrink", "HardShrink", "Squareplus",
                    "LogSigmoid", "Threshold"):
        register_handler(cls, elementwise)
    for cls in each(nn_ops, "Softmax", "LogSoftmax", "Sparsemax"):
        register_handler(cls, BlockingHandler("normalizes across channels"))


def _register_application_handlers() -> None:
    """Handlers of the custom layers of ``keras.applications`` models."""
    from keras.src.applications import convnext

    register_handler(convnext.LayerScale, PerChannelHandler(channels_key="projection_dim"))


_register_builtin_handlers()


# --------------------------------------------------------------------------------- the graph
@dataclasses.dataclass(frozen=True)
class _CallRecord:
    """One call of a layer: its input and output tensors (indices into the tensor tables)."""

    layer: Any
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


class DependencyGraph:
    """The channel groups of a model, and the masks and costs a choice of kept channels implies.

    Build it with ``build_graph(model)``; it keeps references to the model's layers.

    Attributes:
        model_name: the model's name.
        groups: every channel group, in graph order (prunable or not).
    """

    def __init__(self, model_name: str, groups: Sequence[ChannelGroup],
                 spans: Sequence[tuple[int, int]], tensor_channels: Sequence[np.ndarray],
                 tensor_shapes: Sequence[Shape], calls: Sequence[_CallRecord],
                 model_layers: Sequence[Any]):
        self.model_name = model_name
        self.groups = tuple(groups)
        self._by_name = {group.name: group for group in self.groups}
        self._spans = list(spans)
        self._tensor_channels = list(tensor_channels)
        self._tensor_shapes = list(tensor_shapes)
        self._first_call: dict[int, _CallRecord] = {}
        for call in calls:
            self._first_call.setdefault(id(call.layer), call)
        self._model_layers = list(model_layers)
        self._nb_channels = sum(size for _, size in self._spans)

    @property
    def prunable_groups(self) -> tuple[ChannelGroup, ...]:
        """The groups whose channels may be cut, in graph order."""
        return tuple(group for group in self.groups if group.prunable)

    def group(self, name: str) -> ChannelGroup:
        """The group called ``name``.

        Raises:
            ValueError: if there is none; the message lists the prunable groups.
        """
        if name not in self._by_name:
            names = ", ".join(group.name for group in self.prunable_groups) or "(none)"
            raise ValueError(f"Unknown channel group '{name}' in model '{self.model_name}'. "
                             f"Expected one of its prunable groups: {names}.")
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def _kept_vector(self, kept: KeptChannels) -> np.ndarray:
        """A boolean per channel of the whole model: kept or not.

        Raises:
            ValueError: for an unknown group or an index out of range.
        """
        vector = np.ones(self._nb_channels, bool)
        for name, indices in kept.items():
            group = self.group(name)
            offset, size = self._spans[group.index]
            indices = np.asarray(list(indices), np.int64)
            if indices.size and (indices.min() < 0 or indices.max() >= size):
                raise ValueError(f"Expected kept channel indices of group '{name}' in "
                                 f"[0, {size}). Received: {indices.tolist()}")
            vector[offset:offset + size] = False
            vector[offset + indices] = True
        return vector

    def emptied_layers(self, kept: KeptChannels) -> list[str]:
        """The layers an output of which would keep no channel at all (an invalid plan)."""
        vector = self._kept_vector(kept)
        return [call.layer.name for call in self._first_call.values()
                if any(len(self._tensor_channels[key]) and not vector[
                    self._tensor_channels[key]].any() for key in call.outputs)]

    def layer_masks(self, kept: KeptChannels) -> dict[str, LayerMasks]:
        """For every layer (its first call), which input and output channel positions are kept.

        Args:
            kept: kept channel indices per group name; groups left out keep all channels.
        """
        vector = self._kept_vector(kept)
        return {call.layer.name: self._masks(call, vector)
                for call in self._first_call.values()}

    def _masks(self, call: _CallRecord, vector: np.ndarray) -> LayerMasks:
        return LayerMasks(tuple(vector[self._tensor_channels[key]] for key in call.inputs),
                          tuple(vector[self._tensor_channels[key]] for key in call.outputs))

    def _pruned_shape(self, key: int, vector: np.ndarray) -> Shape:
        shape, mask = self._tensor_shapes[key], vector[self._tensor_channels[key]]
        if mask.all():
            return shape
        return (*shape[:-1], int(mask.sum()))

    def predict_costs(self, kept: KeptChannels) -> list[LayerCost]:
        """The per-layer parameters and MACs of the pruned model, without building it.

        The rows match ``utils.flops.layer_costs`` of the pruned model (nested models are
        expanded, their channels are never cut).

        Args:
            kept: kept channel indices per group name; groups left out keep all channels.
        """
        vector = self._kept_vector(kept)
        costs = []
        for layer in self._model_layers:
            if isinstance(layer, keras.Model):
                costs.extend(dataclasses.replace(cost, name=f"{layer.name}/{cost.name}")
                             for cost in layer_costs(layer))
                continue
            call = self._first_call.get(id(layer))
            if call is None:  # not called in this model's graph
                costs.append(LayerCost(layer.name, type(layer).__name__, layer.count_params(), 0))
                continue
            handler = handler_for(layer)
            masks = self._masks(call, vector)
            params = sum(math.prod(shape) for shape in
                         pruned_weight_shapes(layer, handler.weight_masks(layer, masks)))
            macs = handler.macs(layer, [self._pruned_shape(key, vector) for key in call.inputs],
                                [self._pruned_shape(key, vector) for key in call.outputs])
            costs.append(LayerCost(layer.name, type(layer).__name__, params, int(macs)))
        return costs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the model name and every group."""
        return {"model": self.model_name, "groups": [group.to_dict() for group in self.groups]}

    def summary(self) -> str:
        """One line per group: name, channels, prunable or why not, producers."""
        lines = []
        for group in self.groups:
            status = "prunable" if group.prunable else f"fixed: {group.reason}"
            lines.append(f"{group.index:>3} {group.name} [{group.channels}] {status}; "
                         f"producers: {', '.join(group.producers)}")
        return "\n".join(lines)


def pruned_weight_shapes(layer: Any,
                         weight_masks: Mapping[str, Mapping[int, np.ndarray]]) -> list[Shape]:
    """The shape of each of ``layer.weights`` once the masks are applied.

    Args:
        layer: the original layer.
        weight_masks: what the layer's handler's ``weight_masks`` returned.
    """
    shapes = []
    for variable in getattr(layer, "weights", []):
        shape = list(variable.shape)
        for axis, mask in weight_masks.get(variable.name, {}).items():
            shape[axis] = int(np.count_nonzero(mask))
        shapes.append(tuple(shape))
    return shapes


def _shape(tensor: Any) -> Shape:
    return tuple(tensor.shape)


def _constants(node: Any) -> tuple[Any, ...]:
    """The arguments of a functional-graph node that are not tensors."""
    arguments = node.arguments
    return tuple(value for value in keras.tree.flatten((arguments.args, arguments.kwargs))
                 if not isinstance(value, keras.KerasTensor))


def analysed_model(model: keras.Model) -> keras.Model:
    """The model ``build_graph`` analyses and ``apply_plan`` rebuilds: ``model`` with its
    functional and ``Sequential`` sub-models inlined (``utils.keras_graph.to_functional``), or
    ``model`` itself when it has none. When a sub-model cannot be inlined (a layer with weights
    that cannot be re-created from its config), ``model`` itself, with a warning saying why;
    each sub-model then keeps its channels, and those around it, whole.

    Raises:
        ValueError: for a subclassed or unbuilt model.
    """
    functional_graph(model)
    if not any(is_graph_model(layer) for layer in model.layers):
        return model
    try:
        return to_functional(model)
    except ValueError as error:
        logger.warning("Channel pruning cannot look into the sub-models of model '%s' (%s): "
                       "%s. Each sub-model is not cut through.", model.name,
                       type(model).__name__, error)
        return model


def build_graph(model: keras.Model) -> DependencyGraph:
    """Finds the channel groups of a functional (or built sequential) Keras 3 model.

    Functional and ``Sequential`` sub-models are looked into: the graph is that of
    ``analysed_model(model)``, in which their layers are called as if written in the outer
    model, and names its layers. Logs a warning for every layer the graph cannot cut through
    (no handler, or an unsupported configuration), naming the groups it keeps whole.

    Args:
        model: the model.

    Returns:
        The dependency graph.

    Raises:
        ValueError: for a subclassed or unbuilt model, or a graph input that is not a
            ``keras.Input``.
    """
    model = analysed_model(model)
    function = functional_graph(model)
    operation_index = {id(op): index for index, op in enumerate(function.operations)}
    builder = GraphBuilder()
    tensor_key: dict[int, int] = {}
    tensor_elements: list[np.ndarray] = []
    tensor_shapes: list[Shape] = []
    calls: list[_CallRecord] = []

    def key_of(tensor: Any) -> int:
        if id(tensor) not in tensor_key:
            raise ValueError(f"Expected every tensor of model '{model.name}' to come from its "
                             f"keras.Input layers. Received: tensor '{tensor.name}'.")
        return tensor_key[id(tensor)]

    nodes_by_depth = function._nodes_by_depth
    for depth in sorted(nodes_by_depth, reverse=True):
        nodes = sorted(nodes_by_depth[depth], key=lambda n: operation_index[id(n.operation)])
        for node in nodes:
            inputs = tuple(key_of(tensor) for tensor in node.input_tensors)
            view = NodeView(node.operation, operation_index[id(node.operation)],
                            tuple(tensor_elements[key] for key in inputs),
                            tuple(tensor_shapes[key] for key in inputs),
                            tuple(_shape(tensor) for tensor in node.outputs),
                            _constants(node))
            outputs = handler_for(node.operation).propagate(view, builder)
            if len(outputs) != len(node.outputs):
                raise ValueError(f"The handler of '{view.name}' ({view.kind}) returned "
                                 f"{len(outputs)} outputs. Expected: {len(node.outputs)}.")
            output_keys = []
            for tensor, elements in zip(node.outputs, outputs):
                tensor_key[id(tensor)] = len(tensor_elements)
                output_keys.append(len(tensor_elements))
                tensor_elements.append(np.asarray(elements, np.int64))
                tensor_shapes.append(_shape(tensor))
            calls.append(_CallRecord(node.operation, inputs, tuple(output_keys)))

    for tensor in function.outputs:
        producer = tensor._keras_history.operation
        builder.pin(tensor_elements[key_of(tensor)],
                    f"reaches the model output '{producer.name if producer else tensor.name}'")
    return _finish(model.name, builder, tensor_elements, tensor_shapes, calls, model.layers)


def _finish(model_name: str, builder: GraphBuilder, tensor_elements: Sequence[np.ndarray],
            tensor_shapes: Sequence[Shape], calls: Sequence[_CallRecord],
            model_layers: Sequence[Any]) -> DependencyGraph:
    """Turns the builder's couplings, roles and pins into numbered groups."""
    global_channel, spans, group_elements = builder._number()
    group_of_channel = np.zeros(sum(size for _, size in spans), np.int64)
    for index, (offset, size) in enumerate(spans):
        group_of_channel[offset:offset + size] = index

    def groups_of(elements: np.ndarray) -> set[int]:
        return set(group_of_channel[global_channel[elements]].tolist()) if len(elements) else set()

    roles: list[dict[str, list[tuple[int, str]]]] = [
        {PRODUCER: [], CONSUMER: [], FOLLOWER: [], NORMALIZER: []} for _ in spans]
    for layer_index, name, role, elements in builder._roles:
        for group in groups_of(elements):
            if (layer_index, name) not in roles[group][role]:
                roles[group][role].append((layer_index, name))
    reasons: list[list[str]] = [[] for _ in spans]
    for elements, reason in builder._pins:
        for group in groups_of(elements):
            if reason not in reasons[group]:
                reasons[group].append(reason)

    segments = _segments(spans, group_of_channel, global_channel, tensor_elements, calls)
    groups, names = [], set()
    for index, ((_, size), elements) in enumerate(zip(spans, group_elements)):
        name = base = builder._first_layer_name(elements)
        suffix = 1
        while name in names:  # a producer called several times can start several groups
            suffix += 1
            name = f"{base}#{suffix}"
        names.add(name)

        def ordered(role: str, index: int = index) -> tuple[str, ...]:
            return tuple(name for _, name in sorted(roles[index][role]))

        if size == 1 and not reasons[index]:
            reasons[index].append("a single channel cannot be cut")
        groups.append(ChannelGroup(name, index, size, ordered(PRODUCER), ordered(CONSUMER),
                                   ordered(FOLLOWER), ordered(NORMALIZER),
                                   tuple(reasons[index]), tuple(segments[index])))
    for layer, kind, reason, elements in builder._warnings:
        _warn_blocked(layer, kind, reason, [groups[index] for index in sorted(groups_of(elements))])
    tensor_channels = [global_channel[elements] for elements in tensor_elements]
    return DependencyGraph(model_name, groups, spans, tensor_channels, tensor_shapes, calls,
                           model_layers)


def _warn_blocked(layer: str, kind: str, reason: str, groups: Sequence[ChannelGroup]) -> None:
    """Logs that ``layer`` cannot be cut through and which groups it keeps whole."""
    kept_whole = ", ".join(f"'{group.name}' ({group.channels} channels)" for group in groups)
    logger.warning("Channel pruning cannot cut through layer '%s' (%s): %s. It keeps these "
                   "channel groups whole (not prunable): %s. Register a handler with "
                   "learners.pruning.register_handler() to prune through it.", layer, kind,
                   reason, kept_whole or "none")


def _segments(spans: Sequence[tuple[int, int]], group_of_channel: np.ndarray,
              global_channel: np.ndarray, tensor_elements: Sequence[np.ndarray],
              calls: Sequence[_CallRecord]) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Per group, the outputs holding only part of its channels (``ChannelGroup.segments``)."""
    segments: list[list[tuple[str, tuple[int, ...]]]] = [[] for _ in spans]
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for call in calls:
        for key in call.outputs:
            channels = np.unique(global_channel[tensor_elements[key]])
            if not len(channels):
                continue
            groups = np.unique(group_of_channel[channels])
            if len(groups) != 1:
                continue  # the parts of several groups: checked by emptied_layers only
            group = int(groups[0])
            offset, size = spans[group]
            local = tuple((channels - offset).tolist())
            if len(local) < size and (group, local) not in seen:
                seen.add((group, local))
                segments[group].append((call.layer.name, local))
    return segments
