"""Uniform quantization (``--learner uniform``): min-max levels at any bit-width, buckets, bit search."""
