"""What a run prints: the project's own lines, without TensorFlow's start-up and INFO chatter.

TensorFlow's C++ runtime writes INFO / WARNING lines straight to file descriptor 2, some before
its logging is initialised (so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them), and its Python side
logs through the ``tensorflow`` logger. :func:`quiet_tensorflow` hides both for the rest of the
process; errors (C++ ``E``/``F`` lines, Python tracebacks) and everything else pass unchanged.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

from absl import logging as absl_logging

# C++ log lines name a .cc/.h source (the project's own absl lines name a .py one)
_NATIVE_LOG_LINE = re.compile(rb"^[IW]\d{4} [\d:.]+ +\d+ [^\]]+\.(cc|h):\d+\] ")
_NATIVE_ERROR_LINE = re.compile(rb"^E\d{4} [\d:.]+ +\d+ [^\]]+\.(cc|h):\d+\] "
                                rb"failed call to cuInit")  # every machine without a GPU
_NOISE_PREFIXES = (b"WARNING: All log messages before absl::InitializeLog() is called",
                   b"To enable the following instructions:",
                   b"INFO: Created TensorFlow Lite",  # the TFLite interpreter
                   b"fully_quantize: ")  # the TFLite converter
_HELD_STARTS = b"IEWTf"  # a partial line starting so may turn out to be noise: wait for its end


def is_native_noise(line: bytes) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ INFO / WARNING lines (or their preamble)."""
    return (bool(_NATIVE_LOG_LINE.match(line) or _NATIVE_ERROR_LINE.match(line))
            or line.startswith(_NOISE_PREFIXES))


def filter_lines(pending: bytes, chunk: bytes) -> tuple[bytes, bytes]:
    """Splits ``pending + chunk`` into what to print now and what to hold (a partial line that
    may still be noise). Lines without their end are printed at once otherwise, so progress bars
    that redraw with ``\\r`` keep moving."""
    data = pending + chunk
    lines = data.split(b"\n")
    tail = lines.pop()
    shown = b"".join(line + b"\n" for line in lines if not is_native_noise(line))
    if tail and tail[:1] not in _HELD_STARTS:
        return shown + tail, b""
    return shown, tail


def _drop_tensorflow_records(record: logging.LogRecord) -> bool:
    """Keeps a log record unless TensorFlow's own code logged it below ERROR."""
    return record.levelno >= logging.ERROR or f"{os.sep}tensorflow{os.sep}" not in record.pathname


_state: dict = {}


def quiet_tensorflow() -> None:
    """Hides TensorFlow's INFO / WARNING output for the rest of the process (idempotent).

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the environment sets it, drops the INFO / WARNING
    records TensorFlow's Python code logs (through its own logger or absl's), ignores Python
    warnings raised inside TensorFlow, and routes file
    descriptor 2 through a filter thread that drops the C++ runtime's INFO / WARNING lines.
    Call it before TensorFlow is imported.
    """
    if _state:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    absl_logging.get_absl_handler().addFilter(_drop_tensorflow_records)  # TF logs through absl too
    warnings.filterwarnings("ignore", module=r"tensorflow(\.|$)")
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            shown, pending = filter_lines(pending, chunk)
            if shown:
                os.write(original, shown)
        if pending and not is_native_noise(pending):
            os.write(original, pending)
        os.close(read_end)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    _state.update(original=original, thread=thread)
    atexit.register(_restore)


def _restore() -> None:
    """Puts file descriptor 2 back and lets the filter print what it still holds."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(_state["original"], 2)  # closes the pipe's last write end: the filter sees its end
    _state["thread"].join(timeout=2)
