"""Settings of uniform quantization (``--learner uniform``): the original's ``--uql_*`` flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from learners.quantization.settings import QuantizationSettings
from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_help, from_flag_values

FLAG_PREFIX = "uql_"


@dataclasses.dataclass(frozen=True)
class UniformQuantConfig(QuantizationSettings):
    """Bits, buckets, which layers, the fine-tuning and the automatic bit allocation.

    The fields and their descriptions are :class:`QuantizationSettings`'. The model is always
    warm-started from the pre-trained model (the original's ``--enbl_warm_start`` is implied).
    Fine-tuning uses Adam at ``learning_rate`` (decayed by 10 at 50 % and 80 % of the steps) for
    ``quant_epochs`` epochs, scaled by ``--nb_epochs_rat``, or ``--nb_iters_train`` steps when
    given.
    """

    flag_prefix: ClassVar[str] = FLAG_PREFIX

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> UniformQuantConfig:
        """Builds the settings from the ``--uql_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(UniformQuantConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(UniformQuantConfig, FLAG_PREFIX)

register_learner("uniform", "learners.uniform_quant.learner:UniformQuantLearner",
                 "uniform (min-max) k-bit weight quantization, fine-tuned, bit-packed",
                 settings=UniformQuantConfig, flag_prefix=FLAG_PREFIX, own_search=True)
