"""The remaining-time estimate of the trainer's and the search's log lines."""

import math

import pytest

from utils.progress import format_duration, remaining_seconds


@pytest.mark.parametrize("seconds, expected", [
    (0, "0s"), (44.6, "45s"), (59.4, "59s"), (60, "1m00s"), (725, "12m05s"), (3599, "59m59s"),
    (3600, "1h00m"), (11_220, "3h07m"), (-3, "0s"), (math.nan, "?"), (math.inf, "?"),
])
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


def test_remaining_seconds_extrapolates_the_pace_so_far():
    assert remaining_seconds(10, 40, 100.0) == pytest.approx(300.0)
    assert remaining_seconds(40, 40, 100.0) == 0.0
    assert remaining_seconds(50, 40, 100.0) == 0.0
    assert math.isnan(remaining_seconds(0, 40, 0.0))
