"""TFLite export: turn a Keras 3 model into deployable ``.tflite`` files and check them.

A library the learners import; ``tools/conversion/export_tflite.py`` and
``tools/benchmark/calc_inference_time.py`` are its command lines. It imports only ``utils``,
``datasets`` and third-party packages. TensorFlow and Keras are imported only by the conversion
functions and by Keras evaluation: inference, the audit and latency need only the interpreter, as
on a device.

Modules and their public API (the names marked * are re-exported here):

* ``export.converter``: ``convert_float``*, ``convert_int8``*, ``convert_quantization_aware``*,
  ``convert_sparse``* -- TensorFlow's converter, builtin ops only, dynamic batch size.
* ``export.interpreter``: ``TFLiteModel``*, ``load``, ``interpreter_backend``*, ``ModelSource``
  -- the LiteRT interpreter, float images in and float logits out (int8 tensors quantized and
  de-quantized with their own scale and zero point; several inputs and outputs in the Keras
  model's order).
* ``export.audit``: ``audit_int8``*, ``AuditReport``*, ``OpRecord``* -- proves a model integer
  end to end, naming every op that falls back to float.
* ``export.accuracy``: ``evaluate_accuracy``*, ``max_abs_logit_diff``*,
  ``max_abs_output_diffs``* -- top-1 accuracy (of the first output) and Keras-vs-TFLite parity
  (of every output).
* ``export.latency``: ``measure_latency``*, ``measure_latencies``*, ``LatencyStats``*,
  ``benchmark``*, ``BenchmarkResult``*, ``format_table``* -- per-invoke latency at batch 1,
  several models measured round-robin.
* ``export.pipeline``: ``export_model``*, ``ExportReport``*, ``ExportError``*, ``first_images``*,
  ``load_keras_model``*, ``FLOAT_FILE``*, ``INT8_FILE``*, ``REPORT_FILE``* -- the float and int8
  files, parity, audit and accuracy in one call, with ``export.json``.
"""

from export.accuracy import evaluate_accuracy, max_abs_logit_diff, max_abs_output_diffs
from export.audit import AuditReport, OpRecord, audit_int8
from export.converter import (
    convert_float,
    convert_int8,
    convert_quantization_aware,
    convert_sparse,
)
from export.interpreter import TFLiteModel, interpreter_backend
from export.latency import (
    BenchmarkResult,
    LatencyStats,
    benchmark,
    format_table,
    measure_latencies,
    measure_latency,
)
from export.pipeline import (
    FLOAT_FILE,
    INT8_FILE,
    REPORT_FILE,
    ExportError,
    ExportReport,
    export_model,
    first_images,
    load_keras_model,
)

__all__ = [
    "FLOAT_FILE",
    "INT8_FILE",
    "REPORT_FILE",
    "AuditReport",
    "BenchmarkResult",
    "ExportError",
    "ExportReport",
    "LatencyStats",
    "OpRecord",
    "TFLiteModel",
    "audit_int8",
    "benchmark",
    "convert_float",
    "convert_int8",
    "convert_quantization_aware",
    "convert_sparse",
    "evaluate_accuracy",
    "export_model",
    "first_images",
    "format_table",
    "interpreter_backend",
    "load_keras_model",
    "max_abs_logit_diff",
    "max_abs_output_diffs",
    "measure_latencies",
    "measure_latency",
]
