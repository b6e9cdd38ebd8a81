"""The per-layer search driver: the search it runs is the one a learner built by hand, it
resumes, re-scores, and stops once the optimizer only re-proposes plans already scored."""

import dataclasses
import json

import numpy as np
import pytest

import hpo.layer_search
from hpo.budget import Budget
from hpo.layer_search import DEFAULT_PATIENCE, LayerSearch, run_layer_search
from hpo.optimizer import Optimizer, create_optimizer
from hpo.search import run_search, search_description
from hpo.space import Integer, SearchSpace, per_layer
from hpo.trial_store import TrialStore, stored_seconds

SIZES = [30, 200, 50, 120]


def _kept(values):
    return sum(s * v for s, v in zip(SIZES, values)) / sum(SIZES)


def _search(**changes):
    settings = dict(prefix="keep", nb_layers=len(SIZES), low=0.2, high=1.0, budget_kind="params",
                    budget_limit=0.5, measure=_kept, backend="random", seed=0, rollouts=6,
                    warmup_rollouts=2, first=[[0.5] * len(SIZES)],
                    layer_features=np.asarray([[i, s] for i, s in enumerate(SIZES)], float),
                    description={"reward": "toy"})
    settings.update(changes)
    return LayerSearch(**settings)


def _reward(values):
    return values[0] - values[1], {"first": values[0]}


def _silent(_):
    pass


@pytest.mark.parametrize("backend", ["random", "tpe", "ddpg"])
def test_proposes_and_scores_what_the_hand_built_search_did(tmp_path, backend):
    """The learners' searches before the driver: per_layer space, filled budget, first plans,
    store described by search_description, options for DDPG only."""
    names = [f"keep_{i:03d}" for i in range(len(SIZES))]
    search = _search(backend=backend)
    space = SearchSpace(per_layer("keep", len(SIZES), 0.2, 1.0))
    budget = Budget("params", 0.5, lambda c: _kept([c[n] for n in names]), fill=True)
    options = ({"layer_features": search.layer_features, "rollouts": 6, "warmup_rollouts": 2}
               if backend == "ddpg" else {})
    optimizer = create_optimizer(backend, space, seed=0, **options)
    store = TrialStore(str(tmp_path / "by_hand"),
                       search_description(optimizer, backend, budget, reward="toy"))
    by_hand = run_search(optimizer, lambda c: _reward([c[n] for n in names]), 6, store=store,
                         budget=budget, first_candidates=[dict.fromkeys(names, 0.5)], log=_silent)

    result = run_layer_search(search, _reward, store_dir=str(tmp_path / "driver"), log=_silent)
    assert [t.projected for t in result.trials] == [t.projected for t in by_hand.trials]
    assert [t.reward for t in result.trials] == [t.reward for t in by_hand.trials]
    assert result.values == [by_hand.best.projected[n] for n in names]
    assert (json.loads((tmp_path / "driver/search.json").read_text())
            == json.loads((tmp_path / "by_hand/search.json").read_text()))


def test_resumes_a_search_directory_the_hand_built_search_wrote(tmp_path):
    names = [f"keep_{i:03d}" for i in range(len(SIZES))]
    space = SearchSpace(per_layer("keep", len(SIZES), 0.2, 1.0))
    budget = Budget("params", 0.5, lambda c: _kept([c[n] for n in names]), fill=True)
    optimizer = create_optimizer("random", space, seed=0)
    store = TrialStore(str(tmp_path), search_description(optimizer, "random", budget,
                                                         reward="toy"))
    run_search(optimizer, lambda c: _reward([c[n] for n in names]), 3, store=store,
               budget=budget, first_candidates=[dict.fromkeys(names, 0.5)], log=_silent)
    scored = []
    lines = []
    result = run_layer_search(_search(), lambda v: scored.append(v) or _reward(v),
                              store_dir=str(tmp_path), log=lines.append)
    assert len(result.trials) == 6 and len(scored) <= 3
    assert "resumed with 3 trial(s)" in lines[0]
    assert result.search_seconds == pytest.approx(stored_seconds(str(tmp_path)))


def test_integer_values_in_a_decision_order_come_back_in_layer_order(tmp_path):
    told = []
    search = _search(prefix="bits", low=2, high=8, integer=True, order=(2, 0, 3, 1),
                     budget_kind="bits", budget_limit=4.0, first=[[4] * len(SIZES)],
                     measure=lambda bits: sum(s * b for s, b in zip(SIZES, bits)) / sum(SIZES))
    assert search.space().names == ["bits_002", "bits_000", "bits_003", "bits_001"]
    assert all(isinstance(d, Integer) for d in search.space())
    assert search.optimizer_options() == {}  # DDPG's options only for DDPG
    ddpg = dataclasses.replace(search, backend="ddpg", warmup_rollouts=50)
    options = ddpg.optimizer_options()
    assert options["warmup_rollouts"] == 6  # at most the roll-outs
    assert options["layer_features"][:, 0].tolist() == [2, 0, 3, 1]  # rows in decision order
    result = run_layer_search(search, lambda bits: told.append(bits) or float(bits[0]),
                              store_dir=None, log=_silent)
    assert told[0] == [4, 4, 4, 4]
    assert all(isinstance(b, int) for bits in told for b in bits)
    assert result.values == max(told, key=lambda bits: bits[0])
    assert result.search_seconds > 0


