"""A fixed-size ring buffer of transitions, sampled uniformly."""

from __future__ import annotations

import numpy as np

FIELDS = ("states", "actions", "rewards", "terminals", "next_states")


class ReplayBuffer:
    """Holds the latest ``size`` transitions ``(state, action, reward, terminal, next_state)``.

    The buffer is ``is_ready`` only once completely full: an agent does not train before it has
    seen ``size`` transitions, which makes the first roll-outs pure exploration (warm-up).

    Args:
        state_dim: length of a state vector.
        action_dim: length of an action vector.
        size: number of transitions kept.
    """

    def __init__(self, state_dim: int, action_dim: int, size: int):
        if size < 1:
            raise ValueError(f"Expected a replay buffer size >= 1. Received: {size}")
        self.size = size
        widths = {"states": state_dim, "actions": action_dim, "rewards": 1, "terminals": 1,
                      "next_states": state_dim}
        self.arrays = {name: np.zeros((size, widths[name]), dtype=np.float32) for name in FIELDS}
        self._next_index = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def is_ready(self) -> bool:
        """Whether the buffer is full (and the agent may train)."""
        return self._count == self.size

    def append(self, states, actions, rewards, terminals, next_states) -> None:
        """Appends a batch of transitions (one per row), overwriting the oldest when full.

        Args:
            states: ``[n, state_dim]``.
            actions: ``[n, action_dim]``.
            rewards: ``[n]`` or ``[n, 1]``.
            terminals: ``[n]`` or ``[n, 1]``, 1 where the episode ended with this transition.
            next_states: ``[n, state_dim]``.

        Raises:
            ValueError: if the rows do not fit the buffer's widths or differ in number.
        """
        rows = {}
        for name, value in zip(FIELDS, (states, actions, rewards, terminals, next_states)):
            width = self.arrays[name].shape[1]
            value = np.asarray(value, dtype=np.float32)
            value = value.reshape(-1, 1) if width == 1 and value.ndim == 1 else value
            if value.ndim != 2 or value.shape[1] != width:
                raise ValueError(f"Expected `{name}` of shape [n, {width}]. "
                                 f"Received: {value.shape}")
            rows[name] = value
        counts = {name: len(value) for name, value in rows.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"Expected the same number of rows in every field. Received: {counts}")
        count = counts["states"]
        # Only the last `size` rows of an oversized batch survive the wrap-around.
        indices = ((self._next_index + np.arange(count)) % self.size)[-self.size:]
        for name, value in rows.items():
            self.arrays[name][indices] = value[-self.size:]
        self._next_index = (self._next_index + count) % self.size
        self._count = min(self._count + count, self.size)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement, ``{field: [batch, width]}``.

        Raises:
            ValueError: if the buffer is empty.
        """
        if self._count == 0:
            raise ValueError("Expected a non-empty replay buffer to sample from. "
                             "Received: 0 transitions")
        indices = rng.integers(0, self._count, size=batch_size)
        return {name: array[indices] for name, array in self.arrays.items()}
