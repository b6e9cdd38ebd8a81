"""A channel-pruning plan: the kept channels of each prunable group, as a replayable JSON file.

A plan names groups of a ``DependencyGraph`` (``learners.pruning.graph``) and lists, for each,
the indices of the channels to keep; groups it leaves out keep all their channels. It predicts
the pruned model's parameters and MACs from the graph alone, and ``apply_plan``
(``learners.pruning.surgery``) turns it into a physically smaller model. The JSON file::

    {"format": "pocketflow.channel_pruning_plan", "version": 1, "model": "resnet_20",
     "groups": {"stem_conv": {"channels": 16, "kept": [0, 2, 3, ...]}, ...}}
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from learners.pruning.graph import ChannelGroup, DependencyGraph
from utils.flops import LayerCost
from utils.io import write_json_atomic

PLAN_FORMAT = "pocketflow.channel_pruning_plan"
PLAN_VERSION = 1


def _normalize_indices(group: str, indices: Any) -> tuple[int, ...]:
    """Checks and sorts one group's kept indices.

    Raises:
        ValueError: if they are not a non-empty collection of distinct non-negative integers.
    """
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise ValueError(  # noqa: TRY004 (bad input: a plan file's content)
            f"Expected a list of kept channel indices for group '{group}'. "
            f"Received: {indices!r}")
    values = list(indices)
    bad = [value for value in values
           if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0]
    if bad:
        raise ValueError(f"Expected non-negative integer channel indices for group '{group}'. "
                         f"Received: {bad}")
    if not values:
        raise ValueError(f"Expected at least one kept channel in group '{group}'. "
                         "Received: an empty list (a group cannot be removed entirely).")
    normalized = sorted(int(value) for value in values)
    duplicates = sorted({a for a, b in itertools.pairwise(normalized) if a == b})
    if duplicates:
        raise ValueError(f"Expected distinct kept channel indices for group '{group}'. "
                         f"Received duplicates: {duplicates}")
    return tuple(normalized)


@dataclasses.dataclass(frozen=True)
class PruningPlan:
    """Kept channel indices per prunable channel group.

    Args:
        kept: group name -> indices of the channels to keep (any order; stored sorted).
        channels: group name -> the group's channel count when the plan was made; when given,
            ``validate`` checks that the model still has it.
        model_name: the name of the model the plan was made for (informative).

    Raises:
        ValueError: for empty, negative, non-integer or repeated indices, an index not below the
            group's recorded channel count, or a channel count without kept indices.
    """

    kept: Mapping[str, tuple[int, ...]]
    channels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    model_name: str | None = None

    def __post_init__(self):
        kept = {str(name): _normalize_indices(str(name), indices)
                for name, indices in dict(self.kept).items()}
        channels = {}
        for name, count in dict(self.channels).items():
            if name not in kept:
                raise ValueError(f"Expected kept indices for group '{name}' whose channel count "
                                 "is recorded. Received: no 'kept' entry.")
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
                raise ValueError(f"Expected a positive channel count for group '{name}'. "
                                 f"Received: {count!r}")
            if kept[name][-1] >= count:
                raise ValueError(f"Expected kept channel indices of group '{name}' in [0, "
                                 f"{count}). Received: {kept[name][-1]}")
            channels[name] = int(count)
        object.__setattr__(self, "kept", kept)
        object.__setattr__(self, "channels", channels)

    @classmethod
    def for_graph(cls, graph: DependencyGraph,
                  kept: Mapping[str, Iterable[int]]) -> PruningPlan:
        """A plan for ``graph`` recording each group's channel count, validated against it."""
        plan = cls(kept={name: tuple(indices) for name, indices in kept.items()},
                   channels={name: graph.group(name).channels for name in kept},
                   model_name=graph.model_name)
        plan.validate(graph)
        return plan

    # ----------------------------------------------------------------- checks
    def validate(self, graph: DependencyGraph) -> None:
        """Checks the plan against a model's graph.

        Raises:
            ValueError: naming the group, when it is unknown, not prunable, has another channel
                count than when the plan was made, or an index out of range.
        """
        prunable = ", ".join(group.name for group in graph.prunable_groups) or "(none)"
        for name, indices in self.kept.items():
            if name not in graph:
                raise ValueError(f"Unknown channel group '{name}' in the pruning plan. Expected "
                                 f"one of the prunable groups of model '{graph.model_name}': "
                                 f"{prunable}.")
            group = graph.group(name)
            if not group.prunable:
                raise ValueError(f"Expected only prunable groups in the pruning plan. Received: "
                                 f"group '{name}', which is not prunable ({group.reason}).")
            if name in self.channels and self.channels[name] != group.channels:
                raise ValueError(f"Expected group '{name}' to have {self.channels[name]} "
                                 f"channels, as when the plan was made. Received: a model whose "
                                 f"group '{name}' has {group.channels}.")
            if indices[-1] >= group.channels:
                raise ValueError(f"Expected kept channel indices of group '{name}' in [0, "
                                 f"{group.channels}). Received: {indices[-1]}")
            for layer, channels in group.segments:
                if not set(channels) & set(indices):
                    raise ValueError(f"Expected group '{name}' to keep at least one of channels "
                                     f"{list(channels)}, the outputs of layer '{layer}'. "
                                     f"Received: kept={list(indices)}")
        emptied = graph.emptied_layers(self.kept)
        if emptied:
            raise ValueError(f"Expected every layer to keep at least one output channel. "
                             f"Received: a plan (groups {', '.join(self.kept)}) that removes "
                             f"every output channel of {', '.join(emptied)}.")

    # ----------------------------------------------------------------- predictions
    def predicted_costs(self, graph: DependencyGraph) -> list[LayerCost]:
        """Per-layer parameters and MACs of the pruned model (``utils.flops`` rows), predicted
        from the graph without building the model.

        Raises:
            ValueError: if the plan does not fit the graph.
        """
        self.validate(graph)
        return graph.predict_costs(self.kept)

    def predicted_params(self, graph: DependencyGraph) -> int:
        """Parameters of the pruned model (``utils.flops.total_params`` after surgery)."""
        return sum(cost.params for cost in self.predicted_costs(graph))

    def predicted_macs(self, graph: DependencyGraph) -> int:
        """Multiply-accumulates of the pruned model (``utils.flops.total_macs`` after surgery)."""
        return sum(cost.macs for cost in self.predicted_costs(graph))

    def predicted_flops(self, graph: DependencyGraph) -> int:
        """``2 * predicted_macs(graph)``."""
        return 2 * self.predicted_macs(graph)

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see the module docstring)."""
        groups = {}
        for name, indices in self.kept.items():
            entry: dict[str, Any] = {"kept": list(indices)}
            if name in self.channels:
                entry["channels"] = self.channels[name]
            groups[name] = entry
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, "model": self.model_name,
                "groups": groups}

    @classmethod
    def from_dict(cls, payload: Any, source: str = "the plan") -> PruningPlan:
        """The plan ``to_dict`` returned.

        Args:
            payload: the decoded JSON.
            source: what to call it in error messages (e.g. the file name).

        Raises:
            ValueError: naming ``source``, when the payload is not a plan of this version.
        """
        if not isinstance(payload, dict) or payload.get("format") != PLAN_FORMAT:
            raise ValueError(f"Expected {source} to be a JSON object with "
                             f"format='{PLAN_FORMAT}'. Received: "
                             f"{type(payload).__name__} with format="
                             f"{payload.get('format') if isinstance(payload, dict) else None!r}")
        if payload.get("version") != PLAN_VERSION:
            raise ValueError(f"Expected version {PLAN_VERSION} in {source}. Received: "
                             f"version={payload.get('version')!r}")
        groups = payload.get("groups")
        if not isinstance(groups, dict) or not all(
                isinstance(entry, dict) and "kept" in entry for entry in groups.values()):
            raise ValueError(f"Expected 'groups' in {source} to map group names to objects "
                             f"with a 'kept' list. Received: {groups!r}")
        try:
            return cls(kept={name: entry["kept"] for name, entry in groups.items()},
                       channels={name: entry["channels"] for name, entry in groups.items()
                                 if "channels" in entry},
                       model_name=payload.get("model"))
        except ValueError as error:
            raise ValueError(f"Invalid pruning plan in {source}: {error}") from None

    def save(self, path: str) -> None:
        """Writes the plan as JSON, atomically."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> PruningPlan:
        """Reads a plan ``save`` wrote.

        Raises:
            ValueError: naming the file, when it is not valid JSON or not a plan.
            FileNotFoundError: if there is no such file.
        """
        with open(path) as handle:
            try:
                payload = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"Expected a JSON pruning plan in '{path}'. Received: "
                                 f"invalid JSON ({error}).") from None
        return cls.from_dict(payload, source=f"'{path}'")


