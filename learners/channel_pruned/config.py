"""Settings of channel pruning (``--learner channel``): the original's ``--cp_*`` flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hpo.optimizer import BACKEND_NAMES
from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_field, flag_help, from_flag_values, require

FLAG_PREFIX = "cp_"
PRUNE_OPTIONS = ("uniform", "list", "auto")
CRITERIA = ("lasso", "l1", "fpgm")
SOLVERS = ("sklearn", "tf")
REWARD_POLICIES = ("accuracy", "flops")


@dataclasses.dataclass(frozen=True)
class ChannelPruningConfig:
    """How channels are chosen, how many per layer, and how the pruned model is trained.

    Attributes:
        prune_option: uniform (every group keeps uniform_preserve_ratio of its channels), list
            (one ratio per prunable group from prune_list_file) or auto (a search chooses the
            ratios so that preserve_ratio of the FLOPs is kept).
        prune_list_file: comma-separated keep ratios, one per prunable group in graph order.
        preserve_ratio: fraction of the model's FLOPs to keep (auto).
        uniform_preserve_ratio: fraction of each group's channels to keep (uniform).
        criterion: lasso (LASSO channel selection + least-squares reconstruction, He et al.
            2017), l1 (filter L1 norm, Li et al. 2017) or fpgm (geometric median, He et al. 2019).
        solver: LASSO solver: sklearn (CPU) or tf (ISTA in TensorFlow, for GPUs).
        points_per_layer: spatial positions sampled per image and layer for LASSO.
        num_batches: training batches sampled for LASSO and for the rewards of the search.
        round_to: kept channel counts are multiples of this (the original's cp_quadruple is 4).
        quadruple: kept channel counts are multiples of 4 (the original's flag; same as
            round_to 4, which it sets when round_to is left at 1).
        finetune: fine-tune between pruning groups with Adam at lrn_rate_ft.
        list_group: layers pruned per group before fine-tuning (1000: all at once).
        finetune_steps_ratio: fine-tuning steps as a fraction of the full schedule's.
        finetune_learning_rate: Adam learning rate of group fine-tuning.
        search_backend: backend of the automatic search: ddpg (the original's agent), gp, tpe or
            random (--hpo_backend without --hpo_space sets it too).
        rollouts: roll-outs (trials) of the automatic search.
        warmup_rollouts: warm-up roll-outs before the DDPG agent learns.
        rollout_finetune_steps: Adam steps on the training split (the validation split left out)
            that fine-tune each roll-out's pruned model before it is scored (0: none, the
            original's roll-out).
        rollout_learning_rate: the Adam learning rate of a roll-out's fine-tuning (rlout_nb_iters_ft,
            nb_iters_ft_rescore).
        rescored_plans: the search's leading plans (this many distinct ones with the highest
            rewards, and the uniform plan) scored again after nb_iters_ft_rescore Adam steps of
            fine-tuning; the best on that score is kept (0: the best reward is kept).
        rescore_finetune_steps: fine-tuning steps of that re-scoring.
        rescore_margin: how far (in the reward's units) a plan's re-score must beat the uniform
            plan's to replace it.
        reward_policy: accuracy (FLOPs-constrained accuracy) or flops (the original's
            -max(noise_tolerance, 1 - accuracy) * log(FLOPs)).
        noise_tolerance: floor on 1 - accuracy in the flops reward.
    """

    prune_option: str = "auto"
    prune_list_file: str = "ratio.list"
    preserve_ratio: float = 0.5
    uniform_preserve_ratio: float = 0.6
    criterion: str = "lasso"
    solver: str = "sklearn"
    points_per_layer: int = flag_field(10, "nb_points_per_layer")
    num_batches: int = flag_field(30, "nb_batches")
    round_to: int = 1
    quadruple: bool = False
    finetune: bool = False
    list_group: int = 1000
    finetune_steps_ratio: float = flag_field(0.2, "nb_iters_ft_ratio")
    finetune_learning_rate: float = flag_field(1e-4, "lrn_rate_ft")
    search_backend: str = "ddpg"
    rollouts: int = flag_field(200, "nb_rlouts")
    warmup_rollouts: int = flag_field(50, "nb_rlouts_min")
    rollout_finetune_steps: int = flag_field(0, "rlout_nb_iters_ft")
    rollout_learning_rate: float = flag_field(3e-4, "rlout_lrn_rate_ft")
    rescored_plans: int = flag_field(0, "nb_rlouts_rescore")
    rescore_finetune_steps: int = flag_field(500, "nb_iters_ft_rescore")
    rescore_margin: float = 0.01
    reward_policy: str = "accuracy"
    noise_tolerance: float = 0.15

    def __post_init__(self):
        if self.quadruple and self.round_to == 1:
            object.__setattr__(self, "round_to", 4)
        for name, choices in (("prune_option", PRUNE_OPTIONS), ("criterion", CRITERIA),
                              ("solver", SOLVERS), ("reward_policy", REWARD_POLICIES),
                              ("search_backend", BACKEND_NAMES)):
            require(self, FLAG_PREFIX, (name,), choices.__contains__, f"in {choices}")
        for name in ("preserve_ratio", "uniform_preserve_ratio"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"Expected 0 < --{FLAG_PREFIX}{name} <= 1. Received: {value}")
        require(self, FLAG_PREFIX, ("points_per_layer", "num_batches", "round_to", "list_group",
                                    "rollouts", "warmup_rollouts"),
                lambda value: value >= 1, ">= 1")
        require(self, FLAG_PREFIX, ("rollout_finetune_steps", "rescored_plans", "rescore_finetune_steps",
                                    "rescore_margin"),
                lambda value: value >= 0, ">= 0")
        require(self, FLAG_PREFIX, ("finetune_steps_ratio", "finetune_learning_rate", "rollout_learning_rate"),
                lambda value: value > 0, "> 0")
        if not 0.0 <= self.noise_tolerance < 1.0:
            raise ValueError(f"Expected 0 <= --{FLAG_PREFIX}noise_tolerance < 1. "
                             f"Received: {self.noise_tolerance}")

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> ChannelPruningConfig:
        """Builds the settings from the ``--cp_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(ChannelPruningConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(ChannelPruningConfig, FLAG_PREFIX)

register_learner("channel", "learners.channel_pruned.learner:ChannelPrunedLearner",
                 "channel pruning: LASSO (or L1 / FPGM) selection, least-squares re-fit, a "
                 "physically smaller model, re-trained",
                 settings=ChannelPruningConfig, flag_prefix=FLAG_PREFIX, own_search=True)
register_learner("chn-pruned-gpu", "learners.channel_pruned.learner:ChannelPrunedTFSolverLearner",
                 "channel pruning with the TensorFlow LASSO solver (--cp_solver tf)",
                 aliases=("chn-pruned-rmt",), settings=ChannelPruningConfig,
                 flag_prefix=FLAG_PREFIX, own_search=True)
