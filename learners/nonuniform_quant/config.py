"""Settings of non-uniform quantization (``--learner non-uniform``): the ``--nuql_*`` flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from learners.quantization.settings import INIT_STYLES, QuantizationSettings
from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_help, from_flag_values

FLAG_PREFIX = "nuql_"
OPT_MODES = ("weights", "cluster", "both")
OPT_MODE_SPELLINGS = {"clusters": "cluster"}
"""The original's documentation writes ``clusters``; its code accepted only ``cluster``."""


@dataclasses.dataclass(frozen=True)
class NonUniformQuantConfig(QuantizationSettings):
    """Codebooks, bits, buckets, which layers, the fine-tuning and the automatic bit allocation.

    The fields of :class:`QuantizationSettings` (buckets split by default) and the codebooks'
    own. The model is always warm-started from the pre-trained model. Fine-tuning uses Adam at
    ``learning_rate`` (decayed by 10 at 50 % and 80 % of the steps) for ``quant_epochs`` epochs,
    scaled by ``--nb_epochs_rat``, or ``--nb_iters_train`` steps when given.

    Attributes:
        weight_bits: bits per weight (2^bits codewords) of every quantized layer (without the
            bit search), 1 to 16.
        activation_bits: bits of activations (uniform quantizer), 1 to 16, or 32 to keep them in
            float.
        use_buckets: give each bucket of weights its own codebook instead of one per layer.
        bucket_type: split (flat chunks of bucket_size weights) or channel (one bucket per
            output channel).
        init_style: codebook initialisation: quantile (quantiles of the normalised weights) or
            uniform (evenly spaced).
        opt_mode: what fine-tuning trains: weights (everything but the codebooks), cluster (the
            codebooks only; clusters is accepted too) or both.
    """

    bucket_type: str = "split"
    init_style: str = "quantile"
    opt_mode: str = "weights"

    flag_prefix: ClassVar[str] = FLAG_PREFIX

    def __post_init__(self):
        super().__post_init__()
        if self.init_style not in INIT_STYLES:
            raise ValueError(f"Expected --{FLAG_PREFIX}init_style in {INIT_STYLES}. "
                             f"Received: {self.init_style!r}")
        object.__setattr__(self, "opt_mode", OPT_MODE_SPELLINGS.get(self.opt_mode, self.opt_mode))
        if self.opt_mode not in OPT_MODES:
            raise ValueError(f"Expected --{FLAG_PREFIX}opt_mode in {OPT_MODES} (or clusters). "
                             f"Received: {self.opt_mode!r}")

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> NonUniformQuantConfig:
        """Builds the settings from the ``--nuql_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(NonUniformQuantConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(NonUniformQuantConfig, FLAG_PREFIX)

register_learner("non-uniform", "learners.nonuniform_quant.learner:NonUniformQuantLearner",
                 "non-uniform (trained codebook) k-bit weight quantization, bit-packed",
                 settings=NonUniformQuantConfig, flag_prefix=FLAG_PREFIX, own_search=True)
