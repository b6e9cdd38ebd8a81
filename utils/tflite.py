"""TFLite for Keras 3 models: conversion, inference, integer audit, accuracy and latency.

Everything a learner or a CLI needs to turn a Keras model into a deployable ``.tflite`` file and
to check it:

* ``convert_float`` / ``convert_int8``: TensorFlow's converter, builtin ops only (no Flex ops a
  phone would lack), dynamic batch size;
* ``TFLiteModel``: the LiteRT interpreter (``ai_edge_litert``; ``tf.lite.Interpreter`` where it is
  missing) with int8 inputs quantized and int8 outputs de-quantized, so callers always see float
  images in and float logits out;
* ``audit_int8``: proves a model is integer end to end, naming every op that falls back to float;
* ``max_abs_logit_diff``, ``evaluate_accuracy``: parity and top-1 accuracy;
* ``measure_latency`` / ``measure_latencies``: per-invoke latency at batch 1, several models
  measured round-robin so machine drift hits them all alike.

TensorFlow and Keras are imported only by the conversion functions and by Keras evaluation:
inference, audit and benchmarking need only the interpreter, as on a device.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:  # imported lazily: inference and benchmarks must not need TensorFlow
    import keras

#: A TFLite model given as its serialized bytes, a path to a ``.tflite`` file, or a loaded model.
ModelSource = Union[bytes, str, os.PathLike, "TFLiteModel"]

# Ops that multiply by weights: their activations, weights and outputs must all be int8
# (int32 inputs are the bias and, for TRANSPOSE_CONV, the output shape).
WEIGHTED_OPS = frozenset({
    "CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED",
    "BATCH_MATMUL",
})
_FLOAT_DTYPES = frozenset({"float16", "float32", "float64", "bfloat16"})
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


# --------------------------------------------------------------------------------- conversion
def convert_float(model: keras.Model) -> bytes:
    """Converts a Keras 3 model to a float32 TFLite model.

    Args:
        model: a built Keras 3 model (functional or sequential) whose output is the logits.

    Returns:
        The serialized ``.tflite`` model; its input takes float32 images of any batch size.

    Raises:
        ValueError: if the model has no symbolic inputs (a subclassed model never built).
    """
    return _convert(model, lambda converter: None)


def convert_int8(model: keras.Model, representative_images: np.ndarray) -> bytes:
    """Converts a Keras 3 model to a full-integer (int8) TFLite model.

    Weights and activations are int8 (biases int32); the input and output tensors are int8 too,
    with their scale and zero point stored in the file (``TFLiteModel`` applies them). The
    converter is asked for int8 builtins only, but it still keeps ops that have no int8 kernel in
    float between DEQUANTIZE / QUANTIZE pairs without an error: run ``audit_int8`` on the result.

    Args:
        model: a built Keras 3 model (functional or sequential) whose output is the logits.
        representative_images: float32 calibration images ``(n, height, width, channels)``,
            preprocessed like the training data; the activation ranges are taken from them.

    Returns:
        The serialized ``.tflite`` model.

    Raises:
        ValueError: if there are no calibration images.
    """
    images = np.asarray(representative_images, np.float32)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError("Expected at least one calibration image of shape (n, height, width, "
                         f"channels). Received: representative_images.shape={images.shape}")

    def representative_dataset():
        for index in range(len(images)):
            yield [images[index:index + 1]]

    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

    with warnings.catch_warnings():
        # Spurious: the int8 input's scale and zero point come from the calibration.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return _convert(model, configure)


def convert_quantization_aware(model: keras.Model) -> bytes:
    """Converts a model trained with fake-quant ops to a full-integer TFLite model.

    The scale and zero point of every tensor come from the fake-quant ops' ranges (the model of
    ``learners.uniform_quant_tf``), so no calibration data is needed; the input and output
    tensors are int8. Ops the converter cannot quantize stay float: run ``audit_int8``.
    """
    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

    return _convert(model, configure)


def convert_sparse(model: keras.Model) -> bytes:
    """The float32 TFLite model with its weights sparse-encoded (the converter's
    ``EXPERIMENTAL_SPARSITY``; builtin ops only). The runtime may densify them at load time."""
    def configure(converter):
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]

    return _convert(model, configure)


def _convert(model: keras.Model, configure: Callable[[Any], None]) -> bytes:
    """Exports ``model`` in inference mode to a SavedModel, then converts it with builtin ops only.

    This is the path ``TFLiteConverter.from_keras_model`` takes for Keras 3 models, made explicit:
    ``from_keras_model`` silently falls back to an older freezing path when the export fails and
    prints the whole export signature, and Keras's own ``format="litert"`` export enables Flex
    (SELECT_TF_OPS) ops, which a stock LiteRT runtime cannot run.
    """
    import keras
    import tensorflow as tf

    if not getattr(model, "inputs", None):
        raise ValueError(
            "Expected a built functional or sequential Keras model with symbolic inputs. "
            f"Received: {type(model).__name__} without `inputs` (build it on an Input first).")
    input_signature = [tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name)
                       for tensor in model.inputs]
    if len(input_signature) > 1:
        input_signature = [input_signature]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda *inputs: model(*inputs, training=False), input_signature)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, ["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        configure(converter)
        return converter.convert()


# --------------------------------------------------------------------------------- inference
def _interpreter_module():
    """The LiteRT interpreter module, or TensorFlow's deprecated copy where LiteRT is missing."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:  # pragma: no cover - exercised only without ai-edge-litert
        import tensorflow as tf

        return tf.lite.experimental, tf.lite.Interpreter
    return interpreter, interpreter.Interpreter


