"""Which models quantization-aware training (``--learner uniform-tf``) takes to an int8 TFLite.

For each model (the CNNs of ``keras.applications`` with random weights and small inputs, and
the kinds of models users write by hand), the probe runs what the learner runs: the
quantization-aware rewrite (``quantize_model``), range calibration, a training step on random
data, ``convert_quantization_aware`` and the integer-only audit; it prints a row per model:
passed, the number of ops, the ops left in float (listed), the largest difference between the
TFLite and the Keras model beside the width of the output's range, or the error that stopped
it::

    PYTHONPATH=. .venv/bin/python -m benchmarks.qat_coverage_probe [--models A,B] [--train_steps 1]
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable

import keras
import numpy as np
from absl import app, flags

from export import audit_int8, convert_quantization_aware, interpreter
from learners.uniform_quant_tf.transform import (
    activation_quantizers,
    calibrate_ranges,
    quantize_model,
)

NB_CLASSES = 10
layers = keras.layers


def _application(name: str, size: int, classifier_activation: str | None = None,
                 **kwargs) -> Callable[[], keras.Model]:
    """A builder of ``keras.applications.{name}`` on ``size`` x ``size`` images."""
    def build():
        return getattr(keras.applications, name)(
            weights=None, classes=NB_CLASSES, input_shape=(size, size, 3),
            classifier_activation=classifier_activation, **kwargs)
    return build


def sequential_net() -> keras.Model:
    """A Sequential CNN with a softmax head: BatchNorm folded, a swish activation argument."""
    return keras.Sequential([
        keras.Input((16, 16, 3)), layers.Conv2D(8, 3, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(),
        layers.Conv2D(8, 3, activation="swish"), layers.GlobalAveragePooling2D(),
        layers.Dense(NB_CLASSES, activation="softmax")], name="sequential_net")


def nested_net() -> keras.Model:
    """A functional model calling a functional block and a Sequential head."""
    block_in = keras.Input((16, 16, 8))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(block_in)
    x = layers.BatchNormalization(name="bn")(x)
    block = keras.Model(block_in, layers.Add(name="add")([block_in, x]), name="block")
    head = keras.Sequential([layers.GlobalAveragePooling2D(), layers.Dense(NB_CLASSES)],
                            name="head")
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layers.ReLU(name="block_relu")(block(x))
    return keras.Model(inputs, head(x), name="nested_net")


def squeeze_excitation_net() -> keras.Model:
    """MobileNetV3-style: hard-swish, a squeeze-excitation Multiply with a keras.ops
    hard-sigmoid (``relu6(x + 3) * (1 / 6)``), grouped and separable convolutions."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("hard_swish")(layers.BatchNormalization()(x))
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(4, 1, activation="relu")(gate)
    gate = layers.ReLU(6.0)(layers.Conv2D(16, 1)(gate) + 3.0) * (1.0 / 6.0)
    x = layers.Multiply()([x, gate])
    x = layers.Conv2D(16, 3, padding="same", groups=4, activation="silu")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False)(x)
    x = layers.Activation("gelu")(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(NB_CLASSES)(x), name="squeeze_excitation_net")


