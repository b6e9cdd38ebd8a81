"""The search loop: a search killed after k trials and started again finishes with N trials."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hpo.optimizer import RandomSearch
from hpo.search import run_search
from hpo.space import Continuous, SearchSpace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs a Branin search with ``backend`` in ``directory``; kills itself (SIGKILL, mid-trial) when
# trial ``kill_at`` starts, if given.
_SCRIPT = textwrap.dedent("""
    import math, os, signal, sys
    from hpo.optimizer import create_optimizer
    from hpo.search import run_search, search_description
    from hpo.space import Continuous, SearchSpace
    from hpo.trial_store import TrialStore

    directory, backend, nb_trials, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    space = SearchSpace([Continuous("x1", -5.0, 10.0), Continuous("x2", 0.0, 15.0)])
    options = {"rollouts": nb_trials, "warmup_rollouts": 2} if backend == "ddpg" else {}
    optimizer = create_optimizer(backend, space, seed=3, **options)
    store = TrialStore(directory, search_description(optimizer, backend, None))

    def branin(c):
        if len(store) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        x1, x2 = c["x1"], c["x2"]
        value = (x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
        return -(value + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)

    run_search(optimizer, branin, nb_trials, store=store, log=print)
""")


def _run(directory, backend, nb_trials, kill_at):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", _SCRIPT, str(directory), backend, str(nb_trials),
                           str(kill_at)], env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("backend", ["random", "gp", "tpe", "ddpg"])
def test_killed_search_resumes_to_exactly_the_planned_trials(tmp_path, backend):
    killed = _run(tmp_path, backend, 12, kill_at=7)
    assert killed.returncode == -9, killed.stderr[-2000:]
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 7
    best_before = json.loads((tmp_path / "best.json").read_text())
    assert best_before["reward"] == max(json.loads(line)["reward"] for line in lines)

    resumed = _run(tmp_path, backend, 12, kill_at=-1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"best so far {best_before['reward']:.4f}" in resumed.stdout  # nothing lost
    trials = [json.loads(line) for line in (tmp_path / "trials.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in trials] == list(range(12))
    assert trials[:7] == [json.loads(line) for line in lines]
    best_after = json.loads((tmp_path / "best.json").read_text())
    assert best_after["reward"] == max(t["reward"] for t in trials) >= best_before["reward"]
    # A resumed search draws new candidates instead of replaying the first run's.
    seen = [tuple(t["projected"].values()) for t in trials]
    assert len(set(seen)) == len(seen)


def test_objective_metrics_are_stored_and_bad_rewards_rejected():
    space = SearchSpace([Continuous("x", 0.0, 1.0)])
    result = run_search(RandomSearch(space), lambda c: (c["x"], {"val": c["x"]}), 3, log=lambda line: None)
    assert [t.metrics["val"] for t in result.trials] == [t.reward for t in result.trials]
    assert result.best.reward == max(t.reward for t in result.trials)
    with pytest.raises(ValueError, match="finite reward"):
        run_search(RandomSearch(space), lambda c: float("nan"), 2, log=lambda line: None)
    with pytest.raises(ValueError, match="nb_trials >= 1"):
        run_search(RandomSearch(space), lambda c: 0.0, 0)


@pytest.mark.parametrize("backend", ["random", "gp", "tpe", "ddpg"])
def test_first_candidates_are_the_first_trials_and_a_resume_skips_them(tmp_path, backend):
    from hpo.optimizer import create_optimizer
    from hpo.search import search_description
    from hpo.trial_store import TrialStore

    space = SearchSpace([Continuous("x", 0.0, 1.0), Continuous("y", 0.0, 1.0)])
    first = [{"x": 0.5, "y": 0.25}, {"x": 0.125, "y": 1.0}]
    evaluated = []

    def search(nb_trials):
        options = {"rollouts": 5, "warmup_rollouts": 2} if backend == "ddpg" else {}
        optimizer = create_optimizer(backend, space, seed=0, **options)
        store = TrialStore(str(tmp_path), search_description(optimizer, backend, None))
        return run_search(optimizer, lambda c: evaluated.append(dict(c)) or -c["x"], nb_trials,
                          store=store, first_candidates=first, log=lambda line: None)

    search(1)
    assert evaluated == first[:1]
    result = search(5)  # resumed: the second seed, then the optimizer's own candidates
    assert evaluated[:2] == first and len(evaluated) == 5
    assert [t.projected for t in result.trials[:2]] == first
    assert result.best.reward >= -0.125


class _SamePlan(RandomSearch):
    """Asks for the same candidate every time, as a DDPG search whose noise has died out."""

    def ask(self):
        return {"x": 0.25}


def test_a_repeated_plan_takes_the_earlier_trials_reward_without_an_evaluation(tmp_path):
    from hpo.search import search_description
    from hpo.trial_store import TrialStore

    space = SearchSpace([Continuous("x", 0.0, 1.0)])
    evaluated, lines = [], []

    def search(nb_trials):
        optimizer = _SamePlan(space)
        store = TrialStore(str(tmp_path), search_description(optimizer, "same", None))
        return run_search(optimizer, lambda c: evaluated.append(c) or (0.5, {"val": 0.5}),
                          nb_trials, store=store, first_candidates=[{"x": 0.75}], log=lines.append)

    search(3)
    result = search(4)  # resumed: the stored trials are matched as well
    assert evaluated == [{"x": 0.75}, {"x": 0.25}]
    assert [t.metrics.get("repeat_of") for t in result.trials] == [None, None, 1, 1]
    assert all(t.metrics["val"] == t.reward == 0.5 for t in result.trials)
    assert "(the plan of trial 2, not evaluated again)" in lines[-1]
    assert lines[-1].endswith(" eta=0s")  # the last trial: nothing left


def test_plan_key_says_which_candidates_are_the_same_plan():
    space = SearchSpace([Continuous("x", 0.0, 1.0)])
    evaluated = []
    result = run_search(RandomSearch(space, seed=0), lambda c: evaluated.append(c) or c["x"], 6,
                        plan_key=lambda c: c["x"] < 0.5, log=lambda line: None)  # two plans
    assert len(evaluated) == len({c["x"] < 0.5 for c in evaluated}) <= 2
    assert sum("repeat_of" not in t.metrics for t in result.trials) == len(evaluated)


def test_patience_must_be_positive():
    space = SearchSpace([Continuous("x", 0.0, 1.0)])
    with pytest.raises(ValueError, match="patience >= 1"):
        run_search(RandomSearch(space), lambda c: 0.0, 2, patience=0)
