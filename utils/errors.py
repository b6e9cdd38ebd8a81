"""Errors a user's settings can cause that no built-in exception names well.

This module imports nothing heavy: ``main.py`` catches these without importing TensorFlow.
"""

import os
import sys
import traceback

from absl import logging


class TrainingDivergedError(ArithmeticError):
    """Training produced a non-finite loss or weights; nothing was checkpointed or saved."""


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is one a user's flags, files or environment can cause: its message says
    what is wrong, and no traceback is shown. TensorFlow's and the export library's errors are
    looked up only if those are already imported, so that this module stays light."""
    kinds = [ValueError, OSError, TrainingDivergedError]
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and hasattr(tensorflow, "errors"):
        kinds.append(tensorflow.errors.OpError)
    pipeline = sys.modules.get("export.pipeline")
    if pipeline is not None and hasattr(pipeline, "ExportError"):
        kinds.append(pipeline.ExportError)
    return isinstance(error, tuple(kinds))


def report_error(error: BaseException, log_dir: str) -> int:
    """Tells the user about ``error`` on stderr and returns the exit code.

    A user's error (:func:`is_user_error`) is one ``error:`` paragraph, exit code 2. Anything else
    is a bug: its traceback goes to ``<log_dir>/events.jsonl``, the user gets one line saying
    where it is and how to see it (``--debug``), exit code 1.
    """
    if is_user_error(error):
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"{message}: '{error.filename}'"
        logging.error("%s", message)
        print(f"error: {message}", file=sys.stderr)
        return 2
    trace = "".join(traceback.format_exception(error))
    log_path = os.path.join(log_dir, "events.jsonl")
    try:
        from utils.io import EventLog

        EventLog(log_path).write("unexpected_error", error=repr(error), traceback=trace)
        where = f"its traceback is in {os.path.abspath(log_path)}"
    except OSError:
        where = "its traceback could not be written to the log"
    print(f"error: unexpected {type(error).__name__}: {error} (a bug in this program, not in your "
          f"flags; {where}; rerun with --debug to see it here)", file=sys.stderr)
    return 1
