"""Channel-selection criteria, patch sampling and least-squares reconstruction on planted data."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from learners.pruning import criteria


def _relu_patches(rng: np.random.Generator, nb_rows: int, size: int, nb_channels: int,
                  ) -> np.ndarray:
    """Post-ReLU-like patches with correlated channels, as real feature maps have."""
    mixing = np.eye(nb_channels) + 0.3 * rng.standard_normal((nb_channels, nb_channels))
    return np.maximum(rng.standard_normal((nb_rows, size, nb_channels)) @ mixing, 0.0)


def _planted_problem(seed: int = 0, nb_rows: int = 1500, kernel_size: int = 3,
                     nb_channels: int = 16, nb_filters: int = 8, nb_planted: int = 6):
    """Targets made by a known subset of input channels (with their own weights) + small noise."""
    rng = np.random.default_rng(seed)
    patches = _relu_patches(rng, nb_rows, kernel_size * kernel_size, nb_channels)
    kernel = rng.standard_normal((kernel_size, kernel_size, nb_channels, nb_filters))
    planted = np.sort(rng.choice(nb_channels, nb_planted, replace=False))
    contributions = np.einsum("nkc,kco->nco", patches,
                              kernel.reshape(-1, nb_channels, nb_filters))
    scales = rng.uniform(0.7, 1.3, nb_planted)
    outputs = np.einsum("nco,c->no", contributions[:, planted], scales)
    outputs += 0.05 * outputs.std() * rng.standard_normal(outputs.shape)
    return patches, outputs, kernel, planted


def _reconstruction_error(patches: np.ndarray, outputs: np.ndarray, kept: np.ndarray) -> float:
    kernel = criteria.least_squares_reconstruction(patches, outputs, kept)
    prediction = patches[:, :, kept].reshape(len(patches), -1) @ kernel.reshape(-1,
                                                                                 outputs.shape[1])
    return float(np.mean((outputs - prediction) ** 2) / np.mean(outputs ** 2))


# ----------------------------------------------------------------------------------------------
# sample_patches


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides,kernel_size,dilation_rate",
                         [(1, 3, 1), (2, 3, 1), (2, (3, 2), 1), (1, (2, 4), 1), (1, 3, 2)])
def test_sample_patches_reproduce_conv2d_outputs(padding, strides, kernel_size, dilation_rate):
    rng = np.random.default_rng(0)
    feature_map = rng.standard_normal((3, 10, 12, 4)).astype(np.float32)  # odd padding
    layer = keras.layers.Conv2D(5, kernel_size, strides=strides, padding=padding,
                                dilation_rate=dilation_rate, bias_initializer="random_normal")
    conv_outputs = keras.ops.convert_to_numpy(layer(feature_map))
    kernel, bias = (keras.ops.convert_to_numpy(weight) for weight in layer.weights)

    patches, positions = criteria.sample_patches(feature_map, kernel_size, strides, padding, 7,
                                                 rng, dilation_rate=dilation_rate)

    assert patches.shape == (3 * 7, *kernel.shape[:2], 4)
    assert positions.shape == (21, 3)
    np.testing.assert_array_equal(positions[:, 0], np.repeat(np.arange(3), 7))
    for image in range(3):  # sampled without replacement within an image
        rows = positions[positions[:, 0] == image]
        assert len({tuple(row) for row in rows}) == 7
    expected = conv_outputs[positions[:, 0], positions[:, 1], positions[:, 2]]
    actual = patches.reshape(len(patches), -1) @ kernel.reshape(-1, 5) + bias
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)

    # The same positions taken again from another feature map give that map's patches.
    again, same_positions = criteria.sample_patches(2.0 * feature_map, kernel_size, strides,
                                                    padding, positions=positions,
                                                    dilation_rate=dilation_rate)
    np.testing.assert_array_equal(same_positions, positions)
    np.testing.assert_allclose(again, 2.0 * patches)


def test_sample_patches_cover_every_position_when_asked_for_all():
    feature_map = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    patches, positions = criteria.sample_patches(feature_map, 1, 2, "same", 4, rng=3)
    assert sorted(map(tuple, positions[:, 1:].tolist())) == sorted(
        [(row, col) for row in range(2) for col in range(2)] * 2)
    np.testing.assert_array_equal(
        patches[:, 0, 0, 0],
        feature_map[positions[:, 0], 2 * positions[:, 1], 2 * positions[:, 2], 0])


# ----------------------------------------------------------------------------------------------
# L1 and FPGM


def test_l1_norm_keeps_the_largest_filters_and_breaks_ties_by_index():
    kernel = np.ones((3, 3, 2, 6)) * np.array([1.0, 5.0, -4.0, 2.0, 5.0, 0.5])
    np.testing.assert_array_equal(criteria.l1_norm_ranking(kernel, 3), [1, 2, 4])
    # Filters 1 and 4 tie: the lower index wins.
    np.testing.assert_array_equal(criteria.l1_norm_ranking(kernel, 1), [1])
    dense_kernel = np.array([[0.1, -3.0, 2.0], [0.1, 0.0, 0.0]])
    np.testing.assert_array_equal(criteria.l1_norm_ranking(dense_kernel, 2), [1, 2])


def test_fpgm_drops_the_filter_at_the_median_even_with_a_large_norm():
    offset = np.array([100.0, 100.0])
    vertices = [offset + shift for shift in ([10, 0], [0, 10], [-10, 0], [0, -10])]
    # Filter 2 sits at the median of the other four; its L1 norm (200) is not the smallest.
    filters = np.stack([vertices[0], vertices[1], offset, vertices[2], vertices[3]], axis=1)
    kernel = filters.reshape(1, 1, 2, 5)
    np.testing.assert_array_equal(criteria.fpgm_ranking(kernel, 4), [0, 1, 3, 4])
    assert 2 in criteria.l1_norm_ranking(kernel, 4)  # magnitude would have kept it
    np.testing.assert_array_equal(criteria.fpgm_ranking(filters, 5), np.arange(5))


# ----------------------------------------------------------------------------------------------
# LASSO selection


@pytest.mark.parametrize("solver", ["lars", "coordinate_descent"])
@pytest.mark.parametrize("layout", ["flat", "spatial"])
def test_lasso_recovers_the_planted_channels(solver, layout):
    patches, outputs, kernel, planted = _planted_problem()
    inputs = patches if layout == "flat" else patches.reshape(len(patches), 3, 3, -1)

    kept = criteria.lasso_channel_selection(inputs, outputs, kernel, len(planted), solver=solver)

    np.testing.assert_array_equal(kept, planted)
    assert kept.dtype == np.int64


def test_lasso_selection_beats_random_selection_by_far():
    patches, outputs, kernel, planted = _planted_problem(seed=1)
    kept = criteria.lasso_channel_selection(patches, outputs, kernel, len(planted))
    rng = np.random.default_rng(1)
    random_errors = [
        _reconstruction_error(patches, outputs, np.sort(rng.choice(16, len(planted), False)))
        for _ in range(5)]
    lasso_error = _reconstruction_error(patches, outputs, kept)
    assert lasso_error < 0.01
    assert lasso_error < 0.05 * min(random_errors)


def test_lasso_works_for_dense_layers_and_subtracts_the_bias():
    rng = np.random.default_rng(2)
    inputs = _relu_patches(rng, 800, 1, 12)[:, 0]
    kernel = rng.standard_normal((12, 5))
    bias = 10.0 * rng.standard_normal(5)
    planted = np.array([0, 3, 7, 11])
    outputs = inputs[:, planted] @ kernel[planted] + bias + 0.01 * rng.standard_normal((800, 5))

    kept = criteria.lasso_channel_selection(inputs, outputs, kernel, 4, bias=bias)

    np.testing.assert_array_equal(kept, planted)
    np.testing.assert_array_equal(
        criteria.lasso_channel_selection(inputs, outputs, kernel, 12), np.arange(12))


def test_ista_agrees_with_scikit_learn():
    patches, outputs, kernel, planted = _planted_problem(seed=3, nb_planted=5)
    for nb_keep in (len(planted), 8):
        sklearn_kept = criteria.lasso_channel_selection(patches, outputs, kernel, nb_keep)
        ista_kept = criteria.ista_channel_selection(patches, outputs, kernel, nb_keep)
        np.testing.assert_array_equal(ista_kept, sklearn_kept)
        assert len(ista_kept) == nb_keep
    np.testing.assert_array_equal(ista_kept[np.isin(ista_kept, planted)], planted)


# ----------------------------------------------------------------------------------------------
# Least squares


def test_least_squares_beats_the_sliced_original_weights():
    """Upstream pruning changed the inputs; the targets are the unpruned layer's outputs."""
    rng = np.random.default_rng(4)
    full_inputs = _relu_patches(rng, 2000, 9, 16)
    kernel = 0.2 * rng.standard_normal((3, 3, 16, 8))
    outputs = full_inputs.reshape(2000, -1) @ kernel.reshape(-1, 8)
    pruned_inputs = full_inputs * rng.uniform(0.6, 1.0, (1, 1, 16))  # drifted upstream
    kept = criteria.lasso_channel_selection(pruned_inputs, outputs, kernel, 8)

    refit = criteria.least_squares_reconstruction(pruned_inputs, outputs, kept)

    assert refit.shape == (3, 3, 8, 8)
    design = pruned_inputs[:, :, kept].reshape(2000, -1)
    sliced_error = np.mean((outputs - design @ kernel[:, :, kept].reshape(-1, 8)) ** 2)
    refit_error = np.mean((outputs - design @ refit.reshape(-1, 8)) ** 2)
    assert refit_error < 0.8 * sliced_error
    # The least-squares optimum: residuals orthogonal to every kept input.
    residual = outputs - design @ refit.reshape(-1, 8)
    assert np.abs(design.T @ residual).max() < 1e-6 * np.abs(design.T @ outputs).max()


