"""Walking a Keras functional model's graph: its tensors, their producers and consumers.

With ``learners/pruning/graph.py``, the only module that reads Keras internals (a layer's call
nodes, a tensor's producer); everything else asks these functions.

:class:`IncrementalForward` runs a model over fixed inputs piece by piece, for algorithms that
change a layer's weights and then need the inputs of the next one (channel pruning's layer-wise
re-fit): every tensor is computed once, from the tensors computed before it, so visiting all L
layers costs about one forward pass instead of L partial ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import keras
import numpy as np


def tensors_of(value) -> list:
    """A layer's ``input`` or ``output`` (one tensor or a list of them) as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model``, those of nested models included (not ``model`` itself)."""
    return list(model._flatten_layers(include_self=False))


def call_count(layer: keras.layers.Layer) -> int:
    """How many times ``layer`` is called in the functional graphs it belongs to."""
    return len(layer._inbound_nodes)


def output_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that produce ``model``'s outputs."""
    return [tensor._keras_history[0] for tensor in model.outputs]


def consumers(model: keras.Model) -> defaultdict[int, list]:
    """The layers that read each tensor of ``model``, by the tensor's ``id`` (in layer order;
    an unread tensor maps to an empty list)."""
    readers = defaultdict(list)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            for tensor in tensors_of(layer.input):
                readers[id(tensor)].append(layer)
    return readers


def foldable_batch_norm(layer: keras.layers.Layer, readers: dict[int, list]):
    """The BatchNormalization that TFLite (and the uniform-tf rewrite) folds into ``layer``: a
    Conv2D / DepthwiseConv2D without an activation of its own whose output only a channels-last
    BatchNormalization reads; else ``None``. ``readers``: :func:`consumers` of the model."""
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) or (
            layer.get_config().get("activation") not in (None, "linear")):
        return None
    followers = readers.get(id(layer.output), [])
    if len(followers) == 1 and isinstance(followers[0], keras.layers.BatchNormalization) and (
            followers[0].axis in (-1, 3)):
        return followers[0]
    return None


class IncrementalForward:
    """The values of a functional model's tensors over fixed input batches, computed on demand.

    :meth:`input_of` returns a layer's input values, computing only what is not known yet, with
    the layers' current weights, in inference mode. Values are kept while a layer not yet
    computed still reads them, and dropped after. Visit layers in graph order, and change a
    layer's weights only before its output is computed (i.e. before visiting the layers after
    it): a value computed once is never recomputed.

    Args:
        model: a functional model with one input, whose layers are each called once.
        batches: input arrays, one per batch.
    """

    def __init__(self, model: keras.Model, batches: Sequence[np.ndarray]):
        if len(model.inputs) != 1:
            raise ValueError(f"Expected a model with one input. Received: '{model.name}' with "
                             f"{len(model.inputs)}")
        self._producer = {id(tensor): layer for layer in model.layers
                          for tensor in tensors_of(layer.output)}
        self._consumers = consumers(model)
        self._nb_batches = len(batches)
        self._values = {id(model.inputs[0]): [np.asarray(images) for images in batches]}
        self._computed = {id(layer) for layer in model.layers
                          if isinstance(layer, keras.layers.InputLayer)}

    def input_of(self, layer: keras.layers.Layer) -> list[np.ndarray]:
        """The values of ``layer``'s (single) input tensor, one array per batch."""
        target = layer.input
        if isinstance(target, (list, tuple)):  # several input tensors: a bad value, not type
            raise ValueError(  # noqa: TRY004
                f"Expected a layer with one input tensor. Received: '{layer.name}' with "
                f"{len(target)}")
        if id(target) not in self._values:
            self._compute(target)
        return self._values[id(target)]

    def _compute(self, target) -> None:
        """Computes ``target`` from the known values, keeping what later layers will read."""
        frontier, inside, seen, inside_ids = [], [], set(), set()
        stack = [target]
        while stack:  # back from the target to the known tensors
            tensor = stack.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            if id(tensor) in self._values:
                frontier.append(tensor)
                continue
            layer = self._producer[id(tensor)]
            if id(layer) not in inside_ids:
                inside.append(layer)
                inside_ids.add(id(layer))
                stack.extend(tensors_of(layer.input))
        outputs = [tensor for layer in inside for tensor in tensors_of(layer.output)
                   if tensor is target
                   or any(id(reader) not in inside_ids for reader in self._consumers[id(tensor)])]
        piece = keras.Model(frontier, outputs)
        values = {id(tensor): [] for tensor in outputs}
        for batch in range(self._nb_batches):
            results = piece([self._values[id(tensor)][batch] for tensor in frontier],
                            training=False)
            for tensor, result in zip(outputs, tensors_of(results), strict=True):
                values[id(tensor)].append(np.asarray(result))
        self._values.update(values)
        self._computed |= inside_ids
        for key in [key for key in self._values if key != id(target)]:
            if all(id(reader) in self._computed for reader in self._consumers[key]):
                del self._values[key]  # nothing left to compute reads it


