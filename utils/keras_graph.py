"""Walking a Keras functional model's graph: its tensors, their producers and consumers.

With ``learners/pruning/graph.py``, the only module that reads Keras internals (a layer's call
nodes, a tensor's producer); everything else asks these functions.

:class:`FlatGraph` lists the calls of a functional or Sequential model in graph order, with the
layers of nested sub-models inlined and raw ``keras.ops`` calls (``x + 3.0``) as calls of their
own, for rewrites that rebuild a model call by call.

:class:`IncrementalForward` runs a model over fixed inputs piece by piece, for algorithms that
change a layer's weights and then need the inputs of the next one (channel pruning's layer-wise
re-fit): every tensor is computed once, from the tensors computed before it, so visiting all L
layers costs about one forward pass instead of L partial ones.

:func:`to_functional` turns a ``Sequential`` model, or a model holding functional or
``Sequential`` sub-models, into the one flat functional graph the rest of the code walks.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

logger = logging.getLogger(__name__)

#: Call arguments a sub-model passes on to its layers (Keras's call-context arguments).
CALL_CONTEXT_ARGS = ("training",)


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
    """The layers and ``keras.ops`` operations that read each tensor of ``model``, by the
    tensor's ``id`` (in graph order; an unread tensor maps to an empty list). A nested
    sub-model is one reader here, as it is one layer of ``model``."""
    return FlatGraph(model, inline_models=False).readers


def foldable_batch_norm(layer: keras.layers.Layer, readers: dict[int, list]):
    """The BatchNormalization that TFLite (and the uniform-tf rewrite) folds into ``layer``: a
    Conv2D / DepthwiseConv2D without an activation of its own whose output only a channels-last
    BatchNormalization reads; else ``None``. ``readers``: :func:`consumers` of the model."""
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) or (
            layer.get_config().get("activation") not in (None, "linear")):
        return None
    return batch_norm_reader(id(layer.output), readers)


def batch_norm_reader(key: int, readers: dict[int, list]):
    """The channels-last BatchNormalization that is the only reader of the tensor ``key``
    (its ``id``, or its :class:`FlatGraph` key), else ``None``. ``readers``: as
    :func:`consumers` or :attr:`FlatGraph.readers`."""
    followers = readers.get(key, [])
    if len(followers) == 1 and isinstance(followers[0], keras.layers.BatchNormalization) and (
            followers[0].axis in (-1, 3)):
        return followers[0]
    return None


def _sub_model_graph(operation):
    """The functional graph of a sub-model called in a graph; ``None`` for any other call."""
    if not isinstance(operation, keras.Model):
        return None
    try:
        return functional_graph(operation)
    except ValueError:  # a subclassed sub-model: one opaque call
        return None


@dataclasses.dataclass(frozen=True)
class GraphCall:
    """One call of a layer or ``keras.ops`` operation in a :class:`FlatGraph`.

    Attributes:
        operation: the layer or operation called.
        node: its Keras call node (the arguments of the call, constants included).
        inputs: the keys of the tensors it reads.
        outputs: the keys of the tensors it writes.
        scope: the names of the sub-models it sits in, outermost first (empty at the top).
    """

    operation: Any
    node: Any
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    scope: tuple[str, ...] = ()


class FlatGraph:
    """The calls of a functional or built Sequential model in graph order.

    A tensor is known by a key: the ``id`` of the Keras tensor that produces its value. With
    ``inline_models``, the calls of nested functional / Sequential sub-models take the place of
    the sub-model's call: its inputs take the keys of the tensors it is called on, and its
    call's outputs the keys of its own outputs, so an inner layer reads the outer tensors.

    Attributes:
        model: the model.
        inputs: the model's input tensors.
        outputs: the keys of its outputs.
        calls: every call but the inputs', producers before readers.
        readers: key -> the operations reading it (in graph order; empty list when none).

    Raises:
        ValueError: from :func:`functional_graph`, for a model without a graph.
    """

    def __init__(self, model: keras.Model, *, inline_models: bool = True):
        self.model = model
        self._inline_models = inline_models
        self._alias: dict[int, int] = {}
        self.calls: list[GraphCall] = []
        function = functional_graph(model)
        self.inputs = list(function.inputs)
        self._add_calls(function, ())
        self.outputs = [self.key(tensor) for tensor in function.outputs]
        self.readers: defaultdict[int, list] = defaultdict(list)
        for call in self.calls:
            for key in call.inputs:
                self.readers[key].append(call.operation)

    def key(self, tensor) -> int:
        """The key of the value ``tensor`` stands for."""
        return self._alias.get(id(tensor), id(tensor))

    def arguments(self, call: GraphCall, values: dict[int, Any]) -> tuple[list, dict]:
        """The call's ``(args, kwargs)``, each Keras tensor replaced by ``values[its key]``."""
        def fill(value):
            return values[self.key(value)] if isinstance(value, keras.KerasTensor) else value

        arguments = call.node.arguments
        return keras.tree.map_structure(fill, (list(arguments.args), dict(arguments.kwargs)))

    def _add_calls(self, function, scope: tuple[str, ...]) -> None:
        order = {id(operation): index for index, operation in enumerate(function.operations)}
        for depth in sorted(function._nodes_by_depth, reverse=True):
            for node in sorted(function._nodes_by_depth[depth],
                               key=lambda n: order[id(n.operation)]):
                if node.is_input or isinstance(node.operation, keras.layers.InputLayer):
                    continue
                inner = _sub_model_graph(node.operation) if self._inline_models else None
                if inner is not None:
                    self._inline(node, inner, scope)
                    continue
                self.calls.append(GraphCall(
                    node.operation, node, tuple(self.key(t) for t in node.input_tensors),
                    tuple(id(t) for t in node.outputs), scope))

    def _inline(self, node, inner, scope: tuple[str, ...]) -> None:
        """Adds the calls of the sub-model that ``node`` calls, wired to the outer tensors."""
        for inner_input, outer in zip(inner.inputs, node.input_tensors, strict=True):
            self._alias[id(inner_input)] = self.key(outer)
        self._add_calls(inner, (*scope, node.operation.name))
        for outer, inner_output in zip(node.outputs, inner.outputs, strict=True):
            self._alias[id(outer)] = self.key(inner_output)


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
        graph = FlatGraph(model, inline_models=False)
        self._producer = {key: call.operation for call in graph.calls for key in call.outputs}
        self._consumers = graph.readers
        self._nb_batches = len(batches)
        self._values = {id(model.inputs[0]): [np.asarray(images) for images in batches]}
        self._computed: set[int] = set()  # ids of the operations whose outputs are known

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


