"""Files a run writes: atomic strict JSON, a JSON-lines event log, atomic Keras saves,
the check that a ``.keras`` file is whole, and the check that an output directory can be
written.

Every file written atomically is first written under :func:`temporary_path` (a hidden name with
the writer's process id) and renamed into place; :func:`remove_stale_temporaries` removes those
that a killed run left behind.
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from absl import logging

from utils.processes import process_alive

if TYPE_CHECKING:
    import keras

T = TypeVar("T")


def strict_json(payload: Any, path: str, **kwargs: Any) -> str:
    """``payload`` as strict JSON text (RFC 8259: no ``NaN`` or ``Infinity``).

    Raises:
        ValueError: naming ``path`` when ``payload`` holds a non-finite number.
    """
    try:
        return json.dumps(payload, allow_nan=False, default=json_default, **kwargs)
    except ValueError as error:
        raise ValueError(f"Expected only finite numbers in what is written to '{path}'. "
                         f"Received: a NaN or infinite value ({error}); nothing was written."
                         ) from None


def write_json_atomic(path: str, payload: Any) -> None:
    """Writes ``payload`` as strict JSON so a kill never leaves a half-written file at ``path``.

    Raises:
        ValueError: when ``payload`` holds NaN or infinity; the file at ``path`` is left as it was.
    """
    write_text_atomic(path, strict_json(payload, path, indent=2, sort_keys=True) + "\n")


def mark_completed(metrics: dict) -> dict:
    """``metrics`` with ``completed_at`` (UTC, ISO 8601) added: the runner's last write.

    A learner writes ``metrics.json`` when its training ends, before evaluation and export; only
    the runner's final write carries ``completed_at``, so a run killed in between (the export
    takes minutes) is told from a finished one by ``is_completed``, and its rerun resumes.
    """
    return {**metrics, "completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def is_completed(metrics_path: str) -> bool:
    """Whether the run that writes ``metrics_path`` got to its end (see ``mark_completed``)."""
    if not os.path.isfile(metrics_path):
        return False
    try:
        with open(metrics_path) as handle:
            return "completed_at" in json.load(handle)
    except (OSError, ValueError):
        return False


_TEMPORARY_NAME = re.compile(r"^\..+\.(\d+)\.tmp(\.\w+)?$")


def temporary_path(path: str, extension: str = "") -> str:
    """The name ``path`` is written under before it is renamed into place: hidden, in the same
    directory, with this process's id (``.metrics.json.1234.tmp``), so that one a killed run left
    behind is told apart and removed (:func:`remove_stale_temporaries`).

    Args:
        path: the final path.
        extension: kept at the end, for a writer that needs it (``.keras``).
    """
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}.tmp{extension}")


def remove_stale_temporaries(directory: str, recursive: bool = True) -> list[str]:
    """Removes the files under ``directory`` that :func:`temporary_path` named for a process that
    is no longer running (a run killed while writing); returns their paths.

    Call it only while holding the directory's run lock (``utils.locks.RunLock``): a live writer's
    files are kept, but this process's own would be taken for stale.
    """

    removed = []
    for root, subdirectories, names in os.walk(directory):
        for name in names:
            match = _TEMPORARY_NAME.match(name)
            pid = int(match.group(1)) if match else None
            if pid is not None and (pid == os.getpid() or not process_alive(pid)):
                path = os.path.join(root, name)
                try:
                    os.remove(path)
                except FileNotFoundError:
                    continue
                removed.append(path)
        if not recursive:
            subdirectories.clear()
    if removed:
        logging.info("Removed %d temporary file(s) that killed runs left: %s", len(removed),
                     ", ".join(removed))
    return removed


def write_text_atomic(path: str, text: str) -> None:
    """Writes ``text`` so a kill never leaves a half-written file at ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = temporary_path(path)
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    os.replace(temporary, path)


def append_json_line(path: str, record: Any) -> None:
    """Appends ``record`` as one JSON line and flushes it to disk before returning."""
    line = strict_json(record, path, sort_keys=True)
    with open(path, "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_json_lines(path: str, parse: Callable[[Any], T], what: str) -> list[T]:
    """The records of a JSON-lines file that :func:`append_json_line` wrote, each through
    ``parse``; ``[]`` if there is no file.

    A partial last line (a kill while it was appended) is dropped from the file with a warning,
    so that ``what`` is done again; any other unreadable line raises ``ValueError`` naming it.
    """
    if not os.path.isfile(path):
        return []
    with open(path) as handle:
        text = handle.read()
    lines = [line for line in text.split("\n") if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(parse(json.loads(line)))
        except (ValueError, TypeError, KeyError) as error:
            if number < len(lines) or text.endswith("\n"):
                raise ValueError(f"Expected one {what} per line in '{path}'. Received at line "
                                 f"{number}: {error}") from None
            logging.warning("Dropping the incomplete last line of %s (a run was killed while "
                            "writing it); that %s is done again.", path, what)
            write_text_atomic(path, "".join(line + "\n" for line in lines[:-1]))
    return records


def keras_file_problem(path: str) -> str | None:
    """What makes ``path`` no whole ``.keras`` file (a zip archive whose members pass their CRC
    check), or ``None`` when it is one. A file cut short, or of another format, is no archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"not a whole zip archive: {error}"
    return None if bad_member is None else f"its member {bad_member} fails its CRC check"


def save_model_atomic(model: keras.Model, path: str) -> None:
    """Saves a ``.keras`` file via a temporary name, so a kill never leaves a corrupt model."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = temporary_path(path, ".keras")
    try:
        model.save(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    os.replace(temporary, path)


def _finite_or_text(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text (``"nan"``, ``"inf"``)."""
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return str(float(value))
    if isinstance(value, dict):
        return {key: _finite_or_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_text(item) for item in value]
    return value


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
        try:
            line = json.dumps(record, allow_nan=False, default=json_default)
        except ValueError:  # a log records what happened, a NaN loss too: as text, still JSON
            line = json.dumps(_finite_or_text(json.loads(json.dumps(record, default=json_default))),
                              allow_nan=False)
        with open(self.path, "a") as handle:
            handle.write(line + "\n")
            handle.flush()


def ensure_writable_dir(path: str, flag: str) -> str:
    """Creates directory ``path`` if needed and proves it writable by writing a file there.

    Args:
        path: the directory.
        flag: the command-line flag it came from (``--save_dir`` ...), named in the error.

    Returns:
        ``path``'s absolute form.

    Raises:
        ValueError: naming ``flag`` and ``path`` when it is a file, or cannot be created or written.
    """
    absolute = os.path.abspath(path)
    if os.path.exists(absolute) and not os.path.isdir(absolute):
        raise ValueError(f"Expected {flag} to be a directory. Received: {flag}={path} "
                         f"('{absolute}' is a file)")
    try:
        os.makedirs(absolute, exist_ok=True)
        probe = temporary_path(os.path.join(absolute, "write-test"))
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise ValueError(f"Expected {flag} to be a directory this run can write. Received: "
                         f"{flag}={path} ({error.strerror or error}: "
                         f"'{error.filename or absolute}')") from None
    return absolute
