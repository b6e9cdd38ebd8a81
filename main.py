"""Entry point: absl flags (PocketFlow's names) -> frozen config dataclasses -> ``run(config)``.

Flags exist here and in the ``nets/*_run.py`` launchers only; everything below takes configs.
A flag left at ``None`` takes the model helper's default (per-model learning rate, weight decay,
batch size ...), as the original's per-model flags did.
"""

from __future__ import annotations

import logging as pylogging
import os
import sys

from absl import app, flags, logging

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


def config_from_flags(default_net: str):
    """Builds the validated ``RunConfig`` from the parsed flags (the only place flags are read)."""
    from datasets.base import DataConfig
    from learners.config import DistillationConfig, ExportConfig, RunConfig, TrainConfig
    from nets.model_helper import NetConfig, create_model_helper

    net = FLAGS.net or default_net
    net_config = NetConfig(resnet_size=FLAGS.resnet_size, mobilenet_version=FLAGS.mobilenet_version,
                           mobilenet_depth_mult=FLAGS.mobilenet_depth_mult, tiny=FLAGS.tiny_net)
    helper = create_model_helper(net, net_config)
    defaults = helper.train_defaults()
    data = DataConfig(
        dataset=FLAGS.dataset or helper.default_dataset,
        data_dir=FLAGS.data_dir_local,
        batch_size=_given_or(FLAGS.batch_size, defaults.batch_size),
        batch_size_eval=_given_or(FLAGS.batch_size_eval, defaults.batch_size_eval),
        nb_smpls_val=FLAGS.nb_smpls_val, image_size=FLAGS.image_size, seed=FLAGS.seed,
        shuffle_buffer=FLAGS.buffer_size)
    train = TrainConfig.from_defaults(
        defaults, nb_epochs=FLAGS.nb_epochs, nb_epochs_rat=FLAGS.nb_epochs_rat,
        lrn_rate_init=FLAGS.lrn_rate_init, batch_size_norm=FLAGS.batch_size_norm,
        momentum=FLAGS.momentum, loss_w_dcy=FLAGS.loss_w_dcy,
        lrn_rate_schedule=FLAGS.lrn_rate_schedule,
        lrn_rate_dcy_bnds=_floats("lrn_rate_dcy_bnds", FLAGS.lrn_rate_dcy_bnds),
        lrn_rate_dcy_rates=_floats("lrn_rate_dcy_rates", FLAGS.lrn_rate_dcy_rates),
        lrn_rate_dcy_epochs=FLAGS.lrn_rate_dcy_epochs, lrn_rate_dcy_rate=FLAGS.lrn_rate_dcy_rate,
        warmup_epochs=FLAGS.warmup_epochs, summ_step=FLAGS.summ_step, save_step=FLAGS.save_step,
        nb_iters_train=FLAGS.nb_iters_train, seed=FLAGS.seed)
    return RunConfig(
        learner=FLAGS.learner, exec_mode=FLAGS.exec_mode, net=net, model_dir=FLAGS.model_dir,
        save_dir=FLAGS.save_dir, log_dir=FLAGS.log_dir or "./logs", enbl_multi_gpu=FLAGS.enbl_multi_gpu,
        debug=FLAGS.debug, data=data, net_config=net_config, train=train,
        distillation=DistillationConfig(enabled=FLAGS.enbl_dst, loss_w_dst=FLAGS.loss_w_dst,
                                        tempr_dst=FLAGS.tempr_dst),
        export=ExportConfig(enabled=FLAGS.enbl_export, nb_calibration=FLAGS.nb_calibration,
                            benchmark=FLAGS.enbl_benchmark,
                            benchmark_threads=_ints("benchmark_threads", FLAGS.benchmark_threads),
                            benchmark_repeats=FLAGS.nb_repts))


def _log_flags() -> None:
    names = sorted({flag.name for module in ("__main__", "main")
                    for flag in FLAGS.get_flags_for_module(module)} | {"log_dir"})
    logging.info("FLAGS:\n%s", "\n".join(f"  --{name}={FLAGS[name].value}" for name in names))


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
        import learners  # noqa: F401  (registers learners)
        import nets  # noqa: F401  (registers nets)
        from learners.runner import run  # imports TensorFlow: after flags are parsed

        try:
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
