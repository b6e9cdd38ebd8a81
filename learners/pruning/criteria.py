"""Channel-selection criteria and weight reconstruction for channel pruning, on plain arrays.

Everything here is a pure function of NumPy arrays (TensorFlow only inside the ISTA solver): no
graph, no layers, no learner. A learner samples patches with :func:`sample_patches`, picks the
channels to keep with one criterion and re-fits the kept weights with
:func:`least_squares_reconstruction`.

* :func:`l1_norm_ranking` — Li et al. 2017, "Pruning Filters for Efficient ConvNets": keep the
  output filters with the largest L1 norms.
* :func:`fpgm_ranking` — He et al. 2019, "Filter Pruning via Geometric Median": drop the filters
  nearest the geometric median of the layer (smallest summed distance to all other filters).
* :func:`lasso_channel_selection` / :func:`ista_channel_selection` — He et al. 2017, "Channel
  Pruning for Accelerating Very Deep Neural Networks": LASSO over per-input-channel contributions,
  solved with scikit-learn (CPU) or with a batched FISTA in TensorFlow (GPU; the original's
  ``chn-pruned-rmt`` solver).

Shapes (channels last):

* ``kernel``: ``[kh, kw, cin, cout]`` for ``Conv2D``, or ``[cin, cout]`` for ``Dense``.
* ``inputs``: the receptive-field patches at ``N`` sampled output positions,
  ``[N, kh, kw, cin]`` or ``[N, kh * kw, cin]``; ``[N, cin]`` for a ``Dense`` or 1x1 layer.
  ``inputs.reshape(N, -1) @ kernel.reshape(-1, cout)`` is the layer's (bias-free) output.
* ``outputs``: ``[N, cout]``, the responses to reconstruct at the same positions. They may come
  from the unpruned model while ``inputs`` come from the partly pruned one: the least-squares fit
  then also absorbs the error that pruning earlier layers introduced.

The LASSO never materialises the ``[N * cout, cin]`` design matrix of He et al.: its objective
depends only on the channel Gram matrix ``G[c, d] = <Z_c, Z_d>`` and on ``<Z_c, Y>``, where
``Z_c = patches_c @ W_c``, and both follow from the patch covariance ``X^T X`` and ``X^T Y`` in
``O(N (kh kw cin)^2)``. So every sampled row is used (the original subsampled 400) and the solver
works on a ``cin x cin`` problem whatever ``N`` is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.linalg
from sklearn import linear_model

LassoSolver = Literal["lars", "coordinate_descent"]
_LASSO_SOLVERS = ("lars", "coordinate_descent")


# ----------------------------------------------------------------------------------------------
# Validation helpers


def _check_nb_keep(nb_keep: int, nb_channels: int) -> int:
    integer = isinstance(nb_keep, (int, np.integer)) and not isinstance(nb_keep, bool)
    if not integer or not 1 <= nb_keep <= nb_channels:
        raise ValueError(f"Expected `nb_keep` an integer in [1, {nb_channels}] (the number of "
                         f"channels). Received: nb_keep={nb_keep!r}")
    return int(nb_keep)


def _as_kernel(kernel: np.ndarray) -> np.ndarray:
    """Returns ``kernel`` as ``[kh, kw, cin, cout]`` (a Dense kernel becomes ``[1, 1, cin, cout]``)."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        kernel = kernel[None, None]
    if kernel.ndim != 4 or kernel.size == 0:
        raise ValueError("Expected `kernel` shaped [kh, kw, cin, cout] or [cin, cout]. "
                         f"Received: kernel.shape={np.shape(kernel)}")
    return kernel