def test_least_squares_recovers_weights_and_bias_exactly():
    rng = np.random.default_rng(5)
    inputs = rng.standard_normal((500, 6, 4)).astype(np.float32)  # 3x2 kernel: not square
    kernel = rng.standard_normal((3, 2, 4, 3))
    bias = np.array([1.0, -2.0, 0.5])
    kept = np.array([3, 0])
    outputs = (inputs[:, :, kept].reshape(500, -1) @ kernel[:, :, kept].reshape(-1, 3)
               + bias).astype(np.float32)

    refit, refit_bias = criteria.least_squares_reconstruction(
        inputs, outputs, kept, kernel_size=(3, 2), fit_bias=True)

    assert refit.dtype == np.float32 and refit.shape == (3, 2, 2, 3)
    np.testing.assert_allclose(refit, kernel[:, :, kept], atol=1e-4)
    np.testing.assert_allclose(refit_bias, bias, atol=1e-4)
    shrunk = criteria.least_squares_reconstruction(inputs, outputs - bias, kept,
                                                   kernel_size=(3, 2), ridge=1.0)
    assert np.linalg.norm(shrunk) < np.linalg.norm(refit)
    dense = criteria.least_squares_reconstruction(inputs[:, 0], outputs, [1, 2])
    assert dense.shape == (2, 3)


