"""``tools/benchmark/pruned_latency.py``: variant parsing and the plans it times."""

import pytest

from learners.pruning import build_graph
from nets.resnet_cifar import build_resnet_cifar
from tools.benchmark.pruned_latency import parse_variant, pruned_file_names, variant_plan


@pytest.mark.parametrize("text, expected", [
    ("all:0.7", ("all", 0.7, 1)), ("inner:0.5:8", ("inner", 0.5, 8)), ("shared:1", ("shared", 1.0, 1)),
])
def test_parse_variant(text, expected):
    assert parse_variant(text) == expected


@pytest.mark.parametrize("text", ["some:0.5", "all", "all:0", "all:1.5", "all:0.5:0", "all:x"])
def test_a_bad_variant_names_the_expected_form(text):
    with pytest.raises(ValueError, match=r"<all\|inner\|shared>:<keep ratio in \(0, 1\]>.*" + text):
        parse_variant(text)


def test_scopes_split_residual_streams_from_inner_groups():
    model = build_resnet_cifar((16, 16, 3), 10, resnet_size=8, filters=(8, 16, 32))
    graph = build_graph(model)
    shared = {g.name for g in graph.prunable_groups if len(g.producers) > 1}
    assert len(shared) == 3  # one residual stream per stage
    every = {g.name for g in graph.prunable_groups}
    for scope, pruned in (("all", every), ("shared", shared), ("inner", every - shared)):
        plan = variant_plan(graph, scope, 0.5, 4)
        for group in graph.prunable_groups:
            expected = group.channels // 2 if group.name in pruned else group.channels
            assert len(plan.kept[group.name]) == expected, (scope, group.name)


def test_pruned_files_are_named_after_their_directories(tmp_path):
    paths = []
    for directory in ("channel_lasso", "channel_auto", "other/channel_auto", "dense"):
        (tmp_path / directory).mkdir(parents=True)
        paths.append(str(tmp_path / directory / "model.keras"))
        (tmp_path / directory / "model.keras").write_text("")
    assert pruned_file_names(paths) == {"channel_lasso": paths[0], "channel_auto": paths[1],
                                        paths[2]: paths[2], paths[3]: paths[3]}
    with pytest.raises(ValueError, match=r"Expected a pruned .keras model. Received: '/no/x.keras'"):
        pruned_file_names(["/no/x.keras"])