def test_rescoring_keeps_the_first_plan_unless_a_leader_beats_it_by_the_margin(tmp_path):
    rescored = []

    def rescore(values):
        rescored.append(values)
        return 1.0 if values == [0.5] * len(SIZES) else 1.05

    kept = run_layer_search(_search(nb_rescore=2, rescore_margin=0.1, rescore_name="r"),
                            _reward, store_dir=str(tmp_path / "a"), rescore=rescore, log=_silent)
    assert kept.values == [0.5] * len(SIZES) and [0.5] * len(SIZES) in rescored
    assert (tmp_path / "a/r.jsonl").is_file()
    replaced = run_layer_search(_search(nb_rescore=2, rescore_margin=0.01), _reward,
                                store_dir=str(tmp_path / "b"), rescore=rescore, log=_silent)
    assert replaced.values != [0.5] * len(SIZES)
    assert replaced.search_seconds == pytest.approx(stored_seconds(str(tmp_path / "b")))


class RepeatingSearch(Optimizer):
    """Distinct candidates during a warm-up of ``nb_warmup`` trials, then the same one forever
    (what a DDPG search whose noise has died out does)."""

    def __init__(self, space, seed=0, nb_warmup=3):
        super().__init__(space, seed)
        self.nb_warmup = nb_warmup

    @property
    def nb_warmup_trials(self):
        return self.nb_warmup

    def ask(self):
        if len(self.history) < self.nb_warmup + 2:
            return self.space.sample(self.rng)
        return self.space.from_unit([0.9] * len(self.space))


def test_stops_once_the_optimizer_re_proposes_a_scored_plan_patience_times(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(hpo.layer_search, "create_optimizer",
                        lambda name, space, seed, **options: RepeatingSearch(space, seed))
    scored, lines = [], []
    search = _search(rollouts=40, patience=4)
    result = run_layer_search(search, lambda v: scored.append(v) or _reward(v),
                              store_dir=str(tmp_path), log=lines.append)
    # the first plan, 4 distinct asks (the warm-up and 2 more), the repeated plan scored once,
    # then 4 repeats of it
    assert len(result.trials) == 1 + 4 + 1 + 4 and result.stopped_early
    assert len(scored) == 6
    assert [t.metrics.get("repeat_of") for t in result.trials[-4:]] == [5] * 4
    assert [line for line in lines if "stopped" in line] == [
        "search: stopped after 10 of 40 trials: the optimizer proposed plans already scored "
        "4 times in a row after its warm-up (patience 4)"]
    # a stopped search stays stopped when it is started again
    again = run_layer_search(search, lambda v: scored.append(v) or _reward(v),
                             store_dir=str(tmp_path), log=_silent)
    assert len(again.trials) == 10 and len(scored) == 6 and again.values == result.values


def test_repeats_during_the_warm_up_do_not_stop_the_search(tmp_path, monkeypatch):
    class WarmUpRepeats(RepeatingSearch):
        def ask(self):  # the same plan from the start, a warm-up of 8 trials
            return self.space.from_unit([0.9] * len(self.space))

    monkeypatch.setattr(hpo.layer_search, "create_optimizer",
                        lambda name, space, seed, **options: WarmUpRepeats(space, seed, 8))
    result = run_layer_search(_search(rollouts=40, patience=4), _reward, store_dir=None,
                              log=_silent)
    assert len(result.trials) == 8 + 4  # repeats count from trial 9 on


def test_default_patience_never_stops_a_search_that_keeps_finding_new_plans(tmp_path):
    assert DEFAULT_PATIENCE == _search().patience
    result = run_layer_search(_search(rollouts=25), _reward, store_dir=None, log=_silent)
    assert len(result.trials) == 25 and not result.stopped_early


@pytest.mark.parametrize("changes, message", [
    ({"order": (0, 1, 1, 3)}, "permutation of range"),
    ({"first": [[0.5, 0.5]]}, "Expected 4 values in each first plan"),
    ({"budget_kind": "watts"}, "budget kind"),
    ({"patience": 0}, "patience >= 1"),
    ({"rollouts": 0}, "rollouts >= 1"),
])
def test_bad_searches_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _search(**changes)
