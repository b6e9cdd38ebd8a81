"""The one metrics.json schema: what it accepts and what it names when it rejects."""

import time

import pytest

from learners.metrics import COMMON, validate


def _minimal(**extra):
    metrics = {key: None for key in COMMON}
    metrics.update({"learner": "toy", "model": "lenet_at_digits", "eval": {"accuracy": 0.9},
                    "params": 10, "macs": 100, "train": {"steps": 1}, **extra})
    return metrics


def test_common_entries_with_nones_and_declared_own_entries_pass():
    validate(_minimal(bits={"conv": 4}, completed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())), own_keys={"bits"})


@pytest.mark.parametrize("change, message", [
    ({"bits": 4}, "unknown 'bits'"),
    ({"params": 1.5}, "'params' is a float"),
    ({"params": True}, "'params' is a bool"),
    ({"eval": {}}, "'eval' has no 'accuracy'"),
    ({"latency": {}}, "'latency' is a dict, expected list"),
])
def test_schema_violations_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        validate(_minimal(**change))


def test_a_missing_common_entry_is_named():
    metrics = _minimal()
    del metrics["search_seconds"]
    with pytest.raises(ValueError, match="missing 'search_seconds'"):
        validate(metrics)
