"""learners.pruning.surgery: pruned models are smaller, correct, saveable and convertible."""

import keras
import numpy as np
import pytest

from export import convert_float, max_abs_logit_diff
from learners.pruning import (
    PassThroughHandler,
    PruningPlan,
    apply_plan,
    build_graph,
    register_handler,
    uniform_plan,
)
from learners.pruning.graph import analysed_model
from tests.fixtures.pruning_models import (
    MODEL_BUILDERS,
    cached_model,
    convnext_block_net,
    masked_copy,
    nested_net,
    random_plan,
    randomize_weights,
    sample_images,
)
from utils import flops

MODEL_NAMES = sorted(MODEL_BUILDERS)


def _predict(model, images):
    return np.asarray(model(images, training=False))


@pytest.fixture(scope="module")
def pruned_models():
    """name -> (dense model, graph, random ~50 % plan, pruned model), built once."""
    cache = {}

    def get(name):
        if name not in cache:
            model = cached_model(name)
            graph = build_graph(model)
            plan = random_plan(graph, keep_ratio=0.5, seed=len(name))
            cache[name] = (model, graph, plan, apply_plan(model, plan, graph))
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_random_plan_gives_a_smaller_model_computing_the_masked_original(name, pruned_models):
    model, graph, plan, pruned = pruned_models(name)
    assert pruned.input_shape == model.input_shape
    assert pruned.output_shape == model.output_shape
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in model.layers]
    assert flops.total_params(pruned) < flops.total_params(model)
    images = sample_images(model)
    expected = _predict(masked_copy(model, graph, plan), images)
    np.testing.assert_allclose(_predict(pruned, images), expected, rtol=1e-4,
                               atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pruned_costs_equal_the_plan_prediction(name, pruned_models):
    model, graph, plan, pruned = pruned_models(name)
    assert flops.layer_costs(pruned) == plan.predicted_costs(graph)
    assert flops.total_params(pruned) == plan.predicted_params(graph) == pruned.count_params()
    assert flops.total_macs(pruned) == plan.predicted_macs(graph) < flops.total_macs(model)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keeping_every_channel_reproduces_the_original(name):
    model = cached_model(name)
    graph = build_graph(model)
    same = apply_plan(model, uniform_plan(graph, 1.0), graph)
    images = sample_images(model)
    np.testing.assert_allclose(_predict(same, images), _predict(model, images), atol=1e-5)
    assert same.count_params() == model.count_params()
    assert same is not model and same.layers[1] is not model.layers[1]


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2", "squeeze_excitation",
                                  "separable", "plain_convnet"])
def test_pruned_model_round_trips_through_keras_file(name, pruned_models, tmp_path):
    model, _, _, pruned = pruned_models(name)
    path = str(tmp_path / "pruned.keras")
    pruned.save(path)
    loaded = keras.models.load_model(path)
    images = sample_images(model)
    np.testing.assert_array_equal(_predict(loaded, images), _predict(pruned, images))


@pytest.mark.parametrize("name", ["resnet20", "squeeze_excitation", "inception_residual"])
def test_pruned_model_converts_to_float_tflite(name, pruned_models):
    model, _, _, pruned = pruned_models(name)
    images = sample_images(model, batch_size=3)
    assert max_abs_logit_diff(pruned, convert_float(pruned), images) < 1e-4


@pytest.mark.parametrize("name", ["resnet20", "depthwise_multiplier"])
def test_replaying_the_plan_file_gives_the_same_model(name, pruned_models, tmp_path):
    model, _, plan, pruned = pruned_models(name)
    plan.save(str(tmp_path / "plan.json"))
    dense = MODEL_BUILDERS[name]()
    dense.set_weights(model.get_weights())
    replayed = apply_plan(dense, PruningPlan.load(str(tmp_path / "plan.json")))
    assert replayed.get_config() == pruned.get_config()
    for one, other in zip(replayed.get_weights(), pruned.get_weights()):
        np.testing.assert_array_equal(one, other)


