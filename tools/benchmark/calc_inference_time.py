"""Command line of ``export.benchmark``: per-invoke latency of TFLite models, interleaved.

All models and thread counts are measured in one process, round-robin over ``--rounds`` rounds,
so slow drift of the machine hits them equally and their ratios can be trusted::

    python -m tools.benchmark.calc_inference_time --model_file a.tflite b.tflite --num_threads 1,4

Needs only the LiteRT interpreter (no TensorFlow), so it also runs on a device.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from absl import app, flags

from export import benchmark, format_table, interpreter_backend


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags (in ``flag_values``, so tests can use their own)."""
    flags.DEFINE_list("model_file", None, "TFLite model(s) to time, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_list("num_threads", ["1"], "Interpreter thread counts, comma-separated.",
                      flag_values=flag_values)
    flags.DEFINE_integer("nb_repts_warmup", 20, "Untimed warm-up invocations per model.",
                         lower_bound=0, flag_values=flag_values)
    flags.DEFINE_integer("nb_repts", 100, "Timed invocations per model and thread count.",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("rounds", 10, "Round-robin rounds the timed invocations are split into.",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_string("output_json", None, "Also write the results to this JSON file.",
                        flag_values=flag_values)


def _parse_thread_counts(values: Sequence[str]) -> list[int]:
    try:
        counts = [int(value) for value in values]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise ValueError("Expected `--num_threads` to be positive integers, e.g. 1,2. "
                         f"Received: {','.join(values)}")
    return counts


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Times the models named on the command line and prints the table."""
    # Extra positional arguments are more files: `--model_file a.tflite b.tflite` works too.
    model_files = list(flag_values.model_file or []) + list(argv[1:])
    try:
        if not model_files:
            raise ValueError("Expected `--model_file` with at least one .tflite file.")
        results = benchmark(model_files, _parse_thread_counts(flag_values.num_threads),
                            warmup=flag_values.nb_repts_warmup, repeats=flag_values.nb_repts,
                            rounds=flag_values.rounds)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"calc_inference_time: error: {error}")
    print(f"interpreter: {interpreter_backend()}, per-invoke latency at batch 1")
    print(format_table(results))
    if flag_values.output_json:
        with open(flag_values.output_json, "w") as file:
            json.dump([result.to_dict() for result in results], file, indent=2)
        print(f"wrote {flag_values.output_json}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
