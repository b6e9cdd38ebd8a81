"""Search spaces: a list of named dimensions, with a map to and from the unit cube.

A candidate is a plain ``dict`` from dimension name to value (``float`` for continuous, ``int``
for integer, the choice itself for categorical dimensions). Every backend can work in the unit
cube ``[0, 1]^d`` (``to_unit`` / ``from_unit``); a per-layer vector is one dimension per layer
(``per_layer``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

Candidate = dict[str, Any]


def _check_bounds(kind: str, name: str, low: float, high: float, log: bool) -> None:
    if not name:
        raise ValueError(f"Expected a non-empty name for a {kind} dimension. Received: {name!r}")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"Expected finite low < high for {kind} dimension '{name}'. "
                         f"Received: low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"Expected low > 0 for log-scaled dimension '{name}'. Received: low={low}")


@dataclasses.dataclass(frozen=True)
class Continuous:
    """A real value in ``[low, high]``, searched on a log scale if ``log``."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        _check_bounds("continuous", self.name, self.low, self.high, self.log)

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if u in (0.0, 1.0):  # exact bounds (exp(log(low)) is not always low)
            return float(self.high if u else self.low)
        if self.log:
            return self.clip(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def to_unit(self, value: Any) -> float:
        value = min(max(float(value), self.low), self.high)
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def clip(self, value: Any) -> float:
        return float(min(max(float(value), self.low), self.high))

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class Integer:
    """An integer in ``[low, high]`` (both included), on a log scale if ``log``."""

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        _check_bounds("integer", self.name, self.low, self.high, self.log)
        if int(self.low) != self.low or int(self.high) != self.high:
            raise ValueError(f"Expected integer bounds for dimension '{self.name}'. "
                             f"Received: low={self.low}, high={self.high}")

    def from_unit(self, u: float) -> int:
        # Each integer owns an equal slice of [0, 1] (of log space if ``log``).
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(self.high + 0.5)
            return self.clip(round(math.exp(lo + u * (hi - lo))))
        return self.clip(math.floor(self.low - 0.5 + u * (self.high - self.low + 1) + 0.5))

    def to_unit(self, value: Any) -> float:
        value = self.clip(value)
        if self.log:
            lo, hi = math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(self.high + 0.5)
            return (math.log(value) - lo) / (hi - lo)
        return (value - self.low + 0.5) / (self.high - self.low + 1)

    def clip(self, value: Any) -> int:
        return int(min(max(round(float(value)), self.low), self.high))

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (strings, numbers or booleans)."""

    name: str
    choices: tuple

    def __post_init__(self):
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.name:
            raise ValueError(f"Expected a non-empty name for a categorical dimension. Received: {self.name!r}")
        if len(self.choices) < 2 or len(set(map(repr, self.choices))) != len(self.choices):
            raise ValueError(f"Expected at least two distinct choices for dimension '{self.name}'. "
                             f"Received: {list(self.choices)}")

    def from_unit(self, u: float) -> Any:
        index = min(int(min(max(float(u), 0.0), 1.0) * len(self.choices)), len(self.choices) - 1)
        return self.choices[index]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def index(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            if choice == value and type(choice) is type(value) or repr(choice) == repr(value):
                return i
        raise ValueError(f"Expected one of {list(self.choices)} for dimension '{self.name}'. "
                         f"Received: {value!r}")

    def clip(self, value: Any) -> Any:
        return self.choices[self.index(value)]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True


Dimension = Continuous | Integer | Categorical


def per_layer(prefix: str, nb_layers: int, low: float, high: float, log: bool = False) -> list[Continuous]:
    """One continuous dimension per layer, named ``<prefix>_000``, ``<prefix>_001``, ..."""
    if nb_layers < 1:
        raise ValueError(f"Expected nb_layers >= 1. Received: {nb_layers}")
    return [Continuous(f"{prefix}_{i:03d}", low, high, log) for i in range(nb_layers)]


class SearchSpace:
    """An ordered list of named dimensions.

    Args:
        dimensions: the dimensions, in the order backends see them (for DDPG: the order of the
            decisions within an episode).
    """

    def __init__(self, dimensions: Iterable[Dimension]):
        self.dimensions: tuple[Dimension, ...] = tuple(dimensions)
        if not self.dimensions:
            raise ValueError("Expected at least one dimension in the search space. Received: none")
        names = [d.name for d in self.dimensions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Expected unique dimension names. Received duplicates: {duplicates}")
        self._by_name = {d.name: d for d in self.dimensions}

    def __len__(self) -> int:
        return len(self.dimensions)

    def __iter__(self):
        return iter(self.dimensions)

    def __getitem__(self, name: str) -> Dimension:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def sample(self, rng: np.random.Generator) -> Candidate:
        """A candidate drawn uniformly (in each dimension's own scale)."""
        return self.from_unit(rng.uniform(size=len(self)))

    def from_unit(self, point: Sequence[float]) -> Candidate:
        point = np.asarray(point, dtype=float).reshape(-1)
        if point.shape[0] != len(self):
            raise ValueError(f"Expected a point with {len(self)} coordinates. Received: {point.shape[0]}")
        return {d.name: d.from_unit(u) for d, u in zip(self.dimensions, point)}

    def to_unit(self, candidate: Mapping[str, Any]) -> np.ndarray:
        self.validate(candidate)
        return np.array([d.to_unit(candidate[d.name]) for d in self.dimensions])

    def validate(self, candidate: Mapping[str, Any]) -> Candidate:
        """Checks names and ranges; returns the candidate with values in canonical types.

        Raises:
            ValueError: naming missing, unknown or out-of-range entries.
        """
        missing = [n for n in self.names if n not in candidate]
        unknown = [n for n in candidate if n not in self._by_name]
        if missing or unknown:
            raise ValueError(f"Expected a candidate with exactly the dimensions {self.names}. "
                             f"Received: missing {missing}, unknown {unknown}")
        result = {}
        for d in self.dimensions:
            value = candidate[d.name]
            if isinstance(d, Categorical):
                result[d.name] = d.clip(value)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"Expected a number for dimension '{d.name}'. Received: {value!r}")  # noqa: TRY004 (bad input)
            if not d.low - 1e-9 * abs(d.high - d.low) <= float(value) <= d.high + 1e-9 * abs(d.high - d.low):
                raise ValueError(f"Expected {d.low} <= {d.name} <= {d.high}. Received: {value}")
            result[d.name] = d.clip(value)
        return result

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> list[dict]:
        rows = []
        for d in self.dimensions:
            if isinstance(d, Categorical):
                rows.append({"name": d.name, "type": "categorical", "choices": list(d.choices)})
            else:
                rows.append({"name": d.name, "type": "continuous" if isinstance(d, Continuous) else "integer",
                             "low": d.low, "high": d.high, "log": d.log})
        return rows

    @classmethod
    def from_json(cls, rows: Any, source: str = "search space") -> SearchSpace:
        """Builds a space from ``[{"name", "type", "low", "high", "log"} | {"name", "type": "categorical", "choices"}]``.

        Raises:
            ValueError: naming the entry of ``source`` that is malformed.
        """
        if isinstance(rows, Mapping) and "dimensions" in rows:
            rows = rows["dimensions"]
        if not isinstance(rows, list):
            raise ValueError(f"Expected {source} to be a JSON list of dimensions. Received: {type(rows).__name__}")  # noqa: TRY004 (bad input)
        dimensions = []
        for i, row in enumerate(rows):
            where = f"{source}, entry {i}"
            if not isinstance(row, Mapping) or "name" not in row or "type" not in row:
                raise ValueError(f"Expected {where} to be an object with 'name' and 'type'. Received: {row!r}")
            kind = row["type"]
            extra = set(row) - {"name", "type", "low", "high", "log", "choices"}
            if extra:
                raise ValueError(f"Unexpected keys {sorted(extra)} in {where}.")
            try:
                if kind == "categorical":
                    dimensions.append(Categorical(row["name"], tuple(row["choices"])))
                elif kind in ("continuous", "float", "real"):
                    dimensions.append(Continuous(row["name"], float(row["low"]), float(row["high"]),
                                                 bool(row.get("log", False))))
                elif kind in ("integer", "int"):
                    dimensions.append(Integer(row["name"], int(row["low"]), int(row["high"]),
                                              bool(row.get("log", False))))
                else:
                    raise ValueError(f"Expected type continuous, integer or categorical in {where}. "
                                     f"Received: {kind!r}")
            except KeyError as error:
                raise ValueError(f"Expected key {error} in {where}. Received: {dict(row)}") from None
        return cls(dimensions)

    @classmethod
    def from_file(cls, path: str) -> SearchSpace:
        """Reads a space from a JSON file (see ``from_json``)."""
        try:
            with open(path) as handle:
                rows = json.load(handle)
        except FileNotFoundError:
            raise FileNotFoundError(f"Expected a search-space JSON file at '{path}'. Received: no such file") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"Expected valid JSON in search-space file '{path}'. Received: {error}") from None
        return cls.from_json(rows, source=f"'{path}'")