def test_weights_are_sliced_on_both_axes_and_through_flatten(pruned_models):
    model, _, plan, pruned = pruned_models("plain_convnet")
    conv1, conv2, fc1 = (list(plan.kept[name]) for name in ("conv1", "conv2", "fc1"))
    original_conv2 = model.get_layer("conv2").kernel.numpy()
    np.testing.assert_array_equal(pruned.get_layer("conv2").kernel.numpy(),
                                  original_conv2[:, :, conv1][..., conv2])
    for weight in ("gamma", "beta", "moving_mean", "moving_variance"):
        np.testing.assert_array_equal(getattr(pruned.get_layer("bn1"), weight).numpy(),
                                      getattr(model.get_layer("bn1"), weight).numpy()[conv1])
    # fc1 reads the flattened 2x2x6 map: its rows are (position, channel), channels last.
    rows = model.get_layer("fc1").kernel.numpy().reshape(2, 2, 6, 8)[:, :, conv2][..., fc1]
    np.testing.assert_array_equal(pruned.get_layer("fc1").kernel.numpy(),
                                  rows.reshape(2 * 2 * len(conv2), len(fc1)))
    np.testing.assert_array_equal(pruned.get_layer("fc1").bias.numpy(),
                                  model.get_layer("fc1").bias.numpy()[fc1])
    assert pruned.get_layer("conv1").filters == len(conv1)
    assert pruned.get_layer("fc1").units == len(fc1)


def test_depthwise_and_separable_kernels_are_sliced(pruned_models):
    model, _, plan, pruned = pruned_models("depthwise_multiplier")
    kept = list(plan.kept["conv1"])
    outputs = [2 * channel + j for channel in kept for j in range(2)]
    np.testing.assert_array_equal(pruned.get_layer("depthwise").kernel.numpy(),
                                  model.get_layer("depthwise").kernel.numpy()[:, :, kept])
    np.testing.assert_array_equal(pruned.get_layer("parallel").kernel.numpy(),
                                  model.get_layer("parallel").kernel.numpy()[:, :, kept][
                                      ..., outputs])

    model, _, plan, pruned = pruned_models("separable")
    conv1, sep1 = list(plan.kept["conv1"]), list(plan.kept["sep1"])
    depthwise = [2 * channel + j for channel in conv1 for j in range(2)]
    layer, original = pruned.get_layer("sep1"), model.get_layer("sep1")
    np.testing.assert_array_equal(layer.depthwise_kernel.numpy(),
                                  original.depthwise_kernel.numpy()[:, :, conv1])
    np.testing.assert_array_equal(layer.pointwise_kernel.numpy(),
                                  original.pointwise_kernel.numpy()[:, :, depthwise][..., sep1])
    assert layer.filters == len(sep1)


def test_squeeze_excitation_reshape_is_resized(pruned_models):
    _, _, plan, pruned = pruned_models("squeeze_excitation")
    channels = len(plan.kept["conv1"])
    assert pruned.get_layer("se_reshape").target_shape == (1, 1, channels)
    assert pruned.get_layer("se_expand").units == channels
    assert pruned.get_layer("se_reduce").kernel.shape == (channels, len(plan.kept["se_reduce"]))


def test_the_original_model_is_left_untouched():
    model = cached_model("separable")
    before = [weight.copy() for weight in model.get_weights()]
    apply_plan(model, uniform_plan(build_graph(model), 0.5))
    for one, other in zip(before, model.get_weights()):
        np.testing.assert_array_equal(one, other)
    assert model.get_layer("sep1").filters == 8


def _identity_and_half_plans(model):
    """(graph, the keep-everything copy, a random ~50 % plan, its pruned copy)."""
    graph = build_graph(model)
    same = apply_plan(model, uniform_plan(graph, 1.0), graph)
    plan = random_plan(graph, 0.5, seed=2)
    return graph, same, plan, apply_plan(model, plan, graph)


