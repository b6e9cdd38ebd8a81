import numpy as np
import pytest

import hpo.ddpg_search  # registers "ddpg"
from hpo.ddpg_search import DdpgSearch
from hpo.optimizer import BACKENDS
from hpo.space import Categorical, Continuous, Integer, SearchSpace, per_layer
from rl_agents.ddpg import DdpgConfig

SMALL = DdpgConfig(actor_width=16, critic_width=16, batch_size=8)


def test_registered_as_ddpg():
    assert BACKENDS.get("ddpg") is hpo.ddpg_search.DdpgSearch


def test_ask_gives_candidates_of_mixed_spaces():
    space = SearchSpace([Continuous("learning_rate", 1e-4, 1e-1, log=True), Integer("bits", 2, 8),
                         Categorical("option", ("a", "b", "c"))])
    search = DdpgSearch(space, seed=0, config=SMALL, rollouts=10, warmup_rollouts=10)
    for _ in range(3):
        candidate = search.ask()
        assert space.validate(candidate) == candidate
        search.tell(candidate, 0.5)
    assert search.best[1] == 0.5


def test_tell_learns_from_exactly_the_told_candidate():
    space = SearchSpace(per_layer("keep", 3, 0.0, 1.0))
    search = DdpgSearch(space, seed=0, config=SMALL, rollouts=10, warmup_rollouts=1)
    search.ask()  # the told candidate below is not this one (e.g. its budget projection)
    search.tell({"keep_000": 0.2, "keep_001": 0.9, "keep_002": 0.4}, reward=-1.5)
    arrays = search.agent.buffer.arrays
    np.testing.assert_allclose(arrays["actions"][:, 0], [0.2, 0.9, 0.4], rtol=1e-6)
    # State = [step / (d - 1), previous action]; the next state is the following step's.
    np.testing.assert_allclose(arrays["states"], [[0.0, 0.0], [0.5, 0.2], [1.0, 0.9]], rtol=1e-6)
    np.testing.assert_allclose(arrays["next_states"][:2], arrays["states"][1:])
    np.testing.assert_array_equal(arrays["rewards"][:, 0], [-1.5] * 3)
    np.testing.assert_array_equal(arrays["terminals"][:, 0], [0.0, 0.0, 1.0])
    assert not search.agent.exploring  # the buffer (3 transitions) was full: it trained
    # A trial reloaded on resume was never asked: it still counts as an episode of the schedule.
    search.tell({"keep_000": 0.1, "keep_001": 0.1, "keep_002": 0.1}, reward=-1.0)
    assert search.agent.noise.std == pytest.approx((1e-5) ** (1 / 10))
    np.testing.assert_allclose(arrays["actions"][:, 0], [0.1] * 3, rtol=1e-6)


def test_layer_features_are_scaled_per_column():
    space = SearchSpace(per_layer("keep", 3, 0.0, 1.0))
    features = np.array([[2.0, -4.0, 0.0], [1.0, 2.0, 0.0], [0.0, 1.0, 0.0]])
    search = DdpgSearch(space, layer_features=features, config=SMALL, rollouts=4,
                        warmup_rollouts=2)
    np.testing.assert_allclose(search.layer_features,
                               [[1.0, -1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.25, 0.0]])
    assert search.agent.state_dim == 5
    search.tell(search.ask(), 1.0)
    np.testing.assert_allclose(search.agent.buffer.arrays["states"][:3, :3], search.layer_features)


@pytest.mark.parametrize("options,message", [
    ({"rollouts": 0}, "Expected `rollouts` >= 1. Received: rollouts=0"),
    ({"warmup_rollouts": 0}, "Expected `warmup_rollouts` >= 1"),
    ({"layer_features": np.ones((2, 4))}, r"Expected finite layer_features of shape \[3, k\]"),
    ({"layer_features": np.full((3, 1), np.nan)}, "Expected finite layer_features"),
])
def test_invalid_options(options, message):
    with pytest.raises(ValueError, match=message):
        DdpgSearch(SearchSpace(per_layer("keep", 3, 0.0, 1.0)), **options)


def test_same_seed_gives_same_candidates_and_resume_draws_fresh_noise():
    space = SearchSpace(per_layer("keep", 4, 0.0, 1.0))

    def candidates(seed, nb_rounds=5):
        search = DdpgSearch(space, seed=seed, config=SMALL, rollouts=10, warmup_rollouts=2)
        result = []
        for _ in range(nb_rounds):  # training starts at the second round
            result.append(search.ask())
            search.tell(result[-1], -float(np.sum(space.to_unit(result[-1]))))
        return result, search

    (first, search), (second, twin) = candidates(3), candidates(3)
    assert first == second
    assert candidates(4, nb_rounds=1)[0] != first[:1]
    # Resuming re-seeds the agent's noise: the twin without resume asks something else.
    search.resume(len(first))
    assert search.ask() != twin.ask()


def test_search_learns_per_layer_targets():
    nb_layers, nb_episodes, window = 8, 200, 30
    space = SearchSpace(per_layer("keep", nb_layers, 0.0, 1.0))
    target = np.linspace(0.2, 0.8, nb_layers)
    search = DdpgSearch(space, seed=0, rollouts=nb_episodes, warmup_rollouts=50)
    rewards = []
    for _ in range(nb_episodes):
        candidate = search.ask()
        rewards.append(-float(np.mean((space.to_unit(candidate) - target) ** 2)))
        search.tell(candidate, rewards[-1])
    warm_up, last = np.mean(rewards[:window]), np.mean(rewards[-window:])
    # Over seeds 0-11 the warm-up episodes score about -0.2 and the last ones -0.08 or better.
    assert last > 0.5 * warm_up, f"warm-up mean reward {warm_up:.3f}, last {last:.3f}"
