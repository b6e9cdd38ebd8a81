"""Entry point: absl flags (PocketFlow's names) -> frozen config dataclasses -> ``run(config)``.

Flags exist here and in the ``nets/*_run.py`` launchers only; everything below takes configs.
A flag left at ``None`` takes the model helper's default (per-model learning rate, weight decay,
batch size ...), as the original's per-model flags did.
"""

from __future__ import annotations

import logging as pylogging
import os
import sys
from collections.abc import Mapping
from typing import Any

from absl import app, flags, logging

from utils.dataclass_flags import define_flags

FLAGS = flags.FLAGS

# ---------------------------------------------------------------------------- global
flags.DEFINE_string("learner", "full-prec", "Learner: full-prec, channel, dis-chn-pruned, "
                    "weight-sparse, uniform, uniform-tf, non-uniform.")
flags.DEFINE_string("exec_mode", "train", "train: train and export; eval: only evaluate.")
flags.DEFINE_string("net", None, "Model helper <model>_at_<dataset> (default: the launcher's).")
flags.DEFINE_string("dataset", None, "Dataset name (default: the net's dataset).")
# --log_dir (TensorBoard summaries and the JSON-lines event log, default ./logs) is absl's own flag.
flags.DEFINE_string("model_dir", "./models", "Directory of the pre-trained full-precision model.")
flags.DEFINE_string("save_dir", None, "The learner's output directory (default ./models_<learner>).")
flags.DEFINE_boolean("debug", False, "Verbose (DEBUG) logging.")
flags.DEFINE_boolean("enbl_multi_gpu", False, "Train data-parallel on every visible GPU.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")

# ---------------------------------------------------------------------------- data
flags.DEFINE_string("data_dir_local", None, "Local data directory (not needed for digits).")
flags.DEFINE_integer("batch_size", None, "Training batch size per replica.")
flags.DEFINE_integer("batch_size_eval", None, "Evaluation batch size.")
flags.DEFINE_integer("nb_smpls_val", None, "Validation split carved from the training data.")
flags.DEFINE_integer("image_size", None, "Network input side for image folders / ILSVRC-12.")
flags.DEFINE_integer("buffer_size", 10000, "Shuffle buffer, in examples.")

# ---------------------------------------------------------------------------- nets
flags.DEFINE_integer("resnet_size", None, "ResNet depth (CIFAR-10: 20/32/44/56/110; ILSVRC-12: 18/34/50).")
flags.DEFINE_integer("mobilenet_version", 1, "MobileNet version: 1 or 2.")
flags.DEFINE_float("mobilenet_depth_mult", 1.0, "MobileNet depth (width) multiplier.")
flags.DEFINE_boolean("tiny_net", False, "Build the tiny variant of the net (smoke tests).")

# ---------------------------------------------------------------------------- training
flags.DEFINE_float("nb_epochs", None, "Epochs of the full schedule (before nb_epochs_rat).")
flags.DEFINE_float("nb_epochs_rat", 1.0, "Scales the number of epochs and the decay boundaries.")
flags.DEFINE_integer("nb_iters_train", None, "Total training steps (overrides the epochs).")
flags.DEFINE_float("lrn_rate_init", None, "Initial learning rate for a batch of batch_size_norm.")
flags.DEFINE_integer("batch_size_norm", None, "Batch size lrn_rate_init is stated for.")
flags.DEFINE_float("momentum", None, "SGD momentum.")
flags.DEFINE_float("loss_w_dcy", None, "L2 weight decay (BatchNorm excluded).")
flags.DEFINE_enum("lrn_rate_schedule", None, ["piecewise", "cosine", "exponential"],
                  "Learning-rate schedule (default: the net's).")
flags.DEFINE_float("lrn_rate_dcy_epochs", None, "Exponential schedule: epochs between decays.")
flags.DEFINE_float("lrn_rate_dcy_rate", None, "Exponential schedule: factor of each decay.")
flags.DEFINE_list("lrn_rate_dcy_bnds", None, "Piecewise decay boundaries, in epochs.")
flags.DEFINE_list("lrn_rate_dcy_rates", None, "Piecewise multipliers (one more than boundaries).")
flags.DEFINE_float("warmup_epochs", 0.0, "Linear warm-up epochs (cosine schedule).")
flags.DEFINE_integer("summ_step", 100, "Steps between log lines / summaries.")
flags.DEFINE_integer("save_step", 10000, "Steps between checkpoints (and evaluations).")

# ---------------------------------------------------------------------------- distillation
flags.DEFINE_boolean("enbl_dst", False, "Add distillation from the pre-trained model.")
flags.DEFINE_float("loss_w_dst", 4.0, "Distillation loss weight.")
flags.DEFINE_float("tempr_dst", 4.0, "Distillation softmax temperature.")

