"""Entry point: absl flags (PocketFlow's names) -> frozen config dataclasses -> ``run(config)``.

The common flags are the table in ``options.py``; every registered learner adds the flags of
its settings dataclass (``--cp_*``, ``--ws_*`` ...). Below this module nothing reads ``FLAGS``.
Importing it does not import TensorFlow, so ``--help`` is immediate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from absl import app, flags, logging

from learners.registry import LEARNERS
from options import SECTIONS, help_text, learner_specs
from utils.dataclass_flags import define_flags as define_settings_flags
from utils.dataclass_flags import flag_defaults, flag_help
from utils.errors import is_user_error, report_error

FLAGS = flags.FLAGS
_ROOT = os.path.dirname(os.path.abspath(__file__))
_DEFINE = {str: flags.DEFINE_string, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           bool: flags.DEFINE_boolean, list: flags.DEFINE_list}


def define_flags() -> None:
    """Defines the common flags and those of every registered learner (again: only new ones)."""
    for option in (o for rows in SECTIONS.values() for o in rows if o.name not in FLAGS):
        if isinstance(option.kind, tuple):
            flags.DEFINE_enum(option.name, option.default, option.kind, option.help)
        else:
            _DEFINE[option.kind](option.name, option.default, option.help)
    from rl_agents.ddpg import DdpgConfig

    settings = [(DdpgConfig, "ddpg_", "DDPG agent")] + [
        (spec.settings, spec.flag_prefix, spec.name) for spec in learner_specs() if spec.settings]
    for cls, prefix, what in settings:
        new = {k: v for k, v in flag_defaults(cls, prefix).items() if k not in FLAGS}
        define_settings_flags(new, flag_help(cls, prefix), what)


def config_from_flags(default_net: str, overrides: Mapping[str, Any] | None = None,
                      flag_values: flags.FlagValues | None = None):
    """Builds the validated ``RunConfig`` from the parsed flags (the only place flags are read);
    ``overrides`` (``{flag name: value}``) replace parsed values (an AutoML trial's candidate).
    ``flag_values`` defaults to the command line's ``FLAGS`` (the Python API passes its own)."""
    from flag_config import config_from_values

    values = {**(flag_values or FLAGS).flag_values_dict(), **(overrides or {})}
    return config_from_values(values, default_net)


def run_from_flags(flag_values: flags.FlagValues, default_net: str) -> dict:
    """One run as parsed ``flag_values`` say: an AutoML search over ``--hpo_space`` (or over a
    learner without a search of its own, with ``--hpo_backend``), else ``learners.runner.run``.

    Returns:
        The run's metrics (``metrics.json``).

    Raises:
        ValueError: a bad setting, before any work, and the errors of the run.
    """
    def make_config(overrides):
        return config_from_flags(default_net, overrides, flag_values)

    if flag_values.hpo_space or (flag_values.hpo_backend
                                 and not LEARNERS.get(flag_values.learner).own_search):
        from automl import run_automl_from_flags

        learner_flags = [name for spec in learner_specs() if spec.settings
                         for name in flag_defaults(spec.settings, spec.flag_prefix)]
        return run_automl_from_flags(flag_values, make_config, learner_flags)
    from learners.runner import run  # imports TensorFlow: after the flags are parsed

    return run(make_config({}))


def launch(default_net: str = "lenet_at_digits") -> None:
    """Parses the command line and runs; the ``nets/*_run.py`` launchers call this."""
    define_flags()
    argv = sys.argv[1:]
    if {"--help", "-h", "-?"} & set(argv):
        learner = next((a.split("=", 1)[1] for a in argv if a.startswith("--learner=")), None)
        if "--learner" in argv[:-1]:
            learner = argv[argv.index("--learner") + 1]
        try:
            print(help_text(os.path.relpath(os.path.abspath(sys.argv[0]), _ROOT), learner))
        except ValueError as error:
            sys.exit(f"error: {error}")
        sys.exit(0)
    if "--debug" not in argv and "--debug=true" not in argv:
        from utils.console import quiet_tensorflow

        quiet_tensorflow()  # before TensorFlow is imported
    app.run(lambda argv: _main(argv, default_net))


def _main(argv, default_net: str) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.DEBUG if FLAGS.debug else logging.INFO)
    given = sorted(name for name in FLAGS if FLAGS[name].present and not name.startswith("help"))
    logging.info("flags given: %s", " ".join(f"--{n}={FLAGS[n].value}" for n in given) or "none")
    try:
        run_from_flags(FLAGS, default_net)
    except KeyboardInterrupt:  # the trainer saved a checkpoint and said how to resume
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 -- the one error boundary of the command line
        if FLAGS.debug and not is_user_error(error):
            raise
        sys.exit(report_error(error, FLAGS.log_dir or "./logs"))


define_flags()

if __name__ == "__main__":
    sys.path.insert(0, _ROOT)
    launch()
