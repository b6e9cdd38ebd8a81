"""Which channels each group keeps (LASSO, L1, FPGM) and the least-squares re-fit after surgery.

This is the glue between a model's dependency graph (``learners.pruning.graph``) and the array
criteria (``learners.pruning.criteria``):

* :func:`sample_features` runs the dense model once over a few training batches and keeps, for
  every layer that LASSO or the re-fit needs, the receptive-field patches of its input and its
  (bias-free) outputs at randomly sampled positions.
* :func:`select_plan` turns a kept-channel count per group into a ``PruningPlan``: LASSO on the
  group's consumers (He et al. 2017; several consumers vote, e.g. the convs reading a residual
  sum), or L1 / FPGM on its producers' filters (a residual group's producers are scored jointly).
* :func:`reconstruct` re-fits, layer by layer in graph order, every linear layer whose input
  channels were cut: least squares from the *pruned* model's inputs to the *dense* model's
  outputs, so each layer also absorbs the error of the layers pruned before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np
from absl import logging

from learners.pruning.criteria import (
    fpgm_ranking,
    ista_channel_selection,
    lasso_channel_selection,
    least_squares_reconstruction,
    sample_patches,
)
from learners.pruning.graph import ChannelGroup, DependencyGraph
from learners.pruning.plan import PruningPlan, cover_segments
from utils.keras_graph import IncrementalForward


@dataclasses.dataclass
class LayerSample:
    """Sampled rows of one linear layer: ``inputs @ kernel (+ bias) = outputs``.

    Attributes:
        positions: ``[N, 3]`` (image, row, column) output positions of a Conv2D (``None`` for
            Dense).
        inputs: ``[N, kh, kw, cin]`` patches (Conv2D) or ``[N, cin]`` rows (Dense).
        outputs: ``[N, cout]`` the layer's outputs at those positions, bias included.
    """

    positions: np.ndarray | None
    inputs: np.ndarray
    outputs: np.ndarray


def is_linear_layer(layer: keras.layers.Layer) -> bool:
    """A plain Conv2D or Dense with no fused non-linearity: what LASSO and the re-fit handle."""
    if type(layer) not in (keras.layers.Conv2D, keras.layers.Dense):
        return False
    if layer.get_config().get("activation", "linear") != "linear":
        return False
    if isinstance(layer, keras.layers.Conv2D):
        return layer.data_format == "channels_last" and layer.groups == 1
    return len(layer.input.shape) == 2


def _kernel_and_bias(layer: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray | None]:
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
    return kernel, bias


def _take_rows(layer: keras.layers.Layer, inputs: np.ndarray, outputs: np.ndarray,
               nb_points: int, rng: np.random.Generator,
               positions: np.ndarray | None = None) -> LayerSample:
    """Samples one batch's rows of ``layer`` (given its input and output feature maps)."""
    if isinstance(layer, keras.layers.Dense):
        return LayerSample(None, inputs, outputs)
    patches, positions = sample_patches(
        inputs, layer.kernel_size, layer.strides, layer.padding,
        nb_points=min(nb_points, outputs.shape[1] * outputs.shape[2]), rng=rng,
        dilation_rate=layer.dilation_rate, positions=positions)
    images, rows, columns = positions.T
    return LayerSample(positions, patches, outputs[images, rows, columns])


def _concatenate(parts: Sequence[LayerSample], batch_sizes: Sequence[int]) -> LayerSample:
    """One sample over all batches; image indices of ``positions`` count across batches."""
    positions = None
    if parts[0].positions is not None:
        offsets = np.cumsum([0, *batch_sizes[:-1]])
        positions = np.concatenate([p.positions + [offset, 0, 0]
                                    for p, offset in zip(parts, offsets, strict=True)])
    return LayerSample(positions, np.concatenate([p.inputs for p in parts]),
                       np.concatenate([p.outputs for p in parts]))


