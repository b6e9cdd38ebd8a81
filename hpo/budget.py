"""Budgets: a resource measure of a candidate that must stay under a limit.

Every backend's candidate goes through the same projection before it is evaluated: if it is over
budget, the dimensions the budget controls are moved toward their lower bounds, all by the same
fraction of their distance to the bound, until the measure fits (bisection on that fraction).
The projected candidate is what gets evaluated and told to the optimizer.

The measure must not decrease when any controlled dimension increases (true for FLOPs, parameters
or bytes kept as a function of keep ratios, and for average bits as a function of bit-widths).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from hpo.space import Candidate, Categorical, Integer, SearchSpace

BUDGET_KINDS = ("flops", "params", "bytes", "bits", "latency", "custom")


class InfeasibleBudgetError(ValueError):
    """Even with every controlled dimension at its lower bound the measure exceeds the limit."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """``measure(candidate) <= limit``, enforced by projection.

    Attributes:
        kind: what is measured (``flops``, ``params``, ``bytes``, ``bits``, ...), for messages.
        limit: the largest allowed value of ``measure``.
        measure: computes the resource of a candidate, e.g. the fraction of FLOPs kept.
        names: the dimensions the projection may lower (default: every numeric dimension).
        steps: bisection steps of the projection.
        fill: also raise a candidate under the limit: its controlled dimensions move toward their
            upper bounds, all by the same fraction of their distance, as far as the limit allows
            (a budget to use, e.g. "keep 50 % of the FLOPs", not only to respect).
    """

    kind: str
    limit: float
    measure: Callable[[Mapping[str, Any]], float]
    names: tuple[str, ...] | None = None
    steps: int = 40
    fill: bool = False

    def __post_init__(self):
        if self.kind not in BUDGET_KINDS:
            raise ValueError(f"Expected a budget kind in {BUDGET_KINDS}. Received: {self.kind!r}")
        if not callable(self.measure):
            raise ValueError(f"Expected a callable measure. Received: {self.measure!r}")  # noqa: TRY004 (bad input: main reports ValueErrors)
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))
        if self.steps < 1:
            raise ValueError(f"Expected steps >= 1. Received: {self.steps}")

    def controlled(self, space: SearchSpace) -> list:
        """The dimensions of ``space`` the projection moves."""
        if self.names is None:
            return [d for d in space if not isinstance(d, Categorical)]
        unknown = [n for n in self.names if n not in space.names]
        if unknown:
            raise ValueError(f"Expected budget dimensions among {space.names}. Received unknown: {unknown}")
        dims = [space[n] for n in self.names]
        categorical = [d.name for d in dims if isinstance(d, Categorical)]
        if categorical:
            raise ValueError(f"Expected numeric budget dimensions. Received categorical: {categorical}")
        return dims

    def lowest(self, space: SearchSpace, candidate: Mapping[str, Any]) -> Candidate:
        """``candidate`` with every controlled dimension at its lower bound."""
        return self._toward_lower_bounds(space, space.validate(candidate), 0.0)

    def check_feasible(self, space: SearchSpace, candidate: Mapping[str, Any] | None = None) -> None:
        """Raises ``InfeasibleBudgetError`` if no candidate can meet the budget.

        The check uses ``candidate`` (default: the space's upper corner) for the dimensions the
        budget does not control.
        """
        if candidate is None:
            candidate = space.from_unit([1.0] * len(space))
        floor = self.lowest(space, candidate)
        value = float(self.measure(floor))
        if value > self.limit:
            raise InfeasibleBudgetError(
                f"Expected a {self.kind} budget of {self.limit:g} that some candidate can meet. "
                f"Received: even with every controlled dimension at its lower bound the {self.kind} "
                f"measure is {value:g}. Raise the limit or lower the dimensions' lower bounds.")

    def project(self, space: SearchSpace, candidate: Mapping[str, Any]) -> Candidate:
        """The candidate itself if within budget, else its projection onto the budget.

        Raises:
            InfeasibleBudgetError: if even the lower bounds exceed the limit.
        """
        candidate = space.validate(candidate)
        if float(self.measure(candidate)) <= self.limit:
            return self._fill(space, candidate) if self.fill else candidate
        self.check_feasible(space, candidate)
        return self._farthest_within(lambda f: self._toward_lower_bounds(space, candidate, f))

    def _fill(self, space: SearchSpace, candidate: Candidate) -> Candidate:
        """The farthest point toward the upper bounds that stays within the limit."""
        return self._farthest_within(lambda f: self._toward_upper_bounds(space, candidate, f))

    def _farthest_within(self, moved: Callable[[float], Candidate]) -> Candidate:
        """``moved(f)`` for the largest ``f`` in [0, 1] within the limit (``moved(0)`` is)."""
        if float(self.measure(moved(1.0))) <= self.limit:
            return moved(1.0)
        feasible, infeasible = 0.0, 1.0
        for _ in range(self.steps):
            middle = (feasible + infeasible) / 2
            if float(self.measure(moved(middle))) <= self.limit:
                feasible = middle
            else:
                infeasible = middle
        return moved(feasible)

    def _toward_upper_bounds(self, space: SearchSpace, candidate: Candidate, fraction: float) -> Candidate:
        """Each controlled value at ``value + fraction * (high - value)``."""
        return self._between(space, candidate, lambda dim: candidate[dim.name], lambda dim: dim.high,
                             fraction)

    def _toward_lower_bounds(self, space: SearchSpace, candidate: Candidate, fraction: float) -> Candidate:
        """Each controlled value at ``low + fraction * (value - low)``."""
        return self._between(space, candidate, lambda dim: dim.low, lambda dim: candidate[dim.name],
                             fraction)

    def _between(self, space: SearchSpace, candidate: Candidate, start, end, fraction: float) -> Candidate:
        """``candidate`` with each controlled value at ``start + fraction * (end - start)``."""
        moved = dict(candidate)
        for dim in self.controlled(space):
            value = start(dim) + fraction * (end(dim) - start(dim))
            # Rounding integers down keeps the measure monotone in ``fraction``.
            moved[dim.name] = dim.clip(math.floor(value + 1e-9)) if isinstance(dim, Integer) else dim.clip(value)
        return moved
