"""Masks: which kernels get them, exact magnitude masks, and masks that stay applied while a real
trainer steps (weights and momentum of pruned positions stay exactly zero; resume rebuilds them)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.config import TrainConfig
from learners.trainer import Trainer
from learners.weight_sparse.masks import (
    SparsityMasker,
    count_zeros,
    magnitude_mask,
    maskable_kernels,
    optimizer_slots,
)
from learners.weight_sparse.schedule import PolynomialSparsitySchedule
from nets.lenet import build_lenet


def _mixed_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(6, 1, name="pointwise")(x)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.SeparableConv2D(5, 1, name="separable")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="fc")(x))


def test_convolutions_pointwise_and_dense_are_masked_depthwise_only_on_request():
    model = _mixed_model()
    assert [k.name for k in maskable_kernels(model)] == ["conv", "pointwise", "separable", "fc"]
    with_depthwise = maskable_kernels(model, include_depthwise=True)
    assert [k.name for k in with_depthwise] == [
        "conv", "pointwise", "depthwise", "separable/depthwise_kernel", "separable", "fc"]
    assert {k.name: k.shape for k in with_depthwise}["separable/depthwise_kernel"] == (1, 1, 6, 1)
    assert with_depthwise[-1].variable(model) is model.get_layer("fc").kernel


def test_magnitude_mask_zeroes_exactly_the_smallest_magnitudes():
    values = np.array([[0.5, -0.1], [0.3, -2.0], [0.0, 0.2]])
    mask = magnitude_mask(values, 3)
    np.testing.assert_array_equal(mask, [[1, 0], [1, 1], [0, 0]])
    assert magnitude_mask(np.zeros(10), 4).sum() == 6  # ties: still exactly the count
    with pytest.raises(ValueError, match="nb_pruned"):
        magnitude_mask(values, 7)


class _Observer:
    """Records, after every step (after the masker), the zeros and the momentum at zeros."""

    def __init__(self, model, masker, stop_at=None):
        self.model, self.masker, self.stop_at = model, masker, stop_at
        self.rows = []

    def on_step_end(self, step):
        zeros = count_zeros(self.model, self.masker.kernels)
        slots_at_zeros = [float(np.abs(np.asarray(slot)[np.asarray(variable) == 0]).max(initial=0))
                          for variable in self.masker.variables
                          for slot in optimizer_slots(self.masker._optimizer, variable)]
        masks = [np.asarray(mask).copy() for mask in self.masker.masks]
        self.rows.append((step, zeros, slots_at_zeros, masks))
        if step == self.stop_at:
            raise KeyboardInterrupt("test")


def _trainer(tmp_path, model, callbacks):
    config = TrainConfig(train_steps=24, learning_rate=0.05, reference_batch_size=32,
                         weight_decay=1e-4, summary_step=100, save_step=100)
    return Trainer(model, create_dataset(DataConfig(batch_size=32)), config,
                   strategy=tf.distribute.get_strategy(), checkpoint_dir=str(tmp_path / "ckpt"),
                   callbacks=callbacks)


def _setup(tmp_path, stop_at=None):
    keras.utils.set_random_seed(0)
    model = build_lenet((8, 8, 1), 10, filters=(4, 8), units=16, name="tiny_lenet")
    kernels = maskable_kernels(model)
    pruned = {k.name: int(0.75 * k.size) for k in kernels}
    schedule = PolynomialSparsitySchedule(24, 0.1, 0.6, exponent=3.0, update_step=4)
    masker = SparsityMasker(model, kernels, pruned, schedule)
    observer = _Observer(model, masker, stop_at)
    trainer = _trainer(tmp_path, model, [masker, observer])
    return model, kernels, pruned, schedule, masker, observer, trainer


def test_masks_stay_applied_across_optimizer_steps_and_momentum_stays_zero(tmp_path):
    model, kernels, pruned, schedule, masker, observer, trainer = _setup(tmp_path)
    masker.start(trainer.optimizer, trainer.restore())
    assert len(optimizer_slots(trainer.optimizer, masker.variables[0])) == 1  # SGD momentum
    trainer.train()
    masker.finalize()
    assert [row[0] for row in observer.rows] == list(range(1, 25))
    for step, zeros, slots_at_zeros, _ in observer.rows:
        fraction = schedule.fraction_in_force(step)
        assert zeros == {name: round(count * fraction) for name, count in pruned.items()}, step
        assert max(slots_at_zeros) == 0.0, step  # no momentum where the weights are pruned
    for (_, _, _, before), (_, _, _, after) in zip(observer.rows, observer.rows[1:]):
        for mask_before, mask_after in zip(before, after):
            assert np.all(mask_after <= mask_before)  # once pruned, pruned for good
    assert count_zeros(model, kernels) == pruned
    assert schedule.fraction_in_force(24) == 1.0 and observer.rows[-1][1] == pruned


def test_a_resumed_trainer_rebuilds_the_masks_in_force(tmp_path):
    *_, observer, trainer = _setup(tmp_path, stop_at=10)
    trainer.callbacks[0].start(trainer.optimizer, trainer.restore())
    with pytest.raises(KeyboardInterrupt):
        trainer.train()  # checkpoints at step 10
    masks_at_10 = observer.rows[-1][3]

    model, kernels, pruned, _, masker, observer, trainer = _setup(tmp_path)
    assert trainer.restore() == 10
    masker.start(trainer.optimizer, 10)
    for mask, expected in zip(masker.masks, masks_at_10):
        np.testing.assert_array_equal(np.asarray(mask), expected)
    trainer.train()
    masker.finalize()
    assert observer.rows[0][0] == 11 and count_zeros(model, kernels) == pruned
