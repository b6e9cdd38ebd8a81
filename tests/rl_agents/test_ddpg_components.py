import keras
import numpy as np
import pytest

from rl_agents.ddpg.agent import soft_update
from rl_agents.ddpg.config import DdpgConfig
from rl_agents.ddpg.networks import build_actor, build_critic, copy_model
from rl_agents.ddpg.noise import (
    AdaptiveSchedule,
    TimeDecaySchedule,
    add_action_noise,
    create_noise_schedule,
    perturb_actor,
)
from rl_agents.ddpg.replay_buffer import ReplayBuffer
from rl_agents.ddpg.running_mean_std import RunningMeanStd


def _append(buffer, values):
    """Appends transitions whose every field holds the given values."""
    column = np.asarray(values, dtype=np.float32)[:, None]
    buffer.append(column, column, column[:, 0], column[:, 0], column)


def test_replay_buffer_is_ready_only_when_full():
    buffer = ReplayBuffer(state_dim=1, action_dim=1, size=5)
    _append(buffer, [0, 1, 2])
    assert len(buffer) == 3 and not buffer.is_ready
    _append(buffer, [3])
    assert not buffer.is_ready
    _append(buffer, [4])
    assert len(buffer) == 5 and buffer.is_ready


def test_replay_buffer_wraps_around_and_overwrites_the_oldest():
    buffer = ReplayBuffer(state_dim=1, action_dim=1, size=5)
    _append(buffer, [0, 1, 2, 3])
    _append(buffer, [4, 5, 6])  # 4 at the end, 5 and 6 over the oldest 0 and 1
    for name in ("states", "actions", "rewards", "terminals", "next_states"):
        np.testing.assert_array_equal(buffer.arrays[name][:, 0], [5, 6, 2, 3, 4])
    _append(buffer, np.arange(10, 22))  # larger than the buffer: only the last 5 survive
    assert sorted(buffer.arrays["states"][:, 0]) == [17, 18, 19, 20, 21]
    assert len(buffer) == 5


def test_replay_buffer_samples_stored_rows_uniformly_with_replacement():
    buffer = ReplayBuffer(state_dim=2, action_dim=1, size=4)
    states = np.arange(8, dtype=np.float32).reshape(4, 2)
    buffer.append(states, states[:, :1], states[:, 0], np.zeros(4), states + 100)
    batch = buffer.sample(400, np.random.default_rng(0))
    assert batch["states"].shape == (400, 2) and batch["rewards"].shape == (400, 1)
    # Each sampled row is one stored transition, all of its fields together.
    np.testing.assert_array_equal(batch["next_states"], batch["states"] + 100)
    np.testing.assert_array_equal(batch["actions"][:, 0], batch["states"][:, 0])
    counts = np.unique(batch["states"][:, 0], return_counts=True)[1]
    assert len(counts) == 4 and counts.min() > 60