def _assert_pruned_correctly(model, graph, same, plan, pruned):
    """Checks the copies, then zeroes the input rows of ``model``'s Conv2D and Dense layers
    that read cut channels (in place: ``masked_copy`` cannot clone a Lambda) and checks that
    the pruned model computes what it computes."""
    images = sample_images(model)
    np.testing.assert_allclose(_predict(same, images), _predict(model, images), atol=1e-5)
    assert flops.layer_costs(same) == flops.layer_costs(model)
    assert flops.layer_costs(pruned) == plan.predicted_costs(graph)
    for name, masks in graph.layer_masks(plan.kept).items():
        layer = model.get_layer(name)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and \
                not masks.inputs[0].all():
            kernel = layer.kernel.numpy()
            kernel[..., ~masks.inputs[0], :] = 0.0
            layer.kernel.assign(kernel)
    np.testing.assert_allclose(_predict(pruned, images), _predict(model, images), atol=1e-5)


def test_unnamed_inputs_keep_their_layer_names():
    keras.utils.set_random_seed(0)
    images, extra = keras.Input((8, 8, 3)), keras.Input((8, 8, 2))  # auto-named input layers
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(images)
    x = keras.layers.Concatenate(name="concat")([x, extra])
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model([images, extra], keras.layers.Dense(3, name="logits")(x))
    assert images.name != model.layers[0].name  # clone_model used to name it after the tensor
    graph = build_graph(model)
    plan = random_plan(graph, 0.5, seed=1)
    pruned = apply_plan(model, plan, graph)
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in model.layers]
    rng = np.random.default_rng(0)
    batch = [rng.normal(size=(2, 8, 8, 3)).astype("float32"),
             rng.normal(size=(2, 8, 8, 2)).astype("float32")]
    np.testing.assert_allclose(_predict(pruned, batch),
                               _predict(masked_copy(model, graph, plan), batch), atol=1e-5)


