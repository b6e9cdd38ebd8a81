"""Model surgery: rebuild a functional model with the channels a ``PruningPlan`` cuts removed.

The result is physically smaller: every layer keeps its name and configuration except its
channel counts (``filters``, ``units``, a Reshape's last dimension), and its weights are the
original ones sliced to the kept channels. Inputs and outputs keep their shapes (and input
layers their names). Uses public Keras API (``keras.models.clone_model``,
``get_config``/``from_config``, weights) and ``utils.keras_graph``.

A model holding functional or ``Sequential`` sub-models is rebuilt flat: the sub-models' layers
are called directly in the pruned model (``graph.analysed_model``), under their own names.

A layer without weights that cannot be re-created from its config (a ``Lambda``, a custom
layer without a complete ``get_config``) is reused as it is when its channels do not change. One
with weights is not: the pruned model, fine-tuned, would change the original's weights too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from learners.pruning.graph import (
    DependencyGraph,
    LayerMasks,
    analysed_model,
    build_graph,
    handler_for,
)
from learners.pruning.plan import PruningPlan
from utils.keras_graph import fresh_inputs, recreate_layer


def slice_weights(layer: keras.layers.Layer,
                  weight_masks: Mapping[str, Mapping[int, np.ndarray]]) -> list[np.ndarray]:
    """The values of ``layer.weights`` with each masked axis reduced to its kept positions.

    Args:
        layer: the original layer.
        weight_masks: per weight name, the boolean mask to apply along each axis.
    """
    sliced = []
    for variable, value in zip(layer.weights, layer.get_weights()):
        for axis, mask in weight_masks.get(variable.name, {}).items():
            value = np.compress(np.asarray(mask, bool), value, axis=axis)
        sliced.append(value)
    return sliced


def _clone_layer(layer: Any, masks: Mapping[str, LayerMasks]) -> Any:
    """A fresh layer like ``layer``, its configuration resized to the kept channels.

    A layer without weights whose channels do not change and that cannot be re-created from
    its config (``Lambda``, custom layers) is returned as it is.
    """
    if not isinstance(layer, keras.layers.Layer):
        return layer  # a raw Keras operation has no state; reuse it
    if layer.name not in masks or not masks[layer.name].changed:
        return recreate_layer(layer)

    def resize(config: dict) -> dict:
        return handler_for(layer).resize_config(layer, config, masks[layer.name])

    return recreate_layer(layer, resize)


def _copy_weights(original: keras.layers.Layer, pruned: keras.layers.Layer,
                  masks: LayerMasks | None) -> None:
    """Sets ``pruned``'s weights to ``original``'s, sliced by its handler's masks."""
    weight_masks = handler_for(original).weight_masks(original, masks) if masks else {}
    values = slice_weights(original, weight_masks)
    expected = [tuple(variable.shape) for variable in pruned.weights]
    received = [value.shape for value in values]
    if expected != received:
        raise ValueError(f"Expected sliced weights of shapes {expected} for layer "
                         f"'{original.name}' ({type(original).__name__}). Received: {received} "
                         "(its channel-pruning handler does not match the layer).")
    pruned.set_weights(values)


def apply_plan(model: keras.Model, plan: PruningPlan,
               graph: DependencyGraph | None = None) -> keras.Model:
    """Returns a physically smaller copy of ``model`` keeping the channels ``plan`` keeps.

    The original model is not modified. With every group fully kept, the copy computes the
    same outputs.

    Args:
        model: a functional (or built sequential) Keras 3 model.
        plan: the kept channels per prunable group.
        graph: ``build_graph(model)`` when already computed.

    Returns:
        The pruned model: same input and output shapes, fewer channels, and the layer names of
        ``analysed_model(model)`` (those of ``model`` when it holds no sub-model).

    Raises:
        ValueError: if the plan does not fit the model, or a layer cannot be re-created.
    """
    graph = graph if graph is not None else build_graph(model)
    model = analysed_model(model)
    plan.validate(graph)
    masks = graph.layer_masks(plan.kept)
    pruned = keras.models.clone_model(model, input_tensors=fresh_inputs(model),
                                      clone_function=lambda layer: _clone_layer(layer, masks))
    for original in model.layers:
        copy = pruned.get_layer(original.name)
        if copy is not original:  # a reused layer already holds its weights
            _copy_weights(original, copy, masks.get(original.name))
    return pruned

