"""Tests of tools/benchmark/hpo_regret.py: the library calls and the command line."""

import os
import subprocess
import sys

import pytest
from absl import flags

from tools.benchmark import hpo_regret

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_prints_a_markdown_table_of_every_function_and_backend():
    completed = subprocess.run(
        [sys.executable, "-m", "tools.benchmark.hpo_regret", "--backends", "random,tpe",
         "--nb_evaluations", "6", "--seeds", "1"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "simple regret after 6 evaluations, seeds 0..0 per backend and function"
    assert lines[1].startswith("| function | backend | median final regret |")
    rows = [line.split("|")[1:-1] for line in lines[3:-1]]
    assert [(row[0].strip(), row[1].strip()) for row in rows] == [
        ("allocation", "random"), ("allocation", "tpe"), ("branin", "random"), ("branin", "tpe"),
        ("hartmann6", "random"), ("hartmann6", "tpe")]
    assert all(float(row[2]) >= 0 for row in rows)
    # the uniform plan is told first: no search ends above its regret
    reference = float(lines[-1].removeprefix("allocation: the plan told first has regret "))
    assert reference > 0
    assert all(float(row[2]) <= reference for row in rows[:2])


def test_measure_and_format_table():
    results = hpo_regret.measure(["random"], ["branin"], nb_evaluations=5, nb_seeds=3)
    assert len(results) == 1 and len(results[0].final_regrets) == 3
    low, high = results[0].quartiles
    assert low <= results[0].median <= high
    assert min(results[0].final_regrets) <= results[0].mean <= max(results[0].final_regrets)
    table = hpo_regret.format_table(results)
    assert table.splitlines()[2].startswith(f"| branin | random | {results[0].median:.4g} |")
    assert f"| {results[0].mean:.4g} |" in table.splitlines()[2]


def test_first_seed_selects_the_seeds():
    shifted = hpo_regret.measure(["random"], ["branin"], nb_evaluations=5, nb_seeds=2,
                                 first_seed=3)
    separate = hpo_regret.measure(["random"], ["branin"], nb_evaluations=5, nb_seeds=5)
    assert shifted[0].final_regrets == separate[0].final_regrets[3:5]


def _parse(argv):
    flag_values = flags.FlagValues()
    hpo_regret.define_flags(flag_values)
    return flag_values(["hpo_regret", *argv]), flag_values


@pytest.mark.parametrize("argv, expected", [
    (["--backends=random,bayes"], "Unknown hpo backend 'bayes'"),
    (["--backends=random", "--functions=rosenbrock"], "Received: 'rosenbrock'"),
])
def test_cli_errors_name_the_problem(argv, expected):
    positional, flag_values = _parse(argv)
    with pytest.raises(SystemExit) as exit_info:
        hpo_regret.main(positional, flag_values)
    assert expected in str(exit_info.value.code)


def test_seeds_below_one_and_negative_first_seed_are_rejected():
    with pytest.raises(ValueError, match="seeds"):
        hpo_regret.measure(["random"], ["branin"], nb_evaluations=5, nb_seeds=0)
    with pytest.raises(ValueError, match="first_seed"):
        hpo_regret.measure(["random"], ["branin"], nb_evaluations=5, nb_seeds=1, first_seed=-1)


def test_ddpg_flags_set_the_agent():
    _, flag_values = _parse(["--ddpg_noise_type=action", "--ddpg_noise_std_init=0.5"])
    config = hpo_regret.DdpgConfig.from_flag_values(flag_values.flag_values_dict())
    assert (config.noise_type, config.noise_std_initial) == ("action", 0.5)
    options = hpo_regret.backend_options("ddpg", 3, hpo_regret.get_function("branin"), config)
    assert options["config"] is config
    default = hpo_regret.measure(["ddpg"], ["branin"], nb_evaluations=3, nb_seeds=1)
    action = hpo_regret.measure(["ddpg"], ["branin"], nb_evaluations=3, nb_seeds=1,
                                ddpg_config=config)
    assert default[0].final_regrets != action[0].final_regrets


def test_a_bad_ddpg_flag_is_an_error_naming_it():
    positional, flag_values = _parse(["--backends=ddpg", "--ddpg_noise_type=gaussian"])
    with pytest.raises(SystemExit) as exit_info:
        hpo_regret.main(positional, flag_values)
    assert "noise_type" in str(exit_info.value.code) and "gaussian" in str(exit_info.value.code)
