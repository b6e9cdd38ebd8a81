"""Running mean and standard deviation of vectors (for state normalisation)."""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Accumulates the sum, the sum of squares and the count of samples.

    Before any sample the mean is 0 and the standard deviation 1; afterwards the variance is
    floored at ``epsilon``, so that constant coordinates do not divide by zero.

    Args:
        dim: length of a sample vector.
        epsilon: smallest variance.
    """

    def __init__(self, dim: int, epsilon: float = 1e-4):
        self.epsilon = epsilon
        self.total = np.zeros(dim)
        self.total_of_squares = np.zeros(dim)
        self.count = 0

    def update(self, samples: np.ndarray) -> None:
        """Adds ``samples`` (``[n, dim]``) to the statistics."""
        samples = np.asarray(samples, dtype=np.float64).reshape(-1, self.total.shape[0])
        self.total += samples.sum(axis=0)
        self.total_of_squares += np.square(samples).sum(axis=0)
        self.count += samples.shape[0]

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count if self.count else np.zeros_like(self.total)

    @property
    def std(self) -> np.ndarray:
        if not self.count:
            return np.ones_like(self.total)
        variance = self.total_of_squares / self.count - np.square(self.mean)
        return np.sqrt(np.maximum(variance, self.epsilon))

    def normalize(self, samples: np.ndarray) -> np.ndarray:
        """``(samples - mean) / std``, in float32."""
        return ((samples - self.mean) / self.std).astype(np.float32)
