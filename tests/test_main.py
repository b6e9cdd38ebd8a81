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


def test_model_file_selects_the_user_model_and_the_preprocessing_flags(parse):
    config = parse("--model_file=m.keras", "--dataset=npz", "--data_dir_local=d.npz",
                   "--input_scale", "-1_1", "--input_mean=0.5,0.4,0.3", "--input_std=0.25",
                   "--custom_objects=my.layers", "--learner=channel")
    assert config.net == "user_model" and config.learner == "channel"
    assert config.net_config.model_file == "m.keras"
    assert config.net_config.custom_objects == "my.layers"
    assert (config.data.dataset, config.data.data_dir) == ("npz", "d.npz")
    assert config.data.input_scale == "-1_1" and config.data.input_mean == (0.5, 0.4, 0.3)
    assert config.data.input_std == (0.25,)
    # the user model's fine-tuning defaults
    assert (config.train.optimizer, config.train.learning_rate_schedule) == ("adam", "cosine")


@pytest.mark.parametrize("argv,message", [
    (("--model_file=m.keras",), "Expected --dataset with --model_file"),
    (("--model_file=m.keras", "--net=resnet_at_cifar10", "--dataset=npz"),
     "either --net or --model_file"),
    (("--model_file=m.h5", "--dataset=npz"), "ending in .keras"),
    (("--custom_objects=layers",), "Expected --model_file with --custom_objects"),
    (("--input_std=0,1", "--dataset=npz"), "input_std"),
    (("--input_mean=a", "--dataset=npz"), "input_mean"),
])
def test_bad_model_file_flags_are_named(parse, argv, message):
    with pytest.raises(ValueError, match=message):
        parse(*argv)
