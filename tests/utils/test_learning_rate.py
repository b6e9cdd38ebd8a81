import pytest

from learners.config import TrainConfig
from utils.learning_rate import build_schedule, scaled_initial_rate


def test_linear_batch_scaling():
    assert scaled_initial_rate(0.1, 256, 128) == pytest.approx(0.2)


def test_piecewise_boundaries_scale_with_nb_epochs_rat():
    config = TrainConfig(learning_rate=0.1, reference_batch_size=128, decay_boundaries=(10, 20),
                         decay_rates=(1.0, 0.1, 0.01), epochs_ratio=0.5)
    schedule = build_schedule(config, global_batch_size=128, steps_per_epoch=100, total_steps=1500)
    # boundaries at 10 * 0.5 * 100 = 500 and 1000 steps
    assert float(schedule(499)) == pytest.approx(0.1)
    assert float(schedule(501)) == pytest.approx(0.01)
    assert float(schedule(1001)) == pytest.approx(0.001)


def test_cosine_with_warmup():
    config = TrainConfig(learning_rate=0.1, reference_batch_size=128, learning_rate_schedule="cosine",
                         warmup_epochs=1)
    schedule = build_schedule(config, global_batch_size=128, steps_per_epoch=10, total_steps=110)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(10)) == pytest.approx(0.1)
    assert float(schedule(60)) == pytest.approx(0.05, rel=1e-3)
    assert float(schedule(110)) == pytest.approx(0.0, abs=1e-6)


def test_exponential_staircase_decay():
    config = TrainConfig(learning_rate=0.1, reference_batch_size=128, learning_rate_schedule="exponential",
                         decay_epochs=2.5, decay_rate=0.5)
    schedule = build_schedule(config, global_batch_size=128, steps_per_epoch=10, total_steps=100)
    assert float(schedule(24)) == pytest.approx(0.1)
    assert float(schedule(25)) == pytest.approx(0.05)
    assert float(schedule(74)) == pytest.approx(0.025)


@pytest.mark.parametrize("field,flag,value", [
    ("epochs_ratio", "--nb_epochs_rat", -1.0), ("learning_rate", "--lrn_rate_init", 0.0),
    ("momentum", "--momentum", -0.1), ("learning_rate_schedule", "lrn_rate_schedule", "linear")])
def test_invalid_training_settings_name_the_flag(field, flag, value):
    with pytest.raises(ValueError, match=flag):
        TrainConfig(**{field: value})