def _as_patches(inputs: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Returns ``inputs`` as ``[N, kh * kw, cin]`` and ``(kh, kw)`` where the shape tells it."""
    inputs = np.asarray(inputs)
    if inputs.ndim == 2:
        return inputs[:, None, :], (1, 1)
    if inputs.ndim == 3:
        return inputs, None
    if inputs.ndim == 4:
        return inputs.reshape(inputs.shape[0], -1, inputs.shape[-1]), inputs.shape[1:3]
    raise ValueError("Expected `inputs` shaped [N, kh, kw, cin], [N, kh * kw, cin] or [N, cin]. "
                     f"Received: inputs.shape={inputs.shape}")


def _as_outputs(outputs: np.ndarray, nb_rows: int, nb_filters: int | None) -> np.ndarray:
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or outputs.shape[0] != nb_rows:
        raise ValueError(f"Expected `outputs` shaped [N, cout] with N={nb_rows} (the rows of "
                         f"`inputs`). Received: outputs.shape={outputs.shape}")
    if nb_filters is not None and outputs.shape[1] != nb_filters:
        raise ValueError(f"Expected `outputs` shaped [N, cout] with cout={nb_filters} (the last "
                         f"axis of `kernel`). Received: outputs.shape={outputs.shape}")
    return outputs


def _check_layer(inputs: np.ndarray, outputs: np.ndarray, kernel: np.ndarray,
                 bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validates one layer's samples.

    Returns:
        float64 patches ``[N, K, cin]``, targets ``[N, cout]`` less ``bias``, and kernel
        ``[K, cin, cout]``.
    """
    kernel = _as_kernel(kernel)
    patches, kernel_hw = _as_patches(inputs)
    kh, kw, nb_channels, nb_filters = kernel.shape
    if patches.shape[1:] != (kh * kw, nb_channels) or (
            kernel_hw is not None and tuple(kernel_hw) != (kh, kw)):
        raise ValueError(f"Expected `inputs` to hold {kh}x{kw} patches of {nb_channels} channels "
                         f"to match kernel.shape={kernel.shape}. Received: "
                         f"inputs.shape={np.shape(inputs)}")
    if patches.shape[0] == 0:
        raise ValueError(f"Expected at least one sampled row in `inputs`. Received: "
                         f"inputs.shape={np.shape(inputs)}")
    targets = _as_outputs(outputs, patches.shape[0], nb_filters).astype(np.float64)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (nb_filters,):
            raise ValueError(f"Expected `bias` shaped [{nb_filters}]. Received: "
                             f"bias.shape={bias.shape}")
        targets = targets - bias
    return (patches.astype(np.float64, copy=False), targets,
            kernel.reshape(kh * kw, nb_channels, nb_filters).astype(np.float64))


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                             for v in pair):
        raise ValueError(f"Expected `{name}` to be a positive integer or a pair of them. "
                         f"Received: {name}={value!r}")
    return int(pair[0]), int(pair[1])


