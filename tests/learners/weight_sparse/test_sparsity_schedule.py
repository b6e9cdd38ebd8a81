"""The polynomial sparsity schedule, checked at chosen steps against Zhu and Gupta's formula."""

import pytest

from learners.weight_sparse.schedule import PolynomialSparsitySchedule


def _formula(step, final, begin, end, exponent):
    progress = min(max((step - begin) / (end - begin), 0.0), 1.0)
    return final * (1.0 - (1.0 - progress) ** exponent)


def test_sparsity_at_chosen_steps_follows_the_formula():
    schedule = PolynomialSparsitySchedule(1000, begin_ratio=0.1, end_ratio=0.5, exponent=3.0,
                                          update_step=50)
    assert (schedule.begin_step, schedule.end_step) == (100, 500)
    for step in (0, 50, 100, 150, 200, 300, 499, 500, 501, 1000):
        assert schedule.sparsity(step, 0.9) == pytest.approx(_formula(step, 0.9, 100, 500, 3.0))
    assert schedule.sparsity(100, 0.9) == 0.0
    assert schedule.sparsity(300, 0.9) == pytest.approx(0.9 * (1 - 0.5 ** 3))  # 0.7875
    assert schedule.sparsity(500, 0.9) == pytest.approx(0.9)
    assert schedule.sparsity(900, 0.9) == pytest.approx(0.9)


def test_updates_every_interval_within_the_ramp_and_at_its_end():
    schedule = PolynomialSparsitySchedule(1000, 0.1, 0.45, 2.0, update_step=100)
    assert schedule.end_step == 450
    updates = [step for step in range(1, 1001) if schedule.is_update_step(step)]
    assert updates == [100, 200, 300, 400, 450]
    assert schedule.fraction_in_force(99) == 0.0
    assert schedule.fraction_in_force(250) == pytest.approx(schedule.fraction(200))
    assert schedule.fraction_in_force(449) == pytest.approx(schedule.fraction(400))
    assert schedule.fraction_in_force(800) == 1.0


def test_short_schedules_still_reach_the_final_sparsity():
    schedule = PolynomialSparsitySchedule(3, 0.1, 0.5, update_step=500)
    assert 0 <= schedule.begin_step < schedule.end_step <= 3
    assert [s for s in range(1, 4) if schedule.is_update_step(s)] == [schedule.end_step]
    assert schedule.fraction(schedule.end_step) == 1.0


@pytest.mark.parametrize("kwargs, words", [
    ({"total_steps": 0}, ["total_steps", "0"]),
    ({"total_steps": 10, "begin_ratio": 0.5, "end_ratio": 0.5}, ["begin_ratio", "end_ratio"]),
    ({"total_steps": 10, "end_ratio": 1.5}, ["end_ratio", "1.5"]),
    ({"total_steps": 10, "exponent": 0.0}, ["exponent"]),
    ({"total_steps": 10, "update_step": 0}, ["update_step"]),
])
def test_bad_settings_are_rejected(kwargs, words):
    with pytest.raises(ValueError, match="Expected") as error:
        PolynomialSparsitySchedule(**kwargs)
    assert all(word in str(error.value) for word in words)
