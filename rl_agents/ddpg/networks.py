"""Actor and critic networks of the DDPG agent, and the copies made of them."""

from __future__ import annotations

import keras
import numpy as np


def _dense(units: int, rng: np.random.Generator, **kwargs) -> keras.layers.Dense:
    # A seed per layer, drawn from the agent's generator: one agent seed, one set of weights.
    initializer = keras.initializers.GlorotUniform(seed=int(rng.integers(2**31 - 1)))
    return keras.layers.Dense(units, kernel_initializer=initializer, **kwargs)


def _dense_block(inputs, units: int, rng: np.random.Generator):
    """Dense -> LayerNormalization -> ReLU (normalisation always on, as in the original)."""
    outputs = _dense(units, rng)(inputs)
    outputs = keras.layers.LayerNormalization()(outputs)
    return keras.layers.ReLU()(outputs)


def build_actor(state_dim: int, action_dim: int, action_low: float, action_high: float,
                depth: int, width: int, rng: np.random.Generator) -> keras.Model:
    """The policy: ``depth`` dense blocks, then a sigmoid scaled to ``[action_low, action_high]``.

    Args:
        state_dim: length of a state vector.
        action_dim: length of an action vector.
        action_low: smallest value of every action coordinate.
        action_high: largest value of every action coordinate.
        depth: number of hidden dense blocks.
        width: units of each block.
        rng: draws the seeds of the weight initialisers.

    Returns:
        A model mapping states ``[batch, state_dim]`` to actions ``[batch, action_dim]``.
    """
    states = keras.Input((state_dim,), name="states")
    outputs = states
    for _ in range(depth):
        outputs = _dense_block(outputs, width, rng)
    outputs = _dense(action_dim, rng, activation="sigmoid")(outputs)
    actions = keras.layers.Rescaling(scale=action_high - action_low, offset=action_low)(outputs)
    return keras.Model(states, actions, name="actor")


def build_critic(state_dim: int, action_dim: int, depth: int, width: int,
                 rng: np.random.Generator) -> keras.Model:
    """The action value Q(s, a): a block on the state, ``depth`` blocks with the action, Dense(1).

    Args:
        state_dim: length of a state vector.
        action_dim: length of an action vector.
        depth: number of dense blocks after the action joins the state.
        width: units of each block.
        rng: draws the seeds of the weight initialisers.

    Returns:
        A model mapping ``[states, actions]`` to values ``[batch, 1]``.
    """
    states = keras.Input((state_dim,), name="states")
    actions = keras.Input((action_dim,), name="actions")
    outputs = keras.layers.Concatenate()([_dense_block(states, width, rng), actions])
    for _ in range(depth):
        outputs = _dense_block(outputs, width, rng)
    values = _dense(1, rng)(outputs)
    return keras.Model([states, actions], values, name="critic")


def copy_model(model: keras.Model) -> keras.Model:
    """A new model with the same architecture and weights (a target or perturbed network)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy

