"""The trial store: every finished trial as one JSON line, and the best one in its own file.

Layout under the search directory:

- ``search.json`` -- what the search is (backend, space, budget kind and limit); a search started
  again on the same directory must match it.
- ``trials.jsonl`` -- one object per finished trial: ``trial``, ``candidate`` (as asked),
  ``projected`` (as evaluated and told), ``reward``, ``metrics``, ``seconds``, ``time``.
- ``best.json`` -- the best trial so far, rewritten atomically whenever it changes.
- other ``*.jsonl`` files of later stages (``hpo.rescore``), whose records carry ``seconds`` too;
  ``stored_seconds`` adds them all up: the search's compute over every launch.

A kill can at worst leave a partial last line in ``trials.jsonl``; loading drops it with a warning
(that trial is simply run again).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

from utils.io import append_json_line, json_default, read_json_lines, write_json_atomic


def stored_seconds(directory: str) -> float:
    """The ``seconds`` of every record in the ``*.jsonl`` files under ``directory`` (0 if there
    are none): the time the trials and re-scores of a search took, over all its launches."""
    if not os.path.isdir(directory):
        return 0.0
    return sum(float(record.get("seconds", 0.0))
               for name in sorted(os.listdir(directory)) if name.endswith(".jsonl")
               for record in read_json_lines(os.path.join(directory, name), dict, "record"))


@dataclasses.dataclass(frozen=True)
class Trial:
    """One evaluated candidate."""

    trial: int
    candidate: dict[str, Any]
    projected: dict[str, Any]
    reward: float
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TrialStore:
    """Appends trials to ``<directory>/trials.jsonl`` and keeps ``best.json`` current.

    Args:
        directory: the search's directory (created if needed).
        description: what the search is (``backend``, ``space``, budget ...), JSON-serialisable;
            written to ``search.json`` the first time and compared on every later start.

    Raises:
        ValueError: if the directory holds a different search.
    """

    def __init__(self, directory: str, description: dict[str, Any]):
        self.directory = directory
        self.trials_path = os.path.join(directory, "trials.jsonl")
        self.best_path = os.path.join(directory, "best.json")
        self.search_path = os.path.join(directory, "search.json")
        os.makedirs(directory, exist_ok=True)
        description = json.loads(json.dumps(description, default=json_default))
        if os.path.isfile(self.search_path):
            with open(self.search_path) as handle:
                stored = json.load(handle)
            if stored != description:
                changed = sorted(k for k in set(stored) | set(description) if stored.get(k) != description.get(k))
                raise ValueError(
                    f"Expected the search in '{directory}' to match this one to resume it. Received: "
                    f"a search that differs in {changed}. Use another --save_dir, or delete "
                    f"'{directory}' to start over.")
        else:
            write_json_atomic(self.search_path, description)
        self.trials: list[Trial] = self._load()

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def best(self) -> Trial | None:
        """The trial with the highest reward (the earliest one on ties), or ``None``."""
        best = None
        for trial in self.trials:
            if best is None or trial.reward > best.reward:
                best = trial
        return best

    def append(self, trial: Trial) -> None:
        """Writes ``trial`` durably, then updates ``best.json`` if it is the new best."""
        previous_best = self.best
        append_json_line(self.trials_path, trial.to_dict())
        self.trials.append(trial)
        if previous_best is None or trial.reward > previous_best.reward:
            write_json_atomic(self.best_path, trial.to_dict())

    def new_trial(self, candidate, projected, reward, metrics=None, seconds=0.0) -> Trial:
        """A ``Trial`` numbered after the stored ones."""
        return Trial(trial=len(self.trials), candidate=dict(candidate), projected=dict(projected),
                     reward=float(reward), metrics=dict(metrics or {}), seconds=float(seconds),
                     time=round(time.time(), 3))

    def _load(self) -> list[Trial]:
        return read_json_lines(self.trials_path, lambda record: Trial(**record), "trial")