# ---------------------------------------------------------------------------- AutoML search
flags.DEFINE_string("hpo_backend", None, "Search the flags in --hpo_space with this backend "
                    "(gp, tpe, ddpg, random), then re-train the best setting. Without "
                    "--hpo_space, it is the backend of a learner's own per-layer search "
                    "(channel keep ratios, weight-sparse ratios, uniform / non-uniform bits).")
flags.DEFINE_string("hpo_space", None, "JSON search space over flags: "
                    '[{"name": "lrn_rate_init", "type": "continuous", "low": 0.01, "high": 0.3, "log": true}, ...]')
flags.DEFINE_integer("hpo_nb_trials", 20, "Trials of the search (an interrupted search resumes).")
flags.DEFINE_float("hpo_trial_epochs_rat", 0.1, "Fraction of the full schedule each trial trains for.")


def _define_ddpg_flags() -> None:
    """The original's ``--ddpg_*`` flags, one per field of ``rl_agents.ddpg.DdpgConfig``."""
    from rl_agents.ddpg import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "DDPG agent")


_define_ddpg_flags()


def _define_channel_pruning_flags() -> None:
    """The original's ``--cp_*`` flags, one per field of ``ChannelPruningConfig``."""
    from learners.channel_pruned.config import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "Channel pruning")
    flags.DEFINE_boolean("cp_quadruple", False, "Channel pruning: kept channel counts are "
                         "multiples of 4 (the original's flag; same as --cp_round_to 4).")


_define_channel_pruning_flags()


def _define_dis_chn_pruning_flags() -> None:
    """The original's ``--dcp_*`` flags, one per field of ``DisChnPruningConfig``."""
    from learners.dis_chn_pruned.config import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "Discrimination-aware channel pruning")


_define_dis_chn_pruning_flags()


def _define_weight_sparse_flags() -> None:
    """The original's ``--ws_*`` flags, one per field of ``WeightSparseConfig``."""
    from learners.weight_sparse.config import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "Weight sparsification")


_define_weight_sparse_flags()


def _define_quantization_flags() -> None:
    """The original's ``--uql_*`` and ``--nuql_*`` flags, one per field of ``UniformQuantConfig``
    and ``NonUniformQuantConfig``."""
    from learners.nonuniform_quant.config import FLAG_DEFAULTS as NUQL_DEFAULTS
    from learners.nonuniform_quant.config import FLAG_HELP as NUQL_HELP
    from learners.uniform_quant.config import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "Uniform quantization")
    define_flags(NUQL_DEFAULTS, NUQL_HELP, "Non-uniform quantization")


_define_quantization_flags()


def _define_uniform_quant_tf_flags() -> None:
    """The original's ``--uqtf_*`` flags, one per field of ``UniformQuantTFConfig``."""
    from learners.uniform_quant_tf.config import FLAG_DEFAULTS, FLAG_HELP

    define_flags(FLAG_DEFAULTS, FLAG_HELP, "Quantization-aware training for TFLite")


_define_uniform_quant_tf_flags()

# ---------------------------------------------------------------------------- export
flags.DEFINE_boolean("enbl_export", True, "Export model.tflite and model_int8.tflite after training.")
flags.DEFINE_integer("nb_calibration", 500, "Training images used to calibrate the int8 model.")
flags.DEFINE_boolean("enbl_benchmark", True, "Measure TFLite latency after export.")
flags.DEFINE_list("benchmark_threads", ["1", "2"], "Thread counts of the latency benchmark.")
flags.DEFINE_integer("nb_repts", 100, "Timed repetitions of the latency benchmark.")


def _floats(name: str, values):
    if values is None:
        return None
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise ValueError(f"Expected comma-separated numbers for --{name}. Received: {','.join(values)}") from None


def _ints(name: str, values):
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(f"Expected comma-separated integers for --{name}. Received: {','.join(values)}") from None


def _given_or(value, default):
    return default if value is None else value


class _FlagValues:
    """The parsed flags with some values overridden (an AutoML trial's candidate)."""

    def __init__(self, overrides: Mapping[str, Any]):
        self._overrides = dict(overrides)

    def __getattr__(self, name: str):
        return self._overrides[name] if name in self._overrides else FLAGS[name].value


