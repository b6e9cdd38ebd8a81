"""A ``.tflite`` model in the LiteRT interpreter: float images in, float logits out.

``ai_edge_litert`` is used, ``tf.lite.Interpreter`` only where it is missing. Int8 inputs are
quantized and int8 outputs de-quantized with the tensors' own scale and zero point, so callers
always see floats. Needs no TensorFlow when LiteRT is installed, as on a device.

A model with several inputs or outputs takes and returns them in the Keras model's order: the
converter names them ``input_<i>`` / ``output_<i>`` in its signature (the interpreter's own
listing follows neither), and ``TFLiteModel`` reads that order back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Union

import numpy as np

#: A TFLite model given as its serialized bytes, a path to a ``.tflite`` file, or a loaded model.
ModelSource = Union[bytes, str, os.PathLike, "TFLiteModel"]
#: One input array, or one array per input of a model with several inputs.
Inputs = Union[np.ndarray, Sequence[np.ndarray]]


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
    """A ``.tflite`` model loaded in an interpreter: float inputs in, float outputs out.

    For an int8 model the inputs are quantized and the outputs de-quantized with the tensors'
    own scale and zero point. Models with a dynamic batch dimension are resized to the batch
    given; models with a fixed batch size are fed in chunks of that size. Inputs and outputs are
    in the Keras model's order (see the module docstring).

    Args:
        model: serialized bytes or a path to a ``.tflite`` file.
        num_threads: interpreter threads.
        use_default_delegates: apply the runtime's default delegate (XNNPACK on CPU), as a
            deployed model would; ``False`` keeps the builtin kernels and the graph's own ops.

    Raises:
        FileNotFoundError: if a path is given and there is no such file.
        ValueError: if ``num_threads`` < 1, or the file is not a TFLite model.
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
        signatures = list(self.interpreter._get_full_signature_list().values())
        signature = signatures[0] if len(signatures) == 1 else {}
        self._inputs = _in_keras_order(self.interpreter.get_input_details(),
                                       signature.get("inputs"), "input")
        self._outputs = _in_keras_order(self.interpreter.get_output_details(),
                                        signature.get("outputs"), "output")
        self._allocated_batch: int | None = None

    @property
    def nb_inputs(self) -> int:
        """Number of input tensors."""
        return len(self._inputs)

    @property
    def nb_outputs(self) -> int:
        """Number of output tensors."""
        return len(self._outputs)

    @property
    def input_dtype(self) -> np.dtype:
        """Dtype of the (first) input tensor (float32 or int8)."""
        return np.dtype(self._inputs[0]["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        """Dtype of the (first) output tensor."""
        return np.dtype(self._outputs[0]["dtype"])

    @property
    def input_dtypes(self) -> tuple[np.dtype, ...]:
        """Dtype of every input tensor, in order."""
        return tuple(np.dtype(detail["dtype"]) for detail in self._inputs)

    @property
    def output_dtypes(self) -> tuple[np.dtype, ...]:
        """Dtype of every output tensor, in order."""
        return tuple(np.dtype(detail["dtype"]) for detail in self._outputs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the (first) input at the default batch size (1 for a dynamic batch)."""
        return self.input_shapes[0]

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shape of every input at the model's default batch size, in order."""
        return tuple(tuple(int(size) for size in detail["shape"]) for detail in self._inputs)

    @property
    def dynamic_batch(self) -> bool:
        """Whether the batch dimension of the inputs can be resized."""
        signature = self._inputs[0].get("shape_signature", self._inputs[0]["shape"])
        return int(signature[0]) == -1

    def predict(self, inputs: Inputs) -> np.ndarray | list[np.ndarray]:
        """Float outputs of float ``inputs``, like a Keras model's call.

        Args:
            inputs: for a one-input model an array ``(n, *input_shape[1:])``; otherwise a list
                or tuple with one such array per input, in order.

        Returns:
            The output array for a one-output model, else a list with one array per output.
        """
        arrays = self._check_inputs(inputs)
        nb_examples = len(arrays[0])
        chunk = nb_examples if self.dynamic_batch else self.input_shape[0]
        outputs = []
        for start in range(0, nb_examples, max(chunk, 1)):
            batch = [array[start:start + chunk] for array in arrays]
            nb_real = len(batch[0])
            if not self.dynamic_batch and nb_real < chunk:  # pad the last chunk of a fixed batch
                batch = [np.concatenate([array, np.zeros((chunk - nb_real, *array.shape[1:]),
                                                         np.float32)]) for array in batch]
            outputs.append([output[:nb_real] for output in self._run(batch)])
        if outputs:
            results = [np.concatenate(parts) for parts in zip(*outputs)]
        else:
            results = [np.zeros((0, *detail["shape"][1:]), np.float32) for detail in self._outputs]
        return results[0] if len(results) == 1 else results

    def _check_inputs(self, inputs: Inputs) -> list[np.ndarray]:
        """``inputs`` as one float32 array per input, each checked against its shape."""
        several = isinstance(inputs, (list, tuple))
        arrays = [np.asarray(array, np.float32) for array in (inputs if several else [inputs])]
        if len(arrays) != self.nb_inputs:
            raise ValueError(f"Expected {self.nb_inputs} input array(s) for {self.name}. "
                             f"Received: {len(arrays)}")
        for array, shape in zip(arrays, self.input_shapes):
            if array.shape[1:] != shape[1:]:
                raise ValueError(f"Expected inputs of shape (n, {shape[1:]}). Received: "
                                 f"{array.shape} for {self.name}")
        if len({len(array) for array in arrays}) > 1:
            raise ValueError(f"Expected as many examples in every input. Received: "
                             f"{[len(array) for array in arrays]} for {self.name}")
        return arrays

    def set_random_input(self, seed: int = 0) -> None:
        """Fills every input at the default batch size with random values of its dtype."""
        self._ensure_batch(self.input_shape[0])
        generator = np.random.default_rng(seed)
        for detail in self._inputs:
            dtype, shape = np.dtype(detail["dtype"]), tuple(detail["shape"])
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                values = generator.integers(info.min, info.max, shape, endpoint=True)
            else:
                values = generator.standard_normal(shape)
            self.interpreter.set_tensor(detail["index"], values.astype(dtype))

    def invoke(self) -> None:
        """Runs the model once on the inputs already set (what latency measurements time)."""
        self.interpreter.invoke()

    def _ensure_batch(self, batch_size: int) -> None:
        if self._allocated_batch == batch_size:
            return
        if self.dynamic_batch:
            for detail in self._inputs:
                self.interpreter.resize_tensor_input(detail["index"],
                                                     [batch_size, *detail["shape"][1:]])
        self.interpreter.allocate_tensors()
        self._allocated_batch = batch_size

    def _run(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        self._ensure_batch(len(batch[0]))
        for array, detail in zip(batch, self._inputs):
            self.interpreter.set_tensor(detail["index"], _quantize(array, detail))
        self.interpreter.invoke()
        return [_dequantize(self.interpreter.get_tensor(detail["index"]), detail)
                for detail in self._outputs]


def _in_keras_order(details: list[dict], signature: dict[str, int] | None,
                    prefix: str) -> list[dict]:
    """``details`` ordered by the signature's ``<prefix>_<i>`` names (the converter's names, in
    the Keras model's order); as the interpreter lists them for one tensor or other names."""
    if len(details) < 2 or not signature:
        return list(details)
    positions = {}
    for name, tensor_index in signature.items():
        match = re.fullmatch(rf"{prefix}_(\d+)", name)
        if match is None:
            return list(details)
        positions[int(tensor_index)] = int(match.group(1))
    if set(positions) != {int(detail["index"]) for detail in details}:
        return list(details)
    return sorted(details, key=lambda detail: positions[int(detail["index"])])


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
