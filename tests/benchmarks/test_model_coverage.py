"""The table of docs/own_model.md as tests: every cell of every model passes, or fails only
where ``KNOWN_LIMITATIONS`` names the runtime limitation (the cell then lists the float ops)."""

import pytest

from benchmarks import model_coverage

FAST = ("MobileNet", *model_coverage.HAND_WRITTEN)
CASES = [name if name in FAST else pytest.param(name, marks=pytest.mark.slow)
         for name in model_coverage.MODELS]


@pytest.mark.parametrize("name", CASES)
def test_every_cell_passes_or_names_its_runtime_limitation(name):
    row = model_coverage.coverage_row(name)
    assert 0.0 <= row["prunable_share"] <= 1.0
    for cell_name, cell in row["cells"].items():
        limitation = model_coverage.KNOWN_LIMITATIONS.get((name, cell_name))
        if limitation is None:
            assert cell["passed"], f"{name}, {cell_name}: {cell['detail']}"
        else:
            assert not cell["passed"] and "ops not integer" in cell["detail"], (
                f"{name}, {cell_name} is listed as limited ({limitation}) but: {cell['detail']}")


def test_the_table_footnotes_each_failed_cell():
    row = {"model": "m", "params": 10, "prunable_share": 0.5, "prunable_groups": 1, "groups": 2,
           "cells": {cell: {"passed": cell != "qat_int8", "detail": "2 of 9 ops not integer: "
                                                                     "NEG"}
                     for cell in model_coverage.CELLS}}
    table = model_coverage.markdown([row])
    assert "| m | 10 | 50% (1/2 groups) | yes | yes | yes | no (1) | yes |" in table
    assert "(1) m, qat_int8: 2 of 9 ops not integer: NEG" in table


def test_unknown_models_are_refused_naming_the_known_ones(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["model_coverage", "--models", "NoSuchNet"])
    with pytest.raises(SystemExit, match="Expected models among MobileNet.*Received: NoSuchNet"):
        model_coverage.main()