def interpreter_backend() -> str:
    """Name of the interpreter package in use (``ai_edge_litert`` or ``tensorflow``)."""
    return _interpreter_module()[1].__module__.split(".")[0]


class TFLiteModel:
    """A ``.tflite`` model loaded in an interpreter: float images in, float logits out.

    For an int8 model the input is quantized and the output de-quantized with the tensors' own
    scale and zero point. Models with a dynamic batch dimension are resized to the batch given;
    models with a fixed batch size are fed in chunks of that size.

    Args:
        model: serialized bytes or a path to a ``.tflite`` file.
        num_threads: interpreter threads.
        use_default_delegates: apply the runtime's default delegate (XNNPACK on CPU), as a
            deployed model would; ``False`` keeps the builtin kernels and the graph's own ops.

    Raises:
        FileNotFoundError: if a path is given and there is no such file.
        ValueError: if ``num_threads`` < 1, or the file is not a TFLite model, or it has more
            than one input or output.
    """

    def __init__(self, model: bytes | str | os.PathLike, num_threads: int = 1, *,
                 use_default_delegates: bool = True):
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"Expected `num_threads` >= 1. Received: num_threads={num_threads!r}")
        module, interpreter_class = _interpreter_module()
        resolver = (module.OpResolverType.AUTO if use_default_delegates
                    else module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        if isinstance(model, (bytes, bytearray)):
            source, self.name = {"model_content": bytes(model)}, "<bytes>"
        else:
            path = os.fspath(model)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No TFLite model at '{path}': expected a .tflite file.")
            source, self.name = {"model_path": path}, path
        try:
            self.interpreter = interpreter_class(**source, num_threads=num_threads,
                                                 experimental_op_resolver_type=resolver)
        except ValueError as error:
            raise ValueError(f"Could not load TFLite model {self.name}: {error}") from error
        self.num_threads = num_threads
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError("Expected a TFLite model with one input and one output. Received: "
                             f"{len(inputs)} inputs and {len(outputs)} outputs in {self.name}")
        self._input, self._output = inputs[0], outputs[0]
        self._allocated_batch: int | None = None

    @property
    def input_dtype(self) -> np.dtype:
        """Dtype of the input tensor (float32 or int8)."""
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        """Dtype of the output tensor."""
        return np.dtype(self._output["dtype"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the input at the model's default batch size (1 for a dynamic batch)."""
        return tuple(int(size) for size in self._input["shape"])

    @property
    def dynamic_batch(self) -> bool:
        """Whether the batch dimension of the input can be resized."""
        signature = self._input.get("shape_signature", self._input["shape"])
        return int(signature[0]) == -1

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Float logits of float ``images`` ``(n, height, width, channels)``."""
        images = np.asarray(images, np.float32)
        if images.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"Expected images of shape (n, {self.input_shape[1:]}). "
                             f"Received: {images.shape} for {self.name}")
        chunk = len(images) if self.dynamic_batch else self.input_shape[0]
        outputs = []
        for start in range(0, len(images), max(chunk, 1)):
            batch = images[start:start + chunk]
            nb_real = len(batch)
            if not self.dynamic_batch and nb_real < chunk:  # pad the last chunk of a fixed batch
                batch = np.concatenate([batch, np.zeros((chunk - nb_real, *batch.shape[1:]),
                                                        np.float32)])
            outputs.append(self._run(batch)[:nb_real])
        if not outputs:
            return np.zeros((0, *self._output["shape"][1:]), np.float32)
        return np.concatenate(outputs)

    def set_random_input(self, seed: int = 0) -> None:
        """Fills the input at the default batch size with random values of its dtype."""
        self._ensure_batch(self.input_shape[0])
        generator = np.random.default_rng(seed)
        dtype = self.input_dtype
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            values = generator.integers(info.min, info.max, self.input_shape, endpoint=True)
        else:
            values = generator.standard_normal(self.input_shape)
        self.interpreter.set_tensor(self._input["index"], values.astype(dtype))

    def invoke(self) -> None:
        """Runs the model once on the input already set (what latency measurements time)."""
        self.interpreter.invoke()

    def _ensure_batch(self, batch_size: int) -> None:
        if self._allocated_batch == batch_size:
            return
        if self.dynamic_batch:
            self.interpreter.resize_tensor_input(self._input["index"],
                                                 [batch_size, *self.input_shape[1:]])
        self.interpreter.allocate_tensors()
        self._allocated_batch = batch_size

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self._ensure_batch(len(batch))
        self.interpreter.set_tensor(self._input["index"], _quantize(batch, self._input))
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self._output["index"]), self._output)


def _quantize(values: np.ndarray, details: dict) -> np.ndarray:
    dtype = np.dtype(details["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def load(model: ModelSource, num_threads: int = 1) -> TFLiteModel:
    """Returns ``model`` if already loaded, else loads it (bytes or path) in an interpreter."""
    return model if isinstance(model, TFLiteModel) else TFLiteModel(model, num_threads)


# --------------------------------------------------------------------------------- audit
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
        input_dtype: dtype name of the model input.
        output_dtype: dtype name of the model output.
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
    float input and output is still integer inside.

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
    return AuditReport(tuple(records), loaded.input_dtype.name, loaded.output_dtype.name)


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


# --------------------------------------------------------------------------------- accuracy
def _iterate_batches(data: Any) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Yields numpy ``(images, labels)`` from a ``datasets`` Dataset (its evaluation split), a
    ``tf.data.Dataset`` or any iterable of pairs."""
    if hasattr(data, "eval_dataset"):
        data = data.eval_dataset()
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    for images, labels in data:
        yield np.asarray(images), np.asarray(labels)


def _predictor(model: ModelSource | keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A function from images to logits for a Keras model or a TFLite model source."""
    if isinstance(model, (bytes, bytearray, str, os.PathLike, TFLiteModel)):
        return load(model).predict
    return lambda images: np.asarray(model(images, training=False))


def evaluate_accuracy(model: ModelSource | keras.Model, data: Any) -> float:
    """Top-1 accuracy over one exact pass of the evaluation data.

    Args:
        model: a TFLite model (bytes, path or ``TFLiteModel``) or a Keras model.
        data: a ``datasets.Dataset`` (its ``eval_dataset()`` is used), a ``tf.data.Dataset`` or
            an iterable of ``(images, integer labels)`` batches.

    Raises:
        ValueError: if the data is empty.
    """
    predict = _predictor(model)
    nb_correct = nb_total = 0
    for images, labels in _iterate_batches(data):
        predictions = np.argmax(predict(images), axis=-1)
        nb_correct += int(np.sum(predictions == labels.reshape(-1)))
        nb_total += len(labels)
    if nb_total == 0:
        raise ValueError("Expected at least one evaluation example. Received: empty data.")
    return nb_correct / nb_total


def max_abs_logit_diff(keras_model: keras.Model, tflite_model: ModelSource,
                       images: np.ndarray) -> float:
    """Largest absolute difference between the Keras and the TFLite logits on ``images``."""
    images = np.asarray(images, np.float32)
    reference = _predictor(keras_model)(images)
    return float(np.max(np.abs(reference - load(tflite_model).predict(images))))


# --------------------------------------------------------------------------------- latency
@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Per-invoke latency of a model, in milliseconds.

    Attributes:
        median_ms: median latency.
        mean_ms: mean latency.
        p10_ms: 10th percentile.
        p90_ms: 90th percentile.
        stdev_ms: sample standard deviation (0 for a single run).
        repeats: number of timed invocations.
        threads: interpreter threads.
    """

    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    stdev_ms: float
    repeats: int
    threads: int

    @classmethod
    def from_times(cls, times_ms: Sequence[float], threads: int) -> LatencyStats:
        """Statistics of the given per-invoke times."""
        p10, p90 = np.percentile(times_ms, [10, 90])
        return cls(median_ms=float(statistics.median(times_ms)),
                   mean_ms=float(statistics.fmean(times_ms)), p10_ms=float(p10), p90_ms=float(p90),
                   stdev_ms=float(statistics.stdev(times_ms)) if len(times_ms) > 1 else 0.0,
                   repeats=len(times_ms), threads=threads)


def measure_latency(model: bytes | str | os.PathLike, num_threads: int = 1, warmup: int = 20,
                    repeats: int = 100) -> LatencyStats:
    """Latency of one invoke at the model's default batch size (1 for a dynamic batch).

    Args:
        model: serialized bytes or a path to a ``.tflite`` file.
        num_threads: interpreter threads.
        warmup: untimed invocations first.
        repeats: timed invocations.
    """
    return measure_latencies([model], [num_threads], warmup=warmup, repeats=repeats)[0][0]


def measure_latencies(models: Sequence[bytes | str | os.PathLike], thread_counts: Sequence[int],
                      *, warmup: int = 20, repeats: int = 100, rounds: int = 1
                      ) -> list[list[LatencyStats]]:
    """Latency of several models at several thread counts, measured interleaved.

    Every (model, threads) pair gets its own interpreter and random input at batch 1. After
    ``warmup`` untimed invocations of each, the timed ``repeats`` are split into ``rounds``; in
    each round every pair runs its share in turn, so slow drift of the machine (thermal
    throttling, a neighbour's load) is spread over all pairs instead of biasing the last one.

    Args:
        models: serialized bytes or paths of ``.tflite`` files.
        thread_counts: interpreter thread counts to measure each model at.
        warmup: untimed invocations of each pair before timing.
        repeats: timed invocations of each pair, in total.
        rounds: number of round-robin rounds (1 measures the pairs one after the other).

    Returns:
        ``result[i][j]``: the stats of ``models[i]`` with ``thread_counts[j]`` threads.

    Raises:
        ValueError: on empty inputs, ``warmup`` < 0, ``repeats`` < 1 or ``rounds`` not in
            ``[1, repeats]``.
    """
    if not models or not thread_counts:
        raise ValueError("Expected at least one model and one thread count. Received: "
                         f"{len(models)} models, thread_counts={list(thread_counts)}")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"Expected `warmup` >= 0 and `repeats` >= 1. Received: warmup={warmup}, "
                         f"repeats={repeats}")
    if not 1 <= rounds <= repeats:
        raise ValueError(f"Expected 1 <= `rounds` <= repeats={repeats}. Received: rounds={rounds}")
    pairs = [TFLiteModel(model, threads) for model in models for threads in thread_counts]
    for pair in pairs:
        pair.set_random_input()
        for _ in range(warmup):
            pair.invoke()
    times_ms: list[list[float]] = [[] for _ in pairs]
    for round_index in range(rounds):
        share = repeats // rounds + (round_index < repeats % rounds)
        for pair, times in zip(pairs, times_ms):
            if rounds > 1:
                pair.invoke()  # untimed: refill the caches the previous pair evicted
            for _ in range(share):
                start = time.perf_counter_ns()
                pair.invoke()
                times.append((time.perf_counter_ns() - start) / 1e6)
    stats = [LatencyStats.from_times(times, pair.num_threads)
             for pair, times in zip(pairs, times_ms)]
    width = len(thread_counts)
    return [stats[index:index + width] for index in range(0, len(stats), width)]