def keras_internal_modules():
    """Keras's modules of the classes a functional graph holds beyond ``keras.layers``: ConvNeXt's
    (its ``LayerScale``), and the ``nn`` and ``numpy`` operations that raw ``keras.ops`` calls
    appear as (``Add``, ``Relu`` ...). Read here, with the rest of Keras's internals."""
    from keras.src.applications import convnext
    from keras.src.ops import nn, numpy

    return convnext, nn, numpy


def is_graph_model(layer) -> bool:
    """True iff ``layer`` is a functional or ``Sequential`` model (one with a graph of layers)."""
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth"))


def functional_graph(model: keras.Model):
    """The object holding the functional graph of ``model``: the model itself, or the graph a
    built ``Sequential`` model keeps.

    Raises:
        ValueError: a ``Sequential`` model that was never built (it has no input shape), or a
            model with no graph (subclassed).
    """
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ValueError(f"Expected a built Sequential model (one that starts with "
                             f"keras.Input, or was built or trained before it was saved). "
                             f"Received: '{model.name}', which has no input shape")
        return functional
    if not is_graph_model(model):
        raise ValueError("Expected a functional or sequential Keras model. Received: "
                         f"{type(model).__name__} '{getattr(model, 'name', model)}' "
                         "(subclassed models have no graph to analyse).")
    return model


def fresh_inputs(model: keras.Model):
    """New input tensors for rebuilding a functional ``model``, in the structure of
    ``model.input``: each comes from a copy of the original ``InputLayer`` (same name, shape,
    dtype, sparseness), so the rebuilt model's layers keep the original names.

    ``keras.models.clone_model`` would otherwise name each new input after its tensor, which
    for an unnamed ``keras.Input`` (e.g. every ``keras.applications`` model) differs from the
    input layer's name.

    Returns:
        The new tensors, or ``None`` for a Sequential model (its clone keeps the names).

    Raises:
        ValueError: an input tensor that does not come from a ``keras.Input``.
    """
    if isinstance(model, keras.Sequential):
        return None

    def fresh(tensor):
        layer = tensor._keras_history.operation
        if not isinstance(layer, keras.layers.InputLayer):
            raise ValueError(f"Expected every input of model '{model.name}' to come from a "
                             f"keras.Input. Received: tensor '{tensor.name}' produced by "
                             f"{type(layer).__name__}.")
        return keras.layers.InputLayer.from_config(layer.get_config()).output

    return keras.tree.map_structure(fresh, model.input)


