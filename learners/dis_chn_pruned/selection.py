"""The pieces of discrimination-aware channel pruning (Zhuang et al. 2018) on a dependency graph.

* :func:`stage_cuts` splits a functional model into stages at tensors every path goes through
  (a ResNet's block outputs, a plain network's layers), evenly by the number of weighted layers.
* :func:`build_head` is the auxiliary classifier of a stage (BatchNorm -> ReLU -> global
  average pooling -> Dense), :func:`slice_head` follows it when its input channels are cut.
* :func:`finetune_block` is the block-wise fine-tuning: Adam on CE(head) + CE(network).
* :func:`select_group` is the greedy channel selection of one prunable group: from an empty
  kept set, it adds the channel whose input slices in the group's consumers have the largest
  squared gradient norm of (reconstruction MSE of the consumers' outputs + the stage's
  discrimination loss), then runs a few masked Adam steps on the consumers' kernels.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from learners.pruning.graph import ChannelGroup, DependencyGraph, handler_for
from learners.pruning.plan import cover_segments
from utils.keras_graph import tensors_of

Batches = Iterator[tuple[tf.Tensor, tf.Tensor]]
"""An endless iterator of ``(images, labels)`` training batches."""

_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _is_weighted(layer: keras.layers.Layer) -> bool:
    """A layer with a kernel (convolution, Dense): what the stages are balanced on."""
    return any(weight.name in _KERNELS for weight in getattr(layer, "weights", []))


def stage_cuts(model: keras.Model, num_stages: int) -> list[str]:
    """The layers after which the model is split into (at most) ``num_stages + 1`` stages.

    A cut is a layer whose output every later layer depends on alone: no tensor made before it is
    read after it (in a ResNet, a block's output; in a plain network, every layer). Among the cuts
    with at least one weighted layer after them, the ``s``-th chosen one is the last cut whose
    count of weighted layers up to it is the closest to ``s * L / (num_stages + 1)``.

    Args:
        model: a functional model whose layers are each called once.
        num_stages: the wanted number of auxiliary heads.

    Returns:
        The names of the chosen cut layers, in graph order; fewer than ``num_stages`` when the model
        has fewer usable cuts (a warning says so).
    """
    layers = list(model.layers)
    producer = {}
    for index, layer in enumerate(layers):
        for tensor in tensors_of(layer.output):
            producer[id(tensor)] = index
    last_use = list(range(len(layers)))
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in tensors_of(layer.input):
            source = producer.get(id(tensor))
            if source is not None:
                last_use[source] = max(last_use[source], index)
    for tensor in tensors_of(model.outputs):
        last_use[producer[id(tensor)]] = len(layers)
    weighted = np.cumsum([_is_weighted(layer) for layer in layers])
    total = int(weighted[-1]) if len(weighted) else 0
    candidates = []  # (index, weighted layers up to it)
    read_until = -1  # the last layer reading a tensor made before the current one
    for index, layer in enumerate(layers):
        if (0 < index and read_until <= index and 0 < weighted[index] < total
                and len(tensors_of(layer.output)) == 1 and len(layer.output.shape) in (2, 3, 4)):
            candidates.append((index, int(weighted[index])))
        read_until = max(read_until, last_use[index])
    chosen: list[int] = []
    for stage in range(1, num_stages + 1):
        target = stage * total / (num_stages + 1)
        usable = [(abs(count - target), -index, index) for index, count in candidates
                  if not chosen or (index > chosen[-1] and count > weighted[chosen[-1]])]
        if not usable:
            break
        chosen.append(min(usable)[2])
    if len(chosen) < num_stages:
        logging.warning("dis-chn-pruned: model '%s' has %d usable stage boundaries; using %d "
                        "stages instead of %d", model.name, len(chosen), len(chosen), num_stages)
    return [layers[index].name for index in chosen]


def stage_of(model: keras.Model, cuts: Sequence[str], layer_name: str) -> int:
    """The stage (0-based) that ``layer_name`` lies in, given the cut layers."""
    order = {layer.name: index for index, layer in enumerate(model.layers)}
    return sum(order[cut] < order[layer_name] for cut in cuts)


# ------------------------------------------------------------------------------ heads
def build_head(channels: int, rank: int, nb_classes: int, name: str) -> keras.Model:
    """The auxiliary classifier of a stage: BatchNorm -> ReLU -> global average pool -> Dense.

    Args:
        channels: channels of the stage's output.
        rank: rank of the stage's output (4: feature maps, 3: sequences, 2: vectors, no pooling).
        nb_classes: number of logits.
        name: the head's name.
    """
    inputs = keras.Input((None,) * (rank - 2) + (channels,), name=f"{name}_input")
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(inputs)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if rank == 4:
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    elif rank == 3:
        x = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(x)
    outputs = keras.layers.Dense(nb_classes, name=f"{name}_logits")(x)
    return keras.Model(inputs, outputs, name=name)


def slice_head(head: keras.Model, kept: np.ndarray) -> keras.Model:
    """A copy of ``head`` reading only the input channels where ``kept`` is true."""
    rank = len(head.input.shape)
    nb_classes = head.output.shape[-1]
    sliced = build_head(int(kept.sum()), rank, nb_classes, head.name)
    batch_norm, dense = head.get_layer(f"{head.name}_bn"), head.get_layer(f"{head.name}_logits")
    sliced.get_layer(f"{head.name}_bn").set_weights(
        [value[kept] for value in batch_norm.get_weights()])
    kernel, bias = dense.get_weights()
    sliced.get_layer(f"{head.name}_logits").set_weights([kernel[kept], bias])
    return sliced


def _cross_entropy(labels, logits):
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True))


# ------------------------------------------------------------------------ block-wise
def finetune_block(model: keras.Model, head: keras.Model | None, stage_layer: str | None,
                   batches: Batches, nb_iters: int, learning_rate: float
                   ) -> tuple[float, float]:
    """Block-wise fine-tuning: Adam on CE(head(stage output)) + CE(network output), every
    trainable variable of the network and the head (BatchNorm in training mode).

    Returns:
        The loss of the first and of the last step (NaN for zero steps).
    """
    if nb_iters <= 0:
        return float("nan"), float("nan")
    outputs = [model.outputs[0]] + ([model.get_layer(stage_layer).output] if head else [])
    network = keras.Model(model.inputs, outputs)
    variables = model.trainable_variables + (head.trainable_variables if head else [])
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            results = network(images, training=True)
            results = results if isinstance(results, (list, tuple)) else [results]
            loss = _cross_entropy(labels, results[0])
            if head is not None:
                loss += _cross_entropy(labels, head(results[1], training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    losses = [float(step(*next(batches))) for _ in range(nb_iters)]
    return losses[0], losses[-1]


# ------------------------------------------------------------------------ layer-wise
@dataclasses.dataclass
class _Slice:
    """Where the group's channels sit in one weight of a consumer."""

    variable: tf.Variable
    axis: int
    positions: np.ndarray  # [size of the axis, channels]: 1 where a position holds a channel


@dataclasses.dataclass
class GroupSelection:
    """What :func:`select_group` chose and the loss it ended with.

    Attributes:
        kept: kept channel indices of the group (sorted).
        loss: reconstruction + discrimination loss on the last batch.
        reconstruction: the reconstruction part of it.
        discrimination: the discrimination (cross-entropy) part of it.
        seconds: wall time of the selection.
    """

    kept: list[int]
    loss: float
    reconstruction: float
    discrimination: float
    seconds: float


def _group_slices(model: keras.Model, graph: DependencyGraph, group: ChannelGroup
                  ) -> list[_Slice]:
    """For every consumer weight holding the group's channels, which positions hold which."""
    empty = graph.layer_masks({group.name: []})
    single = [graph.layer_masks({group.name: [channel]}) for channel in range(group.channels)]
    slices = []
    for name in group.consumers:
        layer = model.get_layer(name)
        handler = handler_for(layer)
        without = handler.weight_masks(layer, empty[name])
        for variable in layer.weights:
            for axis, mask in without.get(variable.name, {}).items():
                mask = np.asarray(mask, bool)
                if mask.all():
                    continue
                positions = np.zeros((mask.size, group.channels), np.float32)
                for channel in range(group.channels):
                    with_one = handler.weight_masks(layer, single[channel][name])
                    positions[:, channel] = np.asarray(with_one[variable.name][axis], bool) & ~mask
                slices.append(_Slice(variable, axis % len(variable.shape), positions))
    if not slices:
        raise ValueError(f"Expected group '{group.name}' to be read through the weights of its "
                         f"consumers {list(group.consumers)}. Received: no weight holds it.")
    return slices


def _full_mask(item: _Slice, kept_channels: np.ndarray) -> np.ndarray:
    """The variable-shaped 0/1 mask: 1 off the group, and on the kept channels' positions."""
    group_positions = item.positions.any(axis=1)
    along = ~group_positions | (item.positions @ kept_channels.astype(np.float32) > 0)
    shape = [1] * len(item.variable.shape)
    shape[item.axis] = along.size
    return np.broadcast_to(along.reshape(shape), item.variable.shape).astype(np.float32)


def select_group(model: keras.Model, graph: DependencyGraph, group: ChannelGroup, nb_keep: int,
                 *, dense_probe: keras.Model, output_indices: Sequence[np.ndarray | None],
                 head: keras.Model | None, stage_layer: str | None, batches: Batches,
                 nb_iters: int, learning_rate: float) -> GroupSelection:
    """Greedy discrimination-aware selection of ``nb_keep`` channels of ``group``.

    Starting from no kept channel (the group's input slices of its consumers zeroed), repeatedly
    adds the channel whose slices have the largest squared gradient norm of
    ``MSE(consumers' outputs, dense_probe's) + CE(stage)``, gives it back its weights, and runs
    ``nb_iters`` Adam steps on the consumers' kernels with the other channels masked. ``model``
    is modified in place: on return, the unkept channels' slices are zero.

    Args:
        model: the network pruned so far (``graph`` is its graph); the group is not cut in it yet.
        graph: ``build_graph(model)``.
        group: the group to select channels of.
        nb_keep: how many to keep (the group's segments are then covered, see ``cover_segments``).
        dense_probe: images -> the dense model's outputs of ``group.consumers``, in that order.
        output_indices: per consumer, the dense output channels the pruned model still has
            (``None``: all).
        head: the stage's auxiliary head, ``None`` for the last stage (the network's own output).
        stage_layer: the layer whose output ``head`` reads.
        batches: training batches.
        nb_iters: layer-wise Adam steps after each added channel.
        learning_rate: their learning rate.
    """
    start = time.time()
    consumers = [model.get_layer(name) for name in group.consumers]
    stage_output = model.get_layer(stage_layer).output if head is not None else model.outputs[0]
    probe = keras.Model(model.inputs, [layer.output for layer in consumers] + [stage_output])
    slices = _group_slices(model, graph, group)
    variables = list({id(item.variable): item.variable for item in slices}.values())
    originals = {id(v): v.numpy() for v in variables}
    indices = [None if index is None else tf.constant(index, tf.int32) for index in output_indices]

    def losses(images, labels):
        targets = dense_probe(images, training=False)
        targets = targets if isinstance(targets, (list, tuple)) else [targets]
        results = probe(images, training=False)
        reconstruction = tf.add_n([
            tf.reduce_mean(tf.square(result - (target if index is None
                                               else tf.gather(target, index, axis=-1))))
            for result, target, index in zip(results[:-1], targets, indices)])
        logits = head(results[-1], training=False) if head is not None else results[-1]
        discrimination = _cross_entropy(labels, logits)
        return reconstruction + discrimination, reconstruction, discrimination

    @tf.function
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            loss, reconstruction, discrimination = losses(images, labels)
        return loss, reconstruction, discrimination, tape.gradient(loss, variables)

    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)

    @tf.function
    def train_step(images, labels, masks):
        with tf.GradientTape() as tape:
            loss = losses(images, labels)[0]
        grads = [g * m for g, m in zip(tape.gradient(loss, variables), masks)]
        optimizer.apply_gradients(zip(grads, variables))
        for variable, mask in zip(variables, masks):
            variable.assign(variable * mask)
        return loss

    kept = np.zeros(group.channels, bool)
    previous = {id(v): np.ones(v.shape, np.float32) for v in variables}

    def set_masks() -> list[tf.Tensor]:
        """Masks of the current kept set; newly kept positions get their original weights."""
        masks = {id(v): np.ones(v.shape, np.float32) for v in variables}
        for item in slices:
            masks[id(item.variable)] *= _full_mask(item, kept)
        for variable in variables:
            mask, before = masks[id(variable)], previous[id(variable)]
            restored = (mask > 0) & (before == 0)  # cut so far, kept now: its original weights
            variable.assign(np.where(restored, originals[id(variable)], variable.numpy() * mask))
            previous[id(variable)] = mask
        return [tf.constant(masks[id(v)]) for v in variables]

    set_masks()
    loss = reconstruction = discrimination = float("nan")
    while kept.sum() < nb_keep:
        loss, reconstruction, discrimination, grads = gradients(*next(batches))
        by_variable = {id(v): g.numpy() for v, g in zip(variables, grads)}
        scores = np.zeros(group.channels)
        for item in slices:
            squared = np.square(by_variable[id(item.variable)])
            axes = tuple(a for a in range(squared.ndim) if a != item.axis)
            scores += squared.sum(axis=axes) @ item.positions
        scores[kept] = -np.inf
        kept[int(np.argmax(scores))] = True
        masks = set_masks()
        for _ in range(nb_iters):
            train_step(*next(batches), masks)
        logging.debug("dis-chn-pruned: group %s: %d/%d channels kept, loss %.4f", group.name,
                      kept.sum(), nb_keep, float(loss))
    final = cover_segments(group, np.flatnonzero(kept).tolist())
    if len(final) > kept.sum():
        kept[final] = True
        set_masks()
    loss, reconstruction, discrimination, _ = gradients(*next(batches))
    return GroupSelection(kept=final, loss=float(loss), reconstruction=float(reconstruction),
                          discrimination=float(discrimination), seconds=time.time() - start)
