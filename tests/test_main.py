"""Flags -> config: the original's command lines map onto validated configs with net defaults."""

import pytest
from absl import flags

import main
import nets  # noqa: F401  (registers)


@pytest.fixture()
def parse():
    def _parse(*argv):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["main.py", *argv])
        return main.config_from_flags(default_net="lenet_at_digits")

    yield _parse
    flags.FLAGS.unparse_flags()


def test_defaults_come_from_the_net(parse):
    config = parse("--net=resnet_at_cifar10", "--data_dir_local=/data/cifar10")
    assert config.net == "resnet_at_cifar10" and config.data.dataset == "cifar10"
    assert (config.train.learning_rate, config.train.weight_decay, config.train.reference_batch_size) == (0.1, 2e-4, 128)
    assert config.train.decay_boundaries == (80, 120)
    assert (config.data.batch_size, config.data.data_dir) == (128, "/data/cifar10")
    assert config.output_dir == "./models_full-prec" and config.log_dir == "./logs"


def test_flags_override_the_net_defaults(parse):
    config = parse("--net=resnet_at_cifar10", "--batch_size=64", "--lrn_rate_init=0.05",
                   "--lrn_rate_dcy_bnds=10,20", "--lrn_rate_dcy_rates=1,0.5,0.25",
                   "--nb_epochs_rat=0.5", "--enbl_dst", "--loss_w_dst=2", "--tempr_dst=3",
                   "--learner=full-prec", "--exec_mode=eval", "--save_dir=out", "--resnet_size=56")
    assert config.data.batch_size == 64
    assert config.train.learning_rate == 0.05 and config.train.epochs_ratio == 0.5
    assert config.train.decay_boundaries == (10.0, 20.0)
    assert config.train.decay_rates == (1.0, 0.5, 0.25)
    assert config.distillation.enabled and config.distillation.loss_weight == 2.0
    assert config.exec_mode == "eval" and config.output_dir == "out"
    assert config.net_config.resnet_size == 56


def test_the_launcher_picks_the_default_net(parse):
    config = parse()
    assert config.net == "lenet_at_digits" and config.data.dataset == "digits"


@pytest.mark.parametrize("argv,message", [
    (("--lrn_rate_dcy_bnds=a,b",), "lrn_rate_dcy_bnds"),
    (("--lrn_rate_dcy_bnds=10", "--lrn_rate_dcy_rates=1"), "lrn_rate_dcy_rates"),
    (("--exec_mode=export",), "exec_mode"),
    (("--batch_size=-8",), "batch_size"),
    (("--batch_size=0",), "batch_size"),
    (("--mobilenet_version=3", "--net=mobilenet_at_ilsvrc12"), "mobilenet_version"),
])
def test_invalid_flag_values_name_the_flag(parse, argv, message):
    with pytest.raises(ValueError, match=message):
        parse(*argv)


@pytest.mark.parametrize("learner", ["channel", "weight-sparse", "uniform", "non-uniform"])
def test_hpo_backend_without_a_space_sets_the_learners_own_search(parse, learner):
    assert parse(f"--learner={learner}", "--hpo_backend=tpe").settings.search_backend == "tpe"
    assert parse(f"--learner={learner}").settings.search_backend == "ddpg"
