"""Flags named ``<prefix><flag>`` for the fields of a settings dataclass (``--ddpg_tau``, ``--cp_*``).

A field's flag is its name, or the spelling it was given with :func:`flag_field`: the command
line keeps PocketFlow's flag names (``--cp_nb_rlouts``) while the code reads full words
(``settings.rollouts``). A settings dataclass documents its fields in the ``Attributes:`` section
of its docstring; that text becomes each flag's help, so the two never drift apart. :func:`define_flags` defines the
flags from :func:`flag_defaults` and :func:`flag_help` (``main.py``, tools that take the same
settings); :func:`from_flag_values` builds the settings back, and :func:`require` checks their
values with errors that name the flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from absl import flags

T = TypeVar("T")


def flag_field(default: Any, flag: str) -> Any:
    """A dataclass field with ``default`` whose command-line flag is spelt ``flag`` (the settings
    class's prefix is added to it)."""
    return dataclasses.field(default=default, metadata={"flag": flag})


def flag_names(cls: type) -> dict[str, str]:
    """``{field name: flag name without prefix}`` for every field of the dataclass ``cls``."""
    return {field.name: field.metadata.get("flag", field.name) for field in dataclasses.fields(cls)}


def flag_of(obj_or_cls: Any, field: str, prefix: str = "") -> str:
    """``--<prefix><flag>``: the command-line flag of ``field`` of a settings dataclass."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return f"--{prefix}{flag_names(cls)[field]}"


def attribute_help(cls: type) -> dict[str, str]:
    """``{attribute: description}`` from the ``Attributes:`` sections of the docstrings of ``cls``
    and its base classes; a class's own description of an attribute wins over its bases'."""
    descriptions: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a class's __doc__ is its own, never inherited
        descriptions.update(_docstring_attributes(klass.__doc__ or ""))
    return descriptions


def _docstring_attributes(docstring: str) -> dict[str, str]:
    """``{attribute: description}`` from the ``Attributes:`` section of one docstring."""
    if "Attributes:" not in docstring:
        return {}
    descriptions: dict[str, str] = {}
    name = None
    for line in docstring.split("Attributes:", 1)[1].splitlines():
        text = line.strip()
        if not text:
            continue
        head, _, rest = text.partition(": ")
        if len(line) - len(line.lstrip()) == 8 and head.isidentifier() and rest:
            name, descriptions[head] = head, rest
        elif name:
            descriptions[name] += " " + text
    return descriptions


def flag_defaults(cls: type, prefix: str) -> dict[str, Any]:
    """``{prefix + flag: default}`` for every field of the dataclass ``cls``."""
    flags_of = flag_names(cls)
    return {prefix + flags_of[field.name]: field.default for field in dataclasses.fields(cls)}


def flag_help(cls: type, prefix: str) -> dict[str, str]:
    """``{prefix + flag: help}``: each field's description in the docstrings of ``cls`` (or of a
    base class).

    Raises:
        ValueError: for a field the docstring does not describe.
    """
    described = attribute_help(cls)
    missing = [field.name for field in dataclasses.fields(cls) if field.name not in described]
    if missing:
        raise ValueError(f"Expected every field of {cls.__name__} described under Attributes:. "
                         f"Received: no description for {missing}")
    return {prefix + flag: described[name] for name, flag in flag_names(cls).items()}


def from_flag_values(cls: type[T], prefix: str, values: Mapping[str, Any]) -> T:
    """Builds ``cls`` from the values of its flags ``<prefix><flag>`` (e.g. ``FLAGS`` as a dict).

    Keys that are not such flags, and flags whose value is ``None``, are ignored (the field keeps
    its default).
    """
    return cls(**{name: values[prefix + flag] for name, flag in flag_names(cls).items()
                  if values.get(prefix + flag) is not None})


def define_flags(defaults: Mapping[str, Any], helps: Mapping[str, str], what: str,
                 flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """One absl flag per entry of ``defaults`` (from :func:`flag_defaults`), typed by its default,
    with the help ``"<what>: <help>"``; in ``flag_values`` (tests use their own)."""
    define = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float,
              str: flags.DEFINE_string}
    for name, default in defaults.items():
        define[type(default)](name, default, f"{what}: {helps[name]}", flag_values=flag_values)


def require(settings: Any, prefix: str, names: Iterable[str], holds: Callable[[Any], bool],
            expected: str) -> None:
    """Checks the fields ``names`` of ``settings`` with ``holds``.

    Raises:
        ValueError: "Expected --<prefix><flag> <expected>. Received: <value>" for the first field
            whose value ``holds`` rejects.
    """
    for name in names:
        value = getattr(settings, name)
        if not holds(value):
            raise ValueError(f"Expected {flag_of(settings, name, prefix)} {expected}. "
                             f"Received: {value!r}")