def test_resnet20_sized_layer_selection_and_reconstruction():
    rng = np.random.default_rng(6)
    inputs = _relu_patches(rng, 1000, 9, 64).reshape(1000, 3, 3, 64).astype(np.float32)
    kernel = (0.06 * rng.standard_normal((3, 3, 64, 64))).astype(np.float32)
    outputs = inputs.reshape(1000, -1) @ kernel.reshape(-1, 64)

    kept = criteria.lasso_channel_selection(inputs, outputs, kernel, 32)
    refit = criteria.least_squares_reconstruction(inputs, outputs, kept)

    assert kept.shape == (32,) and np.all(np.diff(kept) > 0)
    assert refit.shape == (3, 3, 32, 64) and refit.dtype == np.float32
    design = inputs[..., kept].reshape(1000, -1)
    refit_error = np.mean((outputs - design @ refit.reshape(-1, 64)) ** 2)
    sliced_error = np.mean((outputs - design @ kernel[..., kept].reshape(-1, 64)) ** 2)
    assert refit_error < sliced_error
    l1_kept = criteria.l1_norm_ranking(np.transpose(kernel, (0, 1, 3, 2)), 32)  # by input norm
    l1_error = _reconstruction_error(inputs.reshape(1000, 9, 64), outputs, l1_kept)
    assert refit_error / np.mean(outputs ** 2) <= l1_error


