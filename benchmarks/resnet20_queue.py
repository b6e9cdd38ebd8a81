"""Runs the ResNet-20 compression benchmarks one after another, resumably.

Each line of the queue file names one run of a table script (``#`` starts a comment)::

    uniform-tf 8 8        # benchmarks/resnet20_uniform_tf.sh 8 8 -> uniform_tf_8_8/
    channel lasso         # benchmarks/resnet20_channel_table.sh lasso -> channel_lasso/
    quant uniform 4       # benchmarks/resnet20_quant_table.sh uniform 4 -> quant_uniform_4/
    sparsity heurist 0.9  # benchmarks/resnet20_sparsity_table.sh heurist 0.9 -> sparse_heurist_0.9/

A probe, the same run with other flags, names its own directory after ``as``; the flags after the
name go to the script, followed by ``--save_dir`` / ``--log_dir`` for that directory (later flags
win)::

    sparsity heurist 0.9 as sparse_heurist_0.9_16ep --nb_epochs 16   # -> sparse_heurist_0.9_16ep/

A run whose directory (under ``${POCKETFLOW_RUNS}/resnet20``) holds the ``metrics.json`` of a
completed run (``utils.io.is_completed``: written after evaluation and export) is finished
and skipped; the others run in order, each resuming from its own checkpoints. Each run's output
goes to ``queue_logs/<directory>.log`` there. SIGTERM or Ctrl-C is passed on to the running job
(the trainer saves a checkpoint and stops) and the queue stops; the same command goes on where it
left off. The queue file is read again after each run, so an edit (a new order, an added run)
takes effect at the next run without a restart; a file that cannot be read or parsed again is
reported and the previous list kept. A job that fails stops the queue, naming the job and its log::

    PYTHONPATH=. .venv/bin/python -m benchmarks.resnet20_queue [--queue_file FILE] [--dry_run]
        [--records_dir DIR]

Each run's records (its search trials, plan and metrics: ``benchmarks/run_records.py``) are
copied to ``--records_dir`` (default ``benchmarks/records``, committed with the repository)
every ``--save_every`` seconds and when it ends, and copied back into a run directory that lacks
them before it starts, so a search survives the loss of the machine; ``--records_dir=''`` keeps
none.

The default queue, ``benchmarks/resnet20_queue.txt``, lists the runs of docs/benchmarks.md's
tables in the order they are wanted.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from absl import app, flags

from benchmarks.run_records import restore_records, save_records
from utils.io import is_completed

SCRIPTS_DIR = os.path.dirname(os.path.abspath(__file__))
"""Where the table scripts are: this folder, ``benchmarks/``."""
DEFAULT_QUEUE = os.path.join(SCRIPTS_DIR, "resnet20_queue.txt")
DEFAULT_RECORDS = os.path.join(SCRIPTS_DIR, "records")
_DIRECTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclasses.dataclass(frozen=True)
class JobKind:
    """A table script, how many arguments it takes, and the prefix of the run directory it
    writes (``<prefix>_<arg>_<arg>``)."""

    script: str
    nb_args: int
    directory_prefix: str


JOB_KINDS = {
    "uniform-tf": JobKind("resnet20_uniform_tf.sh", 2, "uniform_tf"),
    "channel": JobKind("resnet20_channel_table.sh", 1, "channel"),
    "quant": JobKind("resnet20_quant_table.sh", 2, "quant"),
    "sparsity": JobKind("resnet20_sparsity_table.sh", 2, "sparse"),
}


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of a table script; a probe (``name`` given) adds ``extra_flags`` and writes its
    own directory."""

    kind: str
    args: tuple[str, ...]
    name: str | None = None
    extra_flags: tuple[str, ...] = ()

    @property
    def directory(self) -> str:
        """The run directory the script writes, relative to the ResNet-20 run directory."""
        return self.name or "_".join((JOB_KINDS[self.kind].directory_prefix, *self.args))

    def command(self, scripts_dir: str) -> list[str]:
        command = ["bash", os.path.join(scripts_dir, JOB_KINDS[self.kind].script), *self.args]
        if self.name:
            command += [*self.extra_flags, "--save_dir", f"./{self.name}",
                        "--log_dir", f"./logs_{self.name}"]
        return command

    def finished(self, run_dir: str) -> bool:
        return is_completed(os.path.join(run_dir, self.directory, "metrics.json"))

    def __str__(self) -> str:
        probe = ("as", self.name, *self.extra_flags) if self.name else ()
        return " ".join((self.kind, *self.args, *probe))