def _top_k(scores: np.ndarray, nb_keep: int, tie_break: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the ``nb_keep`` largest ``scores``; ties go to the larger ``tie_break``,
    then to the lower index."""
    keys = [np.arange(scores.size)]
    if tie_break is not None:
        keys.append(-tie_break)
    keys.append(-scores)
    return np.sort(np.lexsort(keys)[:nb_keep])


# ----------------------------------------------------------------------------------------------
# Filter-magnitude criteria (output channels)


def l1_norm_ranking(kernel: np.ndarray, nb_keep: int) -> np.ndarray:
    """Keeps the output filters with the largest L1 norms (Li et al. 2017).

    Args:
        kernel: ``[kh, kw, cin, cout]`` conv kernel or ``[cin, cout]`` Dense kernel.
        nb_keep: how many output filters to keep, ``1 <= nb_keep <= cout``.

    Returns:
        The kept output-filter indices, ascending (int64). Equal norms go to the lower index.

    Raises:
        ValueError: on a bad ``kernel`` shape or ``nb_keep``.
    """
    kernel = _as_kernel(kernel)
    nb_keep = _check_nb_keep(nb_keep, kernel.shape[-1])
    norms = np.abs(kernel.astype(np.float64)).reshape(-1, kernel.shape[-1]).sum(axis=0)
    return _top_k(norms, nb_keep)


def fpgm_ranking(kernel: np.ndarray, nb_keep: int) -> np.ndarray:
    """Drops the filters nearest the geometric median of the layer (He et al. 2019, FPGM).

    A filter whose summed Euclidean distance to all other filters is small lies near their
    geometric median and is best replaced by them; the ``cout - nb_keep`` filters with the
    smallest sums are removed.

    Args:
        kernel: ``[kh, kw, cin, cout]`` conv kernel or ``[cin, cout]`` Dense kernel.
        nb_keep: how many output filters to keep, ``1 <= nb_keep <= cout``.

    Returns:
        The kept output-filter indices, ascending (int64). Equal sums go to the lower index.

    Raises:
        ValueError: on a bad ``kernel`` shape or ``nb_keep``.
    """
    kernel = _as_kernel(kernel)
    nb_keep = _check_nb_keep(nb_keep, kernel.shape[-1])
    filters = kernel.astype(np.float64).reshape(-1, kernel.shape[-1]).T
    squared_norms = np.einsum("ij,ij->i", filters, filters)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * filters @ filters.T
    distances = np.sqrt(np.maximum(squared, 0.0))
    np.fill_diagonal(distances, 0.0)
    return _top_k(distances.sum(axis=1), nb_keep)


# ----------------------------------------------------------------------------------------------
# Patch sampling


def sample_patches(
    feature_map: np.ndarray,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    nb_points: int = 10,
    rng: np.random.Generator | int | None = None,
    *,
    dilation_rate: int | Sequence[int] = 1,
    positions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Extracts the receptive-field patches of randomly sampled Conv2D output positions.

    Follows ``keras.layers.Conv2D`` (channels_last): with ``padding='same'`` the output is
    ``ceil(H / stride)`` high and the input is zero-padded by ``floor(total / 2)`` rows on top and
    the rest at the bottom (likewise for columns), so that
    ``patches.reshape(N, -1) @ kernel.reshape(-1, cout) + bias`` equals the layer's output at
    ``positions``.

    Args:
        feature_map: ``[B, H, W, C]`` layer inputs (array or tensor).
        kernel_size: ``kh`` or ``(kh, kw)``.
        strides: stride or ``(sh, sw)``.
        padding: ``'valid'`` or ``'same'`` (case-insensitive).
        nb_points: output positions sampled **per image**, without replacement (PocketFlow's
            ``cp_nb_points_per_layer``), so ``N = B * nb_points``. Ignored with ``positions``.
        rng: a ``numpy.random.Generator`` or a seed.
        dilation_rate: dilation or ``(dh, dw)``.
        positions: optional ``[N, 3]`` int array of ``(image, row, column)`` output positions to
            extract instead of sampling; pass the positions returned for one feature map to take
            patches at the same places of another (e.g. the pruned model's input).

    Returns:
        ``(patches, positions)``: ``patches`` ``[N, kh, kw, C]`` in the feature map's dtype, and
        ``positions`` ``[N, 3]`` int64 ``(image, output row, output column)``, image-major.

    Raises:
        ValueError: on bad shapes, settings, or more points than output positions.
    """
    feature_map = np.asarray(feature_map)
    if feature_map.ndim != 4 or 0 in feature_map.shape:
        raise ValueError("Expected `feature_map` shaped [B, H, W, C] (channels_last). Received: "
                         f"feature_map.shape={feature_map.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilation_rate, "dilation_rate")
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"Expected `padding` in ('valid', 'same'). Received: padding={padding!r}")
    batch, height, width, _ = feature_map.shape
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if mode == "same":
        out_h, out_w = -(-height // sh), -(-width // sw)
        pad_h = max((out_h - 1) * sh + span_h - height, 0)
        pad_w = max((out_w - 1) * sw + span_w - width, 0)
    else:
        out_h, out_w = (height - span_h) // sh + 1, (width - span_w) // sw + 1
        pad_h = pad_w = 0
    if out_h < 1 or out_w < 1:
        raise ValueError(f"Expected `feature_map` at least as large as the {span_h}x{span_w} "
                         f"receptive field. Received: feature_map.shape={feature_map.shape}")

    if positions is None:
        if isinstance(nb_points, bool) or not isinstance(nb_points, (int, np.integer)) or not (
                1 <= nb_points <= out_h * out_w):
            raise ValueError(f"Expected 1 <= `nb_points` <= {out_h * out_w} (the output positions "
                             f"per image). Received: nb_points={nb_points!r}")
        generator = np.random.default_rng(rng)
        # Per image, the nb_points smallest of uniform random keys: a vectorised sample without
        # replacement.
        keys = generator.random((batch, out_h * out_w))
        flat = np.sort(np.argpartition(keys, nb_points - 1, axis=1)[:, :nb_points], axis=1)
        positions = np.stack([np.repeat(np.arange(batch), nb_points), *np.divmod(flat.ravel(),
                                                                                   out_w)], axis=1)
    else:
        positions = np.asarray(positions)
        if positions.ndim != 2 or positions.shape[1] != 3 or not np.issubdtype(
                positions.dtype, np.integer):
            raise ValueError("Expected `positions` an integer array shaped [N, 3] of (image, row, "
                             f"column). Received: positions.shape={positions.shape}, "
                             f"dtype={positions.dtype}")
        bounds = np.array([batch, out_h, out_w])
        if positions.size and (positions.min() < 0 or np.any(positions.max(axis=0) >= bounds)):
            raise ValueError(f"Expected `positions` inside (image, row, column) < "
                             f"{tuple(bounds.tolist())}. Received: a position out of range")
    positions = positions.astype(np.int64)

    padded = np.pad(feature_map, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                                  (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    rows = positions[:, 1, None] * sh + np.arange(kh) * dh
    cols = positions[:, 2, None] * sw + np.arange(kw) * dw
    patches = padded[positions[:, 0, None, None], rows[:, :, None], cols[:, None, :]]
    return patches, positions


# ----------------------------------------------------------------------------------------------
# LASSO channel selection (He et al. 2017)


def _channel_statistics(patches: np.ndarray, targets: np.ndarray,
                        kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The LASSO's sufficient statistics ``G[c, d] = <Z_c, Z_d>`` and ``r[c] = <Z_c, Y>``.

    ``Z_c = patches[:, :, c] @ kernel[:, c, :]`` is channel ``c``'s ``[N, cout]`` contribution;
    ``G`` and ``r`` come from the patch covariance without forming any ``Z_c``.
    """
    nb_rows, size, nb_channels = patches.shape
    design = patches.reshape(nb_rows, size * nb_channels)
    covariance = (design.T @ design).reshape(size, nb_channels, size, nb_channels)
    cross = (design.T @ targets).reshape(size, nb_channels, -1)
    # half[a, c, d, o] = sum_b covariance[a, c, b, d] kernel[b, d, o]
    half = np.einsum("acbd,bdo->acdo", covariance, kernel, optimize=True)
    gram = np.einsum("aco,acdo->cd", kernel, half, optimize=True)
    return (gram + gram.T) / 2.0, np.einsum("aco,aco->c", kernel, cross)


def _rank_channels(beta: np.ndarray, gram: np.ndarray, correlation: np.ndarray,
                   nb_keep: int) -> np.ndarray:
    """Keeps the largest ``|beta|``; channels the LASSO zeroed are ordered by their residual
    correlation ``|r - G beta|``, the one that would enter the LASSO path next first."""
    residual_correlation = np.abs(correlation - gram @ beta)
    return _top_k(np.abs(beta), nb_keep, residual_correlation)


def _lars_beta(gram: np.ndarray, correlation: np.ndarray, nb_keep: int, nb_rows: int,
               max_iter: int) -> np.ndarray:
    """The exact LASSO path by LARS; the coefficients at the smallest path knot with at most
    ``nb_keep`` non-zeros (scanning from small alpha up)."""
    _, _, coefs = linear_model.lars_path_gram(
        Xy=correlation, Gram=gram, n_samples=nb_rows, method="lasso", max_iter=max_iter)
    # The first knot (alpha_max, all zeros) is always feasible; the last feasible knot is where
    # raising alpha from its smallest value first leaves at most nb_keep non-zeros.
    knot = np.flatnonzero(np.count_nonzero(coefs, axis=0) <= nb_keep)[-1]
    return coefs[:, knot]


def _coordinate_descent_beta(gram: np.ndarray, correlation: np.ndarray, nb_keep: int,
                             max_iter: int, tol: float) -> np.ndarray:
    """Bisection over alpha with warm-started coordinate-descent LASSO fits (the original's
    search, with scikit-learn's ``Lasso`` instead of ``LassoLars``)."""
    # A square design with the same Gram matrix and X^T y: A^T A = G and A^T b = r. The LASSO
    # objective depends only on these (plus a constant), so it is solved on cin rows.
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    valid = eigenvalues > max(eigenvalues.max(), 0.0) * 1e-12
    if not np.any(valid):
        return np.zeros(gram.shape[0])
    roots = np.sqrt(eigenvalues[valid])
    design = roots[:, None] * eigenvectors[:, valid].T
    target = (eigenvectors[:, valid].T @ correlation) / roots
    alpha_max = np.abs(correlation).max() / design.shape[0]
    solver = linear_model.Lasso(fit_intercept=False, precompute=True, warm_start=True,
                                max_iter=max_iter, tol=tol)

    def solve(alpha: float) -> np.ndarray:
        solver.set_params(alpha=alpha)
        solver.fit(design, target)
        return solver.coef_.copy()

    low, high = alpha_max * 1e-8, alpha_max
    beta_high = np.zeros(gram.shape[0])
    beta_low = solve(low)
    if np.count_nonzero(beta_low) <= nb_keep:
        return beta_low
    for _ in range(60):  # geometric bisection; stops once exactly nb_keep are non-zero
        middle = math.sqrt(low * high)
        beta = solve(middle)
        if np.count_nonzero(beta) > nb_keep:
            low = middle
        else:
            high, beta_high = middle, beta
            if np.count_nonzero(beta) == nb_keep:
                break
        if high / low < 1.0 + 1e-9:
            break
    return beta_high


def lasso_channel_selection(
    inputs: np.ndarray,
    outputs: np.ndarray,
    kernel: np.ndarray,
    nb_keep: int,
    *,
    bias: np.ndarray | None = None,
    solver: LassoSolver = "lars",
    max_iter: int = 10_000,
    tol: float = 1e-8,
) -> np.ndarray:
    """Selects the input channels to keep by LASSO regression (He et al. 2017).

    With ``Z_c = patches_c @ W_c`` the ``[N, cout]`` contribution of input channel ``c``, solves
    ``min_beta ||Y - sum_c beta_c Z_c||^2 + alpha ||beta||_1`` (flattened over ``N * cout``) and
    raises ``alpha`` from small until at most ``nb_keep`` coefficients are non-zero. The
    ``nb_keep`` channels with the largest ``|beta|`` are kept; a shortfall (when several
    coefficients leave at once) is filled by the zeroed channels most correlated with the
    residual, then by the lower index.

    Args:
        inputs: patches ``[N, kh, kw, cin]`` or ``[N, kh * kw, cin]``, or ``[N, cin]`` for a
            Dense / 1x1 layer.
        outputs: ``[N, cout]`` target responses (e.g. the unpruned model's).
        kernel: ``[kh, kw, cin, cout]`` or ``[cin, cout]`` current weights.
        nb_keep: input channels to keep, ``1 <= nb_keep <= cin``.
        bias: optional ``[cout]`` bias included in ``outputs``; it is subtracted first.
        solver: ``'lars'`` (default): the exact LASSO path (scikit-learn ``lars_path_gram``, the
            algorithm of ``LassoLars``), read off at the right knot, no alpha search at all;
            ``'coordinate_descent'``: bisection over alpha with warm-started ``Lasso`` fits.
        max_iter: iteration cap of the solver (path knots for LARS).
        tol: coordinate-descent tolerance.

    Returns:
        The kept input-channel indices, ascending (int64), exactly ``nb_keep`` of them.

    Raises:
        ValueError: on mismatched shapes, a bad ``nb_keep`` or an unknown ``solver``.
    """
    patches, targets, kernel = _check_layer(inputs, outputs, kernel, bias)
    nb_channels = kernel.shape[1]
    nb_keep = _check_nb_keep(nb_keep, nb_channels)
    if solver not in _LASSO_SOLVERS:
        raise ValueError(f"Expected `solver` in {_LASSO_SOLVERS}. Received: solver={solver!r}")
    if nb_keep == nb_channels:
        return np.arange(nb_channels)
    gram, correlation = _channel_statistics(patches, targets, kernel)
    if solver == "lars":
        beta = _lars_beta(gram, correlation, nb_keep, targets.size, max_iter)
    else:
        beta = _coordinate_descent_beta(gram, correlation, nb_keep, max_iter, tol)
    return _rank_channels(beta, gram, correlation, nb_keep)


def ista_channel_selection(
    inputs: np.ndarray,
    outputs: np.ndarray,
    kernel: np.ndarray,
    nb_keep: int,
    *,
    bias: np.ndarray | None = None,
    nb_iters: int = 1000,
    nb_gammas: int = 32,
    nb_rounds: int = 3,
) -> np.ndarray:
    """Selects input channels with the same LASSO as :func:`lasso_channel_selection`, solved by
    accelerated proximal gradient (FISTA) in TensorFlow, for GPUs.

    The original's ``chn-pruned-rmt`` learner bisected the L1 weight with one ISTA run per probe.
    Here ``nb_gammas`` weights, log-spaced below ``gamma_max`` (where all coefficients vanish),
    are solved at once as the columns of one matrix; the bracket where the number of non-zeros
    drops to ``nb_keep`` is refined ``nb_rounds`` times. Statistics and solver run in float64 on
    TensorFlow's default device.

    Args:
        inputs: as for :func:`lasso_channel_selection`.
        outputs: as for :func:`lasso_channel_selection`.
        kernel: as for :func:`lasso_channel_selection`.
        nb_keep: input channels to keep, ``1 <= nb_keep <= cin``.
        bias: optional ``[cout]`` bias included in ``outputs``.
        nb_iters: FISTA iterations per solve (step ``1 / L``, ``L`` the Gram's largest eigenvalue).
        nb_gammas: L1 weights solved in parallel per round.
        nb_rounds: grid refinements of the bracket.

    Returns:
        The kept input-channel indices, ascending (int64), exactly ``nb_keep`` of them.

    Raises:
        ValueError: on mismatched shapes or bad settings.
    """
    import tensorflow as tf  # only this solver needs TensorFlow

    patches, targets, kernel = _check_layer(inputs, outputs, kernel, bias)
    nb_channels = kernel.shape[1]
    nb_keep = _check_nb_keep(nb_keep, nb_channels)
    for name, value in (("nb_iters", nb_iters), ("nb_gammas", nb_gammas),
                        ("nb_rounds", nb_rounds)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected `{name}` >= 1. Received: {name}={value!r}")
    if nb_keep == nb_channels:
        return np.arange(nb_channels)

    nb_rows, size, _ = patches.shape
    design = tf.reshape(tf.convert_to_tensor(patches), (nb_rows, size * nb_channels))
    targets = tf.convert_to_tensor(targets)
    weights = tf.convert_to_tensor(kernel)
    covariance = tf.reshape(tf.linalg.matmul(design, design, transpose_a=True),
                            (size, nb_channels, size, nb_channels))
    cross = tf.reshape(tf.linalg.matmul(design, targets, transpose_a=True),
                       (size, nb_channels, -1))
    half = tf.einsum("acbd,bdo->acdo", covariance, weights)
    gram = tf.einsum("aco,acdo->cd", weights, half)
    gram = (gram + tf.transpose(gram)) / 2.0
    correlation = tf.einsum("aco,aco->c", weights, cross)

    lipschitz = float(tf.reduce_max(tf.linalg.eigvalsh(gram)))
    if lipschitz <= 0.0:  # every contribution is zero: nothing to choose by
        beta = np.zeros(nb_channels)
    else:
        gram_scaled, correlation_scaled = gram / lipschitz, correlation / lipschitz
        gamma_max = float(tf.reduce_max(tf.abs(correlation_scaled)))
        low, high = gamma_max * 1e-8, gamma_max
        beta = np.zeros(nb_channels)
        for _ in range(nb_rounds):
            gammas = np.geomspace(low, high, nb_gammas)
            betas = _fista_function()(gram_scaled, correlation_scaled,
                                      tf.constant(gammas, tf.float64), tf.constant(nb_iters))
            betas = betas.numpy()
            feasible = np.flatnonzero(np.count_nonzero(betas, axis=0) <= nb_keep)
            first = int(feasible[0]) if feasible.size else nb_gammas - 1
            beta = betas[:, first]
            if first == 0 or np.count_nonzero(beta) == nb_keep:
                break
            low, high = gammas[first - 1], gammas[first]
    return _rank_channels(beta, gram.numpy(), correlation.numpy(), nb_keep)


@functools.cache
def _fista_function():
    """Batched FISTA for ``min 0.5 b^T G b - r^T b + gamma |b|_1`` with ``||G|| = 1``, one column
    of the result per ``gamma``; built on first use so that importing this module stays TF-free."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def fista(gram, correlation, gammas, nb_iters):
        start = tf.zeros((tf.shape(gram)[0], tf.shape(gammas)[0]), gram.dtype)
        correlation = correlation[:, None]

        def step(index, beta, momentum, t):
            moved = momentum - (tf.linalg.matmul(gram, momentum) - correlation)
            new_beta = tf.sign(moved) * tf.nn.relu(tf.abs(moved) - gammas)
            new_t = (1.0 + tf.sqrt(1.0 + 4.0 * t * t)) / 2.0
            new_momentum = new_beta + ((t - 1.0) / new_t) * (new_beta - beta)
            return index + 1, new_beta, new_momentum, new_t

        _, beta, _, _ = tf.while_loop(
            lambda index, *_: index < nb_iters, step,
            (tf.constant(0), start, start, tf.constant(1.0, gram.dtype)))
        return beta

    return fista


# ----------------------------------------------------------------------------------------------
# Reconstruction


def least_squares_reconstruction(
    inputs: np.ndarray,
    outputs: np.ndarray,
    kept: Sequence[int] | np.ndarray,
    *,
    kernel_size: int | Sequence[int] | None = None,
    fit_bias: bool = False,
    ridge: float = 0.0,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Re-fits a layer's weights on its kept input channels by linear least squares.

    Solves ``min_W (1/N) ||Y - X_kept W - b||^2 + ridge ||W||^2`` through the normal equations
    (float64, ``scipy.linalg.lstsq`` on the Gram matrix, so collinear or dead channels get the
    minimum-norm solution), with ``b`` only if ``fit_bias`` (unpenalised, by centring).

    Args:
        inputs: patches ``[N, kh, kw, cin]`` or ``[N, kh * kw, cin]``, or ``[N, cin]`` for a
            Dense / 1x1 layer; all ``cin`` input channels, of which ``kept`` are used.
        outputs: ``[N, cout]`` target responses.
        kept: the input-channel indices to keep (distinct, in ``[0, cin)``); the new kernel's
            channels follow this order.
        kernel_size: ``(kh, kw)`` of ``[N, kh * kw, cin]`` inputs; otherwise taken from the shape
            (a non-square ``kh * kw`` needs it).
        fit_bias: also fit a bias.
        ridge: L2 penalty on the weights (>= 0), relative to the per-row mean squared error.

    Returns:
        The kernel ``[kh, kw, len(kept), cout]`` (``[len(kept), cout]`` for 2-D ``inputs``), in
        ``outputs``' floating dtype; with ``fit_bias``, the tuple ``(kernel, bias)``.

    Raises:
        ValueError: on mismatched shapes, bad ``kept`` or a negative ``ridge``.
    """
    dense = np.ndim(inputs) == 2
    patches, kernel_hw = _as_patches(inputs)
    nb_rows, size, nb_channels = patches.shape
    targets = _as_outputs(outputs, nb_rows, None)
    if kernel_size is not None:
        kernel_hw = _pair(kernel_size, "kernel_size")
        if kernel_hw[0] * kernel_hw[1] != size:
            raise ValueError(f"Expected `kernel_size` to cover the {size} patch positions of "
                             f"`inputs`. Received: kernel_size={kernel_size!r}")
    elif kernel_hw is None:
        side = math.isqrt(size)
        if side * side != size:
            raise ValueError(f"Expected `kernel_size` for inputs of {size} patch positions (not a "
                             f"square). Received: kernel_size=None")
        kernel_hw = (side, side)
    kept = np.asarray(kept)
    if (kept.ndim != 1 or kept.size == 0 or not np.issubdtype(kept.dtype, np.integer)
            or kept.min() < 0 or kept.max() >= nb_channels or np.unique(kept).size != kept.size):
        raise ValueError(f"Expected `kept` a non-empty list of distinct channel indices in "
                         f"[0, {nb_channels}). Received: kept={kept.tolist()!r}")
    if not ridge >= 0.0:
        raise ValueError(f"Expected `ridge` >= 0. Received: ridge={ridge!r}")
    if nb_rows == 0:
        raise ValueError(f"Expected at least one sampled row in `inputs`. Received: "
                         f"inputs.shape={np.shape(inputs)}")

    dtype = np.result_type(targets.dtype, np.float32)
    design = patches[:, :, kept].reshape(nb_rows, -1).astype(np.float64)
    targets = targets.astype(np.float64)
    if fit_bias:
        design_mean, target_mean = design.mean(axis=0), targets.mean(axis=0)
        design, targets = design - design_mean, targets - target_mean
    # Normal equations: N x p products cost a quarter of a QR of the N x p design, and lstsq on
    # the p x p Gram matrix still returns the minimum-norm solution when channels are collinear
    # or dead. Float64 keeps the squared condition number harmless.
    gram = design.T @ design
    gram[np.diag_indices_from(gram)] += ridge * nb_rows
    weights = scipy.linalg.lstsq(gram, design.T @ targets, lapack_driver="gelsd",
                                 check_finite=False, overwrite_a=True, overwrite_b=True)[0]
    shape = (kept.size, -1) if dense else (*kernel_hw, kept.size, -1)
    kernel = weights.reshape(shape).astype(dtype)
    if not fit_bias:
        return kernel
    return kernel, (target_mean - design_mean @ weights).astype(dtype)
