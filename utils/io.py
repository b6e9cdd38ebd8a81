"""Files a run writes: atomic JSON, a JSON-lines event log, atomic Keras saves."""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


def write_json_atomic(path: str, payload: Any) -> None:
    """Writes ``payload`` as JSON so a kill never leaves a half-written file at ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=json_default)
        handle.write("\n")
    os.replace(handle.name, path)


def write_text_atomic(path: str, text: str) -> None:
    """Writes ``text`` so a kill never leaves a half-written file at ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def append_json_line(path: str, record: Any) -> None:
    """Appends ``record`` as one JSON line and flushes it to disk before returning."""
    line = json.dumps(record, default=json_default, sort_keys=True)
    with open(path, "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def save_model_atomic(model: keras.Model, path: str) -> None:
    """Saves a ``.keras`` file via a temporary name, so a kill never leaves a corrupt model."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)


def json_default(value):
    """`json.dump`'s ``default``: NumPy scalars and arrays as Python values, anything else as text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class EventLog:
    """Appends one JSON object per line (``events.jsonl``): what happened, when.

    With ``path=None`` (workers other than the chief) it writes nothing.
    """

    def __init__(self, path: str | None):
        self.path = path
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"time": round(time.time(), 3), "event": event, **fields}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, default=json_default) + "\n")
            handle.flush()
