"""A ``.tflite`` model in the LiteRT interpreter: float images in, float logits out.

``ai_edge_litert`` is used, ``tf.lite.Interpreter`` only where it is missing. Int8 inputs are
quantized and int8 outputs de-quantized with the tensors' own scale and zero point, so callers
always see floats. Needs no TensorFlow when LiteRT is installed, as on a device.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np

#: A TFLite model given as its serialized bytes, a path to a ``.tflite`` file, or a loaded model.
ModelSource = Union[bytes, str, os.PathLike, "TFLiteModel"]


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
