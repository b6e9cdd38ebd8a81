"""``kill -9`` at random moments of a run, then the same command: always a complete, consistent
output directory with the planned step and trial counts (issue 33, done-when 2).

Two runs of the real command line on digits with the tiny LeNet, each killed with SIGKILL at a
moment drawn (seeded) from its own uninterrupted run's time, then rerun to completion:

* ``train``: ``full-prec`` -- training with checkpoints, evaluation, publishing the pre-trained
  model, export;
* ``search``: ``channel --cp_prune_option auto`` -- the roll-outs of a search (each fine-tuned a
  few Adam steps), pruning, re-training, export.

The kill moments are stratified over the run's work (seed ``i`` of ``n`` falls in the ``i``-th
``n``-th of the time from its first logged event to its last, measured on the uninterrupted
run, and counted from the killed run's own first event: the start-up's length varies most with
the machine's load), so every phase is hit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.learners.cli import ROOT, TINY_FLAGS, launcher_command, run_cli

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Scenario:
    flags: tuple[str, ...]
    seeds: tuple[int, ...]
    pretrained: bool  # starts from the pre-trained model in ./models
    nb_trials: int  # roll-outs of the search (0: none)


_SCENARIOS = {
    "train": Scenario((*TINY_FLAGS, "--nb_iters_train=120", "--save_step=30",
                       "--nb_calibration=32", "--save_dir=out"),
                      seeds=tuple(range(10)), pretrained=False, nb_trials=0),
    "search": Scenario((*TINY_FLAGS, "--learner=channel", "--cp_prune_option=auto",
                        "--cp_preserve_ratio=0.5", "--cp_nb_rlouts=5", "--cp_nb_rlouts_min=1",
                        "--cp_criterion=fpgm", "--cp_rlout_nb_iters_ft=10", "--nb_calibration=32",
                        "--save_dir=out"),
                       seeds=tuple(range(10, 20)), pretrained=True, nb_trials=5),
}
_TEMPORARY = ("tmp", "temp", ".write-test-")
"""Name fragments of the files a run writes before renaming them into place (or removing them)."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """The uninterrupted run of a scenario."""

    directory: pathlib.Path
    work_seconds: float  # from its first logged event to its last
    steps: int
    names: frozenset[str]  # the output directory's files, checkpoints left out


def _prepare(directory: pathlib.Path, scenario: Scenario, reference_of) -> None:
    """Copies the pre-trained model into ``directory`` for a scenario that starts from it: the
    one the ``train`` scenario's uninterrupted run wrote."""
    if scenario.pretrained:
        shutil.copytree(reference_of("train").directory / "models", directory / "models")


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)


def _events(directory: pathlib.Path) -> list[dict]:
    path = directory / "logs" / "events.jsonl"
    if not path.exists():
        return []
    with open(path) as handle:  # a line cut by the kill is left out
        return [json.loads(line) for line in handle.read().split("\n")[:-1]]


def _output_names(out: pathlib.Path) -> frozenset[str]:
    return frozenset(str(path.relative_to(out)) for path in out.rglob("*")
                     if path.is_file() and "checkpoints" not in path.relative_to(out).parts)


@pytest.fixture(scope="module")
def reference_of(tmp_path_factory):
    """``name -> Reference``: runs a scenario once, uninterrupted, and measures it. The
    ``train`` scenario's pre-trained model is the one the others start from."""
    references: dict[str, Reference] = {}

    def reference(name: str) -> Reference:
        if name not in references:
            scenario = _SCENARIOS[name]
            directory = tmp_path_factory.mktemp(f"reference_{name}")
            _prepare(directory, scenario, reference)
            result = subprocess.run(launcher_command("lenet_at_digits", *scenario.flags),
                                    cwd=directory, env=_env(), capture_output=True, text=True,
                                    timeout=600, check=False)
            assert result.returncode == 0, result.stderr[-3000:]
            metrics = json.loads((directory / "out" / "metrics.json").read_text())
            events = _events(directory)
            references[name] = Reference(
                directory, events[-1]["time"] - events[0]["time"],
                metrics["train"]["steps"], _output_names(directory / "out"))
        return references[name]

    return reference


