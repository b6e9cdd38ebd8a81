"""Channel pruning on the CNNs of ``keras.applications`` (random weights, small inputs).

These models are built on an unnamed ``keras.Input``, call raw ``keras.ops`` (MobileNetV3's
hard-swish, ConvNeXt's residuals) and hold Sequential sub-models, depthwise grouped
convolutions, LayerNormalization and LayerScale (ConvNeXt): pruning must cover them as users
bring them.
"""

import functools
import logging

import keras
import numpy as np
import pytest

from benchmarks import model_coverage
from learners.pruning import apply_plan, build_graph, uniform_plan
from learners.pruning.graph import analysed_model
from tests.fixtures.pruning_models import masked_copy, randomize_weights, sample_images
from utils import flops

# name -> keyword arguments (the smallest input each accepts, the smallest width), as the
# coverage table builds them.
APPLICATIONS = {name: model_coverage.APPLICATIONS[name] for name in (
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "ResNet50", "EfficientNetB0", "DenseNet121",
    "ConvNeXtTiny")}
FAST = ("MobileNet", "MobileNetV2", "MobileNetV3Small")
CASES = [name if name in FAST else pytest.param(name, marks=pytest.mark.slow)
         for name in APPLICATIONS]


@functools.cache
def _application(name):
    """The application with random weights (non-trivial BatchNorms), logits out; built once."""
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, classes=10,
                                              classifier_activation=None,
                                              **APPLICATIONS[name])
    return randomize_weights(model)


def _predict(model, images):
    return np.asarray(model(images, training=False))


def test_applications_have_an_unnamed_input():
    model = _application("MobileNet")
    assert model.inputs[0].name != model.layers[0].name  # what clone_model used to trip on


@pytest.mark.parametrize("name", CASES)
def test_keeping_every_channel_reproduces_the_application(name):
    model = _application(name)
    graph = build_graph(model)
    assert graph.prunable_groups
    same = apply_plan(model, uniform_plan(graph, 1.0), graph)
    assert [layer.name for layer in same.layers] == [
        layer.name for layer in analysed_model(model).layers]
    images = sample_images(model)
    expected = _predict(model, images)
    np.testing.assert_allclose(_predict(same, images), expected,
                               atol=1e-5 * max(1.0, np.abs(expected).max()))
    assert same.count_params() == model.count_params()


@pytest.mark.parametrize("name", CASES)
def test_half_plan_on_the_application_is_smaller_correct_and_predicted(name):
    model = _application(name)
    graph = build_graph(model)
    plan = uniform_plan(graph, 0.5)
    pruned = apply_plan(model, plan, graph)
    assert pruned.input_shape == model.input_shape
    assert pruned.output_shape == model.output_shape
    assert flops.total_params(pruned) == plan.predicted_params(graph) \
        < flops.total_params(model)
    assert flops.total_macs(pruned) == plan.predicted_macs(graph) < flops.total_macs(model)
    images = sample_images(model)
    outputs = _predict(pruned, images)
    if any(graph.group(name).normalizers for name in plan.kept):
        # A LayerNorm renormalizes the kept channels: the masked model is no reference.
        assert np.isfinite(outputs).all()
        return
    expected = _predict(masked_copy(model, graph, plan), images)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4,
                               atol=1e-4 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", FAST)
def test_mobilenets_are_analysed_without_warnings(name, caplog):
    # MobileNetV3's hard-swish is raw keras.ops arithmetic: `relu6(x + 3.0) * (1 / 6)`.
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(_application(name))
    assert not caplog.records
    blocked = [group.reason for group in graph.groups if not group.prunable]
    assert all("model input" in reason or "model output" in reason for reason in blocked)


@pytest.mark.slow
def test_convnext_is_prunable_but_for_its_input_normalization_and_head(caplog):
    with caplog.at_level(logging.WARNING, logger="learners.pruning.graph"):
        graph = build_graph(_application("ConvNeXtTiny"))
    assert not caplog.records
    blocked = [group for group in graph.groups if not group.prunable]
    assert [group.name for group in blocked[1:]] == ["convnext_tiny_prestem_normalization",
                                                     "convnext_tiny_head_dense"]
    assert "model input" in blocked[0].reason  # its name depends on the models built before
    # Every stage's residual stream runs through its sub-models, depthwise convolutions,
    # LayerNorms and LayerScales.
    stream = graph.group("convnext_tiny_stem_conv")
    assert "convnext_tiny_stage_0_block_2_layer_scale" in stream.followers
    assert "convnext_tiny_stage_0_block_0_layernorm" in stream.normalizers
