"""Integer-only audit of a ``.tflite`` model: every op that falls back to float, named.

The int8 converter keeps ops without an int8 kernel in float between DEQUANTIZE / QUANTIZE pairs
without an error; ``audit_int8`` is what proves a model integer end to end.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from export.interpreter import TFLiteModel

# Ops that multiply by weights: their activations, weights and outputs must all be int8
# (int32 inputs are the bias and, for TRANSPOSE_CONV, the output shape).
WEIGHTED_OPS = frozenset({
    "CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED",
    "BATCH_MATMUL",
})
_FLOAT_DTYPES = frozenset({"float16", "float32", "float64", "bfloat16"})
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


@dataclasses.dataclass(frozen=True)
class OpRecord:
    """One op of a TFLite graph, with the dtypes of its tensors.

    Attributes:
        index: position of the op in the execution plan.
        name: builtin op name, e.g. ``CONV_2D``.
        input_dtypes: dtype names of its inputs (absent optional inputs left out).
        output_dtypes: dtype names of its outputs.
        problem: why the op breaks integer-only execution; ``None`` when it does not.
    """

    index: int
    name: str
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    problem: str | None = None

    def describe(self) -> str:
        """One line: ``#3 CONV_2D (int8, int8, int32) -> (int8)`` plus the problem if any."""
        text = (f"#{self.index} {self.name} ({', '.join(self.input_dtypes)}) -> "
                f"({', '.join(self.output_dtypes)})")
        return f"{text}: {self.problem}" if self.problem else text


@dataclasses.dataclass(frozen=True)
class AuditReport:
    """Whether a TFLite model runs in integer arithmetic end to end.

    Attributes:
        ops: every op of the main graph in execution order.
        input_dtype: dtype name of the model input (of every input, comma-separated in order,
            where a model with several inputs mixes dtypes).
        output_dtype: dtype name of the model output (likewise).
    """

    ops: tuple[OpRecord, ...]
    input_dtype: str
    output_dtype: str

    @property
    def offending_ops(self) -> tuple[OpRecord, ...]:
        """The ops that break integer-only execution, each with its ``problem``."""
        return tuple(op for op in self.ops if op.problem)

    @property
    def passed(self) -> bool:
        """True iff no op breaks integer-only execution."""
        return not self.offending_ops

    def summary(self) -> str:
        """A multi-line, human-readable verdict listing the offending ops."""
        if self.passed:
            return f"int8 audit passed: {len(self.ops)} ops, all integer."
        lines = [(f"int8 audit FAILED: {len(self.offending_ops)} of {len(self.ops)} ops break "
                  "integer-only execution:")]
        lines += [f"  {op.describe()}" for op in self.offending_ops]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "passed": self.passed,
            "input_dtype": self.input_dtype,
            "output_dtype": self.output_dtype,
            "offending_ops": [op.describe() for op in self.offending_ops],
            "ops": [op.describe() for op in self.ops],
        }


def audit_int8(model: bytes | str | os.PathLike) -> AuditReport:
    """Checks that a TFLite model has no float fallback.

    An op breaks integer-only execution when:

    * it multiplies by weights (convolutions, fully connected, batch matmul) and its activations,
      weights or outputs are not int8 (biases and shapes are int32);
    * it computes in float (any op but QUANTIZE / DEQUANTIZE with a float input or output);
    * it is a DEQUANTIZE whose float output feeds another op rather than leaving the graph.

    QUANTIZE of the model input and DEQUANTIZE of the model output are allowed: a model with
    float input and output is still integer inside. Every op of the main graph is checked,
    whatever the number of inputs and outputs.

    Args:
        model: serialized bytes or a path to a ``.tflite`` file.

    Returns:
        The report; ``report.passed`` is the verdict.
    """
    loaded = TFLiteModel(model, use_default_delegates=False)  # keep the graph's own ops
    interpreter = loaded.interpreter
    if not hasattr(interpreter, "_get_ops_details"):  # pragma: no cover - interpreter drift
        raise RuntimeError(f"{type(interpreter).__module__}.Interpreter cannot list ops; "
                           "the audit needs `_get_ops_details()`.")
    dtypes = {tensor["index"]: np.dtype(tensor["dtype"]).name
              for tensor in interpreter.get_tensor_details()}
    ops_details = interpreter._get_ops_details()
    graph_outputs = {detail["index"] for detail in interpreter.get_output_details()}
    consumers: dict[int, list[str]] = {}
    for op in ops_details:
        for tensor in op["inputs"]:
            consumers.setdefault(int(tensor), []).append(f"{op['op_name']} #{op['index']}")

    records = []
    for op in ops_details:
        inputs = [int(tensor) for tensor in op["inputs"] if tensor >= 0]
        outputs = [int(tensor) for tensor in op["outputs"]]
        record = OpRecord(int(op["index"]), op["op_name"],
                          tuple(dtypes.get(tensor, "?") for tensor in inputs),
                          tuple(dtypes.get(tensor, "?") for tensor in outputs))
        feeds = [name for tensor in outputs if tensor not in graph_outputs
                 for name in consumers.get(tensor, [])]
        records.append(dataclasses.replace(record, problem=_integer_problem(record, feeds)))
    return AuditReport(tuple(records), _dtype_names(loaded.input_dtypes),
                       _dtype_names(loaded.output_dtypes))


def _dtype_names(dtypes: tuple[np.dtype, ...]) -> str:
    """``int8`` for one dtype or several equal ones, else ``int8, float32`` in order."""
    names = [dtype.name for dtype in dtypes]
    return names[0] if len(set(names)) == 1 else ", ".join(names)


def _integer_problem(op: OpRecord, feeds: list[str]) -> str | None:
    """Why ``op`` breaks integer-only execution, or ``None``; ``feeds``: ops using its outputs."""
    if op.name == "DEQUANTIZE":
        return f"float fallback: DEQUANTIZE feeds {', '.join(feeds)}" if feeds else None
    if op.name in WEIGHTED_OPS:
        wrong = [dtype for dtype in op.input_dtypes if dtype not in ("int8", "int32")]
        wrong += [dtype for dtype in op.output_dtypes if dtype != "int8"]
        if wrong:
            return ("expected int8 activations, weights and outputs (int32 bias); found "
                    f"{', '.join(sorted(set(wrong)))}")
        return None
    if op.name not in _BOUNDARY_OPS and _FLOAT_DTYPES & set(op.input_dtypes + op.output_dtypes):
        return "float kernel (no integer implementation was used)"
    return None