def config_from_flags(default_net: str, overrides: Mapping[str, Any] | None = None):
    """Builds the validated ``RunConfig`` from the parsed flags (the only place flags are read).

    Args:
        default_net: the launcher's model helper.
        overrides: flag values that replace the parsed ones (``{flag name: value}``).
    """
    values = _FlagValues(overrides or {})
    from datasets.base import DataConfig
    from learners.channel_pruned.config import FLAG_DEFAULTS as CP_FLAGS
    from learners.channel_pruned.config import ChannelPruningConfig
    from learners.config import DistillationConfig, ExportConfig, RunConfig, TrainConfig
    from learners.dis_chn_pruned.config import FLAG_DEFAULTS as DCP_FLAGS
    from learners.dis_chn_pruned.config import DisChnPruningConfig
    from learners.nonuniform_quant.config import FLAG_DEFAULTS as NUQL_FLAGS
    from learners.nonuniform_quant.config import NonUniformQuantConfig
    from learners.uniform_quant.config import FLAG_DEFAULTS as UQL_FLAGS
    from learners.uniform_quant.config import UniformQuantConfig
    from learners.uniform_quant_tf.config import FLAG_DEFAULTS as UQTF_FLAGS
    from learners.uniform_quant_tf.config import UniformQuantTFConfig
    from learners.weight_sparse.config import FLAG_DEFAULTS as WS_FLAGS
    from learners.weight_sparse.config import WeightSparseConfig
    from nets.model_helper import NetConfig, create_model_helper

    net = values.net or default_net
    net_config = NetConfig(resnet_size=values.resnet_size, mobilenet_version=values.mobilenet_version,
                           mobilenet_depth_mult=values.mobilenet_depth_mult, tiny=values.tiny_net)
    helper = create_model_helper(net, net_config)
    defaults = helper.train_defaults()
    data = DataConfig(
        dataset=values.dataset or helper.default_dataset,
        data_dir=values.data_dir_local,
        batch_size=_given_or(values.batch_size, defaults.batch_size),
        batch_size_eval=_given_or(values.batch_size_eval, defaults.batch_size_eval),
        nb_smpls_val=values.nb_smpls_val, image_size=values.image_size, seed=values.seed,
        shuffle_buffer=values.buffer_size)
    train = TrainConfig.from_defaults(
        defaults, nb_epochs=values.nb_epochs, nb_epochs_rat=values.nb_epochs_rat,
        lrn_rate_init=values.lrn_rate_init, batch_size_norm=values.batch_size_norm,
        momentum=values.momentum, loss_w_dcy=values.loss_w_dcy,
        lrn_rate_schedule=values.lrn_rate_schedule,
        lrn_rate_dcy_bnds=_floats("lrn_rate_dcy_bnds", values.lrn_rate_dcy_bnds),
        lrn_rate_dcy_rates=_floats("lrn_rate_dcy_rates", values.lrn_rate_dcy_rates),
        lrn_rate_dcy_epochs=values.lrn_rate_dcy_epochs, lrn_rate_dcy_rate=values.lrn_rate_dcy_rate,
        warmup_epochs=values.warmup_epochs, summ_step=values.summ_step, save_step=values.save_step,
        nb_iters_train=values.nb_iters_train, seed=values.seed)
    return RunConfig(
        learner=values.learner, exec_mode=values.exec_mode, net=net, model_dir=values.model_dir,
        save_dir=values.save_dir, log_dir=values.log_dir or "./logs", enbl_multi_gpu=values.enbl_multi_gpu,
        debug=values.debug, data=data, net_config=net_config, train=train,
        distillation=DistillationConfig(enabled=values.enbl_dst, loss_w_dst=values.loss_w_dst,
                                        tempr_dst=values.tempr_dst),
        export=ExportConfig(enabled=values.enbl_export, nb_calibration=values.nb_calibration,
                            benchmark=values.enbl_benchmark,
                            benchmark_threads=_ints("benchmark_threads", values.benchmark_threads),
                            benchmark_repeats=values.nb_repts),
        channel_pruning=_channel_pruning_config(values, CP_FLAGS, ChannelPruningConfig),
        dis_chn_pruning=_settings(values, DCP_FLAGS, DisChnPruningConfig),
        uniform_quant=_settings(values, UQL_FLAGS, UniformQuantConfig),
        nonuniform_quant=_settings(values, NUQL_FLAGS, NonUniformQuantConfig),
        uniform_quant_tf=_settings(values, UQTF_FLAGS, UniformQuantTFConfig),
        weight_sparse=_settings(values, WS_FLAGS, WeightSparseConfig))


def _flag_settings(values: _FlagValues, names) -> dict[str, Any]:
    """``{flag: value}`` of a learner's flags; ``--hpo_backend`` without ``--hpo_space`` sets
    the backend of the learner's own per-layer search (its ``*_search_backend`` flag)."""
    settings = {name: getattr(values, name) for name in names}
    if values.hpo_backend and not values.hpo_space:
        settings.update({name: values.hpo_backend for name in names
                         if name.endswith("_search_backend")})
    return settings


def _settings(values: _FlagValues, names, config_class):
    return config_class.from_flag_values(_flag_settings(values, names))


