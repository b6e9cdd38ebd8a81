"""Name -> object registries used for learners, model helpers, datasets and search backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from user-facing names to objects, filled with a decorator.

    Looking up an unknown name raises a ``ValueError`` that lists the valid names, so a typo on
    the command line tells the user what they could have typed.

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"learner"``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Returns a decorator that registers its argument under ``name`` and ``aliases``."""

        def decorator(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._entries and self._entries[key] is not obj:
                    raise ValueError(f"{self.kind} '{key}' is already registered.")
                self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``.

        Raises:
            ValueError: if ``name`` is not registered; the message lists the valid names.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"Unknown {self.kind} '{name}'. Expected one of: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
