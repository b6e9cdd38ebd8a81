"""The trial store: durable lines, best.json, torn last lines, a different search refused."""

import json

import pytest

from hpo.trial_store import TrialStore, stored_seconds

DESCRIPTION = {"backend": "random", "space": [{"name": "x", "type": "continuous", "low": 0, "high": 1}]}


def _fill(store, rewards):
    for reward in rewards:
        store.append(store.new_trial({"x": reward}, {"x": reward}, reward, {"val": reward}))


def test_appends_and_keeps_the_best_on_disk(tmp_path):
    store = TrialStore(str(tmp_path), DESCRIPTION)
    _fill(store, [0.2, 0.7, 0.5])
    assert json.loads((tmp_path / "best.json").read_text())["reward"] == 0.7
    reloaded = TrialStore(str(tmp_path), DESCRIPTION)
    assert [t.reward for t in reloaded.trials] == [0.2, 0.7, 0.5]
    assert [t.trial for t in reloaded.trials] == [0, 1, 2]
    assert reloaded.best.trial == 1


def test_a_torn_last_line_is_dropped(tmp_path):
    store = TrialStore(str(tmp_path), DESCRIPTION)
    _fill(store, [0.2, 0.7])
    with open(store.trials_path, "a") as handle:
        handle.write('{"trial": 2, "candidate": {"x"')  # killed mid-write
    reloaded = TrialStore(str(tmp_path), DESCRIPTION)
    assert len(reloaded) == 2
    _fill(reloaded, [0.9])
    assert [t.trial for t in TrialStore(str(tmp_path), DESCRIPTION).trials] == [0, 1, 2]


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path):
    store = TrialStore(str(tmp_path), DESCRIPTION)
    _fill(store, [0.2])
    with open(store.trials_path, "a") as handle:
        handle.write("not json\n")
    _fill(store, [0.3])
    with pytest.raises(ValueError, match="line 2"):
        TrialStore(str(tmp_path), DESCRIPTION)


def test_a_different_search_in_the_directory_is_refused(tmp_path):
    TrialStore(str(tmp_path), DESCRIPTION)
    with pytest.raises(ValueError, match=r"differs in \['backend'\]"):
        TrialStore(str(tmp_path), {**DESCRIPTION, "backend": "gp"})


def test_stored_seconds_add_up_the_trials_and_later_stages_of_every_launch(tmp_path):
    assert stored_seconds(str(tmp_path / "none")) == 0.0
    store = TrialStore(str(tmp_path), {"backend": "tpe"})
    for reward, seconds in ((0.5, 10.0), (0.7, 20.0)):
        store.append(store.new_trial({"x": reward}, {"x": reward}, reward, seconds=seconds))
    (tmp_path / "rescored_ft3.jsonl").write_text('{"trial": 1, "score": 0.6, "seconds": 5.5}\n'
                                                 '{"trial": 0, "score": 0.4}\n')  # no seconds
    assert stored_seconds(str(tmp_path)) == pytest.approx(35.5)
