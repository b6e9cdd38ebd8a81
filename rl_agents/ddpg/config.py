"""Settings of the DDPG agent, and the original ``--ddpg_*`` flag names they come from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from utils.dataclass_flags import flag_defaults, flag_help, from_flag_values

NOISE_TYPES = ("param", "action")
NOISE_PROTOCOLS = ("tdecy", "adapt")
FLAG_PREFIX = "ddpg_"
INTEGER_FIELDS = ("record_step", "batch_size", "actor_depth", "actor_width", "critic_depth",
                  "critic_width")


def _require(condition: bool, expected: str, name: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"Expected {expected}. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class DdpgConfig:
    """How the DDPG agent learns and explores (the original's ``--ddpg_*`` flags).

    Attributes:
        tau: soft-update rate of the target networks.
        gamma: reward discount factor.
        lrn_rate: Adam learning rate of both the actor and the critic.
        loss_w_dcy: L2 weight-decay coefficient of both losses.
        record_step: keep every ``record_step``-th transition of a recorded batch.
        batch_size: transitions per training mini-batch.
        enbl_bsln_func: subtract an exponential moving average of roll-out rewards (the baseline)
            from the sampled rewards.
        bsln_decy_rate: decay of that moving average.
        actor_depth: hidden blocks of the actor.
        actor_width: units of each actor block.
        critic_depth: hidden blocks of the critic after the action joins the state.
        critic_width: units of each critic block.
        noise_type: ``param`` (perturb the actor's weights) or ``action`` (add noise to actions).
        noise_prtl: ``tdecy`` (decay the noise once per roll-out after warm-up) or ``adapt``
            (adapt parameter noise to a target action distance; needs ``noise_type='param'``).
        noise_std_init: initial noise standard deviation.
        noise_std_finl: standard deviation reached after ``nb_rlouts`` roll-outs (``tdecy``).
        noise_dst_finl: target mean absolute action distance (``adapt``).
        noise_adpt_rat: factor the standard deviation is divided or multiplied by (``adapt``).
        rms_eps: floor of the running standard deviation of states.
        enbl_state_norm: normalise states by their running mean and standard deviation (wired
            but disabled in the original).
    """

    tau: float = 0.01
    gamma: float = 0.9
    lrn_rate: float = 1e-3
    loss_w_dcy: float = 0.0
    record_step: int = 1
    batch_size: int = 64
    enbl_bsln_func: bool = True
    bsln_decy_rate: float = 0.95
    actor_depth: int = 2
    actor_width: int = 64
    critic_depth: int = 2
    critic_width: int = 64
    noise_type: str = "param"
    noise_prtl: str = "tdecy"
    noise_std_init: float = 1.0
    noise_std_finl: float = 1e-5
    noise_dst_finl: float = 1e-2
    noise_adpt_rat: float = 1.03
    rms_eps: float = 1e-4
    enbl_state_norm: bool = False

    def __post_init__(self):
        for name in INTEGER_FIELDS:
            value = getattr(self, name)
            _require(isinstance(value, int) and not isinstance(value, bool), f"an integer `{name}`",
                     name, value)
        for name in ("tau", "gamma", "bsln_decy_rate"):
            value = getattr(self, name)
            _require(0 <= value <= 1, f"0 <= `{name}` <= 1", name, value)
        for name in ("lrn_rate", "record_step", "batch_size", "actor_width", "critic_width",
                     "noise_std_init", "noise_std_finl", "noise_dst_finl", "rms_eps"):
            _require(getattr(self, name) > 0, f"`{name}` > 0", name, getattr(self, name))
        for name in ("loss_w_dcy", "actor_depth", "critic_depth"):
            _require(getattr(self, name) >= 0, f"`{name}` >= 0", name, getattr(self, name))
        _require(self.noise_adpt_rat > 1, "`noise_adpt_rat` > 1", "noise_adpt_rat",
                 self.noise_adpt_rat)
        _require(self.noise_type in NOISE_TYPES, f"`noise_type` in {NOISE_TYPES}", "noise_type",
                 self.noise_type)
        _require(self.noise_prtl in NOISE_PROTOCOLS, f"`noise_prtl` in {NOISE_PROTOCOLS}",
                 "noise_prtl", self.noise_prtl)
        # The adaptive rule measures how far a weight perturbation moves the actions; the original
        # crashed on adaptive action noise.
        _require(self.noise_prtl != "adapt" or self.noise_type == "param",
                 "`noise_type`='param' with `noise_prtl`='adapt'", "noise_type", self.noise_type)

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
