import numpy as np
import pytest

from rl_agents.ddpg import Agent, DdpgConfig

SMALL = {"actor_width": 16, "critic_width": 16, "batch_size": 8}


def _record_random(agent: Agent, count: int, rng: np.random.Generator) -> None:
    agent.record(rng.normal(size=(count, agent.state_dim)),
                 rng.uniform(agent.action_low, agent.action_high, (count, agent.action_dim)),
                 rng.normal(size=count), np.zeros(count), rng.normal(size=(count, agent.state_dim)))


def test_training_and_noise_decay_wait_for_a_full_buffer():
    config = DdpgConfig(noise_std_initial=1.0, noise_std_final=1e-4, **SMALL)
    agent = Agent(3, 2, -1.0, 1.0, rollouts=4, buffer_size=16, config=config)
    rng = np.random.default_rng(0)
    _record_random(agent, 15, rng)
    agent.init_rollout()
    assert agent.train() is None and agent.exploring
    agent.init_rollout()
    assert agent.noise.std == 1.0  # warm-up: no decay before the buffer is full
    _record_random(agent, 1, rng)
    result = agent.train()
    assert set(result) == {"actor_loss", "critic_loss", "noise_std"}
    assert np.isfinite(result["actor_loss"]) and result["critic_loss"] > 0
    assert result["noise_std"] == 1.0 and not agent.exploring
    agent.init_rollout()
    assert agent.noise.std == pytest.approx(0.1)
    agent.init_rollout()
    assert agent.noise.std == pytest.approx(0.01)


def test_adaptive_noise_adapts_at_every_training_step():
    config = DdpgConfig(noise_schedule="adapt", noise_std_initial=1.0, noise_distance_target=1e-2, **SMALL)
    agent = Agent(3, 1, 0.0, 1.0, rollouts=4, buffer_size=8, config=config)
    _record_random(agent, 8, np.random.default_rng(0))
    agent.train()
    # Weight noise of std 1 moves sigmoid actions by far more than 0.01: the std shrinks.
    assert agent.noise.std == pytest.approx(1.0 / 1.03)
    agent.init_rollout()
    assert agent.noise.std == pytest.approx(1.0 / 1.03)


def test_reward_baseline_is_a_moving_average_subtracted_from_sampled_rewards():
    agent = Agent(2, 1, 0.0, 1.0, rollouts=4, buffer_size=4, config=DdpgConfig(**SMALL))
    agent.finalize_rollout([1.0, 3.0])
    assert agent.reward_baseline == pytest.approx(2.0)
    agent.finalize_rollout([4.0])
    assert agent.reward_baseline == pytest.approx(0.95 * 2.0 + 0.05 * 4.0)
    seen = []
    agent._compiled_update = lambda states, actions, rewards, terminals, next_states: (
        seen.append(rewards) or (0.0, 0.0))
    agent.record(np.zeros((4, 2)), np.zeros((4, 1)), np.full(4, 5.0), np.zeros(4), np.zeros((4, 2)))
    agent.train()
    np.testing.assert_allclose(seen[0], 5.0 - 2.1, rtol=1e-6)

    disabled = Agent(2, 1, 0.0, 1.0, rollouts=4, buffer_size=4,
                     config=DdpgConfig(use_baseline=False, **SMALL))
    disabled.finalize_rollout([1.0])
    assert disabled.reward_baseline is None


def test_record_keeps_every_record_step_th_transition_and_state_statistics():
    config = DdpgConfig(record_step=2, normalize_states=True, **SMALL)
    agent = Agent(1, 1, 0.0, 1.0, rollouts=4, buffer_size=8, config=config)
    states = np.arange(5, dtype=np.float32)[:, None]
    agent.record(states, states, np.arange(5), np.zeros(5), states + 1)
    assert len(agent.buffer) == 3
    np.testing.assert_array_equal(agent.buffer.arrays["states"][:3, 0], [0, 2, 4])
    np.testing.assert_array_equal(agent.buffer.arrays["rewards"][:3, 0], [0, 2, 4])
    np.testing.assert_allclose(agent.state_statistics.mean, [2.0])


