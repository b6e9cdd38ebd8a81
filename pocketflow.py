"""The Python API: compress a Keras model from a notebook, with the command line's settings.

``compress(model, train_data, eval_data, learner="channel", **settings)`` runs what
``./scripts/run_local.sh --model_file ... --dataset npz ...`` runs -- any learner, its own
search, or an AutoML search over ``hpo_space`` -- and returns a :class:`CompressionResult`: the
compressed ``keras.Model``, its metrics (``metrics.json``) and the exported TFLite files::

    from pocketflow import compress

    result = compress(model, (x_train, y_train), (x_val, y_val), learner="channel",
                      cp_prune_option="uniform", cp_uniform_preserve_ratio=0.5)
    result.model, result.metrics["eval"]["accuracy"], result.tflite["int8"]

Settings are the command line's flags by name (``nb_epochs_rat=0.1``, ``enbl_export=False``,
``hpo_space="space.json"``), parsed and validated as the command line does; a bad one raises
a ``ValueError`` (never ``sys.exit``). The model and the data are written once under
``<save_dir>/inputs/`` (``model.keras``, ``data.npz``: the data is held in memory) and the run
reads them there, so calling ``compress`` again with the same ``save_dir`` resumes or returns
the run as a repeated command does. The arrays are the model's inputs as they are
(``--input_scale none``) unless ``input_scale`` says they are pixels (``"0_1"`` ...).

An edge module, like ``main.py``: it builds flags and calls ``main.run_from_flags``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np
from absl import flags

import main
from options import COMMON_FLAGS, learner_specs
from utils.dataclass_flags import flag_defaults

__all__ = ["CompressionResult", "compress"]

_GIVEN_AS_ARGUMENTS = {"model_file": "model", "dataset": "train_data", "data_dir_local":
                       "train_data", "net": "model", "learner": "learner", "save_dir": "save_dir"}
"""Flags ``compress`` sets from its own arguments, and the argument that says each."""

_DEFAULT_NET = "lenet_at_digits"  # never used: the user's model is always the net


@dataclasses.dataclass(frozen=True)
class CompressionResult:
    """What :func:`compress` made.

    Attributes:
        model: the compressed model (``<save_dir>/model.keras``, outputs logits), or ``None``
            where the run wrote none (``exec_mode="eval"``).
        metrics: the run's ``metrics.json`` (``eval``, ``dense_eval``, ``params``, ``macs`` ...).
        tflite: the exported TFLite files by kind (``float``, ``int8``); empty without export.
        save_dir: the run's directory (its inputs under ``inputs/``).
    """

    model: Any
    metrics: dict
    tflite: dict[str, str]
    save_dir: str

    def summary(self) -> str:
        """Accuracy, parameters and MACs against the original model, and the TFLite files."""
        metrics = self.metrics
        lines = [f"compressed model in {self.save_dir}"]
        if "eval" in metrics:
            lines.append(f"  eval accuracy {metrics['eval']['accuracy']:.4f}"
                         + (f" (original {metrics['dense_eval']['accuracy']:.4f})"
                            if metrics.get("dense_eval") else ""))
        for key in ("params", "macs"):
            if metrics.get(key) and metrics.get(f"dense_{key}"):
                lines.append(f"  {key} {metrics[key]:,} / {metrics[f'dense_{key}']:,} "
                             f"({metrics[key] / metrics[f'dense_{key}']:.3f}x)")
        lines += [f"  {kind} TFLite {path}" for kind, path in self.tflite.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        accuracy = self.metrics.get("eval", {}).get("accuracy")
        shown = "?" if accuracy is None else f"{accuracy:.4f}"
        return (f"CompressionResult(save_dir={self.save_dir!r}, eval_accuracy={shown}, "
                f"tflite={sorted(self.tflite)})")


def compress(model, train_data, eval_data, *, learner: str = "channel",
             save_dir: str | None = None, **settings) -> CompressionResult:
    """Compresses ``model`` with ``learner`` as the command line would, and returns the result.

    Args:
        model: a trained ``keras.Model`` (functional or ``Sequential``, one image input, one
            class output; a final softmax is removed), or the path of a ``.keras`` file. It is
            saved to ``<save_dir>/inputs/model.keras``; the object and the file are not changed.
        train_data: ``(x, y)`` NumPy arrays, or a finite ``tf.data.Dataset`` of ``(x, y)``
            (batched or not; read once into memory): images ``[N, height, width, channels]``
            and integer class labels ``[N]``. The validation split a search scores on is carved
            from it (``nb_smpls_val``).
        eval_data: the evaluation split, as ``train_data``: what accuracy is reported on.
        learner: the ``--learner`` (``channel``, ``weight-sparse``, ``uniform``, ``full-prec``
            ...).
        save_dir: the run's directory (default ``./models_<learner>``, as the command line's).
        **settings: the command line's flags by name (``cp_preserve_ratio=0.5``,
            ``nb_epochs_rat=0.1``, ``augment=False``, ``enbl_export=False``, ``hpo_space=...``).
            ``input_scale`` defaults to ``"none"`` (the arrays are the model's inputs); give
            ``"0_1"``, ``"-1_1"`` or ``"0_255"`` for pixels the run maps as the command line
            does. ``log_dir`` defaults to ``<save_dir>/logs``.

    Returns:
        The compressed model, its metrics and its TFLite files.

    Raises:
        ValueError: an unknown setting (naming close ones), a value its flag rejects, data
            that is not ``(x, y)``, and every error the command line reports (exit code 2).
    """
    save_dir = save_dir or f"./models_{learner}"
    values = _flag_values(settings)
    inputs = os.path.join(save_dir, "inputs")
    os.makedirs(inputs, exist_ok=True)
    model_file = _write_model(model, os.path.join(inputs, "model.keras"))
    data_file = _write_data(train_data, eval_data, os.path.join(inputs, "data.npz"))
    given = {"learner": learner, "save_dir": save_dir, "model_file": model_file,
             "dataset": "npz", "data_dir_local": data_file,
             "log_dir": os.path.join(save_dir, "logs"), "input_scale": "none"}
    for name, value in given.items():
        if settings.get(name) is None:  # input_scale=None: the default, as for a flag not given
            _set(values, name, value)
    metrics = main.run_from_flags(values, _DEFAULT_NET)
    return _result(save_dir, metrics, values.custom_objects)


def setting_names() -> list[str]:
    """The names ``compress`` takes as settings: the command line's flags (common, the DDPG
    agent's, every learner's own) and ``log_dir``, less those its arguments set."""
    from rl_agents.ddpg import DdpgConfig

    names = {*COMMON_FLAGS, "log_dir", *flag_defaults(DdpgConfig, "ddpg_")}
    for spec in learner_specs():
        if spec.settings:
            names.update(flag_defaults(spec.settings, spec.flag_prefix))
    return sorted(names - set(_GIVEN_AS_ARGUMENTS))


def _flag_values(settings: Mapping[str, Any]) -> flags.FlagValues:
    """A private copy of the command line's flags at their defaults, with ``settings`` parsed
    into it by each flag's own parser (what the command line accepts, Python values too)."""
    known = setting_names()
    for name in settings:
        if name in _GIVEN_AS_ARGUMENTS:
            raise ValueError(f"Expected `{name}` as compress()'s argument "
                             f"`{_GIVEN_AS_ARGUMENTS[name]}`, not as a setting. Received: "
                             f"{name}={settings[name]!r}")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Expected settings named after the command line's flags (see "
                             f"pocketflow.setting_names()). Received: {name}={settings[name]!r}."
                             f"{hint}")
    main.define_flags()  # a learner registered since the import adds its flags
    values = copy.deepcopy(flags.FLAGS)
    values.unparse_flags()  # the defaults: nothing a command line in this process parsed
    values.mark_as_parsed()
    for name, value in settings.items():
        _set(values, name, value)
    return values


