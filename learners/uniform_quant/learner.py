"""Uniform quantization (``--learner uniform``, the original's ``UniformQuantLearner``).

Min-max uniform quantization of the weights of every Conv2D / DepthwiseConv2D / Dense layer
(first and last kept in float unless ``--uql_quantize_all_layers``) at ``--uql_weight_bits`` (1 to
16) or per-layer bits from a search (``--uql_enbl_rl_agent``), one range per layer or per bucket
(``--uql_use_buckets``, ``--uql_bucket_type split|channel``), optional activation quantization,
fine-tuned from the pre-trained model with a straight-through estimator. Everything else --
search, fine-tuning, ``plan.json``, ``model.keras``, the packed artifact, ``metrics.json`` -- is
``learners.quantization.learner``'s.
"""

from __future__ import annotations

from learners.quantization.learner import QuantizationLearner


class UniformQuantLearner(QuantizationLearner):
    """Min-max uniform weight quantization at any bit-width (see module docstring)."""

    kind = "uniform"