def test_actions_respect_bounds_and_noise_settings():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(64, 3))
    for noise_type in ("param", "action"):
        agent = Agent(3, 2, -1.0, 0.5, rollouts=4, buffer_size=8,
                      config=DdpgConfig(noise_type=noise_type, **SMALL))
        with pytest.raises(RuntimeError, match=r"Expected init_rollout\(\) before noisy actions"):
            agent.act(states)
        agent.init_rollout()
        clean, noisy = agent.act(states, noisy=False), agent.act(states)
        assert clean.shape == noisy.shape == (64, 2)
        assert noisy.min() >= -1.0 and noisy.max() <= 0.5
        assert np.mean(np.abs(noisy - clean)) > 0.05
    with pytest.raises(ValueError, match=r"Expected states of shape \[n, 3\]. Received: \(2, 4\)"):
        agent.act(np.zeros((2, 4)))


def test_same_seed_gives_same_actions_before_and_after_training():
    states = np.random.default_rng(1).normal(size=(5, 3))

    def actions(seed, nb_train_steps):
        agent = Agent(3, 2, -1.0, 1.0, rollouts=4, buffer_size=16, config=DdpgConfig(**SMALL),
                      seed=seed)
        agent.init_rollout()
        result = [agent.act(states, noisy=False), agent.act(states)]
        _record_random(agent, 16, np.random.default_rng(2))
        for _ in range(nb_train_steps):
            agent.train()
        agent.init_rollout()
        return result + [agent.act(states, noisy=False), agent.act(states)]

    first, second = actions(7, 3), actions(7, 3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[2], first[0])  # training changed the policy
    assert not np.allclose(actions(8, 0)[0], first[0])


@pytest.mark.parametrize("arguments,message", [
    ({"action_low": 1.0, "action_high": 1.0}, "Expected action_low < action_high"),
    ({"buffer_size": 0}, "Expected `buffer_size` >= 1. Received: buffer_size=0"),
    ({"rollouts": 0}, "Expected `rollouts` >= 1"),
])
def test_invalid_agent_arguments(arguments, message):
    values = {"state_dim": 2, "action_dim": 1, "action_low": 0.0, "action_high": 1.0,
              "rollouts": 4, "buffer_size": 4} | arguments
    with pytest.raises(ValueError, match=message):
        Agent(**values)


class MoveToTarget:
    """The original's test environment, with a batch of independent walkers.

    A walker starts uniformly in [-10, 10]^n and moves by its action in [-1, 1]^n; the target is
    the origin. A step earns (distance before) - (distance after) - (step length): 0 for a step
    straight toward the target (or no step), negative otherwise. The best return is 0.
    """

    def __init__(self, nb_dims: int, length: int):
        self.nb_dims, self.length = nb_dims, length

    def rollout(self, agent: Agent, starts: np.ndarray, noisy: bool) -> np.ndarray:
        """One roll-out from each start (recording and training if noisy); returns the returns."""
        positions, returns = starts, np.zeros(len(starts))
        for step in range(self.length):
            actions = agent.act(positions, noisy=noisy)
            next_positions = positions + actions
            rewards = (np.linalg.norm(positions, axis=1) - np.linalg.norm(next_positions, axis=1)
                       - np.linalg.norm(actions, axis=1))
            if noisy:
                terminals = np.full(len(starts), float(step == self.length - 1))
                agent.record(positions, actions, rewards, terminals, next_positions)
                agent.train()
            positions, returns = next_positions, returns + rewards
        return returns


def test_agent_learns_to_move_to_target():
    nb_dims, length, nb_walkers, rollouts, warmup_rollouts = 2, 20, 8, 100, 10
    environment = MoveToTarget(nb_dims, length)
    agent = Agent(nb_dims, nb_dims, -1.0, 1.0, rollouts,
                  buffer_size=warmup_rollouts * length * nb_walkers, seed=0)
    rng = np.random.default_rng(0)
    evaluation_starts = rng.uniform(-10.0, 10.0, (32, nb_dims))
    untrained = environment.rollout(agent, evaluation_starts, noisy=False).mean()
    for _ in range(rollouts):
        agent.init_rollout()
        returns = environment.rollout(agent, rng.uniform(-10.0, 10.0, (nb_walkers, nb_dims)), True)
        agent.finalize_rollout(returns / length)
    trained = environment.rollout(agent, evaluation_starts, noisy=False).mean()
    # Over seeds 0-15 the untrained policy loses 5 to 24 per roll-out and the trained one keeps
    # at most a fifth of that loss.
    assert untrained < -3.0
    assert trained > 0.5 * untrained, f"untrained return {untrained:.2f}, trained {trained:.2f}"