def test_grouped_convolution_is_kept_and_costed_right():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="images")
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.Conv2D(12, 3, groups=4, name="grouped")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(6, 1, name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    graph, same, plan, pruned = _identity_and_half_plans(model)
    assert uniform_plan(graph, 1.0).predicted_params(graph) == model.count_params()
    assert set(plan.kept) == {"conv3"}  # the grouped convolution's channels stay
    assert pruned.get_layer("grouped").kernel.shape == (3, 3, 2, 12)
    _assert_pruned_correctly(model, graph, same, plan, pruned)


class _Offset(keras.layers.Layer):
    """A custom layer whose config does not record its constructor argument."""

    def __init__(self, offset, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def get_config(self):
        return {"name": self.name}  # forgets `offset`: from_config fails

    def call(self, inputs):
        return inputs + self.offset


def _model_with(custom):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = custom(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


@pytest.mark.parametrize("custom", [
    lambda: keras.layers.Lambda(lambda x: x * 2.0, name="custom"),
    lambda: _Offset(0.5, name="custom"),
])
def test_layers_that_cannot_be_recreated_are_reused_when_uncut(custom):
    model = _model_with(custom())
    graph, same, plan, pruned = _identity_and_half_plans(model)
    assert set(plan.kept) == {"conv2"}  # the custom layer pins conv1's channels
    assert pruned.get_layer("custom") is model.get_layer("custom")
    _assert_pruned_correctly(model, graph, same, plan, pruned)


class _Scale(_Offset):
    """``_Offset`` with a weight: reusing it would share the weight with the original."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs * self.scale + self.offset


def test_a_layer_with_weights_that_cannot_be_recreated_is_named_not_shared():
    model = _model_with(_Scale(0.5, name="custom"))
    graph = build_graph(model)
    with pytest.raises(ValueError, match=r"re-create layer 'custom' \(_Scale\)"):
        apply_plan(model, uniform_plan(graph, 0.5), graph)


def test_a_layer_that_cannot_be_recreated_and_is_cut_is_named(restore_handlers):
    register_handler(_Offset, PassThroughHandler())
    model = _model_with(_Offset(0.5, name="custom"))
    graph = build_graph(model)
    with pytest.raises(ValueError, match=r"re-create layer 'custom' \(_Offset\)"):
        apply_plan(model, uniform_plan(graph, 0.5), graph)


def _randomized(builder):
    keras.utils.set_random_seed(0)
    return randomize_weights(builder())


def test_a_model_with_sub_models_is_pruned_flat():
    model = _randomized(nested_net)
    graph, same, plan, pruned = _identity_and_half_plans(model)
    flat = analysed_model(model)
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in flat.layers]
    assert not any(isinstance(layer, keras.Model) for layer in pruned.layers)
    images = sample_images(model)
    np.testing.assert_allclose(_predict(same, images), _predict(model, images), atol=1e-5)
    assert flops.total_params(same) == flops.total_params(model) == model.count_params()
    assert flops.total_macs(same) == flops.total_macs(model)
    assert flops.layer_costs(pruned) == plan.predicted_costs(graph)
    assert flops.total_macs(pruned) == plan.predicted_macs(graph) < flops.total_macs(model)
    assert pruned.get_layer("block_conv").filters == len(plan.kept["conv"])
    np.testing.assert_allclose(_predict(pruned, images),
                               _predict(masked_copy(flat, graph, plan), images), atol=1e-5)


def _layer_norm(values, gamma, beta, epsilon=1e-6):
    mean = values.mean(axis=-1, keepdims=True)
    variance = values.var(axis=-1, keepdims=True)
    return (values - mean) / np.sqrt(variance + epsilon) * gamma + beta


def _tensors(model, names, images):
    """The inputs and outputs of the named layers of ``model`` on ``images``."""
    tensors = [t for name in names for t in (model.get_layer(name).input,
                                              model.get_layer(name).output)]
    return [np.asarray(value) for value in keras.Model(model.input, tensors)(images)]


def test_a_convnext_block_is_pruned_with_layer_norm_over_the_kept_channels():
    model = _randomized(convnext_block_net)
    graph, same, plan, pruned = _identity_and_half_plans(model)
    images = sample_images(model)
    np.testing.assert_allclose(_predict(same, images), _predict(model, images), atol=1e-5)
    assert flops.layer_costs(same) == flops.layer_costs(model)
    assert flops.layer_costs(pruned) == plan.predicted_costs(graph)
    assert flops.total_macs(pruned) == plan.predicted_macs(graph) < flops.total_macs(model)
    kept = list(plan.kept["stem"])
    depthwise = pruned.get_layer("depthwise")
    assert (depthwise.groups, depthwise.filters) == (len(kept), len(kept))
    np.testing.assert_array_equal(depthwise.kernel.numpy(),
                                  model.get_layer("depthwise").kernel.numpy()[..., kept])
    assert pruned.get_layer("layer_scale").projection_dim == len(kept)
    np.testing.assert_array_equal(pruned.get_layer("layer_scale").gamma.numpy(),
                                  model.get_layer("layer_scale").gamma.numpy()[kept])
    # The stem's kept outputs are the dense ones; its LayerNorm normalizes them among
    # themselves, with gamma and beta sliced.
    _, dense_stem = _tensors(model, ["stem"], images)
    _, stem, ln_input, ln_output = _tensors(pruned, ["stem", "stem_ln"], images)
    np.testing.assert_allclose(stem, dense_stem[..., kept], atol=1e-5)
    original = model.get_layer("stem_ln")
    np.testing.assert_allclose(ln_output, _layer_norm(ln_input, original.gamma.numpy()[kept],
                                                      original.beta.numpy()[kept]), atol=1e-4)
    outputs = _predict(pruned, images)
    assert outputs.shape == _predict(model, images).shape and np.isfinite(outputs).all()
