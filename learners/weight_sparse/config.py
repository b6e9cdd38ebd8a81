"""Settings of weight sparsification (``--learner weight-sparse``): the original's ``--ws_*`` flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hpo.optimizer import BACKEND_NAMES
from learners.registry import register_learner
from utils.dataclass_flags import flag_defaults, flag_field, flag_help, from_flag_values, require

FLAG_PREFIX = "ws_"
PROTOCOLS = ("uniform", "heurist", "optimal")
REWARD_TYPES = ("single-obj", "multi-obj")


@dataclasses.dataclass(frozen=True)
class WeightSparseConfig:
    """How sparse each layer becomes, and how the pre-trained model gets there.

    Attributes:
        prune_ratio: overall sparsity: the fraction of the masked weights (convolution,
            pointwise and dense kernels) that are zero in the final model, met exactly.
        ratio_policy: per-layer sparsities: uniform (every layer the same), heurist (larger
            layers pruned more, ratio proportional to log(#weights)) or optimal (a search, each
            candidate scored by fast fine-tuning on the validation split).
        schedule_exponent: exponent of the polynomial schedule (Zhu and Gupta 2017).
        pruning_start: fraction of the fine-tuning steps at which pruning starts.
        pruning_end: fraction of the fine-tuning steps at which the final sparsity is reached.
        mask_update_step: steps between mask updates while the sparsity ramps up.
        prune_depthwise: also mask depthwise kernels (DepthwiseConv2D, the depthwise half of
            SeparableConv2D); they are left dense by default, as in the original.
        search_backend: backend of the optimal protocol's search: ddpg (the original's agent),
            gp, tpe or random.
        rollouts: roll-outs (candidates) of the optimal protocol's search.
        warmup_rollouts: warm-up roll-outs before the DDPG agent learns.
        regression_learning_rate: Adam learning rate of a roll-out's layer-wise regression. The original's
            3e-2 moves each weight by up to 0.6 in 20 steps, far past the kernels' scale, and
            wrecks the model a roll-out scores; 1e-4 keeps the regression an improvement.
        regression_steps: steps of a roll-out's layer-wise regression (0: none).
        finetune_learning_rate: Adam learning rate of a roll-out's global fine-tuning.
        finetune_steps: steps of a roll-out's global fine-tuning (0: none).
        reward_batches: validation batches a roll-out's reward is computed on (0: all).
        rescored_plans: the optimal search's leading plans (this many distinct ones with the
            highest rewards, and the uniform and heuristic plans) scored again by a longer
            roll-out on the whole validation split; the best on that score is kept (0: the best
            reward is kept, as in the original).
        rescore_finetune_steps: global fine-tuning steps of that longer roll-out.
        rescore_margin: how far (in validation accuracy) a plan's re-score must beat the uniform
            plan's to replace it; the default, 1 point, is about two standard errors of a
            difference between two accuracies on 5,000 validation images.
        reward_type: single-obj (validation accuracy) or multi-obj (accuracy * log(1 + overall
            sparsity), the original's).
    """

    prune_ratio: float = 0.75
    ratio_policy: str = flag_field("optimal", "prune_ratio_prtl")
    schedule_exponent: float = flag_field(3.0, "prune_ratio_exp")
    pruning_start: float = flag_field(0.1, "iter_ratio_beg")
    pruning_end: float = flag_field(0.5, "iter_ratio_end")
    mask_update_step: int = 500
    prune_depthwise: bool = False
    search_backend: str = "ddpg"
    rollouts: int = flag_field(200, "nb_rlouts")
    warmup_rollouts: int = flag_field(50, "nb_rlouts_min")
    regression_learning_rate: float = flag_field(1e-4, "lrn_rate_rg")
    regression_steps: int = flag_field(20, "nb_iters_rg")
    finetune_learning_rate: float = flag_field(3e-4, "lrn_rate_ft")
    finetune_steps: int = flag_field(400, "nb_iters_ft")
    reward_batches: int = flag_field(25, "nb_iters_feval")
    rescored_plans: int = flag_field(0, "nb_rlouts_rescore")
    rescore_finetune_steps: int = flag_field(1000, "nb_iters_ft_rescore")
    rescore_margin: float = 0.01
    reward_type: str = "single-obj"

    def __post_init__(self):
        for name, choices in (("ratio_policy", PROTOCOLS), ("reward_type", REWARD_TYPES),
                              ("search_backend", BACKEND_NAMES)):
            require(self, FLAG_PREFIX, (name,), choices.__contains__, f"in {choices}")
        if not 0.0 <= self.prune_ratio < 1.0:
            raise ValueError(f"Expected 0 <= --{FLAG_PREFIX}prune_ratio < 1 (a fraction of the "
                             f"weights set to zero). Received: {self.prune_ratio}")
        require(self, FLAG_PREFIX, ("pruning_start", "pruning_end"),
                lambda value: 0.0 <= value <= 1.0, "in [0, 1]")
        if not self.pruning_start < self.pruning_end:
            raise ValueError(f"Expected --{FLAG_PREFIX}iter_ratio_beg < --{FLAG_PREFIX}"
                             f"iter_ratio_end. Received: {self.pruning_start} >= "
                             f"{self.pruning_end}")
        require(self, FLAG_PREFIX, ("schedule_exponent", "regression_learning_rate", "finetune_learning_rate"),
                lambda value: value > 0, "> 0")
        require(self, FLAG_PREFIX, ("mask_update_step", "rollouts", "warmup_rollouts"),
                lambda value: value >= 1, ">= 1")
        require(self, FLAG_PREFIX, ("regression_steps", "finetune_steps", "reward_batches",
                                    "rescored_plans", "rescore_finetune_steps", "rescore_margin"),
                lambda value: value >= 0, ">= 0")

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> WeightSparseConfig:
        """Builds the settings from the ``--ws_*`` flag values (``FLAGS`` as a dict)."""
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(WeightSparseConfig, FLAG_PREFIX)
FLAG_HELP: dict[str, str] = flag_help(WeightSparseConfig, FLAG_PREFIX)

register_learner("weight-sparse", "learners.weight_sparse.learner:WeightSparseLearner",
                 "weight sparsification: gradual magnitude pruning to exact zeros, per-layer ratios",
                 settings=WeightSparseConfig, flag_prefix=FLAG_PREFIX, own_search=True)