#: name -> builder of a model with random weights.
MODELS: dict[str, Callable[[], keras.Model]] = {
    "MobileNet": _application("MobileNet", 32, alpha=0.25),
    "MobileNetV2": _application("MobileNetV2", 32, alpha=0.35),
    "MobileNetV3Small": _application("MobileNetV3Small", 32, minimalistic=False),
    "MobileNetV3Large": _application("MobileNetV3Large", 32, minimalistic=False),
    "EfficientNetB0": _application("EfficientNetB0", 32),
    "EfficientNetV2B0": _application("EfficientNetV2B0", 32),
    "DenseNet121": _application("DenseNet121", 32),
    "ResNet50": _application("ResNet50", 32),
    "ResNet50V2": _application("ResNet50V2", 32),
    "Xception": _application("Xception", 71),
    "InceptionV3": _application("InceptionV3", 75),
    "NASNetMobile": _application("NASNetMobile", 32),
    "ConvNeXtTiny": _application("ConvNeXtTiny", 32),
    "VGG16": _application("VGG16", 32, classifier_activation="softmax"),
    "sequential": sequential_net,
    "nested": nested_net,
    "squeeze_excitation": squeeze_excitation_net,
}


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One model's way to an int8 TFLite.

    Attributes:
        name: the model.
        passed: the int8 TFLite passed the integer-only audit.
        nb_ops: ops of the TFLite graph (0 when it was not converted).
        float_ops: the audit's offending ops, described.
        max_difference: largest |TFLite - Keras| output difference.
        output_range: width of the output quantizer's range (255 quantization steps).
        error: the exception that stopped the probe (its last line), else ``None``.
        seconds: wall time.
    """

    name: str
    passed: bool
    nb_ops: int = 0
    float_ops: tuple[str, ...] = ()
    max_difference: float | None = None
    output_range: float | None = None
    error: str | None = None
    seconds: float = 0.0

    def row(self) -> str:
        """A Markdown table row."""
        verdict = "pass" if self.passed else "FAIL"
        steps = "" if self.max_difference is None else (
            f"{self.max_difference:.3g} / {self.output_range:.3g}")
        detail = self.error or "; ".join(self.float_ops)
        return (f"| {self.name} | {verdict} | {self.nb_ops} | {len(self.float_ops)} | {steps} "
                f"| {self.seconds:.0f} | {detail} |")


def _train(model: keras.Model, images: np.ndarray, steps: int) -> None:
    """``steps`` optimizer steps toward random targets (checks that the model trains)."""
    targets = np.random.default_rng(1).normal(size=(len(images), *model.output_shape[1:]))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    model.fit(images, targets.astype(np.float32), batch_size=len(images), epochs=steps,
              verbose=0)


def probe(model: keras.Model, nb_images: int = 8, train_steps: int = 1) -> ProbeResult:
    """Quantize, calibrate, train ``train_steps`` steps, convert and audit ``model``."""
    start = time.perf_counter()
    images = np.random.default_rng(0).uniform(
        -1.0, 1.0, size=(nb_images, *model.input_shape[1:])).astype(np.float32)
    try:
        quantized = quantize_model(model)
        calibrate_ranges(quantized, [images])
        if train_steps:
            _train(quantized, images, train_steps)
        int8 = convert_quantization_aware(quantized)
        audit = audit_int8(int8)
        output = activation_quantizers(quantized)[-1]
        output_range = float(output.range_max.numpy() - output.range_min.numpy())
        difference = np.abs(interpreter.load(int8).predict(images)
                            - np.asarray(quantized(images, training=False))).max()
    except Exception as error:  # noqa: BLE001 - a probe reports every failure as a row
        last = traceback.format_exception_only(error)[-1].strip().replace("\n", " ")
        return ProbeResult(model.name, False, error=last[:500],
                           seconds=time.perf_counter() - start)
    return ProbeResult(model.name, audit.passed, len(audit.ops),
                       tuple(op.describe() for op in audit.offending_ops),
                       float(difference), output_range, seconds=time.perf_counter() - start)


FLAGS = flags.FLAGS


def _define_flags() -> None:
    """The command line's flags (defined when run, so that importing MODELS defines none)."""
    flags.DEFINE_list("models", list(MODELS), "Models to probe (names of MODELS).")
    flags.DEFINE_integer("train_steps", 1, "Training steps on random data before conversion.")


def main(argv) -> None:
    del argv
    unknown = sorted(set(FLAGS.models) - set(MODELS))
    if unknown:
        raise app.UsageError(f"Expected models among {sorted(MODELS)}. Received: {unknown}")
    print("| model | int8 audit | ops | float ops | max diff / output range | seconds | "
          "float ops / error |")
    print("|---|---|---|---|---|---|---|")
    for name in FLAGS.models:
        keras.utils.set_random_seed(0)
        result = probe(MODELS[name](), train_steps=FLAGS.train_steps)
        print(dataclasses.replace(result, name=name).row(), flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    _define_flags()
    app.run(main)
