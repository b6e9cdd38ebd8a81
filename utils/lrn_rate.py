"""Learning-rate schedules: the original's piecewise and exponential rules (linear batch scaling), cosine."""

from __future__ import annotations

import math

import keras


def scaled_initial_rate(lrn_rate_init: float, global_batch_size: int, batch_size_norm: int) -> float:
    """Linear scaling rule: the rate is stated for ``batch_size_norm`` images per step."""
    return lrn_rate_init * global_batch_size / batch_size_norm


def build_schedule(config, global_batch_size: int, steps_per_epoch: float, total_steps: int):
    """Returns a Keras learning-rate schedule for ``config`` (a ``TrainConfig``).

    Piecewise boundaries are epochs scaled by ``nb_epochs_rat``, converted to steps.
    """
    initial = scaled_initial_rate(config.lrn_rate_init, global_batch_size, config.batch_size_norm)
    if config.lrn_rate_schedule == "cosine":
        warmup_steps = round(config.warmup_epochs * config.nb_epochs_rat * steps_per_epoch)
        warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0, decay_steps=max(total_steps - warmup_steps, 1),
                warmup_target=initial, warmup_steps=warmup_steps)
        return keras.optimizers.schedules.CosineDecay(initial, decay_steps=max(total_steps, 1))
    if config.lrn_rate_schedule == "exponential":
        period = max(1, round(config.lrn_rate_dcy_epochs * config.nb_epochs_rat * steps_per_epoch))
        return keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=period, decay_rate=config.lrn_rate_dcy_rate, staircase=True)
    boundaries = [math.ceil(b * config.nb_epochs_rat * steps_per_epoch)
                  for b in config.lrn_rate_dcy_bnds]
    if not boundaries:
        return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps + 1], [initial] * 2)
    values = [initial * rate for rate in config.lrn_rate_dcy_rates]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
