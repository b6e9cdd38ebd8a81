"""The ``ddpg`` backend: a DDPG agent decides a candidate one dimension (one layer) at a time.

This is the original PocketFlow's per-layer formulation (AMC-like): one episode per candidate,
one step per dimension, in the order of the search space. The state of a step is the layer's
static features (optional), the step's relative position, and the previous step's action; the
action is the dimension's value in the unit interval. Every step of an episode is recorded with
the candidate's reward, and the last one as terminal.
"""

from __future__ import annotations

import numpy as np

from hpo.optimizer import BACKENDS, Optimizer
from hpo.space import Candidate, SearchSpace
from rl_agents.ddpg import Agent, DdpgConfig


def _normalize_features(layer_features: np.ndarray | None, nb_dimensions: int) -> np.ndarray:
    """Divides each column by its largest absolute value (the original's feature scaling)."""
    if layer_features is None:
        return np.zeros((nb_dimensions, 0), dtype=np.float32)
    features = np.asarray(layer_features, dtype=np.float64)
    if (features.ndim != 2 or features.shape[0] != nb_dimensions
            or not np.all(np.isfinite(features))):
        raise ValueError(f"Expected finite layer_features of shape [{nb_dimensions}, k], one row "
                         f"per dimension. Received: shape {features.shape}")
    scale = np.abs(features).max(axis=0)
    return (features / np.where(scale > 0, scale, 1.0)).astype(np.float32)


@BACKENDS.register("ddpg")
class DdpgSearch(Optimizer):
    """Per-layer search with the DDPG agent of ``rl_agents.ddpg``.

    Args:
        space: the search space; its dimensions are the steps of an episode, in order.
        seed: seeds the agent (weights, noise, replay sampling).
        layer_features: optional static features ``[len(space), k]``, one row per dimension
            (e.g. a layer's channels, kernel size, FLOPs); each column is divided by its largest
            absolute value.
        config: the agent's settings (the ``--ddpg_*`` flags).
        rollouts: planned number of episodes (the noise decays over them).
        warmup_rollouts: warm-up episodes: the replay buffer holds ``len(space) * warmup_rollouts``
            transitions and the agent learns once it is full. Defaults to ``rollouts // 4``
            (at least 1).

    Raises:
        ValueError: for ``rollouts`` or ``warmup_rollouts`` < 1, or features of the wrong shape.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *,
                 layer_features: np.ndarray | None = None, config: DdpgConfig | None = None,
                 rollouts: int = 200, warmup_rollouts: int | None = None):
        super().__init__(space, seed)
        if warmup_rollouts is None:
            warmup_rollouts = max(1, rollouts // 4)
        for name, value in (("rollouts", rollouts), ("warmup_rollouts", warmup_rollouts)):
            if value < 1:
                raise ValueError(f"Expected `{name}` >= 1. Received: {name}={value}")
        self.warmup_rollouts = warmup_rollouts
        self.layer_features = _normalize_features(layer_features, len(space))
        self.agent = Agent(state_dim=self.layer_features.shape[1] + 2, action_dim=1,
                           action_low=0.0, action_high=1.0, rollouts=rollouts,
                           buffer_size=len(space) * warmup_rollouts,
                           config=config or DdpgConfig(), seed=seed)
        self._episode_started = False

    def _state(self, step: int, previous_action: float) -> np.ndarray:
        position = step / (len(self.space) - 1) if len(self.space) > 1 else 0.0
        return np.concatenate([self.layer_features[step], [position, previous_action]],
                              dtype=np.float32)

    def ask(self) -> Candidate:
        self.agent.init_rollout()
        self._episode_started = True
        actions = [0.0]
        for step in range(len(self.space)):
            actions.append(float(self.agent.act(self._state(step, actions[-1])[None])[0, 0]))
        return self.space.from_unit(actions[1:])

    def _observe(self, candidate: Candidate, reward: float) -> None:
        if not self._episode_started:
            # A trial this search did not ask for (reloaded on resume) is an episode all the same:
            # it advances the noise schedule as an asked one would.
            self.agent.init_rollout()
        self._episode_started = False
        # The states are rebuilt from the told values, which may differ from the asked ones.
        actions = self.space.to_unit(candidate)
        nb_steps = len(actions)
        previous_actions = np.concatenate([[0.0], actions[:-1]])
        states = np.stack([self._state(step, previous_actions[step]) for step in range(nb_steps)])
        next_states = np.concatenate([states[1:], states[-1:]])  # the last is terminal: unused
        rewards = np.full(nb_steps, reward)
        terminals = np.zeros(nb_steps)
        terminals[-1] = 1.0
        self.agent.record(states, actions[:, None], rewards, terminals, next_states)
        for _ in range(nb_steps):
            self.agent.train()
        self.agent.finalize_rollout(rewards)

    @property
    def nb_warmup_trials(self) -> int:
        """The episodes that fill the replay buffer: the agent learns only after them."""
        return self.warmup_rollouts

    def resume(self, nb_past_trials: int) -> None:
        super().resume(nb_past_trials)
        self.agent.rng = np.random.default_rng([self.seed, nb_past_trials])