# ----------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("nb_keep", [0, -1, 17, 2.0, True])
def test_bad_nb_keep_is_rejected(nb_keep):
    patches, outputs, kernel, _ = _planted_problem(nb_rows=50)
    for call in (lambda: criteria.lasso_channel_selection(patches, outputs, kernel, nb_keep),
                 lambda: criteria.ista_channel_selection(patches, outputs, kernel, nb_keep),
                 lambda: criteria.l1_norm_ranking(np.swapaxes(kernel, 2, 3), nb_keep),
                 lambda: criteria.fpgm_ranking(np.swapaxes(kernel, 2, 3), nb_keep)):
        with pytest.raises(ValueError, match="nb_keep"):
            call()


def test_mismatched_shapes_are_rejected():
    patches, outputs, kernel, _ = _planted_problem(nb_rows=50)
    select = criteria.lasso_channel_selection
    with pytest.raises(ValueError, match="outputs"):
        select(patches, outputs[:-1], kernel, 3)
    with pytest.raises(ValueError, match="outputs"):
        select(patches, outputs[:, :-1], kernel, 3)
    with pytest.raises(ValueError, match="inputs"):
        select(patches[:, :, :-1], outputs, kernel, 3)
    with pytest.raises(ValueError, match="inputs"):
        select(patches.reshape(50, 3, 3, 16)[:, :2], outputs, kernel, 3)
    with pytest.raises(ValueError, match="kernel"):
        select(patches, outputs, kernel[0], 3)
    with pytest.raises(ValueError, match="bias"):
        select(patches, outputs, kernel, 3, bias=np.zeros(3))
    with pytest.raises(ValueError, match="solver"):
        select(patches, outputs, kernel, 3, solver="magic")
    with pytest.raises(ValueError, match="kept"):
        criteria.least_squares_reconstruction(patches, outputs, [0, 16])
    with pytest.raises(ValueError, match="kept"):
        criteria.least_squares_reconstruction(patches, outputs, [1, 1])
    with pytest.raises(ValueError, match="kernel_size"):
        criteria.least_squares_reconstruction(patches[:, :6], outputs, [1])
    with pytest.raises(ValueError, match="ridge"):
        criteria.least_squares_reconstruction(patches, outputs, [1], ridge=-1.0)


def test_bad_sampling_settings_are_rejected():
    feature_map = np.zeros((2, 5, 5, 3))
    with pytest.raises(ValueError, match="padding"):
        criteria.sample_patches(feature_map, 3, 1, "causal", 2)
    with pytest.raises(ValueError, match="nb_points"):
        criteria.sample_patches(feature_map, 3, 1, "valid", 10)  # 3x3 = 9 positions
    with pytest.raises(ValueError, match="feature_map"):
        criteria.sample_patches(feature_map[0], 3, 1, "valid", 2)
    with pytest.raises(ValueError, match="feature_map"):
        criteria.sample_patches(feature_map, 7, 1, "valid", 1)
    with pytest.raises(ValueError, match="strides"):
        criteria.sample_patches(feature_map, 3, 0, "same", 2)
    with pytest.raises(ValueError, match="positions"):
        criteria.sample_patches(feature_map, 3, 1, "valid", positions=np.array([[0, 3, 0]]))
