"""Exploration noise: how actions are disturbed, and how the amount of noise evolves.

The agent keeps one ``NoiseSchedule`` (its current standard deviation) and disturbs either the
actions (``add_action_noise``) or a copy of the actor's weights (``perturb_actor``).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from rl_agents.ddpg.config import DdpgConfig


class NoiseSchedule:
    """The current noise standard deviation, with hooks that do nothing by default.

    Args:
        std_init: the standard deviation before any adaptation.
    """

    measures_distance = False
    """Whether the agent must call ``observe_distance`` at every training step."""

    def __init__(self, std_init: float):
        self.std = float(std_init)

    def start_rollout(self) -> None:
        """Called at the start of every roll-out once warm-up is over."""

    def observe_distance(self, distance: float) -> None:
        """Called with the mean absolute distance between clean and perturbed actions."""


class TimeDecaySchedule(NoiseSchedule):
    """Multiplies the standard deviation by a constant at every roll-out after warm-up.

    The constant, ``(std_finl / std_init) ** (1 / rollouts)``, reaches ``std_finl`` after
    ``rollouts`` decayed roll-outs.
    """

    def __init__(self, std_init: float, std_finl: float, rollouts: int):
        super().__init__(std_init)
        self.decay_rate = (std_finl / std_init) ** (1.0 / rollouts)

    def start_rollout(self) -> None:
        self.std *= self.decay_rate


class AdaptiveSchedule(NoiseSchedule):
    """Adapts parameter noise so that it moves actions by about ``dst_finl`` (Plappert et al. 2018).

    The standard deviation is divided by ``adpt_rat`` when the measured distance exceeds
    ``dst_finl``, and multiplied by it otherwise.
    """

    measures_distance = True

    def __init__(self, std_init: float, dst_finl: float, adpt_rat: float):
        super().__init__(std_init)
        self.dst_finl = dst_finl
        self.adpt_rat = adpt_rat

    def observe_distance(self, distance: float) -> None:
        if distance > self.dst_finl:
            self.std /= self.adpt_rat
        else:
            self.std *= self.adpt_rat


NOISE_SCHEDULES: dict[str, Callable[[DdpgConfig, int], NoiseSchedule]] = {
    "tdecy": lambda config, rollouts: TimeDecaySchedule(
        config.noise_std_initial, config.noise_std_final, rollouts),
    "adapt": lambda config, _: AdaptiveSchedule(
        config.noise_std_initial, config.noise_distance_target, config.noise_adapt_factor),
}


def create_noise_schedule(config: DdpgConfig, rollouts: int) -> NoiseSchedule:
    """The schedule named by ``config.noise_schedule``."""
    return NOISE_SCHEDULES[config.noise_schedule](config, rollouts)


def add_action_noise(actions: np.ndarray, std: float, low: float, high: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``std`` added to ``actions``, clipped back to ``[low, high]``."""
    noisy = actions + rng.normal(0.0, std, size=actions.shape)
    return np.clip(noisy, low, high).astype(np.float32)


def perturb_actor(actor: keras.Model, perturbed: keras.Model, std: float,
                  rng: np.random.Generator) -> None:
    """Sets ``perturbed`` (a copy of ``actor``) to the actor's weights plus noise N(0, std^2).

    Only the Dense layers are perturbed; LayerNormalization parameters are copied unchanged, as in
    the original (noise there would undo the normalisation that makes one ``std`` fit all layers).
    """
    for layer, perturbed_layer in zip(actor.layers, perturbed.layers):
        noisy = isinstance(layer, keras.layers.Dense)
        for variable, perturbed_variable in zip(layer.weights, perturbed_layer.weights):
            value = keras.ops.convert_to_numpy(variable)
            if noisy:
                value = value + rng.normal(0.0, std, size=value.shape).astype(value.dtype)
            perturbed_variable.assign(value)
