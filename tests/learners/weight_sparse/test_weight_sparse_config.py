"""Impossible ``--ws_*`` settings stop the run before any training, saying what was expected."""

import pytest
from absl import flags

import main
import nets  # noqa: F401  (registers)
from learners.weight_sparse.config import FLAG_DEFAULTS, FLAG_HELP, WeightSparseConfig


@pytest.mark.parametrize("kwargs, words", [
    ({"prune_ratio": 1.0}, ["prune_ratio", "< 1", "1.0"]),
    ({"prune_ratio": 1.5}, ["prune_ratio", "1.5"]),
    ({"prune_ratio": -0.1}, ["prune_ratio", "-0.1"]),
    ({"pruning_start": 0.6, "pruning_end": 0.5}, ["iter_ratio_beg", "iter_ratio_end", "0.6"]),
    ({"pruning_start": 0.5, "pruning_end": 0.5}, ["iter_ratio_beg", "iter_ratio_end"]),
    ({"pruning_end": 1.2}, ["iter_ratio_end", "1.2"]),
    ({"ratio_policy": "magic"}, ["prune_ratio_prtl", "uniform", "heurist", "optimal", "magic"]),
    ({"reward_type": "accuracy"}, ["reward_type", "single-obj", "accuracy"]),
    ({"search_backend": "bayes"}, ["search_backend", "ddpg", "bayes"]),
    ({"schedule_exponent": 0.0}, ["prune_ratio_exp"]),
    ({"mask_update_step": 0}, ["mask_update_step"]),
    ({"rollouts": 0}, ["nb_rlouts"]),
    ({"finetune_steps": -1}, ["nb_iters_ft"]),
    ({"regression_learning_rate": 0.0}, ["lrn_rate_rg"]),
])
def test_bad_settings_are_rejected(kwargs, words):
    with pytest.raises(ValueError, match="Expected") as error:
        WeightSparseConfig(**kwargs)
    message = str(error.value)
    assert "Received" in message and all(word in message for word in words), message


def test_flags_keep_the_original_names_and_defaults():
    assert FLAG_DEFAULTS["ws_prune_ratio"] == 0.75
    assert FLAG_DEFAULTS["ws_prune_ratio_prtl"] == "optimal"
    assert FLAG_DEFAULTS["ws_nb_rlouts"] == 200 and FLAG_DEFAULTS["ws_nb_iters_ft"] == 400
    assert FLAG_DEFAULTS["ws_mask_update_step"] == 500
    assert set(FLAG_HELP) == set(FLAG_DEFAULTS)
    config = WeightSparseConfig.from_flag_values({"ws_prune_ratio": 0.9, "ws_nb_rlouts": None,
                                                  "other_flag": 1})
    assert config.prune_ratio == 0.9 and config.rollouts == 200


@pytest.mark.parametrize("argv, words", [
    (("--ws_prune_ratio=1.0",), ["Expected 0 <= --ws_prune_ratio < 1", "Received: 1.0"]),
    (("--ws_iter_ratio_beg=0.5", "--ws_iter_ratio_end=0.2"), ["--ws_iter_ratio_beg <", "0.5 >= 0.2"]),
    (("--ws_prune_ratio_prtl=best",), ["--ws_prune_ratio_prtl in", "Received: 'best'"]),
])
def test_the_command_line_flags_are_checked_before_the_run(argv, words):
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["main.py", "--learner=weight-sparse", *argv])
        with pytest.raises(ValueError) as error:
            main.config_from_flags(default_net="lenet_at_digits")  # what main() calls first
    finally:
        flags.FLAGS.unparse_flags()
    assert all(word in str(error.value) for word in words), str(error.value)


def test_the_flags_reach_the_run_config():
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["main.py", "--learner=weight-sparse", "--ws_prune_ratio=0.9",
                     "--ws_prune_ratio_prtl=heurist", "--ws_prune_depthwise",
                     "--ws_search_backend=tpe"])
        config = main.config_from_flags(default_net="lenet_at_digits")
    finally:
        flags.FLAGS.unparse_flags()
    assert config.settings == WeightSparseConfig(
        prune_ratio=0.9, ratio_policy="heurist", prune_depthwise=True, search_backend="tpe")
