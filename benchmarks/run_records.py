"""The small records of benchmark runs, kept in the repository so that they outlive the machine.

A run's search trials, plan and metrics are kilobytes of JSON; its checkpoints and models are
megabytes. The machines these benchmarks run on can be lost with everything on them, so
``resnet20_queue`` copies each run's records into ``benchmarks/records/<run directory>/`` while
it runs, and copies them back into a run directory that lacks them before the run starts: a
search resumes from its stored trials, a run whose plan is recorded fine-tunes that plan without
searching again, and a finished run is not run again. Commit the folder to keep them.

A record is any ``*.json`` or ``*.jsonl`` file of the run directory outside ``checkpoints/``
(``metrics.json``, ``plan.json``, ``selection.json``, ``search/``): what the checkpoints would
need beside them (``checkpoints/train_seconds.json``) is left out with them.
"""

from __future__ import annotations

import os

from utils.io import write_text_atomic

RECORD_SUFFIXES = (".json", ".jsonl")
SKIPPED_DIRECTORIES = ("checkpoints",)


def record_files(directory: str) -> list[str]:
    """The records under ``directory``, as sorted paths relative to it (``[]`` if it is
    missing)."""
    found = []
    for root, subdirectories, names in os.walk(directory):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRECTORIES)
        found += [os.path.relpath(os.path.join(root, name), directory) for name in names
                  if name.endswith(RECORD_SUFFIXES)]
    return sorted(found)


def _same_bytes(path: str, other: str) -> bool:
    if not os.path.isfile(other) or os.path.getsize(path) != os.path.getsize(other):
        return False
    with open(path, "rb") as first, open(other, "rb") as second:
        return first.read() == second.read()


def _copy_atomic(source: str, target: str) -> None:
    with open(source) as handle:  # records are JSON text
        write_text_atomic(target, handle.read())


def save_records(run_directory: str, records_directory: str) -> list[str]:
    """Copies the run's records that are new or changed into ``records_directory``; returns
    their relative paths. Records are never deleted there: a run directory started over keeps
    its old records until they are overwritten."""
    copied = []
    for relative in record_files(run_directory):
        source, target = (os.path.join(run_directory, relative),
                          os.path.join(records_directory, relative))
        if not _same_bytes(source, target):
            _copy_atomic(source, target)
            copied.append(relative)
    return copied


def restore_records(records_directory: str, run_directory: str) -> list[str]:
    """Copies the recorded files the run directory lacks into it; returns their relative
    paths. A file the run directory has is never overwritten: it is as new as the run."""
    restored = []
    for relative in record_files(records_directory):
        target = os.path.join(run_directory, relative)
        if not os.path.exists(target):
            _copy_atomic(os.path.join(records_directory, relative), target)
            restored.append(relative)
    return restored
