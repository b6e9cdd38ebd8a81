"""learners.pruning.plan: validation, JSON files, uniform plans and predicted costs."""

import json
import os

import pytest

from learners.pruning import (
    PruningPlan,
    apply_plan,
    build_graph,
    cover_segments,
    keep_count,
    uniform_plan,
)
from learners.pruning.plan import PLAN_FORMAT
from tests.fixtures.pruning_models import cached_model
from utils import flops


@pytest.fixture(scope="module")
def resnet():
    model = cached_model("resnet20")
    return model, build_graph(model)


@pytest.mark.parametrize("channels, ratio, round_to, expected", [
    (16, 0.5, 1, 8),
    (10, 0.25, 1, 3),  # 2.5 rounds half up
    (3, 0.1, 1, 1),  # at least one channel
    (16, 1.0, 1, 16),
    (16, 0.3, 4, 4),  # 4.8 -> the nearest multiple of 4
    (20, 0.7, 8, 16),  # 14 -> 16
    (20, 0.5, 8, 8),  # 10 -> 8
    (20, 0.1, 8, 8),  # at least round_to ...
    (6, 0.5, 8, 6),  # ... or the full count
    (22, 1.0, 8, 22),  # 22 -> 24, capped at the full count
])
def test_keep_count(channels, ratio, round_to, expected):
    assert keep_count(channels, ratio, round_to) == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"keep_ratio": 0.0}, "keep_ratio"),
    ({"keep_ratio": 1.5}, "keep_ratio"),
    ({"keep_ratio": 0.5, "round_to": 0}, "round_to"),
    ({"keep_ratio": 0.5, "round_to": 2.0}, "round_to"),
])
def test_keep_count_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keep_count(8, **kwargs)


def test_uniform_plan_keeps_the_first_channels_of_every_prunable_group(resnet):
    _, graph = resnet
    plan = uniform_plan(graph, 0.5)
    assert set(plan.kept) == {group.name for group in graph.prunable_groups}
    assert plan.kept["stem_conv"] == (0, 1)
    assert plan.kept["stage3_block1_conv2"] == tuple(range(8))
    assert plan.channels["stage2_block1_conv1"] == 8 and plan.model_name == graph.model_name
    rounded = uniform_plan(graph, 0.3, round_to=4)
    assert {len(indices) for indices in rounded.kept.values()} == {4}  # 1.2, 2.4, 4.8 -> 4


def test_uniform_plan_keeps_a_channel_of_every_segment():
    graph = build_graph(cached_model("inception_residual"))
    group = graph.group("branch1")
    plan = uniform_plan(graph, 0.25)
    kept = set(plan.kept["branch1"])
    assert len(kept) >= keep_count(12, 0.25)
    assert all(kept & set(channels) for _, channels in group.segments)
    assert cover_segments(group, [0]) == sorted(
        {0} | {channels[0] for _, channels in group.segments})


def test_validate_rejects_a_plan_emptying_a_segment():
    graph = build_graph(cached_model("inception_residual"))
    segments = dict(graph.group("branch1").segments)
    plan = PruningPlan({"branch1": segments["branch1"]})
    with pytest.raises(ValueError, match="group 'branch1' to keep at least one of channels.*"
                                         "outputs of layer 'branch2'"):
        plan.validate(graph)


def test_plan_normalizes_indices():
    plan = PruningPlan({"a": [3, 1, 2]}, channels={"a": 4})
    assert plan.kept == {"a": (1, 2, 3)}