def _set(values: flags.FlagValues, name: str, value: Any) -> None:
    flag = values[name]
    if value is None:
        flag.value = None
        return
    try:
        flag.value = flag.parser.parse(value)
    except (flags.Error, ValueError, TypeError) as error:
        raise ValueError(f"Expected a value --{name} accepts for `{name}`. Received: "
                         f"{name}={value!r} ({error})") from None


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _write_if_changed(path: str, fingerprint: str, write, what: str) -> str:
    """Writes ``path`` with ``write(temporary path)`` unless it holds what ``fingerprint`` names
    (recorded beside it): a rerun keeps the file, and its run record holds.

    Raises:
        ValueError: ``path`` holds another ``what`` and a run has started from it (its
            ``run_config.json`` is beside ``inputs/``): its checkpoints and plan are that one's.
    """
    from learners.run_record import RUN_CONFIG_FILE
    from utils.io import temporary_path, write_text_atomic

    record = path + ".sha256"
    if os.path.isfile(path) and os.path.isfile(record):
        with open(record) as handle:
            if handle.read().strip() == fingerprint:
                return path
    save_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    if os.path.isfile(path) and os.path.isfile(os.path.join(save_dir, RUN_CONFIG_FILE)):
        raise ValueError(f"Expected the {what} of the run in save_dir={save_dir} ('{path}') to "
                         f"resume or rerun it. Received: another {what} (a model built again "
                         "has new layer names). Use another save_dir for it, or delete that "
                         "directory to start over.")
    temporary = temporary_path(path, os.path.splitext(path)[1])
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    write_text_atomic(record, fingerprint + "\n")
    return path


