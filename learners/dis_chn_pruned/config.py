"""Settings of discrimination-aware channel pruning (``--learner dis-chn-pruned``): ``--dcp_*``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_field, flag_help, from_flag_values, require

FLAG_PREFIX = "dcp_"


@dataclasses.dataclass(frozen=True)
class DisChnPruningConfig:
    """How many channels DCP removes and how long each of its fine-tuning phases runs.

    The original's ``dcp_nb_iters_block`` (10000) and ``dcp_nb_iters_layer`` (500) were sized
    for GPUs; these defaults are scaled down (200 and 5) so that selecting the channels of a
    ResNet-20 takes minutes, not hours, on 2 CPU cores. The greedy selection runs ``layer_steps`` Adam
    steps after *every* channel it adds, so it costs about (kept channels) x (1 +
    ``layer_steps``) steps, plus ``block_steps`` steps per stage. Raise both on a GPU.

    Attributes:
        prune_ratio: fraction of each prunable channel group's channels that is removed, in
            [0, 1) (the original's per-layer input-channel pruning ratio).
        num_stages: stages with an auxiliary discrimination-aware head (the original's P); the
            network is split into nb_stages + 1 stages, the last one judged by the final loss.
        adam_learning_rate: Adam learning rate of the block-wise and layer-wise fine-tuning.
        block_steps: block-wise fine-tuning steps (network + stage head) at each stage.
        layer_steps: layer-wise Adam steps on the consumers' kernels after each added
            channel.
        batch_size: training images per step of the selection and of the block-wise
            fine-tuning (0: the net's batch size).
        round_to: kept channel counts are multiples of this.
    """

    prune_ratio: float = 0.5
    num_stages: int = flag_field(3, "nb_stages")
    adam_learning_rate: float = flag_field(1e-3, "lrn_rate_adam")
    block_steps: int = flag_field(200, "nb_iters_block")
    layer_steps: int = flag_field(5, "nb_iters_layer")
    batch_size: int = 64
    round_to: int = 1

    def __post_init__(self):
        if isinstance(self.prune_ratio, bool) or not 0.0 <= self.prune_ratio < 1.0:
            raise ValueError(f"Expected 0 <= --{FLAG_PREFIX}prune_ratio < 1. "
                             f"Received: {self.prune_ratio}")
        require(self, FLAG_PREFIX, ("num_stages", "round_to"), lambda value: value >= 1, ">= 1")
        require(self, FLAG_PREFIX, ("block_steps", "layer_steps", "batch_size"),
                lambda value: value >= 0, ">= 0")
        require(self, FLAG_PREFIX, ("adam_learning_rate",), lambda value: value > 0, "> 0")

    @property
    def keep_ratio(self) -> float:
        """Fraction of each group's channels that is kept."""
        return 1.0 - self.prune_ratio

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> DisChnPruningConfig:
        """Builds the settings from the ``--dcp_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(DisChnPruningConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(DisChnPruningConfig, FLAG_PREFIX)

register_learner("dis-chn-pruned", "learners.dis_chn_pruned.learner:DisChnPrunedLearner",
                 "discrimination-aware channel pruning (DCP): auxiliary classifiers, greedy selection, re-trained",
                 settings=DisChnPruningConfig, flag_prefix=FLAG_PREFIX)
