"""Scores a candidate's per-kernel sparsities the way the original's roll-outs did.

One roll-out on a working copy of the pre-trained model: magnitude masks at the candidate's zero
counts, then

1. layer-wise regression: Adam (``--ws_lrn_rate_rg``) for ``--ws_nb_iters_rg`` steps on the sum
   over masked layers of the mean squared difference between the layer's output in the pruned
   copy -- computed from the pruned copy's own input to that layer, held fixed -- and in the
   pre-trained model. A regression that ends with a higher loss on its first batch than it
   started with (a rate too high for the kernels' scale, which would score a wrecked model
   instead of the plan) is undone, and the first such roll-out logs a warning naming the flag;
2. global fine-tuning: Adam (``--ws_lrn_rate_ft``) on the task loss for ``--ws_nb_iters_ft``
   steps;
3. accuracy on ``--ws_nb_iters_feval`` batches of the validation split (0: all of it).

Both training phases read the training split without the validation examples and keep the
masked weights at zero (masked gradients, masks re-applied after each step). Each roll-out draws
its batches on from one running stream. With ``same_batches`` every roll-out reads the same ones
instead (common random numbers), which makes a plan's reward repeat (to float rounding); it
does not make plans much easier to tell apart (``benchmarks/sparse_reward_noise.py`` measures
both). The step functions are compiled once and reused by every roll-out; a roll-out starts by resetting the
copy's weights and the optimizers' state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from datasets.base import Dataset
from learners.trainer import cross_entropy_step, divergence_error, top_k_accuracy
from learners.weight_sparse.config import FLAG_PREFIX, WeightSparseConfig
from learners.weight_sparse.masks import MaskedKernel, magnitude_mask
from utils.keras_graph import all_layers, call_count


def _clone(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _layer_io(model: keras.Model, kernels: Sequence[MaskedKernel]):
    """The layers holding masked kernels that are called exactly once (a shared layer has no
    single input to regress on), each with its symbolic input and output, in layer order."""
    layers = {layer.name: layer for layer in all_layers(model)}
    rows = []
    for name in dict.fromkeys(kernel.layer for kernel in kernels):
        layer = layers[name]
        if call_count(layer) == 1:
            rows.append((layer, layer.input, layer.output))
    return rows


class RolloutScorer:
    """Scores zero counts per kernel by fast fine-tuning (see the module docstring).

    Args:
        dense: the pre-trained model (left unchanged).
        kernels: the masked kernels.
        dataset: training data (without the validation split) and the validation split.
        settings: the ``--ws_*`` settings (learning rates, step counts).
        same_batches: every roll-out reads the same training batches (the pipeline rebuilt
            from the dataset's seed), instead of drawing on from one running stream.
    """

    def __init__(self, dense: keras.Model, kernels: Sequence[MaskedKernel], dataset: Dataset,
                 settings: WeightSparseConfig, *, same_batches: bool = False):
        self.dense = dense
        self.kernels = list(kernels)
        self.settings = settings
        self.model = _clone(dense)
        self._dense_weights = dense.get_weights()
        self._dense_kernels = [np.asarray(kernel.variable(dense)) for kernel in self.kernels]
        self.variables = [kernel.variable(self.model) for kernel in self.kernels]
        self.masks = [tf.Variable(tf.ones(kernel.shape), trainable=False) for kernel in self.kernels]
        self.same_batches = same_batches
        self._dataset = dataset
        self._train = None if same_batches else self._training_batches()  # else per roll-out
        val = dataset.val_dataset()
        self._val = val.take(settings.reward_batches) if settings.reward_batches else val
        self._warned = False
        self.regression_optimizer = keras.optimizers.Adam(settings.regression_learning_rate)
        self.finetune_optimizer = keras.optimizers.Adam(settings.finetune_learning_rate)
        self._build_steps()

    def _build_steps(self) -> None:
        model, kernels, variables, masks = self.model, self.kernels, self.variables, self.masks
        rows = _layer_io(model, kernels)
        dense_layers = {layer.name: layer for layer in all_layers(self.dense)}
        layers = [row[0] for row in rows]
        names = {layer.name for layer in layers}
        regressed = [v for k, v in zip(kernels, variables, strict=True) if k.layer in names]
        regressed_masks = [m for k, m in zip(kernels, masks, strict=True) if k.layer in names]
        inputs_model = keras.Model(model.inputs, [row[1] for row in rows]) if rows else None
        targets_model = (keras.Model(self.dense.inputs,
                                     [dense_layers[layer.name].output for layer in layers])
                         if rows else None)
        regression_optimizer, finetune_optimizer = self.regression_optimizer, self.finetune_optimizer
        mask_of = {id(v): m for v, m in zip(variables, masks, strict=True)}
        if rows:
            regression_optimizer.build(regressed)
        finetune_optimizer.build(model.trainable_variables)

        def apply_masks():
            for variable, mask in zip(variables, masks, strict=True):
                variable.assign(variable * mask)

        def regression_loss(images):
            layer_inputs = inputs_model(images, training=False)
            layer_targets = targets_model(images, training=False)
            if not isinstance(layer_inputs, (list, tuple)):  # a single regressed layer
                layer_inputs, layer_targets = [layer_inputs], [layer_targets]
            return tf.add_n([
                tf.reduce_mean(tf.square(layer(tf.stop_gradient(x)) - tf.stop_gradient(y)))
                for layer, x, y in zip(layers, layer_inputs, layer_targets, strict=True)])

        @tf.function
        def regression_step(images):
            with tf.GradientTape() as tape:
                loss = regression_loss(images)
            gradients = tape.gradient(loss, regressed)
            regression_optimizer.apply_gradients(
                [(g * m, v) for g, m, v in zip(gradients, regressed_masks, regressed, strict=True)])
            apply_masks()
            return loss

        @tf.function
        def correct(images, labels):
            return tf.reduce_sum(top_k_accuracy(labels, model(images, training=False)))

        self._regression_step = regression_step if rows else None
        self._regression_loss = tf.function(regression_loss) if rows else None
        self._finetune_step = cross_entropy_step(model, finetune_optimizer,
                                                 gradient_masks=mask_of, after_step=apply_masks)
        self._correct = correct
        self._apply_masks = tf.function(apply_masks)

    def _training_batches(self):
        # A rebuilt pipeline: iterating one tf.data pipeline again reshuffles it.
        return iter(self._dataset.train_dataset(exclude_val=True, repeat=True))

    def accuracy(self) -> float:
        """Top-1 of the working copy on the reward's validation batches."""
        nb_correct = nb_total = 0
        for images, labels in self._val:
            nb_correct += float(self._correct(images, labels))
            nb_total += int(labels.shape[0])
        return nb_correct / max(nb_total, 1)

    def __call__(self, counts: Sequence[int]) -> dict[str, float]:
        """Prunes the working copy to ``counts`` zeros per kernel, fine-tunes it fast, scores it.

        Returns:
            ``accuracy`` after fine-tuning and ``accuracy_before_ft`` right after pruning, both
            on the validation batches; the regression's loss on its first batch before and after
            it (``regression_loss_start``, ``regression_loss``) and whether it was undone
            (``regression_undone``, 1.0 or 0.0); the fine-tuning's last loss.
        """
        if self.same_batches:
            self._train = self._training_batches()
        self.model.set_weights(self._dense_weights)
        for optimizer in (self.regression_optimizer, self.finetune_optimizer):
            for variable in optimizer.variables:  # step count and moments; not the rate
                if not variable.path.endswith("learning_rate"):
                    variable.assign(tf.zeros_like(variable))
        for dense_kernel, mask, count in zip(self._dense_kernels, self.masks, counts, strict=True):
            mask.assign(magnitude_mask(dense_kernel, int(count)))
        self._apply_masks()
        metrics = {"accuracy_before_ft": self.accuracy()}
        settings = self.settings
        if self._regression_step is not None and settings.regression_steps:
            metrics.update(self._regress())
        for _ in range(settings.finetune_steps):
            loss = self._finetune_step(*next(self._train))
        if settings.finetune_steps:  # read once, after the steps: reading each would sync each
            metrics["finetune_loss"] = float(loss)
            if not math.isfinite(metrics["finetune_loss"]):
                raise divergence_error("weight-sparse roll-out fine-tuning", settings.finetune_steps,
                                       settings.finetune_steps, f"loss={metrics['finetune_loss']}",
                                       f"--{FLAG_PREFIX}lrn_rate_ft", settings.finetune_learning_rate)
        metrics["accuracy"] = self.accuracy()
        return metrics

    def _regress(self) -> dict[str, float]:
        """The layer-wise regression; undone when it ends above the loss it started from."""
        first = next(self._train)[0]
        start = float(self._regression_step(first))  # the loss before the step's update
        for _ in range(self.settings.regression_steps - 1):
            self._regression_step(next(self._train)[0])
        end = float(self._regression_loss(first))
        undone = not end <= start  # also for a NaN
        if undone:  # back to the pre-trained kernels under the candidate's masks
            for variable, dense_kernel in zip(self.variables, self._dense_kernels, strict=True):
                variable.assign(dense_kernel)
            self._apply_masks()
            if not self._warned:
                self._warned = True
                logging.warning(
                    "weight-sparse: a roll-out's layer-wise regression raised its loss from %.4g "
                    "to %.4g, so it was undone; expected a --ws_lrn_rate_rg small against the "
                    "kernels' weights (1e-4 suits ResNet-20). Received: %g. Roll-outs whose "
                    "regression is undone count it in their trials' regression_undone",
                    start, end, self.settings.regression_learning_rate)
        return {"regression_loss_start": start, "regression_loss": end,
                "regression_undone": float(undone)}
