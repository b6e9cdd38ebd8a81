"""Flags from settings dataclasses: defaults, help from the docstring, and the way back."""

import dataclasses

import pytest
from absl import flags

from utils.dataclass_flags import (
    attribute_help,
    define_flags,
    flag_defaults,
    flag_field,
    flag_help,
    flag_names,
    flag_of,
    from_flag_values,
    require,
)


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
class _Spelt:
    """Settings whose flags keep another spelling.

    Attributes:
        rollouts: roll-outs of the search.
        seed: seed.
    """

    rollouts: int = flag_field(200, "nb_rlouts")
    seed: int = 0


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


def test_define_flags_types_each_flag_by_its_default_and_round_trips():
    flag_values = flags.FlagValues()
    define_flags(flag_defaults(_Settings, "ex_"), flag_help(_Settings, "ex_"), "Example",
                 flag_values)
    flag_values(["prog", "--ex_rate=0.25", "--ex_count=7"])
    assert flag_values["ex_count"].help == "Example: how many."
    assert from_flag_values(_Settings, "ex_", flag_values.flag_values_dict()) == _Settings(0.25, 7)
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["prog", "--ex_count=many"])


def test_require_names_the_first_flag_whose_value_fails():
    settings = _Settings(rate=0.0, count=0)
    require(settings, "x_", ("count",), lambda value: value >= 0, ">= 0")
    with pytest.raises(ValueError, match=r"Expected --x_rate > 0\. Received: 0\.0"):
        require(settings, "x_", ("rate", "count"), lambda value: value > 0, "> 0")
    with pytest.raises(ValueError, match=r"Expected --x_count in \(1, 2\)\. Received: 0"):
        require(settings, "x_", ("count",), (1, 2).__contains__, "in (1, 2)")


def test_a_flag_field_keeps_its_spelling_on_the_command_line_and_its_name_in_the_code():
    assert flag_names(_Spelt) == {"rollouts": "nb_rlouts", "seed": "seed"}
    assert flag_defaults(_Spelt, "cp_") == {"cp_nb_rlouts": 200, "cp_seed": 0}
    assert flag_help(_Spelt, "cp_") == {"cp_nb_rlouts": "roll-outs of the search.", "cp_seed": "seed."}
    assert from_flag_values(_Spelt, "cp_", {"cp_nb_rlouts": 5, "cp_rollouts": 7}) == _Spelt(5)
    assert flag_of(_Spelt(), "rollouts", "cp_") == "--cp_nb_rlouts"
    with pytest.raises(ValueError, match=r"Expected --cp_nb_rlouts >= 1\. Received: 0"):
        require(_Spelt(rollouts=0), "cp_", ("rollouts",), lambda value: value >= 1, ">= 1")
