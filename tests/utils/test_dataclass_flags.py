"""Flags from settings dataclasses: defaults, help from the docstring, and the way back."""

import dataclasses

import pytest

from utils.dataclass_flags import attribute_help, flag_defaults, flag_help, from_flag_values


@dataclasses.dataclass(frozen=True)
class _Settings:
    """Example settings.

    Attributes:
        rate: how fast; a description that goes on
            over two lines.
        count: how many.
    """

    rate: float = 0.5
    count: int = 3


@dataclasses.dataclass(frozen=True)
class _Undocumented:
    """No attributes section."""

    size: int = 1


def test_help_comes_from_the_attributes_section():
    assert attribute_help(_Settings) == {"rate": "how fast; a description that goes on over two lines.",
                                         "count": "how many."}
    assert flag_help(_Settings, "x_") == {"x_rate": "how fast; a description that goes on over two lines.",
                                          "x_count": "how many."}


@dataclasses.dataclass(frozen=True)
class _Derived(_Settings):
    """Derived settings: describes one new field and one of its base's again.

    Attributes:
        count: how many, here.
        name: what it is called.
    """

    count: int = 4
    name: str = "x"


def test_help_of_a_subclass_includes_its_bases_and_overrides_them():
    assert flag_help(_Derived, "d_") == {
        "d_rate": "how fast; a description that goes on over two lines.",
        "d_count": "how many, here.", "d_name": "what it is called."}
    assert flag_defaults(_Derived, "d_") == {"d_rate": 0.5, "d_count": 4, "d_name": "x"}


def test_an_undescribed_field_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"no description for \['size'\]"):
        flag_help(_Undocumented, "u_")


def test_defaults_and_back():
    assert flag_defaults(_Settings, "x_") == {"x_rate": 0.5, "x_count": 3}
    values = {"x_rate": 0.25, "x_count": None, "other": 7, "x_unknown": 1}
    assert from_flag_values(_Settings, "x_", values) == _Settings(rate=0.25, count=3)
