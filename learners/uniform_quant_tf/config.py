"""Settings of quantization-aware training for TFLite (``--learner uniform-tf``): ``--uqtf_*``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_field, flag_help, from_flag_values

FLAG_PREFIX = "uqtf_"
MIN_BITS, MAX_BITS = 2, 8  # what TensorFlow's fake-quant ops and TFLite's int8 kernels take


@dataclasses.dataclass(frozen=True)
class UniformQuantTFConfig:
    """Bit-widths and delays of quantization-aware training (Jacob et al. 2018).

    Attributes:
        weight_bits: bits of the weights (symmetric, per output channel for convolutions,
            per tensor for dense layers), 2..8; 8 gives a TFLite model whose int8 kernels run
            every convolution, dense, add and pooling op.
        activation_bits: bits of the activations (asymmetric, per tensor, ranges tracked by
            moving averages), 2..8.
        quant_delay: training steps before the fake quantization is switched on (the ranges
            are tracked from the start).
        freeze_bn_delay: training steps after which the BatchNorm moving statistics stop
            tracking the batch statistics; 0 (default): frozen from the start, the pre-trained
            model's statistics are kept; -1: never (the original's default, which drifts a
            converged model down: its statistics follow batches the gradient never sees).
        learning_rate_multiplier: multiplier of the net's learning rate for the quantization-aware
            fine-tuning (Adam, as the original).
        calibration_batches: training batches that initialise the activation ranges before
            the fine-tuning starts.
    """

    weight_bits: int = 8
    activation_bits: int = 8
    quant_delay: int = 0
    freeze_bn_delay: int = 0
    learning_rate_multiplier: float = flag_field(1e-2, "lrn_rate_dcy")
    calibration_batches: int = flag_field(10, "nb_calibration_batches")

    def __post_init__(self):
        for name in ("weight_bits", "activation_bits"):
            value = getattr(self, name)
            if not MIN_BITS <= value <= MAX_BITS:
                raise ValueError(f"Expected {MIN_BITS} <= --{FLAG_PREFIX}{name} <= {MAX_BITS}. "
                                 f"Received: {value}")
        if self.quant_delay < 0:
            raise ValueError(f"Expected --{FLAG_PREFIX}quant_delay >= 0. Received: {self.quant_delay}")
        if self.freeze_bn_delay < -1:
            raise ValueError(f"Expected --{FLAG_PREFIX}freeze_bn_delay >= 0, or -1 for never. "
                             f"Received: {self.freeze_bn_delay}")
        if not self.learning_rate_multiplier > 0:
            raise ValueError(f"Expected --{FLAG_PREFIX}lrn_rate_dcy > 0. Received: {self.learning_rate_multiplier}")
        if self.calibration_batches < 1:
            raise ValueError(f"Expected --{FLAG_PREFIX}nb_calibration_batches >= 1. "
                             f"Received: {self.calibration_batches}")

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> UniformQuantTFConfig:
        """Builds the settings from the ``--uqtf_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(UniformQuantTFConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(UniformQuantTFConfig, FLAG_PREFIX)

register_learner("uniform-tf", "learners.uniform_quant_tf.learner:UniformQuantTFLearner",
                 "quantization-aware training with TensorFlow's fake-quant ops: a full-integer TFLite",
                 settings=UniformQuantTFConfig, flag_prefix=FLAG_PREFIX)