def _channel_pruning_config(values: _FlagValues, names, config_class):
    settings = _flag_settings(values, names)
    if values.cp_quadruple and settings["cp_round_to"] == 1:
        settings["cp_round_to"] = 4
    return config_class.from_flag_values(settings)


def _log_flags() -> None:
    names = sorted({flag.name for module in ("__main__", "main")
                    for flag in FLAGS.get_flags_for_module(module)} | {"log_dir"})
    logging.info("FLAGS:\n%s", "\n".join(f"  --{name}={FLAGS[name].value}" for name in names))


# Flags a search may not set: they say what the run is and where it writes, not how it trains.
_NOT_SEARCHABLE = {"learner", "exec_mode", "net", "dataset", "model_dir", "save_dir", "log_dir",
                   "data_dir_local", "debug", "enbl_multi_gpu", "tiny_net"}


def searchable_space(path: str):
    """Reads ``--hpo_space`` and checks every dimension against the flag it sets.

    Raises:
        ValueError: for a name that is not a searchable flag, or bounds/choices the flag rejects.
    """
    from hpo.space import Categorical, Continuous, SearchSpace

    space = SearchSpace.from_file(path)
    known = {flag.name for module in ("__main__", "main") for flag in FLAGS.get_flags_for_module(module)}
    searchable = sorted(known - _NOT_SEARCHABLE
                        - {n for n in known if n.startswith(("hpo_", "ddpg_"))})
    for dim in space:
        if dim.name not in searchable:
            raise ValueError(f"Expected search dimensions named after flags ({', '.join(searchable)}). "
                             f"Received: '{dim.name}' in '{path}'")
        flag = FLAGS[dim.name]
        kind = type(flag.parser).__name__
        if isinstance(dim, Continuous) and "Float" not in kind:
            raise ValueError(f"Expected an integer or categorical dimension for --{dim.name} "
                             f"({kind}). Received: a continuous one in '{path}'")
        values = dim.choices if isinstance(dim, Categorical) else (dim.low, dim.high)
        for value in values:
            try:
                flag.parser.parse(value)
            except (ValueError, TypeError) as error:
                raise ValueError(f"Expected values --{dim.name} accepts in '{path}'. "
                                 f"Received: {value!r} ({error})") from None
    return space


# Learners whose automatic mode searches with --hpo_backend when no --hpo_space is given.
_OWN_SEARCH = ("channel", "chn-pruned-gpu", "chn-pruned-rmt", "weight-sparse", "uniform",
               "non-uniform")


def _run_automl(default_net: str) -> None:
    from hpo.automl import AutoMLConfig, run_automl

    if not FLAGS.hpo_space:
        raise ValueError("Expected --hpo_space (a JSON search space over flags) with --hpo_backend. "
                         "Received: none")
    if not FLAGS.hpo_backend:
        raise ValueError("Expected --hpo_backend (gp, tpe, ddpg or random) with --hpo_space. "
                         "Received: none")
    space = searchable_space(FLAGS.hpo_space)
    options = {}
    if FLAGS.hpo_backend == "ddpg":  # one episode per trial; the noise decays over the trials
        from rl_agents.ddpg import DdpgConfig

        options = {"config": DdpgConfig.from_flag_values(FLAGS.flag_values_dict()),
                   "nb_rlouts": FLAGS.hpo_nb_trials}
    automl = AutoMLConfig(backend=FLAGS.hpo_backend, nb_trials=FLAGS.hpo_nb_trials,
                          trial_epochs_rat=FLAGS.hpo_trial_epochs_rat, optimizer_options=options)

    def make_config(overrides):
        return config_from_flags(default_net, {name: FLAGS[name].parser.parse(value)
                                               for name, value in overrides.items()})

    make_config({})  # every other flag is checked before the first trial
    run_automl(automl, space, make_config)


def launch(default_net: str = "lenet_at_digits") -> None:
    """Parses the command line and runs; the ``nets/*_run.py`` launchers call this."""

    def _main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected positional arguments: {' '.join(argv[1:])}")
        logging.set_verbosity(logging.DEBUG if FLAGS.debug else logging.INFO)
        if not FLAGS.debug:  # TensorFlow's converter/saver chatter drowns the run's own log
            pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)
        _log_flags()
        import datasets  # noqa: F401  (registers datasets)
        import nets  # noqa: F401  (registers nets)
        from learners.runner import run  # imports TensorFlow: after flags are parsed

        try:
            if FLAGS.hpo_space or (FLAGS.hpo_backend and FLAGS.learner not in _OWN_SEARCH):
                _run_automl(default_net)
            else:
                run(config_from_flags(default_net))
        except (ValueError, FileNotFoundError) as error:
            logging.error("%s", error)
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:  # the trainer saved a checkpoint and said how to resume
            print("interrupted: rerun the same command to resume", file=sys.stderr)
            sys.exit(130)

    app.run(_main)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    launch()