def keep_count(channels: int, keep_ratio: float, round_to: int = 1) -> int:
    """How many of ``channels`` to keep at ``keep_ratio``.

    ``round(channels * keep_ratio)`` (half up), at least 1; with ``round_to`` N > 1 (the
    ``--cp_round_to`` flag) the nearest multiple of N, at least N; never more than ``channels``.

    Raises:
        ValueError: if ``keep_ratio`` is not in (0, 1] or ``round_to`` < 1 or ``channels`` < 1.
    """
    if isinstance(keep_ratio, bool) or not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"Expected `keep_ratio` in (0, 1]. Received: keep_ratio={keep_ratio!r}")
    if isinstance(round_to, bool) or not isinstance(round_to, numbers.Integral) or round_to < 1:
        raise ValueError(f"Expected an integer `round_to` >= 1. Received: round_to={round_to!r}")
    if channels < 1:
        raise ValueError(f"Expected `channels` >= 1. Received: channels={channels}")
    count = max(round_to, round_to * math.floor(channels * keep_ratio / round_to + 0.5))
    return min(channels, count)


def uniform_plan(graph: DependencyGraph, keep_ratio: float, round_to: int = 1) -> PruningPlan:
    """Keeps the first ``keep_count(channels, keep_ratio, round_to)`` channels of every
    prunable group.

    A group whose segments (``ChannelGroup.segments``, e.g. the branches of a concatenation
    added to a projection) would lose all their channels also keeps the first channel of each
    such segment, so its kept count can exceed the rounded one.

    Args:
        graph: the model's dependency graph.
        keep_ratio: fraction of each group's channels to keep, in (0, 1].
        round_to: round kept counts to multiples of this (at least it, or the full count).

    Raises:
        ValueError: if ``keep_ratio`` or ``round_to`` is out of range.
    """
    kept = {}
    for group in graph.prunable_groups:
        indices = set(range(keep_count(group.channels, keep_ratio, round_to)))
        kept[group.name] = cover_segments(group, indices)
    return PruningPlan.for_graph(graph, kept)


def cover_segments(group: ChannelGroup, indices: Iterable[int]) -> list[int]:
    """``indices`` plus the first channel of every segment of ``group`` they miss, sorted.

    A channel-selection criterion can call it to turn its choice into a valid plan entry.
    """
    kept = set(indices)
    for _, channels in group.segments:
        if not kept & set(channels):
            kept.add(channels[0])
    return sorted(kept)