@pytest.mark.parametrize("kept, channels, message", [
    ({"conv": []}, {}, "at least one kept channel in group 'conv'"),
    ({"conv": [1, 1]}, {}, "distinct.*group 'conv'.*\\[1\\]"),
    ({"conv": [-1]}, {}, "non-negative integer.*group 'conv'"),
    ({"conv": [True]}, {}, "non-negative integer.*group 'conv'"),
    ({"conv": [0.5]}, {}, "non-negative integer.*group 'conv'"),
    ({"conv": "01"}, {}, "list of kept channel indices for group 'conv'"),
    ({"conv": [0, 4]}, {"conv": 4}, "group 'conv' in \\[0, 4\\). Received: 4"),
    ({"conv": [0]}, {"other": 4}, "group 'other'"),
])
def test_plan_rejects_malformed_indices(kept, channels, message):
    with pytest.raises(ValueError, match=message):
        PruningPlan(kept, channels=channels)


@pytest.mark.parametrize("kept, message", [
    ({"no_such_group": [0]}, "Unknown channel group 'no_such_group'.*stem_conv"),
    ({"stem_conv": [0, 4]}, "group 'stem_conv' in \\[0, 4\\). Received: 4"),
    ({"logits": [0, 1]}, "group 'logits', which is not prunable \\(reaches the model output"),
    ({"images": [0]}, "group 'images', which is not prunable \\(model input"),
])
def test_validate_names_the_bad_group(resnet, kept, message):
    model, graph = resnet
    plan = PruningPlan(kept)
    with pytest.raises(ValueError, match=message):
        plan.validate(graph)
    with pytest.raises(ValueError, match=message):
        apply_plan(model, plan, graph)


def test_validate_rejects_a_plan_made_for_another_width(resnet):
    _, graph = resnet
    plan = PruningPlan({"stem_conv": [0]}, channels={"stem_conv": 16})
    with pytest.raises(ValueError, match="group 'stem_conv' to have 16 channels.*has 4"):
        plan.validate(graph)


def test_empty_plan_predicts_the_original_costs(resnet):
    model, graph = resnet
    plan = PruningPlan({})
    assert plan.predicted_costs(graph) == flops.layer_costs(model)
    assert plan.predicted_params(graph) == model.count_params()
    assert plan.predicted_macs(graph) == flops.total_macs(model)
    assert plan.predicted_flops(graph) == flops.total_flops(model)


def test_uniform_plan_predicts_the_pruned_costs(resnet):
    model, graph = resnet
    plan = uniform_plan(graph, 0.5)
    pruned = apply_plan(model, plan, graph)
    assert plan.predicted_params(graph) == flops.total_params(pruned) < model.count_params()
    assert plan.predicted_macs(graph) == flops.total_macs(pruned) < flops.total_macs(model)


def test_json_round_trip(resnet, tmp_path):
    _, graph = resnet
    plan = uniform_plan(graph, 0.5)
    path = str(tmp_path / "plans" / "plan.json")
    plan.save(path)
    assert os.listdir(tmp_path / "plans") == ["plan.json"]  # no temporary file left behind
    with open(path) as handle:
        payload = json.load(handle)
    assert payload["format"] == PLAN_FORMAT and payload["version"] == 1
    assert payload["groups"]["stem_conv"] == {"channels": 4, "kept": [0, 1]}
    assert PruningPlan.load(path) == plan


@pytest.mark.parametrize("content, message", [
    ("{not json", "Expected a JSON pruning plan in '.*bad.json'"),
    ('{"format": "other"}', "Expected '.*bad.json' to be a JSON object with format="),
    ('[1, 2]', "Expected '.*bad.json' to be a JSON object"),
    (json.dumps({"format": PLAN_FORMAT, "version": 9, "groups": {}}), "version 1.*version=9"),
    (json.dumps({"format": PLAN_FORMAT, "version": 1, "groups": {"a": [0]}}),
     "'groups' in '.*bad.json'"),
    (json.dumps({"format": PLAN_FORMAT, "version": 1, "groups": {"a": {"kept": []}}}),
     "Invalid pruning plan in '.*bad.json'.*group 'a'"),
])
def test_load_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        PruningPlan.load(str(path))


def test_for_graph_validates(resnet):
    _, graph = resnet
    with pytest.raises(ValueError, match="Unknown channel group 'nope'"):
        PruningPlan.for_graph(graph, {"nope": [0]})