def parse_queue(text: str, source: str = "queue") -> list[Job]:
    """The jobs of a queue file's text, in order.

    Raises:
        ValueError: for an unknown job kind, a wrong number of arguments, a bad probe name or
            a directory listed twice, naming the line.
    """
    jobs, seen = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name, extra_flags = None, ()
        if "as" in words:
            at = words.index("as")
            if at + 1 >= len(words) or not _DIRECTORY_NAME.fullmatch(words[at + 1]):
                raise ValueError(f"{source}:{number}: expected a directory name (letters, digits, "
                                 f"'_.+-') after 'as'. Received: {words[at + 1:at + 2]}")
            name, extra_flags = words[at + 1], tuple(words[at + 2:])
            words = words[:at]
        kind, args = words[0], tuple(words[1:])
        if kind not in JOB_KINDS:
            raise ValueError(f"{source}:{number}: expected a job kind in {sorted(JOB_KINDS)}. "
                             f"Received: {kind!r}")
        expected = JOB_KINDS[kind].nb_args
        if len(args) != expected:
            raise ValueError(f"{source}:{number}: expected {expected} argument(s) after {kind!r}. "
                             f"Received: {list(args)}")
        job = Job(kind, args, name, extra_flags)
        if job.directory in seen:
            raise ValueError(f"{source}:{number}: expected each run directory once. Received: "
                             f"{job.directory} again (line {seen[job.directory]})")
        seen[job.directory] = number
        jobs.append(job)
    return jobs


class _StopRequest:
    """SIGTERM / SIGINT: passed on to the running job, and the queue stops after it."""

    def __init__(self):
        self.requested = False
        self.child: subprocess.Popen | None = None

    def __call__(self, signum, frame):
        del frame
        self.requested = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)


def _restore(jobs: Sequence[Job], run_dir: str, records_dir: str | None,
             log: Callable[[str], None]) -> None:
    """Puts each job's recorded files that its run directory lacks back in place."""
    for job in jobs if records_dir else ():
        restored = restore_records(os.path.join(records_dir, job.directory),
                                   os.path.join(run_dir, job.directory))
        if restored:
            log(f"queue: restored {len(restored)} record(s) of {job.directory}/ from "
                f"{records_dir}: {', '.join(restored)}")


def _wait(child: subprocess.Popen, save: Callable[[], object], save_every: float) -> int:
    """The child's exit code, calling ``save`` every ``save_every`` seconds until then."""
    while True:
        try:
            return child.wait(timeout=save_every)
        except subprocess.TimeoutExpired:
            save()