def recreate_layer(layer: keras.layers.Layer,
                   resize: Callable[[dict], dict] | None = None) -> keras.layers.Layer:
    """A new, unbuilt layer like ``layer``, made by its class's ``from_config`` from its
    ``get_config()`` (passed through ``resize`` when given); its weights are not copied.

    A layer that cannot be re-created (a ``Lambda``, a custom layer without a complete
    ``get_config``) is returned itself when it holds no weights and ``resize`` is ``None``:
    calling it in another graph shares no state.

    Raises:
        ValueError: naming the layer and its class, when it cannot be re-created otherwise.
    """
    try:
        config = layer.get_config()
        return layer.__class__.from_config(resize(config) if resize else config)
    except Exception as error:  # custom layers fail in many ways; name the layer
        if resize is None and not layer.weights:
            logger.info("Reusing layer '%s' (%s) as it is: it cannot be re-created from its "
                        "config (%s) and holds no weights.", layer.name,
                        type(layer).__name__, error)
            return layer
        raise ValueError(f"Could not re-create layer '{layer.name}' ({type(layer).__name__}) "
                         f"from its config: {error}") from error


def to_functional(model: keras.Model) -> keras.Model:
    """``model`` as a flat functional model: every layer its own, each called once.

    A ``Sequential`` model, or a model holding functional or ``Sequential`` sub-models, is
    rebuilt: fresh layers from their configs with the original weights, the sub-models' layers
    called in the outer graph as if they had been written there (a layer shared by several
    calls stays shared). A sub-model's layer keeps its name unless an earlier layer has it;
    then it is renamed ``<sub-model>_<layer>``. A sub-model called with ``training=...`` passes
    it on to its layers. Any other model is returned as it is.

    The graph code, the pruning surgery and the quantization rewrites all walk one flat graph;
    a loaded ``Sequential`` calls each layer several times internally, which they would read
    as shared layers.

    Raises:
        ValueError: a ``Sequential`` model that was never built (it has no input shape), or a
            layer with weights that cannot be re-created from its config.
    """
    if not isinstance(model, keras.Sequential) and not any(
            is_graph_model(layer) for layer in model.layers):
        return model
    functional_graph(model)  # checks that it is built
    return _Inliner(model).flat_model()


class _Inliner:
    """Rebuilds a model with its graph sub-models inlined (``to_functional``)."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.clones: dict[int, tuple[keras.layers.Layer, keras.layers.Layer]] = {}
        self.taken = {layer.name for layer in model.layers if not is_graph_model(layer)}

    def flat_model(self) -> keras.Model:
        """The flat model, its layers holding copies of the original weights."""
        if isinstance(self.model, keras.Sequential):
            source = self.model.inputs[0]
            inputs = keras.Input(shape=source.shape[1:], dtype=source.dtype,
                                 name=f"{self.model.name}_input")
        else:
            inputs = fresh_inputs(self.model)
        outputs = self._run(self.model, inputs, {})
        flat = keras.Model(inputs, outputs, name=self.model.name)
        for original, clone in self.clones.values():
            if clone is not original:
                clone.set_weights(original.get_weights())
        return flat

    def _run(self, model: keras.Model, inputs, context: dict):
        """Calls the layers of ``model``'s graph (clones, sub-models inlined) on ``inputs``."""
        def operation(op):
            return op if is_graph_model(op) else self._clone(op, model)

        def call(op, *args, **kwargs):
            if is_graph_model(op):
                inner = {**context, **{key: kwargs[key] for key in CALL_CONTEXT_ARGS
                                       if kwargs.get(key) is not None}}
                return self._run(op, args[0] if args else kwargs["inputs"], inner)
            for key, value in context.items():
                if key in getattr(op, "_call_context_args", ()) and kwargs.get(key) is None:
                    kwargs[key] = value
            return op(*args, **kwargs)

        return functional_graph(model)._run_through_graph(inputs, operation_fn=operation,
                                                          call_fn=call)

    def _clone(self, op, owner: keras.Model):
        """The flat model's copy of ``op``, a layer of ``owner``'s graph (made once; a raw
        Keras operation is stateless and used as it is)."""
        if not isinstance(op, keras.layers.Layer):
            return op
        if id(op) not in self.clones:
            name = op.name if owner is self.model else self._free_name(op.name, owner.name)
            self.taken.add(name)
            resize = None if name == op.name else (lambda config: {**config, "name": name})
            self.clones[id(op)] = (op, recreate_layer(op, resize))
        return self.clones[id(op)][1]

    def _free_name(self, name: str, owner: str) -> str:
        """``name`` if no layer has it yet, else ``<owner>_<name>`` (numbered if need be)."""
        if name not in self.taken:
            return name
        candidate = base = f"{owner}_{name}"
        suffix = 1
        while candidate in self.taken:
            suffix += 1
            candidate = f"{base}_{suffix}"
        return candidate


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
