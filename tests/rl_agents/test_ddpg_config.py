import dataclasses
import re

import pytest

from rl_agents.ddpg import FLAG_DEFAULTS, FLAG_HELP, DdpgConfig

ORIGINAL_FLAGS = {
    "ddpg_tau": 0.01, "ddpg_gamma": 0.9, "ddpg_lrn_rate": 1e-3, "ddpg_loss_w_dcy": 0.0,
    "ddpg_record_step": 1, "ddpg_batch_size": 64, "ddpg_enbl_bsln_func": True,
    "ddpg_bsln_decy_rate": 0.95, "ddpg_actor_depth": 2, "ddpg_actor_width": 64,
    "ddpg_critic_depth": 2, "ddpg_critic_width": 64, "ddpg_noise_type": "param",
    "ddpg_noise_prtl": "tdecy", "ddpg_noise_std_init": 1.0, "ddpg_noise_std_finl": 1e-5,
    "ddpg_noise_dst_finl": 1e-2, "ddpg_noise_adpt_rat": 1.03, "ddpg_rms_eps": 1e-4,
    "ddpg_enbl_state_norm": False,
}


def test_flag_defaults_are_the_original_flags_and_defaults():
    assert FLAG_DEFAULTS == ORIGINAL_FLAGS
    assert DdpgConfig.from_flag_values(FLAG_DEFAULTS) == DdpgConfig()


def test_every_flag_has_the_attribute_description_as_help():
    assert set(FLAG_HELP) == set(FLAG_DEFAULTS)
    assert FLAG_HELP["ddpg_tau"] == "soft-update rate of the target networks."
    assert FLAG_HELP["ddpg_enbl_bsln_func"].endswith("(the baseline) from the sampled rewards.")


def test_from_flag_values_ignores_none_and_other_flags():
    config = DdpgConfig.from_flag_values({"ddpg_tau": 0.5, "ddpg_batch_size": None,
                                          "ddpg_noise_type": "action", "learner": "channel",
                                          "ddpg_unknown": 3})
    assert config.tau == 0.5
    assert config.batch_size == 64
    assert config.noise_type == "action"


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DdpgConfig().tau = 0.5


@pytest.mark.parametrize("field,value,message", [
    ("tau", 1.5, "Expected 0 <= --ddpg_tau <= 1. Received: --ddpg_tau=1.5"),
    ("gamma", -0.1, "--ddpg_gamma"),
    ("baseline_decay_rate", 2.0, "--ddpg_bsln_decy_rate"),
    ("learning_rate", 0.0, "Expected --ddpg_lrn_rate > 0. Received: --ddpg_lrn_rate=0.0"),
    ("batch_size", 0, "--ddpg_batch_size > 0"),
    ("record_step", 0, "--ddpg_record_step > 0"),
    ("actor_width", 0, "--ddpg_actor_width > 0"),
    ("actor_depth", 1.5, "Expected an integer --ddpg_actor_depth. Received: --ddpg_actor_depth=1.5"),
    ("noise_std_initial", -1.0, "--ddpg_noise_std_init > 0"),
    ("weight_decay", -1e-3, "Expected --ddpg_loss_w_dcy >= 0"),
    ("critic_depth", -1, "--ddpg_critic_depth >= 0"),
    ("noise_adapt_factor", 1.0, "Expected --ddpg_noise_adpt_rat > 1"),
    ("noise_type", "gaussian", "Expected --ddpg_noise_type in ('param', 'action')"),
    ("noise_schedule", "linear", "Expected --ddpg_noise_prtl in ('tdecy', 'adapt')"),
])
def test_invalid_values_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DdpgConfig(**{field: value})


def test_adaptive_noise_needs_parameter_noise():
    with pytest.raises(ValueError, match="Expected --ddpg_noise_type=param with --ddpg_noise_prtl=adapt. "
                                         "Received: --ddpg_noise_type='action'"):
        DdpgConfig(noise_type="action", noise_schedule="adapt")
    assert DdpgConfig(noise_type="param", noise_schedule="adapt").noise_schedule == "adapt"
