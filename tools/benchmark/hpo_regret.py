"""Simple regret of the search backends on the functions of ``hpo.benchmarks``, as a markdown table.

Each backend runs ``--seeds`` searches of ``--nb_evaluations`` steps on each function (Branin,
Hartmann-6, and ``allocation``: per-layer keep ratios under a budget, the uniform plan first);
the table gives the median and quartiles of the final simple regret (best value found minus the
known minimum) and the mean wall time of one search; for a function with a plan told first, the
line after the table gives that plan's regret (what a search must improve on)::

    python -m tools.benchmark.hpo_regret --backends gp,tpe,random --nb_evaluations 40 --seeds 5

``ddpg`` (one episode per evaluation, each coordinate one step) is part of the default list; the
learners' ``--ddpg_*`` flags set its agent (e.g. ``--ddpg_noise_type action
--ddpg_noise_std_init 0.5``), so a setting can be tried here before a long search uses it.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence

import numpy as np
from absl import app, flags

from hpo.benchmarks import FUNCTIONS, BenchmarkFunction, get_function, run_regret
from hpo.optimizer import BACKENDS
from rl_agents.ddpg import FLAG_DEFAULTS as DDPG_FLAG_DEFAULTS
from rl_agents.ddpg import FLAG_HELP as DDPG_FLAG_HELP
from rl_agents.ddpg import DdpgConfig
from utils.dataclass_flags import define_flags as define_settings_flags

DEFAULT_BACKENDS = ("gp", "tpe", "ddpg", "random")


def backend_options(backend: str, nb_evaluations: int, function: BenchmarkFunction,
                    ddpg_config: DdpgConfig | None = None) -> dict:
    """Constructor arguments a backend needs: the length of the search, the layer features, the
    DDPG agent's settings (its defaults when ``None``)."""
    if backend == "ddpg":  # One episode per evaluation.
        return {"rollouts": nb_evaluations, "layer_features": function.layer_features,
                "config": ddpg_config}
    return {}


def first_candidate_regrets(functions: Sequence[str]) -> dict[str, float]:
    """The regret of the best plan each function tells first, for those that have one."""
    regrets = {}
    for function in map(get_function, functions):
        if function.first_candidates:
            regrets[function.name] = min(
                function(function.budget.project(function.space, candidate)
                         if function.budget else candidate)
                for candidate in function.first_candidates) - function.minimum
    return regrets


@dataclasses.dataclass(frozen=True)
class RegretResult:
    """The final regrets of one backend's searches on one function."""

    function: str
    backend: str
    final_regrets: tuple[float, ...]
    mean_seconds: float

    @property
    def median(self) -> float:
        return float(np.median(self.final_regrets))

    @property
    def mean(self) -> float:
        return float(np.mean(self.final_regrets))

    @property
    def quartiles(self) -> tuple[float, float]:
        low, high = np.percentile(self.final_regrets, [25, 75])
        return float(low), float(high)


def measure(backends: Sequence[str], functions: Sequence[str], nb_evaluations: int,
            nb_seeds: int, first_seed: int = 0, ddpg_config: DdpgConfig | None = None
            ) -> list[RegretResult]:
    """Runs every backend on every function with seeds ``first_seed .. first_seed + nb_seeds - 1``
    (``ddpg`` with ``ddpg_config``, its defaults when ``None``).

    Raises:
        ValueError: for an unknown backend or function, counts below 1 or a negative first seed.
    """
    if nb_seeds < 1:
        raise ValueError(f"Expected `--seeds` >= 1. Received: {nb_seeds}")
    if first_seed < 0:
        raise ValueError(f"Expected `--first_seed` >= 0. Received: {first_seed}")
    functions = [get_function(name) for name in functions]
    for backend in backends:
        BACKENDS.get(backend)  # raises for an unknown name, listing the known ones
    results = []
    for function in functions:
        for backend in backends:
            regrets, seconds = [], []
            for seed in range(first_seed, first_seed + nb_seeds):
                start = time.perf_counter()
                regrets.append(run_regret(backend, function, nb_evaluations, seed,
                                          **backend_options(backend, nb_evaluations, function,
                                                           ddpg_config))[-1])
                seconds.append(time.perf_counter() - start)
            results.append(RegretResult(function.name, backend, tuple(regrets),
                                        float(np.mean(seconds))))
    return results


def format_table(results: Sequence[RegretResult]) -> str:
    """A markdown table: function, backend, median, quartiles and mean of the final regret, and
    the seconds per search."""
    header = ("| function | backend | median final regret | quartiles (25%, 75%) "
              "| mean final regret | mean s / search |")
    lines = [header, "|---|---|---:|---:|---:|---:|"]
    for result in results:
        low, high = result.quartiles
        lines.append(f"| {result.function} | {result.backend} | {result.median:.4g} | "
                     f"{low:.4g}, {high:.4g} | {result.mean:.4g} | {result.mean_seconds:.2f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- command line
def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags (in ``flag_values``, so tests can use their own)."""
    flags.DEFINE_list("backends", list(DEFAULT_BACKENDS), "Backends to compare, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_list("functions", sorted(FUNCTIONS), "Benchmark functions, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_integer("nb_evaluations", 40, "Evaluations per search.", lower_bound=1,
                         flag_values=flag_values)
    flags.DEFINE_integer("seeds", 5, "Searches per backend and function (seeds first_seed, "
                         "first_seed + 1, ...).", lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("first_seed", 0, "Seed of the first search.", lower_bound=0,
                         flag_values=flag_values)
    define_settings_flags(DDPG_FLAG_DEFAULTS, DDPG_FLAG_HELP, "DDPG agent", flag_values)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Runs the comparison named on the command line and prints the table."""
    if len(argv) > 1:
        sys.exit(f"hpo_regret: error: unexpected arguments {list(argv[1:])}")
    try:
        ddpg_config = DdpgConfig.from_flag_values(flag_values.flag_values_dict())
        results = measure(flag_values.backends, flag_values.functions, flag_values.nb_evaluations,
                          flag_values.seeds, flag_values.first_seed, ddpg_config)
        reference_regrets = first_candidate_regrets(flag_values.functions)
    except ValueError as error:
        sys.exit(f"hpo_regret: error: {error}")
    last_seed = flag_values.first_seed + flag_values.seeds - 1
    print(f"simple regret after {flag_values.nb_evaluations} evaluations, "
          f"seeds {flag_values.first_seed}..{last_seed} per backend and function")
    print(format_table(results))
    for name, regret in reference_regrets.items():
        print(f"{name}: the plan told first has regret {regret:.4g}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
