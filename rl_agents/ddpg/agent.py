"""DDPG (deep deterministic policy gradient, Lillicrap et al. 2016) as in the original PocketFlow.

One ``Agent`` serves a whole search: ``init_rollout`` before each roll-out, ``act`` at each step,
``record`` the transitions, ``train`` (one mini-batch, once the replay buffer is full), and
``finalize_rollout`` with the roll-out's rewards (for the reward baseline).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from rl_agents.ddpg.config import DdpgConfig
from rl_agents.ddpg.networks import build_actor, build_critic, copy_model
from rl_agents.ddpg.noise import add_action_noise, create_noise_schedule, perturb_actor
from rl_agents.ddpg.replay_buffer import ReplayBuffer
from rl_agents.ddpg.running_mean_std import RunningMeanStd


def soft_update(target: keras.Model, source: keras.Model, tau: float) -> None:
    """Moves ``target``'s trainable weights by ``tau`` toward ``source``'s; copies the others."""
    for target_variable, variable in zip(target.trainable_variables, source.trainable_variables):
        target_variable.assign((1.0 - tau) * target_variable + tau * variable)
    for target_variable, variable in zip(target.non_trainable_variables,
                                         source.non_trainable_variables):
        target_variable.assign(variable)


def _weight_decay(model: keras.Model) -> tf.Tensor:
    # tf.nn.l2_loss over every trainable variable, as in the original.
    return tf.add_n([tf.nn.l2_loss(variable) for variable in model.trainable_variables])


class Agent:
    """A DDPG agent with main and target actor and critic, a replay buffer and exploration noise.

    The critic's loss is the original's ``tf.nn.l2_loss``: half the *sum* (not the mean) of
    squared errors over the mini-batch between ``Q(s, a)`` and
    ``r - baseline + (1 - terminal) * gamma * Q'(s', mu'(s'))``. The actor's loss is
    ``-mean Q(s, mu(s))``. Both add ``weight_decay`` times half the squared norm of their weights
    and are minimised by Adam at ``learning_rate``; the targets then move toward the main networks by
    ``tau``. Without a baseline yet (no ``finalize_rollout`` so far), rewards are used as they are.

    Args:
        state_dim: length of a state vector.
        action_dim: length of an action vector.
        action_low: smallest value of every action coordinate.
        action_high: largest value of every action coordinate.
        rollouts: planned number of roll-outs (sets the time-decay rate of the noise).
        buffer_size: transitions in the replay buffer; training starts once it is full.
        config: learning and exploration settings.
        seed: seeds the initial weights, the noise and the replay sampling.

    Attributes:
        rng: the generator of the noise and of the replay sampling.
        buffer: the replay buffer.
        noise: the noise schedule; ``noise.std`` is the current standard deviation.
        reward_baseline: moving average of the roll-outs' mean rewards (``None`` before the first).
    """

    def __init__(self, state_dim: int, action_dim: int, action_low: float, action_high: float,
                 rollouts: int, buffer_size: int,
                 config: DdpgConfig = DdpgConfig(),  # noqa: B008 (frozen: safe to share)
                 seed: int = 0):
        for name, value in (("state_dim", state_dim), ("action_dim", action_dim),
                            ("rollouts", rollouts), ("buffer_size", buffer_size)):
            if value < 1:
                raise ValueError(f"Expected `{name}` >= 1. Received: {name}={value}")
        if not action_low < action_high:
            raise ValueError(f"Expected action_low < action_high. "
                             f"Received: action_low={action_low}, action_high={action_high}")
        self.config = config
        self.state_dim, self.action_dim = state_dim, action_dim
        self.action_low, self.action_high = float(action_low), float(action_high)
        self.rng = np.random.default_rng(seed)
        self.actor = build_actor(state_dim, action_dim, self.action_low, self.action_high,
                                 config.actor_depth, config.actor_width, self.rng)
        self.critic = build_critic(state_dim, action_dim, config.critic_depth, config.critic_width,
                                   self.rng)
        self.target_actor, self.target_critic = copy_model(self.actor), copy_model(self.critic)
        self.buffer = ReplayBuffer(state_dim, action_dim, buffer_size)
        self.noise = create_noise_schedule(config, rollouts)
        self.state_statistics = (RunningMeanStd(state_dim, config.rms_epsilon)
                                 if config.normalize_states else None)
        self.reward_baseline: float | None = None
        self.exploring = True  # until the first training step: the time-decay noise waits for it
        self._rollout_std: float | None = None

        self._clean_actions = self._compile_policy(self.actor)
        if config.noise_type == "param":
            self.perturbed_actor = copy_model(self.actor)
            self._perturbed_actions = self._compile_policy(self.perturbed_actor)
        if self.noise.measures_distance:
            # A second perturbed copy: measuring the distance leaves the roll-out's actor alone.
            self.probe_actor = copy_model(self.actor)
            self._probe_actions = self._compile_policy(self.probe_actor)

        self.actor_optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=1e-8)
        self.critic_optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=1e-8)
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)

    # Concrete functions: traced once, then called without tf.function's per-call dispatch.
    def _compile_policy(self, actor: keras.Model):
        return tf.function(lambda states: actor(states), autograph=False).get_concrete_function(
            tf.TensorSpec([None, self.state_dim], tf.float32))

    @functools.cached_property
    def _compiled_update(self):
        # Traced at the first training step, not in the constructor (it takes seconds).
        specs = [tf.TensorSpec([None, width], tf.float32)
                 for width in (self.state_dim, self.action_dim, 1, 1, self.state_dim)]
        return tf.function(self._update, autograph=False).get_concrete_function(*specs)

    def _normalize(self, states) -> np.ndarray:
        states = np.asarray(states, dtype=np.float32)
        if states.ndim != 2 or states.shape[1] != self.state_dim:
            raise ValueError(f"Expected states of shape [n, {self.state_dim}]. "
                             f"Received: {states.shape}")
        return states if self.state_statistics is None else self.state_statistics.normalize(states)

    def init_rollout(self) -> None:
        """Sets the coming roll-out's noise: decays it (after warm-up), re-perturbs the actor."""
        if not self.exploring:
            self.noise.start_rollout()
        self._rollout_std = self.noise.std
        if self.config.noise_type == "param":
            perturb_actor(self.actor, self.perturbed_actor, self._rollout_std, self.rng)

    def act(self, states: np.ndarray, noisy: bool = True) -> np.ndarray:
        """The actions for a batch of states ``[n, state_dim]``, as ``[n, action_dim]``.

        Args:
            states: one state per row.
            noisy: explore with this roll-out's noise (training); ``False`` gives the policy's own
                actions (evaluation, deployment).

        Raises:
            RuntimeError: for noisy actions before the first ``init_rollout``.
        """
        states = self._normalize(states)
        if not noisy:
            return self._clean_actions(states).numpy()
        if self._rollout_std is None:
            raise RuntimeError("Expected init_rollout() before noisy actions. Received: none yet")
        if self.config.noise_type == "param":
            return self._perturbed_actions(states).numpy()
        return add_action_noise(self._clean_actions(states).numpy(), self._rollout_std,
                                self.action_low, self.action_high, self.rng)

    def record(self, states, actions, rewards, terminals, next_states) -> None:
        """Stores a batch of transitions (every ``record_step``-th row), one per row.

        Args:
            states: ``[n, state_dim]``.
            actions: ``[n, action_dim]``.
            rewards: ``[n]``.
            terminals: ``[n]``, 1 where the roll-out ended with this transition, else 0.
            next_states: ``[n, state_dim]``.
        """
        step = self.config.record_step
        rows = [np.asarray(value, dtype=np.float32)[::step]
                for value in (states, actions, rewards, terminals, next_states)]
        self.buffer.append(*rows)
        if self.state_statistics is not None:
            self.state_statistics.update(rows[0])

    def train(self) -> dict[str, float] | None:
        """Trains the actor and the critic on one mini-batch.

        Returns:
            ``None`` while the replay buffer is not full; else the ``actor_loss``, the
            ``critic_loss`` and the current ``noise_std``.
        """
        if not self.buffer.is_ready:
            return None
        self.exploring = False
        if self.noise.measures_distance:
            states = self._normalize(self.buffer.sample(self.config.batch_size, self.rng)["states"])
            perturb_actor(self.actor, self.probe_actor, self.noise.std, self.rng)
            distance = np.mean(np.abs(self._clean_actions(states) - self._probe_actions(states)))
            self.noise.observe_distance(float(distance))
        batch = self.buffer.sample(self.config.batch_size, self.rng)
        rewards = batch["rewards"]
        if self.config.use_baseline and self.reward_baseline is not None:
            rewards = rewards - np.float32(self.reward_baseline)
        actor_loss, critic_loss = self._compiled_update(
            self._normalize(batch["states"]), batch["actions"], rewards, batch["terminals"],
            self._normalize(batch["next_states"]))
        return {"actor_loss": float(actor_loss), "critic_loss": float(critic_loss),
                "noise_std": self.noise.std}

    def _update(self, states, actions, rewards, terminals, next_states):
        """One gradient step of the critic and the actor, then the soft update of the targets."""
        config = self.config
        next_values = self.target_critic([next_states, self.target_actor(next_states)])
        target_values = rewards + (1.0 - terminals) * config.gamma * next_values
        with tf.GradientTape(persistent=True) as tape:
            critic_loss = tf.nn.l2_loss(self.critic([states, actions]) - target_values)
            actor_loss = -tf.reduce_mean(self.critic([states, self.actor(states)]))
            if config.weight_decay > 0:
                critic_loss += config.weight_decay * _weight_decay(self.critic)
                actor_loss += config.weight_decay * _weight_decay(self.actor)
        # Both gradients are taken before either network moves, as in the original's single run.
        critic_gradients = tape.gradient(critic_loss, self.critic.trainable_variables)
        actor_gradients = tape.gradient(actor_loss, self.actor.trainable_variables)
        del tape
        self.critic_optimizer.apply(critic_gradients, self.critic.trainable_variables)
        self.actor_optimizer.apply(actor_gradients, self.actor.trainable_variables)
        soft_update(self.target_actor, self.actor, config.tau)
        soft_update(self.target_critic, self.critic, config.tau)
        return actor_loss, critic_loss

    def finalize_rollout(self, rewards) -> None:
        """Moves the reward baseline toward the mean of this roll-out's ``rewards``."""
        if not self.config.use_baseline:
            return
        mean = float(np.mean(rewards))
        decay = self.config.baseline_decay_rate
        self.reward_baseline = (mean if self.reward_baseline is None
                                else decay * self.reward_baseline + (1.0 - decay) * mean)
