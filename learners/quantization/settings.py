"""Settings and validation shared by the ``uniform`` and ``non-uniform`` learners."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from hpo.optimizer import BACKEND_NAMES
from utils.dataclass_flags import flag_field, flag_of, require

BUCKET_TYPES = ("split", "channel")
"""How a layer's weights are cut into buckets of one range each (``none`` also accepted)."""
MAX_BITS = 16
"""The widest bit-width a quantizer takes."""
INIT_STYLES = ("quantile", "uniform")
"""How a codebook is initialised: at quantiles of the weights, or evenly spaced."""

FLOAT_ACTIVATIONS = 32
"""``activation_bits`` value that leaves activations in float."""


@dataclasses.dataclass(frozen=True)
class QuantizationSettings:
    """What both quantization learners are told: bits, buckets, layers, fine-tuning, bit search.

    The learners' configs extend it with their own fields and set ``flag_prefix`` (``uql_``,
    ``nuql_``), which the errors of :func:`validate_quantization_settings` name.

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
        learning_rate: Adam learning rate of the fine-tuning and of the roll-outs' short fine-tuning.
        per_layer_bits: search per-layer bits in [w_bit_min, w_bit_max] so that the average bits
            per weight (weighted by weight count) is equivalent_bits.
        equivalent_bits: average bits per weight of the bit search's budget.
        min_weight_bits: fewest bits the search gives a layer.
        max_weight_bits: most bits the search gives a layer.
        rollouts: roll-outs (trials) of the bit search.
        warmup_rollouts: warm-up roll-outs before the DDPG agent learns.
        search_backend: backend of the bit search: ddpg (the original's agent), gp, tpe or random.
        finetune_steps: fine-tuning steps of each roll-out before its reward (validation accuracy)
            is measured; 0 scores the quantized model as it is.
    """

    weight_bits: int = 4
    activation_bits: int = 32
    use_buckets: bool = False
    bucket_type: str = "channel"
    bucket_size: int = 256
    quantize_all_layers: bool = False
    quant_epochs: float = 60.0
    learning_rate: float = flag_field(1e-3, "lrn_rate")
    per_layer_bits: bool = flag_field(False, "enbl_rl_agent")
    equivalent_bits: float = 4.0
    min_weight_bits: int = flag_field(2, "w_bit_min")
    max_weight_bits: int = flag_field(8, "w_bit_max")
    rollouts: int = flag_field(200, "nb_rlouts")
    warmup_rollouts: int = flag_field(50, "nb_rlouts_min")
    search_backend: str = "ddpg"
    finetune_steps: int = flag_field(200, "nb_iters_ft")

    flag_prefix: ClassVar[str] = ""

    def __post_init__(self):
        validate_quantization_settings(self, self.flag_prefix)


def validate_quantization_settings(settings: QuantizationSettings, prefix: str) -> None:
    """Checks the fields both quantization learners share; errors name the ``--<prefix>`` flag.

    Raises:
        ValueError: "Expected ... Received ..." for the first bad value.
    """
    def flag(name):
        return flag_of(settings, name, prefix)

    for name in ("weight_bits", "min_weight_bits", "max_weight_bits"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BITS:
            raise ValueError(f"Expected {flag(name)} an integer in [1, {MAX_BITS}]. "
                             f"Received: {value!r}")
    bits = settings.activation_bits
    if isinstance(bits, bool) or not isinstance(bits, int) or not (
            1 <= bits <= MAX_BITS or bits == FLOAT_ACTIVATIONS):
        raise ValueError(f"Expected {flag('activation_bits')} an integer in [1, {MAX_BITS}], or "
                         f"{FLOAT_ACTIVATIONS} for float activations. Received: {bits!r}")
    if settings.min_weight_bits > settings.max_weight_bits:
        raise ValueError(f"Expected {flag('min_weight_bits')} <= {flag('max_weight_bits')}. "
                         f"Received: {settings.min_weight_bits} > {settings.max_weight_bits}")
    if not settings.min_weight_bits <= settings.equivalent_bits <= settings.max_weight_bits:
        raise ValueError(f"Expected {flag('equivalent_bits')} in [{flag('min_weight_bits')}, "
                         f"{flag('max_weight_bits')}] = [{settings.min_weight_bits}, "
                         f"{settings.max_weight_bits}]. "
                         f"Received: {settings.equivalent_bits}")
    for name, choices in (("bucket_type", BUCKET_TYPES), ("search_backend", BACKEND_NAMES)):
        require(settings, prefix, (name,), choices.__contains__, f"in {choices}")
    require(settings, prefix, ("bucket_size", "rollouts", "warmup_rollouts"),
            lambda value: value >= 1, ">= 1")
    require(settings, prefix, ("finetune_steps",), lambda value: value >= 0, ">= 0")
    require(settings, prefix, ("quant_epochs", "learning_rate"), lambda value: value > 0, "> 0")
