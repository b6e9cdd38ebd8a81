"""Quantization-aware training for TFLite (``--learner uniform-tf``)."""
