"""Learning-rate schedules: the original's piecewise and exponential rules (linear batch scaling), cosine."""

from __future__ import annotations

import math

import keras


def scaled_initial_rate(learning_rate: float, global_batch_size: int, reference_batch_size: int) -> float:
    """Linear scaling rule: the rate is stated for ``reference_batch_size`` images per step."""
    return learning_rate * global_batch_size / reference_batch_size


def build_schedule(config, global_batch_size: int, steps_per_epoch: float, total_steps: int):
    """Returns a Keras learning-rate schedule for ``config`` (a ``TrainConfig``).

    Piecewise boundaries are epochs scaled by ``epochs_ratio``, converted to steps.
    """
    initial = scaled_initial_rate(config.learning_rate, global_batch_size, config.reference_batch_size)
    if config.learning_rate_schedule == "cosine":
        warmup_steps = round(config.warmup_epochs * config.epochs_ratio * steps_per_epoch)
        warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0, decay_steps=max(total_steps - warmup_steps, 1),
                warmup_target=initial, warmup_steps=warmup_steps)
        return keras.optimizers.schedules.CosineDecay(initial, decay_steps=max(total_steps, 1))
    if config.learning_rate_schedule == "exponential":
        period = max(1, round(config.decay_epochs * config.epochs_ratio * steps_per_epoch))
        return keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=period, decay_rate=config.decay_rate, staircase=True)
    boundaries = [math.ceil(b * config.epochs_ratio * steps_per_epoch)
                  for b in config.decay_boundaries]
    if not boundaries:
        return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps + 1], [initial] * 2)
    values = [initial * rate for rate in config.decay_rates]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
