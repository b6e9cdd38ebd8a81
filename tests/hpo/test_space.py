"""Search spaces: unit-cube round trips, validation, JSON files."""

import json

import numpy as np
import pytest

from hpo.space import Categorical, Continuous, Integer, SearchSpace, per_layer


def _mixed_space():
    return SearchSpace([Continuous("lr", 1e-4, 1e-1, log=True), Continuous("ratio", 0.2, 1.0),
                        Integer("bits", 2, 8), Integer("width", 8, 512, log=True),
                        Categorical("schedule", ("cosine", "piecewise")), Categorical("size", (32, 64, 128))])


def test_unit_round_trip_and_bounds():
    space = _mixed_space()
    rng = np.random.default_rng(0)
    for _ in range(200):
        candidate = space.sample(rng)
        assert space.from_unit(space.to_unit(candidate)) == candidate
        for dim in space:
            assert dim.contains(candidate[dim.name])
    assert space.from_unit([0.0] * 6) == {"lr": 1e-4, "ratio": 0.2, "bits": 2, "width": 8,
                                          "schedule": "cosine", "size": 32}
    assert space.from_unit([1.0] * 6) == {"lr": 1e-1, "ratio": 1.0, "bits": 8, "width": 512,
                                          "schedule": "piecewise", "size": 128}


def test_integers_get_equal_shares_of_the_unit_interval():
    dim = Integer("bits", 2, 8)
    counts = np.bincount([dim.from_unit(u) for u in np.linspace(0, 1, 7001)], minlength=9)[2:]
    assert counts.min() > 0.95 * counts.max()


def test_validate_names_what_is_wrong():
    space = _mixed_space()
    candidate = space.from_unit([0.5] * 6)
    with pytest.raises(ValueError, match=r"missing \['lr'\]"):
        space.validate({k: v for k, v in candidate.items() if k != "lr"})
    with pytest.raises(ValueError, match=r"0.2 <= ratio <= 1.0. Received: 1.5"):
        space.validate({**candidate, "ratio": 1.5})
    with pytest.raises(ValueError, match="Expected one of"):
        space.validate({**candidate, "schedule": "linear"})


@pytest.mark.parametrize("dimension, message", [
    (lambda: Continuous("x", 1.0, 1.0), "low < high"),
    (lambda: Continuous("x", 0.0, 1.0, log=True), "low > 0"),
    (lambda: Integer("x", 1.5, 3), "integer bounds"),
    (lambda: Categorical("x", ("a",)), "two distinct choices"),
])
def test_bad_dimensions_are_rejected(dimension, message):
    with pytest.raises(ValueError, match=message):
        dimension()


def test_json_file_round_trip_and_errors(tmp_path):
    space = SearchSpace([*per_layer("keep", 3, 0.3, 1.0), Categorical("schedule", ("a", "b"))])
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space.to_json()))
    assert SearchSpace.from_file(str(path)).dimensions == space.dimensions
    assert [d.name for d in space][:2] == ["keep_000", "keep_001"]
    path.write_text('[{"name": "x", "type": "float", "low": 0}]')
    with pytest.raises(ValueError, match="Expected key 'high'"):
        SearchSpace.from_file(str(path))
    path.write_text('[{"name": "x", "type": "gaussian"}]')
    with pytest.raises(ValueError, match="continuous, integer or categorical"):
        SearchSpace.from_file(str(path))
    path.write_text("[{")
    with pytest.raises(ValueError, match="valid JSON"):
        SearchSpace.from_file(str(path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        SearchSpace.from_file(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="unique dimension names"):
        SearchSpace([Continuous("x", 0, 1), Continuous("x", 0, 2)])
