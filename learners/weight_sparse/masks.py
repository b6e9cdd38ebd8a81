"""Which kernels get masks, magnitude masks, and the step callback that keeps them applied.

Masks live only during training: they are ``tf.Variable`` s beside the model, never wrappers in
it, so the model that comes out is made of the plain Keras layers it went in with -- with exact
zeros in its kernels.

Masked kernels (one table, per layer type):

* ``Conv1D`` / ``Conv2D`` / ``Conv3D`` (1x1 pointwise convolutions included) and ``Dense``:
  ``kernel``;
* ``SeparableConv1D`` / ``SeparableConv2D``: ``pointwise_kernel``, and ``depthwise_kernel``
  with ``include_depthwise``;
* ``DepthwiseConv1D`` / ``DepthwiseConv2D``: ``kernel`` with ``include_depthwise`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from learners.weight_sparse.schedule import PolynomialSparsitySchedule
from utils.keras_graph import all_layers

_ALWAYS = (
    ((keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense),
     ("kernel",)),
    ((keras.layers.SeparableConv1D, keras.layers.SeparableConv2D), ("pointwise_kernel",)),
)
_DEPTHWISE = (
    ((keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D), ("kernel",)),
    ((keras.layers.SeparableConv1D, keras.layers.SeparableConv2D), ("depthwise_kernel",)),
)
# Optimizer slots that follow a variable elementwise (SGD's momentum, Adam's moments).
_SLOT_ATTRIBUTES = ("momentums", "_momentums", "_velocities", "_velocity_hats")


@dataclasses.dataclass(frozen=True)
class MaskedKernel:
    """One masked kernel of a model.

    Attributes:
        name: its name in plans and metrics: the layer's name, or ``<layer>/depthwise_kernel``
            for the depthwise half of a separable convolution.
        layer: the layer's name.
        attribute: the kernel's attribute on the layer (``kernel``, ``pointwise_kernel`` ...).
        shape: the kernel's shape.
    """

    name: str
    layer: str
    attribute: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def variable(self, model: keras.Model):
        """This kernel's variable in ``model`` (any model with the same layer names)."""
        for layer in all_layers(model):
            if layer.name == self.layer:
                return getattr(layer, self.attribute)
        raise ValueError(f"Expected a layer '{self.layer}' in model '{model.name}'. "
                         "Received: no such layer")


def maskable_kernels(model: keras.Model, include_depthwise: bool = False) -> list[MaskedKernel]:
    """The kernels of ``model`` that get masks, in layer order (see the module docstring)."""
    table = _ALWAYS + (_DEPTHWISE if include_depthwise else ())
    kernels = []
    for layer in all_layers(model):
        attributes = [name for types, names in table if isinstance(layer, types) for name in names]
        # in computation order: a separable convolution's depthwise half first
        for attribute in sorted(set(attributes), key=lambda name: name != "depthwise_kernel"):
            name = layer.name if attribute in ("kernel", "pointwise_kernel") else (
                f"{layer.name}/{attribute}")
            kernels.append(MaskedKernel(name, layer.name, attribute,
                                        tuple(int(d) for d in getattr(layer, attribute).shape)))
    return kernels


def magnitude_mask(values: np.ndarray, nb_pruned: int) -> np.ndarray:
    """A 0/1 mask of ``values``' shape with exactly ``nb_pruned`` zeros, at the smallest |values|.

    Ties are broken by position (a stable sort), so the same weights give the same mask.

    Raises:
        ValueError: if ``nb_pruned`` is not in ``[0, values.size]``.
    """
    values = np.asarray(values)
    if not 0 <= nb_pruned <= values.size:
        raise ValueError(f"Expected 0 <= nb_pruned <= {values.size}. Received: {nb_pruned}")
    mask = np.ones(values.size, dtype=np.float32)
    mask[np.argsort(np.abs(values).reshape(-1), kind="stable")[:nb_pruned]] = 0.0
    return mask.reshape(values.shape)


