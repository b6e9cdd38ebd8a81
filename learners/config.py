"""Frozen, validated settings of one run. ``main.py`` builds them from flags; nothing else reads flags."""

from __future__ import annotations

import dataclasses

from typing import Any

from datasets.base import DataConfig
from learners.registry import get_spec
from nets.model_helper import NetConfig, TrainDefaults
from utils.dataclass_flags import flag_field, flag_of

LRN_RATE_SCHEDULES = ("piecewise", "cosine", "exponential")
OPTIMIZERS = ("momentum", "adam")
EXEC_MODES = ("train", "eval")


def _check_positive(obj, *names: str, allow_zero: bool = False) -> None:
    """Raises a ``ValueError`` naming the flag of the first field of ``names`` that is negative
    (or zero, unless ``allow_zero``); ``None`` passes."""
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if value < 0 or (value == 0 and not allow_zero):
            relation = ">= 0" if allow_zero else "> 0"
            flag = flag_of(obj, name)
            raise ValueError(f"Expected {flag} {relation}. Received: {flag}={value!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (the original's base-learner flags, resolved against the helper).

    Attributes:
        epochs: epochs of the full schedule before ``epochs_ratio`` scaling.
        epochs_ratio: scales the number of epochs and the decay boundaries (the universal
            "shorter/longer training" knob).
        learning_rate: initial learning rate for a batch of ``reference_batch_size`` images; the
            actual rate is scaled linearly by the global batch size.
        reference_batch_size: batch size ``learning_rate`` is stated for.
        momentum: SGD momentum.
        optimizer: ``momentum`` (SGD with momentum, every learner's default) or ``adam`` (what
            the original's fine-tuning phases used, e.g. channel pruning's group fine-tuning).
        weight_decay: L2 weight-decay coefficient (BatchNorm parameters are not decayed).
        learning_rate_schedule: ``piecewise`` or ``exponential`` (the original's rules) or ``cosine``.
        decay_boundaries: piecewise decay boundaries, in epochs (before ``epochs_ratio``).
        decay_rates: multipliers of the initial rate, one more than the boundaries.
        decay_epochs: exponential (staircase) decay period, in epochs.
        decay_rate: exponential decay factor applied every period.
        warmup_epochs: linear warm-up of the learning rate (cosine schedule only).
        summary_step: steps between log lines and TensorBoard summaries.
        save_step: steps between checkpoints (and evaluations).
        train_steps: total steps; ``None`` derives it from the epochs.
        seed: seed of weights initialisation and data order.
    """

    epochs: float = flag_field(40, "nb_epochs")
    epochs_ratio: float = flag_field(1.0, "nb_epochs_rat")
    learning_rate: float = flag_field(0.1, "lrn_rate_init")
    reference_batch_size: int = flag_field(128, "batch_size_norm")
    momentum: float = 0.9
    optimizer: str = "momentum"
    weight_decay: float = flag_field(5e-4, "loss_w_dcy")
    learning_rate_schedule: str = flag_field("piecewise", "lrn_rate_schedule")
    decay_boundaries: tuple[float, ...] = flag_field((), "lrn_rate_dcy_bnds")
    decay_rates: tuple[float, ...] = flag_field((1.0,), "lrn_rate_dcy_rates")
    decay_epochs: float = flag_field(0.0, "lrn_rate_dcy_epochs")
    decay_rate: float = flag_field(1.0, "lrn_rate_dcy_rate")
    warmup_epochs: float = 0.0
    summary_step: int = flag_field(100, "summ_step")
    save_step: int = 10000
    train_steps: int | None = flag_field(None, "nb_iters_train")
    seed: int = 0

    def __post_init__(self):
        _check_positive(self, "epochs", "epochs_ratio", "learning_rate", "reference_batch_size",
                        "summary_step", "save_step", "train_steps")
        _check_positive(self, "momentum", "weight_decay", "warmup_epochs", allow_zero=True)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Expected `optimizer` in {OPTIMIZERS}. "
                             f"Received: optimizer={self.optimizer!r}")
        if self.learning_rate_schedule not in LRN_RATE_SCHEDULES:
            raise ValueError(f"Expected `lrn_rate_schedule` in {LRN_RATE_SCHEDULES}. "
                             f"Received: lrn_rate_schedule={self.learning_rate_schedule!r}")
        if self.learning_rate_schedule == "exponential" and not (
                self.decay_epochs > 0 and 0 < self.decay_rate <= 1):
            raise ValueError(
                "Expected `lrn_rate_dcy_epochs` > 0 and 0 < `lrn_rate_dcy_rate` <= 1 for the "
                f"exponential schedule. Received: lrn_rate_dcy_epochs={self.decay_epochs}, "
                f"lrn_rate_dcy_rate={self.decay_rate}")
        if len(self.decay_rates) != len(self.decay_boundaries) + 1:
            raise ValueError(
                "Expected one more `lrn_rate_dcy_rates` than `lrn_rate_dcy_bnds`. Received: "
                f"{len(self.decay_rates)} rates for {len(self.decay_boundaries)} boundaries")
        if list(self.decay_boundaries) != sorted(self.decay_boundaries):
            raise ValueError("Expected increasing `lrn_rate_dcy_bnds`. "
                             f"Received: {self.decay_boundaries}")

    @classmethod
    def from_defaults(cls, defaults: TrainDefaults, **overrides) -> TrainConfig:
        """The helper's defaults with the given (non-``None``) overrides applied."""
        names = ("epochs", "learning_rate", "reference_batch_size", "momentum", "weight_decay",
                 "decay_boundaries", "decay_rates", "learning_rate_schedule",
                 "decay_epochs", "decay_rate", "optimizer")
        values = {name: getattr(defaults, name) for name in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class DistillationConfig:
    """Distillation from the pre-trained model (``--enbl_dst``).

    The extra loss is ``loss_weight * CE(softmax(teacher / T), softmax(student / T))`` with
    ``T = temperature``, as in the original (no T^2 rescaling).
    """

    enabled: bool = False
    loss_weight: float = flag_field(4.0, "loss_w_dst")
    temperature: float = flag_field(4.0, "tempr_dst")

    def __post_init__(self):
        _check_positive(self, "loss_weight", allow_zero=True)
        _check_positive(self, "temperature")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What happens after training: TFLite export and latency benchmark."""

    enabled: bool = True
    calibration_size: int = flag_field(500, "nb_calibration")
    benchmark: bool = True
    benchmark_threads: tuple[int, ...] = (1, 2)
    benchmark_repeats: int = 100

    def __post_init__(self):
        _check_positive(self, "calibration_size", "benchmark_repeats")
        if not self.benchmark_threads or min(self.benchmark_threads) <= 0:
            raise ValueError("Expected `benchmark_threads` to be positive thread counts. "
                             f"Received: {self.benchmark_threads}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one run needs.

    Attributes:
        learner: registered learner name (``full-prec``, ``channel``, ...).
        exec_mode: ``train`` or ``eval``.
        net: registered model-helper name (``lenet_at_digits``, ``resnet_at_cifar10``, ...).
        model_dir: where the pre-trained full-precision model lives
            (``<model_dir>/<model>_at_<dataset>.keras``).
        save_dir: the learner's output directory (model, plan, metrics, TFLite files, checkpoints).
        log_dir: TensorBoard summaries and the JSON-lines event log.
        multi_gpu: train data-parallel on every visible GPU.
        debug: verbose logging.
        settings: the learner's own settings (its registered settings dataclass, from its
            prefixed flags: ``--cp_*`` for ``channel`` ...); ``None`` takes their defaults.
        search_trial: this run is one trial of a search: train without the validation split,
            report validation accuracy, publish and export nothing.
    """

    learner: str = "full-prec"
    exec_mode: str = "train"
    net: str = "lenet_at_digits"
    model_dir: str = "./models"
    save_dir: str | None = None
    log_dir: str = "./logs"
    multi_gpu: bool = flag_field(False, "enbl_multi_gpu")
    debug: bool = False
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    net_config: NetConfig = dataclasses.field(default_factory=NetConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    settings: Any = None
    search_trial: bool = False

    def __post_init__(self):
        if self.exec_mode not in EXEC_MODES:
            raise ValueError(f"Expected `exec_mode` in {EXEC_MODES}. Received: exec_mode={self.exec_mode!r}")
        expected = get_spec(self.learner).settings  # raises for an unknown learner
        if self.settings is None and expected is not None:
            object.__setattr__(self, "settings", expected())
        elif expected is not None and not isinstance(self.settings, expected):
            raise ValueError(f"Expected `settings` of learner '{self.learner}' to be a "
                             f"{expected.__name__}. Received: {type(self.settings).__name__}")

    @property
    def output_dir(self) -> str:
        """The learner's output directory (``save_dir``, default ``./models_<learner>``)."""
        return self.save_dir or f"./models_{self.learner}"
