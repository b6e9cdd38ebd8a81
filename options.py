"""The command line's common flags, as data: PocketFlow's names, defaults, types and help.

``main.py`` defines them, with every registered learner's own flags, and ``--help`` prints
them by section. A default of ``None`` takes the model helper's value (per-model learning rate,
weight decay, batch size ...), as the original's per-model flags did. Importing this module is
cheap: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from learners.registry import LEARNERS, load_builtin_learners
from utils.dataclass_flags import flag_defaults, flag_help


@dataclasses.dataclass(frozen=True)
class Option:
    """One flag: ``kind`` is ``str``, ``int``, ``float``, ``bool``, ``list`` or a tuple of choices."""

    name: str
    default: Any
    kind: Any
    help: str


def _section(*rows: tuple) -> tuple[Option, ...]:
    return tuple(Option(*row) for row in rows)


SECTIONS: dict[str, tuple[Option, ...]] = {
    "run": _section(
        ("learner", "full-prec", str, "The learner (see the list above)."),
        ("exec_mode", "train", str, "train: train and export; eval: only evaluate."),
        ("net", None, str, "Model helper <model>_at_<dataset> (default: the launcher's)."),
        ("model_file", None, str, "Your own trained Keras 3 model (a .keras file, functional or "
         "Sequential): every learner starts from it instead of the net's pre-trained model; no "
         "launcher needed. Name its data with --dataset (npz, tfrecord, image_folder ...)."),
        ("custom_objects", None, str, "The Python module (dotted path, or a .py file) that "
         "defines the custom layers of --model_file."),
        ("dataset", None, str, "Dataset name (default: the net's dataset)."),
        ("model_dir", "./models", str, "Directory of the pre-trained full-precision model."),
        ("save_dir", None, str, "The learner's output directory (default ./models_<learner>)."),
        # --log_dir (default ./logs) is absl's own flag
        ("debug", False, bool, "Verbose logging, TensorFlow's own messages included."),
        ("enbl_multi_gpu", False, bool, "Train data-parallel on every visible GPU."),
        ("seed", 0, int, "Seed of initialisation and data order.")),
    "data": _section(
        ("data_dir_local", None, str, "Local data directory (not needed for digits)."),
        ("batch_size", None, int, "Training batch size per replica."),
        ("batch_size_eval", None, int, "Evaluation batch size."),
        ("nb_smpls_val", None, int, "Validation split carved from the training data."),
        ("image_size", None, int, "Network input side for image folders / ILSVRC-12 (with "
         "--model_file: the model's input size)."),
        ("input_scale", None, ("0_1", "-1_1", "0_255", "none"), "The range your model takes "
         "pixels in, for image_folder, npz and tfrecord (default -1_1; with --model_file, state "
         "it); none: npz arrays are the model's inputs as they are (any floats)."),
        ("input_mean", None, list, "Per-channel means subtracted after --input_scale."),
        ("input_std", None, list, "Per-channel standard deviations divided by after the mean."),
        ("buffer_size", 10000, int, "Shuffle buffer, in examples."),
        ("augment", True, bool, "Augment training images (random crops, and flips where the "
         "dataset flips); --noaugment trains on them as they are (digits, text: a flip changes "
         "what they show).")),
    "net": _section(
        ("resnet_size", None, int, "ResNet depth (CIFAR-10: 20/32/44/56/110; ILSVRC-12: 18/34/50)."),
        ("mobilenet_version", 1, int, "MobileNet version: 1 or 2."),
        ("mobilenet_depth_mult", 1.0, float, "MobileNet depth (width) multiplier."),
        ("tiny_net", False, bool, "Build the tiny variant of the net (smoke tests).")),
    "training": _section(
        ("nb_epochs", None, float, "Epochs of the full schedule (before nb_epochs_rat)."),
        ("nb_epochs_rat", 1.0, float, "Scales the number of epochs and the decay boundaries."),
        ("nb_iters_train", None, int, "Total training steps (overrides the epochs)."),
        ("lrn_rate_init", None, float, "Initial learning rate for a batch of batch_size_norm."),
        ("batch_size_norm", None, int, "Batch size lrn_rate_init is stated for."),
        ("momentum", None, float, "SGD momentum."),
        ("loss_w_dcy", None, float, "L2 weight decay (BatchNorm excluded)."),
        ("lrn_rate_schedule", None, ("piecewise", "cosine", "exponential"),
         "Learning-rate schedule (default: the net's)."),
        ("lrn_rate_dcy_epochs", None, float, "Exponential schedule: epochs between decays."),
        ("lrn_rate_dcy_rate", None, float, "Exponential schedule: factor of each decay."),
        ("lrn_rate_dcy_bnds", None, list, "Piecewise decay boundaries, in epochs."),
        ("lrn_rate_dcy_rates", None, list, "Piecewise multipliers (one more than boundaries)."),
        ("warmup_epochs", 0.0, float, "Linear warm-up epochs (cosine schedule)."),
        ("summ_step", 100, int, "Steps between log lines / summaries."),
        ("save_step", 10000, int, "Steps between checkpoints (and evaluations).")),
    "distillation": _section(
        ("enbl_dst", False, bool, "Add distillation from the pre-trained model."),
        ("loss_w_dst", 4.0, float, "Distillation loss weight."),
        ("tempr_dst", 4.0, float, "Distillation softmax temperature.")),
    "search": _section(
        ("hpo_backend", None, str, "Search the flags in --hpo_space with this backend (gp, tpe, "
         "ddpg, random), then re-train the best setting. Without --hpo_space, it is the backend "
         "of a learner's own per-layer search (channel keep ratios, weight-sparse ratios, bits)."),
        ("hpo_space", None, str, "JSON search space over flags: "
         '[{"name": "lrn_rate_init", "type": "continuous", "low": 0.01, "high": 0.3, "log": true}, ...]'),
        ("hpo_nb_trials", 20, int, "Trials of the search (an interrupted search resumes)."),
        ("hpo_trial_epochs_rat", 0.1, float, "Fraction of the full schedule each trial trains for.")),
    "export": _section(
        ("enbl_export", True, bool, "Export model.tflite and model_int8.tflite after training."),
        ("nb_calibration", 500, int, "Training images used to calibrate the int8 model."),
        ("enbl_benchmark", True, bool, "Measure TFLite latency after export."),
        ("benchmark_threads", ["1", "2"], list, "Thread counts of the latency benchmark."),
        ("nb_repts", 100, int, "Timed repetitions of the latency benchmark.")),
}

COMMON_FLAGS: tuple[str, ...] = tuple(o.name for rows in SECTIONS.values() for o in rows)

NOT_SEARCHABLE = frozenset({"learner", "exec_mode", "net", "dataset", "model_dir", "save_dir",
                            "log_dir", "data_dir_local", "debug", "enbl_multi_gpu", "tiny_net",
                            "model_file", "custom_objects", "input_scale", "input_mean",
                            "input_std"})
"""Flags an AutoML search may not set: they say what the run is, what the model takes and where
it writes."""


def learner_specs() -> list:
    """The registered learners, each once (aliases left out)."""
    return sorted({id(spec): spec for spec in map(LEARNERS.get, load_builtin_learners().names())
                   }.values(), key=lambda spec: spec.name)


def help_text(launcher: str, learner: str | None = None) -> str:
    """``--help``: the learners, the common flags by section, and how to see a learner's own."""
    lines = [f"usage: ./scripts/run_local.sh {launcher} [--learner NAME] [--flag value ...]",
             "       ./scripts/run_local.sh --model_file MODEL.keras --dataset NAME "
             "[--data_dir_local PATH] [--input_scale 0_1|-1_1|0_255|none] [--learner NAME] ...", "",
             "Learners (--learner):"]
    for spec in learner_specs():
        lines.append(f"  {spec.name:<16}{spec.summary}")
        lines += [f"  {alias:<16}the same" for alias in spec.aliases]
    if learner:
        spec = LEARNERS.get(learner)
        lines += ["", f"Flags of --learner {spec.name}:"]
        if spec.settings is None:
            lines.append("  none of its own")
        else:
            helps = flag_help(spec.settings, spec.flag_prefix)
            lines += [f"  --{name}={default}: {helps[name]}" for name, default
                      in flag_defaults(spec.settings, spec.flag_prefix).items()]
    for section, rows in SECTIONS.items():
        lines += ["", f"Common flags, {section}:"]
        lines += [f"  --{o.name}={o.default if o.default is not None else ''}: {o.help}" for o in rows]
    lines += ["", "A learner's own flags: --help --learner NAME. Every flag: --helpfull."]
    return "\n".join(lines)
