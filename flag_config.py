"""Flag values -> the validated ``RunConfig`` of one run: how PocketFlow's flag names map onto
the config dataclasses (the common flags of ``options.py``, the learners' prefixed flags through
their settings dataclasses). ``main.py`` and the Python API (``pocketflow.py``) build their runs
here; importing it does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from utils.dataclass_flags import flag_names


def _numbers(name: str, values, kind):
    try:
        return None if values is None else tuple(kind(v) for v in values)
    except ValueError:
        raise ValueError(f"Expected comma-separated {kind.__name__} values for --{name}. "
                         f"Received: {','.join(values)}") from None


def config_from_values(values: Mapping[str, Any], default_net: str):
    """The validated ``RunConfig`` from ``{flag name: value}`` (every flag ``main.define_flags``
    defines; ``None`` takes the model helper's default where the flag has one).

    Raises:
        ValueError: naming the flag, for a value no run can take.
    """
    from datasets.base import DataConfig
    from learners.config import DistillationConfig, ExportConfig, RunConfig, TrainConfig
    from learners.registry import get_spec
    from nets.model_helper import NetConfig, create_model_helper
    from nets.user_model import USER_MODEL

    v = dict(values)
    spec = get_spec(v["learner"])
    if v["hpo_backend"] and not v["hpo_space"]:  # the backend of the learner's own search
        v[f"{spec.flag_prefix}search_backend"] = v["hpo_backend"]
    if v["model_file"] and v["net"] not in (None, USER_MODEL):
        raise ValueError(f"Expected either --net or --model_file (your own model). Received: "
                         f"--net={v['net']} and --model_file={v['model_file']}")
    net = USER_MODEL if v["model_file"] else v["net"] or default_net
    net_config = NetConfig(resnet_size=v["resnet_size"], mobilenet_version=v["mobilenet_version"],
                           mobilenet_depth_mult=v["mobilenet_depth_mult"], tiny=v["tiny_net"],
                           model_file=v["model_file"], custom_objects=v["custom_objects"])
    helper = create_model_helper(net, net_config)
    defaults = helper.train_defaults()
    if not (v["dataset"] or helper.default_dataset):
        raise ValueError("Expected --dataset with --model_file: your model's data (npz, "
                         "tfrecord, image_folder, or a built-in one such as digits or cifar10). "
                         "Received: none")
    data = DataConfig(
        dataset=v["dataset"] or helper.default_dataset, data_dir=v["data_dir_local"],
        batch_size=defaults.batch_size if v["batch_size"] is None else v["batch_size"],
        batch_size_eval=(defaults.batch_size_eval if v["batch_size_eval"] is None
                         else v["batch_size_eval"]),
        validation_size=v["nb_smpls_val"], image_size=v["image_size"], seed=v["seed"],
        shuffle_buffer=v["buffer_size"], augment=v["augment"], input_scale=v["input_scale"],
        input_mean=_numbers("input_mean", v["input_mean"], float),
        input_std=_numbers("input_std", v["input_std"], float))
    train_flags = flag_names(TrainConfig)  # {field: PocketFlow's flag name}
    lists = ("decay_boundaries", "decay_rates")
    train = TrainConfig.from_defaults(
        defaults, **{name: v[flag] for name, flag in train_flags.items()
                     if flag in v and name not in lists},
        **{name: _numbers(train_flags[name], v[train_flags[name]], float) for name in lists})
    return RunConfig(
        learner=v["learner"], exec_mode=v["exec_mode"], net=net, model_dir=v["model_dir"],
        save_dir=v["save_dir"], log_dir=v["log_dir"] or "./logs",
        multi_gpu=v["enbl_multi_gpu"], debug=v["debug"], data=data, net_config=net_config,
        train=train, settings=spec.settings_from_flags(v),
        distillation=DistillationConfig(enabled=v["enbl_dst"], loss_weight=v["loss_w_dst"],
                                        temperature=v["tempr_dst"]),
        export=ExportConfig(enabled=v["enbl_export"], calibration_size=v["nb_calibration"],
                            benchmark=v["enbl_benchmark"], benchmark_repeats=v["nb_repts"],
                            benchmark_threads=_numbers("benchmark_threads",
                                                       v["benchmark_threads"], int)))


