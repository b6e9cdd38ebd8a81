"""Shared pieces of the tfmot comparison scripts (run in benchmarks/tfmot/.venv, tf-keras).

Imports TensorFlow with ``TF_USE_LEGACY_KERAS=1`` (tfmot 0.8.x works on Keras 2 only) and checks
that ``tf.keras`` really is tf-keras. Nothing here imports the product: the evaluation images,
calibration images and reference logits come from ``export_reference.py`` (product venv) as one
``.npz``, so both sides see byte-identical inputs.
"""

from __future__ import annotations

import datetime
import json
import os
import platform

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if not tf.keras.__name__.startswith("tf_keras"):
    raise RuntimeError(
        "Expected tf.keras to be tf-keras 2.x (TF_USE_LEGACY_KERAS=1, benchmarks/tfmot/.venv). "
        f"Received: tf.keras is {tf.keras.__name__}; run benchmarks/tfmot/setup_env.sh and use "
        "benchmarks/tfmot/.venv/bin/python")

RUNS_DIR = os.path.expanduser(os.environ.get("TFMOT_RUNS", "~/pocketflow_runs/tfmot"))
REFERENCE_FILE = os.path.join(RUNS_DIR, "reference.npz")
DENSE_MODEL_FILE = os.path.join(RUNS_DIR, "resnet20_tf_keras.h5")


def load_reference(path: str = REFERENCE_FILE) -> dict[str, np.ndarray]:
    """The arrays written by ``export_reference.py``; raises naming the command when missing."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Expected the reference arrays at '{path}'. Received: no such file (run "
            "PYTHONPATH=. .venv/bin/python benchmarks/tfmot/export_reference.py first)")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def keras_logits(model: tf.keras.Model, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Inference-mode logits of a tf-keras model, batch by batch."""
    return np.concatenate([model(images[start:start + batch_size], training=False).numpy()
                           for start in range(0, len(images), batch_size)])


def tflite_logits(tflite_path: str, images: np.ndarray) -> np.ndarray:
    """Float logits of a ``.tflite`` file at batch 1, quantizing an int8 input and dequantizing an
    int8 output with the scale and zero point stored in the file."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=tflite_path, num_threads=1)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()[0]
    output_details = interpreter.get_output_details()[0]
    in_scale, in_zero = input_details["quantization"]
    out_scale, out_zero = output_details["quantization"]
    outputs = []
    for image in images:
        value = image[None]
        if input_details["dtype"] == np.int8:
            value = np.clip(np.round(value / in_scale + in_zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(input_details["index"], value)
        interpreter.invoke()
        output = interpreter.get_tensor(output_details["index"])[0]
        if output_details["dtype"] == np.int8:
            output = (output.astype(np.float32) - out_zero) * out_scale
        outputs.append(output)
    return np.stack(outputs)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels.reshape(-1)))


def write_record(name: str, record: dict) -> str:
    """Writes ``<RUNS_DIR>/<name>.json`` with the environment's versions and the time."""
    import importlib.metadata as metadata

    record = {**record, "versions": {
        package: metadata.version(package)
        for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy")},
        "machine": platform.processor() or platform.machine(),
        "finished": datetime.datetime.now().isoformat(timespec="seconds")}
    os.makedirs(RUNS_DIR, exist_ok=True)
    path = os.path.join(RUNS_DIR, f"{name}.json")
    with open(path, "w") as file:
        json.dump(record, file, indent=2)
    print(json.dumps(record, indent=2))
    return path