def _phase(directory: pathlib.Path) -> str:
    """Where the killed run was, as its files tell."""
    out = directory / "out"
    if list(out.glob(".export-tmp-*")):
        return "export"
    events = [e["event"] for e in _events(directory)]
    if not events:
        return "start-up"
    if events[-1] in ("train_start", "train_step", "checkpoint", "eval"):
        return "training"
    if events[-1] == "train_end":
        return "after training"
    if (out / "search" / "search.json").exists() and not (out / "plan.json").exists():
        return "search"
    return f"after {events[-1]}"


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_output(directory: pathlib.Path, scenario: Scenario, reference: Reference) -> None:
    """The output directory is what an uninterrupted run leaves, and consistent."""
    import keras

    from learners.pruning import PruningPlan, apply_plan
    from utils.flops import total_params

    out = directory / "out"
    leftovers = [str(path) for path in directory.rglob("*")
                 if any(part in path.name for part in _TEMPORARY)]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert _output_names(out) == reference.names
    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=pytest.fail)
    assert "completed_at" in metrics
    assert metrics["train"]["steps"] == reference.steps
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert total_params(model) == metrics["params"]
    report = json.loads((out / "export.json").read_text(), parse_constant=pytest.fail)
    assert metrics["export"] == report
    for kind in ("float", "int8"):  # the files of that one export
        assert os.path.getsize(directory / report[f"{kind}_path"]) == report[f"{kind}_size_bytes"]
    if scenario.pretrained:  # read, never written
        dense_path = directory / "models" / "tiny_lenet_at_digits.keras"
        assert _sha256(dense_path) == _sha256(reference.directory / "models" / dense_path.name)
        dense = keras.models.load_model(dense_path, compile=False)
        replayed = apply_plan(dense, PruningPlan.load(str(out / "plan.json")))
        assert [w.shape for w in replayed.weights] == [w.shape for w in model.weights]
    else:  # the published pre-trained model is this run's model
        assert _sha256(directory / "models" / "tiny_lenet_at_digits.keras") == _sha256(
            out / "model.keras")
    if scenario.nb_trials:
        lines = (out / "search" / "trials.jsonl").read_text().splitlines()
        trials = [json.loads(line)["trial"] for line in lines]
        assert trials == list(range(scenario.nb_trials))
        best = json.loads((out / "search" / "best.json").read_text())
        assert best["reward"] == max(json.loads(line)["reward"] for line in lines)


@pytest.mark.parametrize("name, seed", [(name, seed) for name, scenario in _SCENARIOS.items()
                                        for seed in scenario.seeds])
def test_a_run_killed_at_a_random_moment_then_rerun_ends_complete_and_consistent(
        tmp_path, reference_of, name, seed):
    scenario = _SCENARIOS[name]
    reference = reference_of(name)
    _prepare(tmp_path, scenario, reference_of)
    stratum = scenario.seeds.index(seed)
    kill_after = reference.work_seconds * (
        stratum + np.random.default_rng(seed).uniform()) / len(scenario.seeds)

    command = launcher_command("lenet_at_digits", *scenario.flags)
    process = subprocess.Popen(command, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not _events(tmp_path) and process.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    phase = _phase(tmp_path) if process.returncode == -signal.SIGKILL else "finished"
    print(f"{name} seed {seed}: killed {kill_after:.2f} s after its first event, of "
          f"{reference.work_seconds:.2f} s ({phase})")

    finished = run_cli("lenet_at_digits", *scenario.flags, cwd=str(tmp_path), timeout=600)
    assert finished.returncode == 0, f"{phase}: {finished.stderr[-3000:]}"
    assert "Traceback" not in finished.stderr
    _check_output(tmp_path, scenario, reference)