def count_zeros(model: keras.Model, kernels: Sequence[MaskedKernel]) -> dict[str, int]:
    """Exact zeros of each kernel of ``model``."""
    return {kernel.name: int(kernel.size - np.count_nonzero(np.asarray(kernel.variable(model))))
            for kernel in kernels}


def optimizer_slots(optimizer: keras.optimizers.Optimizer, variable) -> list:
    """The optimizer variables that follow ``variable`` elementwise (momentum, Adam moments)."""
    index = optimizer._get_variable_index(variable)
    slots = []
    for attribute in _SLOT_ATTRIBUTES:
        values = getattr(optimizer, attribute, None)
        if values:
            slots.append(values[index])
    return slots


class SparsityMasker:
    """Gradual magnitude pruning as a trainer step callback.

    After every optimizer step the masks are applied to the kernels and to the optimizer's slots
    of those kernels (momentum, Adam moments), so pruned weights stay exactly zero and no stale
    momentum pushes them back. At the schedule's update steps the masks are first recomputed from
    the current magnitudes, with ``round(pruned[name] * fraction)`` zeros in each kernel.

    Call :meth:`start` after the trainer restored its checkpoint (it rebuilds the masks in force
    at that step from the restored weights), and :meth:`finalize` after training (the final masks,
    whatever step training stopped at).

    Args:
        model: the model being trained.
        kernels: the masked kernels.
        pruned: final number of zeros per kernel name.
        schedule: the sparsity schedule.
    """

    def __init__(self, model: keras.Model, kernels: Sequence[MaskedKernel],
                 pruned: Mapping[str, int], schedule: PolynomialSparsitySchedule):
        missing = [kernel.name for kernel in kernels if kernel.name not in pruned]
        if missing:
            raise ValueError(f"Expected a pruned count for every masked kernel. Received none for "
                             f"{missing}")
        self.model = model
        self.kernels = list(kernels)
        self.pruned = {kernel.name: int(pruned[kernel.name]) for kernel in self.kernels}
        self.schedule = schedule
        self.variables = [kernel.variable(model) for kernel in self.kernels]
        self.masks = [tf.Variable(tf.ones(kernel.shape), trainable=False,
                                  name=f"mask_{i}") for i, kernel in enumerate(self.kernels)]
        self.fraction = 0.0
        self._apply = None
        self._optimizer = None

    def start(self, optimizer: keras.optimizers.Optimizer | None, step: int) -> None:
        """Binds the optimizer (``None``: no slots to mask) and rebuilds the masks for ``step``."""
        self._optimizer = optimizer
        pairs = []
        for variable, mask in zip(self.variables, self.masks, strict=True):
            pairs.append((variable, mask))
            if optimizer is not None:
                pairs.extend((slot, mask) for slot in optimizer_slots(optimizer, variable))

        @tf.function
        def apply():
            for target, mask in pairs:
                target.assign(target * tf.cast(mask, target.dtype))

        self._apply = apply
        self.update_masks(self.schedule.fraction_in_force(step))

    def update_masks(self, fraction: float) -> None:
        """Recomputes every mask from the current magnitudes at ``fraction`` of its final zeros,
        then applies them."""
        self.fraction = fraction
        for kernel, variable, mask in zip(self.kernels, self.variables, self.masks, strict=True):
            nb_pruned = round(self.pruned[kernel.name] * fraction)
            mask.assign(magnitude_mask(np.asarray(variable), nb_pruned))
        self.apply()

    def apply(self) -> None:
        if self._apply is None:
            raise RuntimeError("Expected SparsityMasker.start() before the first step. "
                               "Received: a step without it")
        self._apply()

    def on_step_end(self, step: int) -> None:
        self.apply()  # first the masks in force: the step moved the pruned weights off zero
        if self.schedule.is_update_step(step):
            self.update_masks(self.schedule.fraction(step))

    def finalize(self) -> None:
        """Applies the final masks (every kernel at its final number of zeros)."""
        if self._apply is None:
            self.start(self._optimizer, self.schedule.total_steps)
        self.update_masks(1.0)
