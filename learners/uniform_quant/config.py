"""Settings of uniform quantization (``--learner uniform``): the original's ``--uql_*`` flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from learners.quantization.settings import validate_quantization_settings
from utils.dataclass_flags import flag_defaults, flag_help, from_flag_values

FLAG_PREFIX = "uql_"


@dataclasses.dataclass(frozen=True)
class UniformQuantConfig:
    """Bits, buckets, which layers, the fine-tuning and the automatic bit allocation.

    The model is always warm-started from the pre-trained model (the original's
    ``--enbl_warm_start`` is implied). Fine-tuning uses Adam at ``lrn_rate`` (decayed by 10 at
    50 % and 80 % of the steps) for ``quant_epochs`` epochs, scaled by ``--nb_epochs_rat``, or
    ``--nb_iters_train`` steps when given.

    Attributes:
        weight_bits: bits per weight of every quantized layer (without the bit search), 1 to 16.
        activation_bits: bits of activations (outputs of non-linear activations), 1 to 16, or 32
            to keep them in float.
        use_buckets: give each bucket of weights its own range instead of one per layer.
        bucket_type: channel (one bucket per output channel) or split (flat chunks of
            bucket_size weights).
        bucket_size: weights per bucket with bucket_type split.
        quantize_all_layers: also quantize the first and the last layer (kept in float
            otherwise).
        quant_epochs: epochs of fine-tuning with quantization in the forward pass.
        lrn_rate: Adam learning rate of the fine-tuning and of the roll-outs' short fine-tuning.
        enbl_rl_agent: search per-layer bits in [w_bit_min, w_bit_max] so that the average bits
            per weight (weighted by weight count) is equivalent_bits.
        equivalent_bits: average bits per weight of the bit search's budget.
        w_bit_min: fewest bits the search gives a layer.
        w_bit_max: most bits the search gives a layer.
        nb_rlouts: roll-outs (trials) of the bit search.
        nb_rlouts_min: warm-up roll-outs before the DDPG agent learns.
        search_backend: backend of the bit search: ddpg (the original's agent), gp, tpe or random.
        nb_iters_ft: fine-tuning steps of each roll-out before its reward (validation accuracy)
            is measured; 0 scores the quantized model as it is.
    """

    weight_bits: int = 4
    activation_bits: int = 32
    use_buckets: bool = False
    bucket_type: str = "channel"
    bucket_size: int = 256
    quantize_all_layers: bool = False
    quant_epochs: float = 60.0
    lrn_rate: float = 1e-3
    enbl_rl_agent: bool = False
    equivalent_bits: float = 4.0
    w_bit_min: int = 2
    w_bit_max: int = 8
    nb_rlouts: int = 200
    nb_rlouts_min: int = 50
    search_backend: str = "ddpg"
    nb_iters_ft: int = 200

    def __post_init__(self):
        validate_quantization_settings(self, FLAG_PREFIX)

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> UniformQuantConfig:
        """Builds the settings from the ``--uql_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(UniformQuantConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(UniformQuantConfig, FLAG_PREFIX)
