"""Latency benchmarks of TFLite models."""