def _write_model(model, path: str) -> str:
    """``model`` (a ``keras.Model`` or a ``.keras`` file's path) at ``path``."""
    import keras

    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        if not os.path.isfile(source):
            raise ValueError(f"Expected `model` to be a keras.Model or a .keras file. Received: "
                             f"'{source}', which does not exist")
        with open(source, "rb") as handle:
            fingerprint = _sha256(handle.read())
        return _write_if_changed(path, fingerprint, lambda to: shutil.copyfile(source, to),
                                 "model")
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected `model` to be a keras.Model or a .keras file's path. "
                         f"Received: {type(model).__name__}")
    fingerprint = _sha256(model.to_json().encode(),
                          *(np.ascontiguousarray(w).tobytes() for w in model.get_weights()))
    return _write_if_changed(path, fingerprint, model.save, "model")


def _arrays(data, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays of ``data``: a pair of arrays, or a finite ``tf.data.Dataset`` of
    ``(x, y)`` pairs (batched when its labels have a batch axis)."""
    import tensorflow as tf

    expected = (f"Expected `{what}` as (x, y) NumPy arrays or a tf.data.Dataset of (x, y) "
                "pairs. Received: ")
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"{expected}a tf.data.Dataset of {spec}")
        if data.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(f"{expected}an infinite tf.data.Dataset (drop its repeat())")
        if spec[1].shape.rank == 0:  # one example per element
            data = data.batch(1024)
        parts = list(data.as_numpy_iterator())
        if not parts:
            raise ValueError(f"{expected}an empty tf.data.Dataset")
        return (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{expected}{type(data).__name__}")
    return np.asarray(data[0]), np.asarray(data[1])


def _write_data(train_data, eval_data, path: str) -> str:
    """The data as the ``npz`` dataset's file at ``path`` (floats stored as ``float32``)."""
    arrays = {}
    for split, data, what in (("train", train_data, "train_data"),
                              ("val", eval_data, "eval_data")):
        x, y = _arrays(data, what)
        if np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    fingerprint = _sha256(*(f"{key}{value.dtype}{value.shape}".encode()
                            + np.ascontiguousarray(value).tobytes()
                            for key, value in arrays.items()))

    def write(to: str) -> None:
        with open(to, "wb") as handle:
            np.savez(handle, **arrays)

    return _write_if_changed(path, fingerprint, write, "data")


def _result(save_dir: str, metrics: dict, custom_objects: str | None) -> CompressionResult:
    import keras

    from nets.user_model import import_custom_objects

    model_path = os.path.join(save_dir, "model.keras")
    model = None
    if os.path.isfile(model_path):
        objects = import_custom_objects(custom_objects) if custom_objects else None
        model = keras.models.load_model(model_path, compile=False, custom_objects=objects)
    export = metrics.get("export") or {}
    tflite = {kind: export[f"{kind}_path"] for kind in ("float", "int8")
              if export.get(f"{kind}_path")}
    return CompressionResult(model=model, metrics=metrics, tflite=tflite, save_dir=save_dir)