def test_replay_buffer_rejects_mismatched_rows():
    buffer = ReplayBuffer(state_dim=2, action_dim=1, size=4)
    with pytest.raises(ValueError, match=r"Expected `states` of shape \[n, 2\]"):
        buffer.append(np.zeros((3, 3)), np.zeros((3, 1)), np.zeros(3), np.zeros(3),
                      np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Expected the same number of rows"):
        buffer.append(np.zeros((3, 2)), np.zeros((2, 1)), np.zeros(3), np.zeros(3),
                      np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Expected a replay buffer size >= 1. Received: 0"):
        ReplayBuffer(2, 1, 0)


def test_time_decay_reaches_the_final_std_after_nb_rlouts_rollouts():
    schedule = create_noise_schedule(DdpgConfig(noise_std_initial=1.0, noise_std_final=1e-4), 4)
    assert isinstance(schedule, TimeDecaySchedule)
    values = []
    for _ in range(4):
        schedule.start_rollout()
        values.append(schedule.std)
    np.testing.assert_allclose(values, [1e-1, 1e-2, 1e-3, 1e-4])
    schedule.observe_distance(1.0)  # not an adaptive schedule: ignored
    assert schedule.std == pytest.approx(1e-4)


def test_adaptive_noise_shrinks_when_actions_move_too_far_and_grows_otherwise():
    config = DdpgConfig(noise_schedule="adapt", noise_std_initial=0.5, noise_distance_target=0.1,
                        noise_adapt_factor=2.0)
    schedule = create_noise_schedule(config, 10)
    assert isinstance(schedule, AdaptiveSchedule) and schedule.measures_distance
    schedule.observe_distance(0.2)
    assert schedule.std == pytest.approx(0.25)
    schedule.observe_distance(0.05)
    schedule.observe_distance(0.1)  # not above the target distance: grows
    assert schedule.std == pytest.approx(1.0)
    schedule.start_rollout()  # not a time-decay schedule: ignored
    assert schedule.std == pytest.approx(1.0)


def test_action_noise_is_clipped_to_the_bounds():
    actions = np.full((1000, 2), 0.9, dtype=np.float32)
    noisy = add_action_noise(actions, 0.5, -1.0, 1.0, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.max() == 1.0 and noisy.min() >= -1.0
    assert 0.3 < np.std(noisy - actions) < 0.5


def test_parameter_noise_perturbs_dense_layers_only():
    rng = np.random.default_rng(0)
    actor = build_actor(3, 2, -1.0, 1.0, depth=2, width=8, rng=rng)
    perturbed = copy_model(actor)
    perturb_actor(actor, perturbed, 0.1, rng)
    for layer, perturbed_layer in zip(actor.layers, perturbed.layers):
        for variable, perturbed_variable in zip(layer.weights, perturbed_layer.weights):
            difference = keras.ops.convert_to_numpy(perturbed_variable - variable)
            if isinstance(layer, keras.layers.Dense):
                assert 0.05 < np.std(difference) < 0.2
            else:
                np.testing.assert_array_equal(difference, 0.0)
    assert any(isinstance(layer, keras.layers.LayerNormalization) for layer in actor.layers)


def test_actor_outputs_lie_in_the_action_bounds_and_critic_gives_one_value():
    rng = np.random.default_rng(0)
    actor = build_actor(3, 2, -2.0, 0.5, depth=2, width=8, rng=rng)
    critic = build_critic(3, 2, depth=2, width=8, rng=rng)
    states = rng.normal(0.0, 100.0, size=(256, 3)).astype(np.float32)
    actions = keras.ops.convert_to_numpy(actor(states))
    assert actions.shape == (256, 2) and actions.min() >= -2.0 and actions.max() <= 0.5
    assert tuple(critic([states, actions]).shape) == (256, 1)


def test_soft_update_moves_target_weights_by_tau():
    rng = np.random.default_rng(0)
    source = build_critic(3, 1, depth=1, width=4, rng=rng)
    target = build_critic(3, 1, depth=1, width=4, rng=rng)
    before = [keras.ops.convert_to_numpy(v) for v in target.trainable_variables]
    source_values = [keras.ops.convert_to_numpy(v) for v in source.trainable_variables]
    soft_update(target, source, tau=0.25)
    for old, new_source, variable in zip(before, source_values, target.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable),
                                   0.75 * old + 0.25 * new_source, rtol=1e-6, atol=1e-7)
    soft_update(target, source, tau=1.0)
    for new_source, variable in zip(source_values, target.trainable_variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), new_source)


def test_running_mean_std():
    statistics = RunningMeanStd(2, epsilon=1e-4)
    np.testing.assert_array_equal(statistics.mean, [0.0, 0.0])
    np.testing.assert_array_equal(statistics.std, [1.0, 1.0])
    samples = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    statistics.update(samples[:1])
    statistics.update(samples[1:])
    np.testing.assert_allclose(statistics.mean, [3.0, 5.0])
    # A constant coordinate gets the floor sqrt(epsilon), not a division by zero.
    np.testing.assert_allclose(statistics.std, [np.sqrt(8.0 / 3.0), 1e-2], rtol=1e-6)
    np.testing.assert_allclose(statistics.normalize(samples)[:, 0], [-1.2247449, 0.0, 1.2247449],
                               rtol=1e-6)
