"""Non-uniform quantization (``--learner non-uniform``, the original's ``NonUniformQuantLearner``).

Each quantized layer (or bucket, ``--nuql_use_buckets``) has a codebook of ``2^bits`` codewords,
initialised from the pre-trained weights by quantiles or evenly (``--nuql_init_style``); every
weight takes its nearest codeword, and fine-tuning trains the weights, the codewords (by the
summed gradients of their weights, Han et al. 2016) or both (``--nuql_opt_mode``). Layers, bits,
buckets, the bit search and the artifacts are as for ``uniform``
(``learners.quantization.learner``); the packed artifact stores each codebook's values.
"""

from __future__ import annotations

from learners.quantization.learner import QuantizationLearner


class NonUniformQuantLearner(QuantizationLearner):
    """Trained-codebook weight quantization (see module docstring)."""

    kind = "codebook"


    @property
    def opt_mode(self) -> str:
        return self.settings.opt_mode

    @property
    def init_style(self) -> str:
        return self.settings.init_style
