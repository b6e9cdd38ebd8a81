"""The record of a run's settings in its ``--save_dir``: a rerun must be the same run.

``run_config.json`` holds the settings that made the directory's checkpoints and model;
:func:`check_run_config` stops a resumed or repeated run with other settings before any work,
naming each difference, and :func:`write_run_config` records them when training starts.
"""

from __future__ import annotations

import dataclasses
import json
import os

from learners.config import RunConfig
from learners.registry import get_spec
from utils.io import strict_json, write_json_atomic

RUN_CONFIG_FILE = "run_config.json"
"""The record, in ``--save_dir``, of the settings that made the run's files
(``check_run_config``)."""

NOT_RECORDED = ("exec_mode", "debug", "log_dir", "save_dir", "model_dir", "export",
                "data.data_dir", "train.summary_step", "train.save_step")
"""Settings (``RunConfig`` field paths) free to change when a run is resumed or rerun: they say
where the files are, how often the run logs and checkpoints, and how the result is exported and
measured -- never what the trained weights are."""


def recorded_settings(config: RunConfig) -> dict:
    """The settings of ``config`` that ``run_config.json`` records, as JSON-ready nested dicts.

    The rule: a setting is recorded when changing it changes the weights a run trains (learner,
    net, data and its batching, the schedule, the seeds, the learner's own settings, ...); it is
    left out (``NOT_RECORDED``) when it only says where files go, how often the run logs and
    checkpoints, or how the result is exported and benchmarked, so those may change on a resume.
    """
    settings = json.loads(strict_json(dataclasses.asdict(config), RUN_CONFIG_FILE))
    for path in NOT_RECORDED:
        *parents, name = path.split(".")
        node = settings
        for parent in parents:
            node = node.get(parent) or {}
        node.pop(name, None)
    return settings


def _flatten(settings: dict, prefix: str = "") -> dict:
    flat = {}
    for name, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _flag_labels(config: RunConfig) -> dict[str, str]:
    """``{setting path: the name a user gives it}``: its flag where it has one
    (``train.learning_rate`` -> ``lrn_rate_init``, ``settings.rollouts`` -> ``cp_nb_rlouts``),
    else the field's name."""
    labels = {}

    def walk(node, path: str, prefix: str) -> None:
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{path}{field.name}.",
                     get_spec(config.learner).flag_prefix if field.name == "settings" else "")
            else:
                labels[path + field.name] = prefix + field.metadata.get("flag", field.name)

    walk(config, "", "")
    return labels


def _differences(recorded: dict, current: dict, labels: dict[str, str]) -> list[str]:
    """``flag: recorded -> now`` for each setting both record and differ in (once per flag: the
    data and the training seeds are both --seed); a setting the record lacks (it predates the
    setting) is not a difference."""
    recorded, current = _flatten(recorded), _flatten(current)
    names = sorted(name for name in recorded.keys() & current.keys()
                   if recorded[name] != current[name])
    lines = [f"{labels.get(name, name)}: {json.dumps(recorded[name])} -> "
             f"{json.dumps(current[name])}" for name in names]
    return list(dict.fromkeys(lines))


def check_run_config(config: RunConfig) -> None:
    """Stops a run whose ``--save_dir`` holds a run made with other settings, before any work.

    Resuming a killed run, or rerunning a finished one, is only sound with the settings that made
    the directory's checkpoints and model; any other setting (``recorded_settings`` says which
    count) is an error naming each difference. A directory without ``run_config.json`` (an older
    run, or a new one) is accepted; ``write_run_config`` records it when training starts.

    Raises:
        ValueError: listing each differing setting as ``name: recorded -> now``, or naming a
            record that cannot be read; the directory is left as it was.
    """
    path = os.path.join(config.output_dir, RUN_CONFIG_FILE)
    if not os.path.isfile(path):
        return
    try:
        with open(path) as handle:
            recorded = json.load(handle)
        if not isinstance(recorded, dict):
            raise ValueError(f"a JSON {type(recorded).__name__}, not an object")
    except (OSError, ValueError) as error:
        raise ValueError(f"Expected the record of the run in --save_dir={config.output_dir} in "
                         f"'{path}'. Received: an unreadable file ({error}). Use another "
                         "--save_dir, or delete that directory to start over.") from None
    differences = _differences(recorded, recorded_settings(config), _flag_labels(config))
    if differences:
        raise ValueError(
            f"Expected the settings of the run in --save_dir={config.output_dir} (recorded in "
            f"'{path}') to resume or rerun it. Received {len(differences)} different "
            f"setting(s): {'; '.join(differences)}. Use another --save_dir for a run with these "
            "settings, or delete that directory to start over.")


def write_run_config(config: RunConfig) -> None:
    """Records ``config``'s settings in ``<save_dir>/run_config.json`` (atomically; an unchanged
    record is not rewritten)."""
    path = os.path.join(config.output_dir, RUN_CONFIG_FILE)
    settings = recorded_settings(config)
    if os.path.isfile(path):
        try:
            with open(path) as handle:
                if json.load(handle) == settings:
                    return
        except (OSError, ValueError):
            pass
    write_json_atomic(path, settings)