def sample_features(model: keras.Model, layer_names: Iterable[str],
                    batches: Sequence[np.ndarray], nb_points: int,
                    rng: np.random.Generator) -> dict[str, LayerSample]:
    """Runs ``model`` over ``batches`` once and samples each named linear layer's rows.

    Args:
        model: the model whose layers are sampled (the dense one).
        layer_names: layers for which :func:`is_linear_layer` holds.
        batches: input images, one array per batch.
        nb_points: output positions sampled per image of a Conv2D (``cp_nb_points_per_layer``).
        rng: random positions.

    Returns:
        ``{layer name: LayerSample}`` over all batches.
    """
    layers = [model.get_layer(name) for name in layer_names]
    if not layers:
        return {}
    extractor = keras.Model(model.input, [t for layer in layers for t in (layer.input, layer.output)])
    parts: dict[str, list[LayerSample]] = {layer.name: [] for layer in layers}
    for images in batches:
        tensors = [np.asarray(t) for t in extractor.predict_on_batch(images)]  # compiled: 2x eager
        for i, layer in enumerate(layers):
            parts[layer.name].append(_take_rows(layer, tensors[2 * i], tensors[2 * i + 1],
                                                nb_points, rng))
    sizes = [len(images) for images in batches]
    return {name: _concatenate(samples, sizes) for name, samples in parts.items()}


# --------------------------------------------------------------------------------- selection
def lasso_consumers(model: keras.Model, group: ChannelGroup) -> list[str]:
    """The group's consumers LASSO can select for: linear layers reading exactly its channels.

    None when a layer normalizes over the group's channels (``group.normalizers``, e.g. a
    LayerNormalization): LASSO assumes that cutting channels leaves the kept ones' values
    unchanged, which the renormalization breaks.
    """
    if group.segments or group.normalizers:
        return []
    names = []
    for name in group.consumers:
        layer = model.get_layer(name)
        if is_linear_layer(layer) and layer.kernel.shape[-2] == group.channels:
            names.append(name)
    return names


def _producer_filters(model: keras.Model, group: ChannelGroup) -> np.ndarray | None:
    """``[rows, channels]``: every producer's filters for the group's channels, stacked."""
    blocks = []
    for name in group.producers:
        layer = model.get_layer(name)
        kernel = getattr(layer, "pointwise_kernel", None)
        if kernel is None:
            kernel = getattr(layer, "kernel", None)
        if kernel is None or type(layer) is keras.layers.DepthwiseConv2D:
            continue
        kernel = keras.ops.convert_to_numpy(kernel)
        if kernel.shape[-1] == group.channels:
            blocks.append(kernel.reshape(-1, group.channels))
    return np.concatenate(blocks) if blocks else None


def _vote(selections: Sequence[np.ndarray], tie_break: np.ndarray, nb_keep: int) -> np.ndarray:
    """The ``nb_keep`` channels chosen by most selections (ties: larger ``tie_break``)."""
    votes = np.zeros(len(tie_break))
    for kept in selections:
        votes[kept] += 1
    order = np.lexsort((-tie_break, -votes))
    return np.sort(order[:nb_keep])


def select_group(model: keras.Model, group: ChannelGroup, nb_keep: int, criterion: str, *,
                 samples: Mapping[str, LayerSample] | None = None,
                 solver: str = "sklearn") -> list[int]:
    """The channels of ``group`` to keep.

    Args:
        model: the dense model.
        group: a prunable group of its graph.
        nb_keep: channels to keep.
        criterion: ``lasso``, ``l1`` or ``fpgm``. LASSO needs ``samples`` of the group's
            consumers; a group it cannot handle (no linear consumer reading exactly its
            channels, e.g. Flatten -> Dense, or channels a LayerNormalization normalizes: see
            :func:`lasso_consumers`) is ranked by L1 instead.
        samples: from :func:`sample_features`.
        solver: ``sklearn`` or ``tf`` (ISTA) for LASSO.

    Returns:
        Sorted kept channel indices, covering every segment of the group.
    """
    if nb_keep >= group.channels:
        return list(range(group.channels))
    filters = _producer_filters(model, group)
    l1 = np.abs(filters).sum(axis=0) if filters is not None else -np.arange(group.channels, dtype=float)
    consumers = [name for name in lasso_consumers(model, group) if samples and name in samples]
    if criterion == "lasso" and consumers:
        selections = []
        for name in consumers:
            sample = samples[name]
            kernel, bias = _kernel_and_bias(model.get_layer(name))
            if solver == "tf":
                selections.append(ista_channel_selection(sample.inputs, sample.outputs, kernel,
                                                         nb_keep, bias=bias))
            else:
                selections.append(lasso_channel_selection(sample.inputs, sample.outputs, kernel,
                                                          nb_keep, bias=bias))
        kept = _vote(selections, l1, nb_keep)
    elif criterion == "fpgm" and filters is not None:
        kept = fpgm_ranking(filters.reshape(1, 1, *filters.shape), nb_keep)
    else:
        if criterion != "l1":
            why = (f"normalized by {', '.join(group.normalizers)}" if group.normalizers
                   else f"no {criterion} input for it")
            logging.info("channel pruning: group '%s' is ranked by L1 norm (%s)", group.name,
                         why)
        kept = np.sort(np.argsort(-l1, kind="stable")[:nb_keep])
    return cover_segments(group, (int(i) for i in kept))