def to_functional(model: keras.Model) -> keras.Model:
    """``model`` as a functional model: a ``Sequential`` is rebuilt layer by layer (fresh layers
    from their configs, each called once, with the original weights); any other model is
    returned as it is.

    The graph code, the pruning surgery and the quantization rewrites all walk a functional
    graph; a loaded ``Sequential`` calls each layer several times internally, which they would
    read as shared layers.

    Raises:
        ValueError: a ``Sequential`` model that was never built (it has no input shape).
    """
    if not isinstance(model, keras.Sequential):
        return model
    try:
        source = model.inputs[0]
    except (AttributeError, IndexError, TypeError):  # Keras: "has no defined inputs yet"
        raise ValueError(f"Expected a built Sequential model (one that starts with keras.Input, "
                         f"or was built or trained before it was saved). Received: "
                         f"'{model.name}', which has no input shape") from None
    inputs = keras.Input(shape=source.shape[1:], dtype=source.dtype, name=f"{model.name}_input")
    outputs = inputs
    for layer in model.layers:
        clone = layer.__class__.from_config(layer.get_config())
        outputs = clone(outputs)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, outputs, name=model.name)


def without_softmax(model: keras.Model) -> tuple[keras.Model, str | None]:
    """``model`` with its final softmax removed, so that it outputs logits.

    Handles a model whose one output is made by a ``Softmax`` layer over the last axis, an
    ``Activation("softmax")``, or a layer with ``activation="softmax"`` in its config (``Dense``,
    ``Conv2D`` ...; it is re-created with a linear activation and the same weights). Softmax
    keeps the order of the scores, so the predicted classes do not change.

    Returns:
        ``(model, removed)``: the logits model (``model`` itself when it has no final softmax)
        and a description of what was removed (``None`` when nothing was).
    """
    if len(model.outputs) != 1:
        return model, None
    layer = output_layers(model)[0]
    if call_count(layer) != 1:
        return model, None
    config = layer.get_config()
    if isinstance(layer, keras.layers.Softmax):
        rank = len(model.output_shape)
        axes = config.get("axis", -1)
        if [axis % rank for axis in (axes if isinstance(axes, (list, tuple)) else [axes])] != [
                rank - 1]:  # a softmax over other axes is no classifier head
            return model, None
        logits = layer.input
    elif isinstance(layer, keras.layers.Activation):
        if config.get("activation") != "softmax":
            return model, None
        logits = layer.input
    elif config.get("activation") == "softmax":
        config["activation"] = "linear"
        linear = layer.__class__.from_config(config)
        logits = linear(layer.input)
        linear.set_weights(layer.get_weights())
    else:
        return model, None
    removed = f"the softmax of '{layer.name}' ({type(layer).__name__})"
    return keras.Model(model.input, logits, name=model.name), removed
