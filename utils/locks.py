"""A lock file that makes a run the only one writing a directory or a file.

``<target>.lock`` holds the owner's process id, host and start time. It is created with
``os.link`` from a complete temporary file, so a second run sees either no lock or a whole one.
A lock whose process is gone (killed, crashed) is stale and taken over with a warning.
"""

from __future__ import annotations

import json
import os
import socket
import time

from absl import logging

from utils.io import temporary_path
from utils.processes import process_alive


class LockedError(FileExistsError):
    """Another live run holds the lock."""


class RunLock:
    """Holds ``lock_path`` in a ``with`` block (or between :meth:`acquire` and :meth:`release`).

    Args:
        lock_path: the lock file, e.g. ``<save_dir>/.run.lock``.
        what: what it protects, for the error (``--save_dir=./models_channel``).
    """

    def __init__(self, lock_path: str, what: str):
        self.path = os.path.abspath(lock_path)
        self.what = what
        self._held = False

    def _owner(self) -> dict | None:
        """The holder's record; ``None`` if there is no lock; ``{}`` for an unreadable one."""
        try:
            with open(self.path) as handle:
                owner = json.load(handle)
            return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> RunLock:
        """Takes the lock.

        Raises:
            LockedError: naming the holder's process id, host, start time and the lock file.
        """
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        temporary = temporary_path(self.path)
        with open(temporary, "w") as handle:
            json.dump(record, handle)
        try:
            for _ in range(3):  # a stale lock removed, another run may take it first
                try:
                    os.link(temporary, self.path)
                    self._held = True
                    return self
                except FileExistsError:
                    pass
                owner = self._owner()
                if owner is None:
                    continue
                same_host = owner.get("host") in (None, record["host"])
                if owner and (not same_host or process_alive(owner["pid"])):
                    raise LockedError(
                        f"Expected no other run on {self.what}. Received: it is in use by the run "
                        f"with process id {owner['pid']} on {owner.get('host', '?')}, started "
                        f"{owner.get('started', '?')} (lock file '{self.path}'). Wait for that "
                        f"run to end or use another directory; if it is not running, delete the "
                        f"lock file.")
                logging.warning("Taking over the stale lock %s (%s).", self.path,
                                f"process {owner['pid']} is not running" if owner else "unreadable")
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            raise LockedError(f"Expected to take the lock '{self.path}' on {self.what}. Received: "
                              "other runs kept taking it")
        finally:
            os.unlink(temporary)

    def release(self) -> None:
        """Removes the lock file if this process still holds it."""
        if self._held and (self._owner() or {}).get("pid") == os.getpid():
            os.unlink(self.path)
        self._held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