def select_plan(model: keras.Model, graph: DependencyGraph, keep_counts: Mapping[str, int],
                criterion: str, *, samples: Mapping[str, LayerSample] | None = None,
                solver: str = "sklearn") -> PruningPlan:
    """A plan keeping ``keep_counts[group]`` channels of each named prunable group."""
    kept = {name: select_group(model, graph.group(name), count, criterion, samples=samples,
                               solver=solver)
            for name, count in keep_counts.items()}
    return PruningPlan.for_graph(graph, kept)


def layers_to_sample(model: keras.Model, graph: DependencyGraph, plan_groups: Iterable[str],
                     criterion: str) -> list[str]:
    """Linear layers whose samples selection and reconstruction need, in model order."""
    names = set()
    for group_name in plan_groups:
        group = graph.group(group_name)
        if criterion == "lasso":
            names.update(lasso_consumers(model, group))
        names.update(n for n in group.consumers if is_linear_layer(model.get_layer(n)))
    return [layer.name for layer in model.layers if layer.name in names]


# ----------------------------------------------------------------------------- reconstruction
def _output_channels(graph: DependencyGraph, plan: PruningPlan, layer: keras.layers.Layer
                     ) -> np.ndarray | None:
    """Indices of ``layer``'s dense outputs that the pruned layer still has (``None``: unknown)."""
    units = layer.kernel.shape[-1]
    for group in graph.groups:
        if layer.name in group.producers:
            if group.name not in plan.kept:
                return np.arange(units)
            if group.segments or group.channels != units:
                return None
            return np.asarray(plan.kept[group.name])
    return np.arange(units)


def _pruned_rows(inputs: Sequence[np.ndarray], layer: keras.layers.Layer,
                 sample: LayerSample) -> np.ndarray:
    """The pruned layer's input rows at the sample's positions, from its inputs per batch."""
    rows, offset = [], 0
    for batch in inputs:
        if sample.positions is None:
            rows.append(batch)
        else:
            mine = sample.positions[(sample.positions[:, 0] >= offset)
                                    & (sample.positions[:, 0] < offset + len(batch))]
            patches, _ = sample_patches(batch, layer.kernel_size, layer.strides, layer.padding,
                                        dilation_rate=layer.dilation_rate,
                                        positions=mine - [offset, 0, 0])
            rows.append(patches)
        offset += len(batch)
    return np.concatenate(rows)


def reconstruct(pruned: keras.Model, dense: keras.Model, graph: DependencyGraph,
                plan: PruningPlan, samples: Mapping[str, LayerSample],
                batches: Sequence[np.ndarray], *, ridge: float = 1e-6) -> list[str]:
    """Re-fits the sampled layers of ``pruned`` whose inputs were cut, in model order.

    Each layer's target is the dense layer's output at the sampled positions (its kept output
    channels); its inputs are the pruned model's, with every earlier layer re-fitted (computed
    incrementally: the whole re-fit costs about one forward pass over ``batches``).

    Returns:
        The names of the layers re-fitted.
    """
    refitted = []
    forward = IncrementalForward(pruned, batches)
    for layer in pruned.layers:
        if layer.name not in samples or not is_linear_layer(layer):
            continue
        dense_layer = dense.get_layer(layer.name)
        if layer.kernel.shape[-2] == dense_layer.kernel.shape[-2]:
            continue  # its inputs were not cut
        outputs = _output_channels(graph, plan, dense_layer)
        if outputs is None:
            continue
        sample = samples[layer.name]
        rows = _pruned_rows(forward.input_of(layer), layer, sample)
        targets = sample.outputs[:, outputs]
        fit = least_squares_reconstruction(rows, targets, np.arange(rows.shape[-1]),
                                           kernel_size=getattr(layer, "kernel_size", None),
                                           fit_bias=layer.use_bias, ridge=ridge)
        kernel, bias = fit if layer.use_bias else (fit, None)
        layer.kernel.assign(kernel.reshape(layer.kernel.shape).astype(layer.kernel.dtype))
        if bias is not None:
            layer.bias.assign(bias.astype(layer.bias.dtype))
        refitted.append(layer.name)
    return refitted
