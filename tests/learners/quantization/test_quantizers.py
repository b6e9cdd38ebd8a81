"""Quantizer math: levels, kept extremes, straight-through and codebook gradients, buckets."""

import numpy as np
import pytest
import tensorflow as tf

from learners.quantization.buckets import BucketLayout
from learners.quantization.quantizers import (
    codebook_codes,
    codebook_fake_quant,
    dequantize_codebook,
    dequantize_uniform,
    init_codebook,
    uniform_codes,
    uniform_fake_quant,
)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_uniform_has_2_to_the_bits_levels_and_keeps_min_and_max(bits):
    rows = np.random.default_rng(0).uniform(-2, 1, size=(3, 20000)).astype(np.float32)
    quantized = uniform_fake_quant(tf.constant(rows), bits).numpy()
    for row, original in zip(quantized, rows, strict=True):
        levels = np.unique(row)
        assert len(levels) == 2 ** bits
        np.testing.assert_allclose([levels[0], levels[-1]], [original.min(), original.max()],
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.diff(levels), np.diff(levels)[0], rtol=1e-3)
        step = (original.max() - original.min()) / (2 ** bits - 1)
        assert np.abs(row - original).max() <= step / 2 + 1e-5
    codes, low, scale = uniform_codes(rows, bits)
    assert codes.max() == 2 ** bits - 1 and codes.min() == 0
    np.testing.assert_allclose(dequantize_uniform(codes, low, scale), quantized, atol=1e-5)


def test_uniform_gradient_is_straight_through():
    rows = tf.Variable(np.random.default_rng(1).normal(size=(2, 50)).astype(np.float32))
    upstream = np.random.default_rng(2).normal(size=(2, 50)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(uniform_fake_quant(rows, 2) * upstream)
    np.testing.assert_allclose(tape.gradient(loss, rows).numpy(), upstream, rtol=1e-6)


def test_constant_rows_quantize_to_themselves():
    rows = np.full((2, 5), 0.25, np.float32)
    np.testing.assert_array_equal(uniform_fake_quant(tf.constant(rows), 3).numpy(), rows)
    codes, low, scale = uniform_codes(rows, 3)
    np.testing.assert_array_equal(dequantize_uniform(codes, low, scale), rows)


def test_codebook_takes_nearest_codeword_and_codewords_get_summed_gradients():
    rng = np.random.default_rng(3)
    rows = rng.uniform(-1, 1, size=(2, 300)).astype(np.float32)
    codebook = init_codebook(rows, 2, "quantile")
    assert codebook.shape == (2, 4) and np.all(np.diff(codebook, axis=1) > 0)
    upstream = rng.normal(size=rows.shape).astype(np.float32)
    weights = tf.Variable(rows)
    codewords = tf.Variable(codebook[:, ::-1].copy())  # any order: assignment sorts internally
    with tf.GradientTape() as tape:
        quantized = codebook_fake_quant(weights, codewords)
        loss = tf.reduce_sum(quantized * upstream)
    weight_gradient, codebook_gradient = tape.gradient(loss, [weights, codewords])

    low, span = rows.min(axis=1, keepdims=True), np.ptp(rows, axis=1, keepdims=True)
    normalised = (rows - low) / span
    nearest = np.abs(normalised[:, :, None] - codewords.numpy()[:, None, :]).argmin(axis=2)
    expected = low + np.take_along_axis(codewords.numpy(), nearest, axis=1) * span
    np.testing.assert_allclose(quantized.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weight_gradient.numpy(), upstream, rtol=1e-5)  # straight-through
    summed = np.stack([[upstream[r][nearest[r] == j].sum() for j in range(4)] for r in range(2)])
    np.testing.assert_allclose(codebook_gradient.numpy(), summed * span, rtol=1e-4, atol=1e-5)

    codes, table = codebook_codes(rows, codewords.numpy())
    np.testing.assert_array_equal(codes, nearest)
    np.testing.assert_allclose(dequantize_codebook(codes, table), expected, rtol=1e-5, atol=1e-6)


def test_codebook_uniform_init_is_evenly_spaced():
    rows = np.random.default_rng(4).normal(size=(1, 100)).astype(np.float32)
    np.testing.assert_allclose(init_codebook(rows, 3, "uniform")[0], np.linspace(0, 1, 8))
    with pytest.raises(ValueError, match="Expected an init style"):
        init_codebook(rows, 3, "kmeans")


def test_split_buckets_pad_with_the_last_weight_and_round_trip():
    kernel = np.arange(3 * 3 * 2 * 5, dtype=np.float32).reshape(3, 3, 2, 5)
    layout = BucketLayout(kernel.shape, "split", 16)
    rows = layout.to_rows(kernel)
    assert rows.shape == (6, 16) and layout.padding == 6
    np.testing.assert_array_equal(rows[-1, -7:], np.full(7, kernel.reshape(-1)[-1]))
    np.testing.assert_array_equal(layout.from_rows(rows), kernel)
    np.testing.assert_array_equal(layout.to_rows_tensor(tf.constant(kernel)).numpy(), rows)
    np.testing.assert_array_equal(layout.from_rows_tensor(tf.constant(rows)).numpy(), kernel)


def test_channel_buckets_are_output_channels():
    kernel = np.random.default_rng(5).normal(size=(3, 3, 4, 6)).astype(np.float32)
    layout = BucketLayout(kernel.shape, "channel")
    rows = layout.to_rows(kernel)
    assert rows.shape == (6, 36)
    for channel in range(6):
        np.testing.assert_array_equal(np.sort(rows[channel]), np.sort(kernel[..., channel].ravel()))
    quantized = layout.from_rows(dequantize_uniform(*uniform_codes(rows, 2)))
    for channel in range(6):  # each output channel has its own 4 levels and keeps its extremes
        values = np.unique(quantized[..., channel])
        assert len(values) == 4
        assert values[0] == pytest.approx(kernel[..., channel].min(), abs=1e-6)
        assert values[-1] == pytest.approx(kernel[..., channel].max(), abs=1e-5)
    np.testing.assert_array_equal(layout.from_rows_tensor(layout.to_rows_tensor(
        tf.constant(kernel))).numpy(), kernel)


@pytest.mark.parametrize("bad", [0, 17, -1])
def test_bits_out_of_range_are_rejected(bad):
    with pytest.raises(ValueError, match=r"Expected `bits` an integer in \[1, 16\]"):
        uniform_codes(np.zeros((1, 4), np.float32), bad)
    with pytest.raises(ValueError, match="Expected bucket_size >= 1"):
        BucketLayout((4, 4), "split", 0)
    with pytest.raises(ValueError, match="Expected a bucket type"):
        BucketLayout((4, 4), "rows")
