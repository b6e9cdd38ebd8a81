"""The polynomial sparsity schedule of Zhu and Gupta (2017), "To prune, or not to prune".

The sparsity of a layer whose final sparsity is ``s`` is, after training step ``t``::

    s(t) = s * (1 - (1 - clip((t - t_b) / (t_e - t_b), 0, 1)) ** exponent)

with ``t_b`` and ``t_e`` the steps where pruning begins and ends (fractions ``begin_ratio`` and
``end_ratio`` of the training steps). Masks are recomputed every ``update_step`` steps between
``t_b`` and ``t_e`` and once more at ``t_e``, so the final sparsity is reached whatever the
update interval.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class PolynomialSparsitySchedule:
    """When masks are updated and what fraction of the final sparsity is in force.

    Attributes:
        total_steps: optimizer steps of the whole fine-tuning.
        begin_ratio: fraction of ``total_steps`` at which pruning begins.
        end_ratio: fraction of ``total_steps`` at which the final sparsity is reached.
        exponent: the polynomial's exponent (3 in the paper: fast at first, slow at the end).
        update_step: steps between mask updates.
    """

    total_steps: int
    begin_ratio: float = 0.1
    end_ratio: float = 0.5
    exponent: float = 3.0
    update_step: int = 500

    def __post_init__(self):
        if not (isinstance(self.total_steps, int) and self.total_steps >= 1):
            raise ValueError(f"Expected `total_steps` >= 1. Received: {self.total_steps!r}")
        if not 0.0 <= self.begin_ratio < self.end_ratio <= 1.0:
            raise ValueError("Expected 0 <= `begin_ratio` < `end_ratio` <= 1. Received: "
                             f"begin_ratio={self.begin_ratio}, end_ratio={self.end_ratio}")
        if not self.exponent > 0:
            raise ValueError(f"Expected `exponent` > 0. Received: {self.exponent}")
        if not (isinstance(self.update_step, int) and self.update_step >= 1):
            raise ValueError(f"Expected `update_step` >= 1. Received: {self.update_step!r}")

    @property
    def begin_step(self) -> int:
        """``t_b``: the last step with no pruning (at most ``total_steps - 1``)."""
        return math.floor(self.begin_ratio * self.total_steps)

    @property
    def end_step(self) -> int:
        """``t_e``: the step the final sparsity is reached at (after ``t_b``, at most the last)."""
        return min(self.total_steps, max(self.begin_step + 1, round(self.end_ratio * self.total_steps)))

    def fraction(self, step: int) -> float:
        """``s(step) / s``: the fraction of the final sparsity the formula gives at ``step``."""
        progress = (step - self.begin_step) / (self.end_step - self.begin_step)
        return 1.0 - (1.0 - min(max(progress, 0.0), 1.0)) ** self.exponent

    def sparsity(self, step: int, final_sparsity: float) -> float:
        """``s(step)`` for a layer whose final sparsity is ``final_sparsity``."""
        return final_sparsity * self.fraction(step)

    def is_update_step(self, step: int) -> bool:
        """Whether the masks are recomputed after ``step``: every ``update_step`` steps within
        ``[t_b, t_e]``, and at ``t_e``."""
        if step == self.end_step:
            return True
        return self.begin_step <= step <= self.end_step and step % self.update_step == 0

    def last_update_step(self, step: int) -> int | None:
        """The latest update step ``<= step`` (``None`` before the first)."""
        if step >= self.end_step:
            return self.end_step
        if step < self.begin_step:
            return None
        last = step - step % self.update_step
        return last if last >= self.begin_step else None

    def fraction_in_force(self, step: int) -> float:
        """The fraction the masks hold after ``step``: the one of the latest update (0 before)."""
        last = self.last_update_step(step)
        return 0.0 if last is None else self.fraction(last)
