"""Settings of the DDPG agent, and the original ``--ddpg_*`` flag names they come from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from utils.dataclass_flags import flag_defaults, flag_field, flag_help, flag_of, from_flag_values

NOISE_TYPES = ("param", "action")
NOISE_PROTOCOLS = ("tdecy", "adapt")
FLAG_PREFIX = "ddpg_"
INTEGER_FIELDS = ("record_step", "batch_size", "actor_depth", "actor_width", "critic_depth",
                  "critic_width")


def _require(condition: bool, expected: str, settings: Any, name: str) -> None:
    """Raises "Expected <expected>. Received: --ddpg_<flag>=<value>" unless ``condition``;
    ``{flag}`` in ``expected`` is replaced by the field's flag."""
    if not condition:
        flag = flag_of(settings, name, FLAG_PREFIX)
        raise ValueError(f"Expected {expected.format(flag=flag)}. "
                         f"Received: {flag}={getattr(settings, name)!r}")


@dataclasses.dataclass(frozen=True)
class DdpgConfig:
    """How the DDPG agent learns and explores (the original's ``--ddpg_*`` flags).

    Attributes:
        tau: soft-update rate of the target networks.
        gamma: reward discount factor.
        learning_rate: Adam learning rate of both the actor and the critic.
        weight_decay: L2 weight-decay coefficient of both losses.
        record_step: keep every ``record_step``-th transition of a recorded batch.
        batch_size: transitions per training mini-batch.
        use_baseline: subtract an exponential moving average of roll-out rewards (the baseline)
            from the sampled rewards.
        baseline_decay_rate: decay of that moving average.
        actor_depth: hidden blocks of the actor.
        actor_width: units of each actor block.
        critic_depth: hidden blocks of the critic after the action joins the state.
        critic_width: units of each critic block.
        noise_type: ``param`` (perturb the actor's weights) or ``action`` (add noise to actions).
        noise_schedule: ``tdecy`` (decay the noise once per roll-out after warm-up) or ``adapt``
            (adapt parameter noise to a target action distance; needs ``noise_type='param'``).
        noise_std_initial: initial noise standard deviation.
        noise_std_final: standard deviation reached after ``rollouts`` roll-outs (``tdecy``).
        noise_distance_target: target mean absolute action distance (``adapt``).
        noise_adapt_factor: factor the standard deviation is divided or multiplied by (``adapt``).
        rms_epsilon: floor of the running standard deviation of states.
        normalize_states: normalise states by their running mean and standard deviation (wired
            but disabled in the original).
    """

    tau: float = 0.01
    gamma: float = 0.9
    learning_rate: float = flag_field(1e-3, "lrn_rate")
    weight_decay: float = flag_field(0.0, "loss_w_dcy")
    record_step: int = 1
    batch_size: int = 64
    use_baseline: bool = flag_field(True, "enbl_bsln_func")
    baseline_decay_rate: float = flag_field(0.95, "bsln_decy_rate")
    actor_depth: int = 2
    actor_width: int = 64
    critic_depth: int = 2
    critic_width: int = 64
    noise_type: str = "param"
    noise_schedule: str = flag_field("tdecy", "noise_prtl")
    noise_std_initial: float = flag_field(1.0, "noise_std_init")
    noise_std_final: float = flag_field(1e-5, "noise_std_finl")
    noise_distance_target: float = flag_field(1e-2, "noise_dst_finl")
    noise_adapt_factor: float = flag_field(1.03, "noise_adpt_rat")
    rms_epsilon: float = flag_field(1e-4, "rms_eps")
    normalize_states: bool = flag_field(False, "enbl_state_norm")

    def __post_init__(self):
        for name in INTEGER_FIELDS:
            value = getattr(self, name)
            _require(isinstance(value, int) and not isinstance(value, bool), "an integer {flag}",
                     self, name)
        for name in ("tau", "gamma", "baseline_decay_rate"):
            _require(0 <= getattr(self, name) <= 1, "0 <= {flag} <= 1", self, name)
        for name in ("learning_rate", "record_step", "batch_size", "actor_width", "critic_width",
                     "noise_std_initial", "noise_std_final", "noise_distance_target", "rms_epsilon"):
            _require(getattr(self, name) > 0, "{flag} > 0", self, name)
        for name in ("weight_decay", "actor_depth", "critic_depth"):
            _require(getattr(self, name) >= 0, "{flag} >= 0", self, name)
        _require(self.noise_adapt_factor > 1, "{flag} > 1", self, "noise_adapt_factor")
        _require(self.noise_type in NOISE_TYPES, f"{{flag}} in {NOISE_TYPES}", self, "noise_type")
        _require(self.noise_schedule in NOISE_PROTOCOLS, f"{{flag}} in {NOISE_PROTOCOLS}", self,
                 "noise_schedule")
        # The adaptive rule measures how far a weight perturbation moves the actions; the original
        # crashed on adaptive action noise.
        _require(self.noise_schedule != "adapt" or self.noise_type == "param",
                 "{flag}=param with --ddpg_noise_prtl=adapt", self, "noise_type")

    @classmethod
    def from_flag_values(cls, values: Mapping[str, Any]) -> DdpgConfig:
        """Builds a config from the values of the flags ``ddpg_<field>`` (``FLAGS`` as a dict).

        Keys that are not DDPG flags, and flags whose value is ``None``, are ignored (the field
        keeps its default).
        """
        return from_flag_values(cls, FLAG_PREFIX, values)


FLAG_DEFAULTS: dict[str, Any] = flag_defaults(DdpgConfig, FLAG_PREFIX)
"""The original's flag names (``ddpg_tau`` ...) and their defaults, for ``main.py`` to define."""

FLAG_HELP: dict[str, str] = flag_help(DdpgConfig, FLAG_PREFIX)
"""Help text of each ``--ddpg_*`` flag: the attribute's description in :class:`DdpgConfig`."""
