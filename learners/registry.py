"""The learner registry: ``--learner`` names (the original's spellings) -> what each learner is.

A learner registers once, with :func:`register_learner`: its name, the class that runs it, its
settings dataclass and the prefix of that dataclass's flags. The command line, ``--help``, the
config and the contract tests are all generated from these entries. Registration must not import
TensorFlow, so that ``--help`` stays fast: built-in learners register in their package's
``config.py`` and name their class by its import path (``"package.module:Class"``), which is
imported only when a run needs it. :func:`load_builtin_learners` imports every such ``config.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from typing import Any

from utils.registry import Registry


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """One registered learner.

    Attributes:
        name: the ``--learner`` value.
        learner: the learner class, or its import path ``"package.module:Class"``.
        summary: one line for ``--help``.
        settings: the frozen settings dataclass of the learner's own flags, or ``None``.
        flag_prefix: the prefix of those flags (``cp_`` gives ``--cp_prune_option``); learners
            that share a settings class share its flags.
        own_search: with ``--hpo_backend`` and no ``--hpo_space``, the learner runs its own
            per-layer search with that backend instead of an AutoML search over flags.
        aliases: other ``--learner`` values for the same learner.
    """

    name: str
    learner: Any
    summary: str
    settings: type | None = None
    flag_prefix: str = ""
    own_search: bool = False
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        if self.settings is not None and not self.flag_prefix:
            raise ValueError(f"Expected a `flag_prefix` for the settings of learner '{self.name}'. "
                             "Received: none")

    def learner_class(self) -> type:
        """The learner class (imported now if it was registered by path)."""
        if not isinstance(self.learner, str):
            return self.learner
        module, _, name = self.learner.partition(":")
        return getattr(importlib.import_module(module), name)

    def settings_from_flags(self, values: dict[str, Any]) -> Any:
        """The learner's settings from ``{flag name: value}`` (``None`` without settings)."""
        if self.settings is None:
            return None
        from utils.dataclass_flags import from_flag_values

        return from_flag_values(self.settings, self.flag_prefix, values)


LEARNERS: Registry[LearnerSpec] = Registry("learner")


def register_learner(name: str, learner: Any, summary: str, *, aliases: tuple[str, ...] = (),
                     **fields: Any) -> LearnerSpec:
    """Registers a learner under ``name`` (and ``aliases``); returns its entry.

    Args:
        name: the ``--learner`` value.
        learner: the class, or its import path ``"package.module:Class"``.
        summary: one line for ``--help``.
        aliases: other ``--learner`` values for the same entry.
        **fields: the other fields of :class:`LearnerSpec`.
    """
    spec = LearnerSpec(name=name, learner=learner, summary=summary, aliases=aliases, **fields)
    LEARNERS.register(name, *aliases)(spec)
    return spec


def load_builtin_learners() -> Registry[LearnerSpec]:
    """Imports the ``config`` module of every package under ``learners/`` (each registers its
    learners there, without TensorFlow); returns the registry."""
    import learners

    for package in pkgutil.iter_modules(learners.__path__):
        # the file, not find_spec: that would import the package's __init__ (TensorFlow for some)
        if package.ispkg and os.path.isfile(os.path.join(package.module_finder.path,
                                                         package.name, "config.py")):
            importlib.import_module(f"learners.{package.name}.config")
    return LEARNERS


def get_spec(name: str) -> LearnerSpec:
    """The entry registered as ``name``.

    Raises:
        ValueError: for an unknown name (listing valid ones).
    """
    load_builtin_learners()
    return LEARNERS.get(name)


def get_learner_class(name: str) -> type:
    """The class registered as ``name`` (see :func:`get_spec`)."""
    return get_spec(name).learner_class()