def run_queue(jobs: Sequence[Job], run_dir: str, scripts_dir: str,
              log: Callable[[str], None] = print,
              reload: Callable[[], Sequence[Job]] | None = None,
              records_dir: str | None = None, save_every: float = 300.0) -> int:
    """Runs the unfinished jobs in order; returns 0 when all are finished, else the exit code of
    the job that failed or was stopped.

    ``reload``, when given, is called after each finished job for the list to go on with (the
    queue file read again); an ``OSError`` or ``ValueError`` from it is logged and the previous
    list kept. ``records_dir``, when given, keeps the runs' records (``run_records``): restored
    into run directories that lack them first, saved from the running job every
    ``save_every`` seconds and when it ends.
    """
    _restore(jobs, run_dir, records_dir, log)
    pending = [job for job in jobs if not job.finished(run_dir)]
    log(f"queue: {len(jobs) - len(pending)} of {len(jobs)} run(s) finished; "
        f"{len(pending)} to go in {run_dir}")
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    logs_dir = os.path.join(run_dir, "queue_logs")
    os.makedirs(logs_dir, exist_ok=True)
    try:
        while pending:
            job = pending[0]
            log_path = os.path.join(logs_dir, f"{job.directory}.log")
            log(f"queue: [{len(jobs) - len(pending) + 1}/{len(jobs)}] {job} -> {job.directory}/ "
                f"(log {log_path})")
            start = time.monotonic()

            def save(job=job):
                if records_dir:
                    save_records(os.path.join(run_dir, job.directory),
                                 os.path.join(records_dir, job.directory))

            with open(log_path, "a") as output:
                stop.child = subprocess.Popen(job.command(scripts_dir), stdout=output,
                                              stderr=subprocess.STDOUT)
                code = _wait(stop.child, save, save_every)
                stop.child = None
            save()
            if code < 0:  # killed by a signal: the shell's convention
                code = 128 - code
            minutes = (time.monotonic() - start) / 60
            if stop.requested:
                log(f"queue: stopped during {job} after {minutes:.1f} min; run the same command "
                    "to go on")
                return code or 143
            finished = job.finished(run_dir)
            if code != 0 or not finished:
                log(f"queue: {job} failed (exit code {code}, {'a' if finished else 'no'} "
                    f"completed metrics.json) after {minutes:.1f} min; see {log_path}")
                return code or 1
            log(f"queue: {job} finished in {minutes:.1f} min")
            if reload is not None:
                try:
                    jobs = list(reload())
                except (OSError, ValueError) as error:
                    log(f"queue: kept the previous list; reading the queue again failed: {error}")
                _restore(jobs, run_dir, records_dir, log)
            pending = [job for job in jobs if not job.finished(run_dir)]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("queue: all runs finished")
    return 0


# --------------------------------------------------------------------------------- command line
def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    flags.DEFINE_string("queue_file", DEFAULT_QUEUE, "The runs, one per line.",
                        flag_values=flag_values)
    flags.DEFINE_boolean("dry_run", False, "List the runs and whether each is finished; run none.",
                         flag_values=flag_values)
    flags.DEFINE_string("records_dir", DEFAULT_RECORDS,
                        "Where the runs' records (trials, plans, metrics) are kept and restored "
                        "from; '' keeps none.", flag_values=flag_values)
    flags.DEFINE_float("save_every", 300.0, "Seconds between two saves of the running job's "
                       "records.", lower_bound=1.0, flag_values=flag_values)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    if len(argv) > 1:
        sys.exit(f"resnet20_queue: error: unexpected arguments {list(argv[1:])}")
    path = flag_values.queue_file
    if not os.path.isfile(path):
        sys.exit(f"resnet20_queue: error: expected a queue file. Received: {path!r}, no such file")
    def read_queue() -> list[Job]:
        with open(path) as handle:
            return parse_queue(handle.read(), path)

    try:
        jobs = read_queue()
    except ValueError as error:
        sys.exit(f"resnet20_queue: error: {error}")
    runs_root = os.environ.get("POCKETFLOW_RUNS", os.path.expanduser("~/pocketflow_runs"))
    run_dir = os.path.join(runs_root, "resnet20")
    records_dir = flag_values.records_dir or None
    if flag_values.dry_run:
        for job in jobs:
            state = ("finished" if job.finished(run_dir) else
                     "recorded" if records_dir and job.finished(records_dir) else "to run  ")
            print(f"{state}  {job}  -> {os.path.join(run_dir, job.directory)}")
        return
    sys.exit(run_queue(jobs, run_dir, SCRIPTS_DIR,
                       reload=read_queue, records_dir=records_dir,
                       save_every=flag_values.save_every))


if __name__ == "__main__":
    define_flags()
    app.run(main)
