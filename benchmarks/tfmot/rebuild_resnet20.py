"""Rebuilds the recorded Keras 3 ResNet-20 in tf-keras and checks the weight transfer.

The architecture is read from the ``.keras`` archive's ``config.json`` (a zip member; no Keras 3
needed) and re-instantiated layer by layer from ``LAYER_BUILDERS``, one entry per layer type, with
the same names and connections; the weights come from ``export_reference.py``'s ``.npz`` by layer
name. The check: the tf-keras logits against the Keras 3 logits on the evaluation split (max
absolute difference, and whether any top-1 prediction changed). Saves the tf-keras model as
``.h5`` and a JSON record.

    TF_USE_LEGACY_KERAS=1 benchmarks/tfmot/.venv/bin/python benchmarks/tfmot/rebuild_resnet20.py
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zipfile

import common
import numpy as np
import tensorflow as tf

LOGIT_TOLERANCE = 1e-4  # the bound the product's float TFLite parity check uses

# Keras 3 class name -> (tf-keras class, config keys carried over). Keys that exist in both
# versions with the same meaning; anything else (initializers, dtype policies) is irrelevant to
# an inference-equivalent rebuild whose weights are all transferred.
LAYER_BUILDERS = {
    "Conv2D": (tf.keras.layers.Conv2D, ("filters", "kernel_size", "strides", "padding",
                                        "data_format", "dilation_rate", "groups", "activation",
                                        "use_bias")),
    "BatchNormalization": (tf.keras.layers.BatchNormalization,
                           ("axis", "momentum", "epsilon", "center", "scale")),
    "ReLU": (tf.keras.layers.ReLU, ("max_value", "negative_slope", "threshold")),
    "Add": (tf.keras.layers.Add, ()),
    "GlobalAveragePooling2D": (tf.keras.layers.GlobalAveragePooling2D,
                               ("data_format", "keepdims")),
    "Dense": (tf.keras.layers.Dense, ("units", "activation", "use_bias")),
}


def _inbound_names(layer_config: dict) -> list[str]:
    """Names of the layers whose outputs feed this layer (Keras 3 ``inbound_nodes``)."""
    names = []

    def visit(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                names.append(value["config"]["keras_history"][0])
            else:
                for item in value.values():
                    visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    for node in layer_config.get("inbound_nodes", []):
        visit(node.get("args", []))
    return names


def read_keras3_config(model_file: str) -> dict:
    """The functional config of a Keras 3 ``.keras`` archive."""
    try:
        with zipfile.ZipFile(model_file) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"Expected a Keras 3 .keras archive (a zip with config.json). "
                         f"Received: '{model_file}' ({error})") from error
    if config.get("class_name") != "Functional":
        raise ValueError(f"Expected a functional model in '{model_file}'. Received: "
                         f"{config.get('class_name')}")
    return config["config"]


def build_tf_keras(config: dict) -> tf.keras.Model:
    """Re-instantiates a functional Keras 3 config in tf-keras (same names, same graph)."""
    tensors = {}
    inputs = []
    for layer in config["layers"]:
        class_name, layer_config = layer["class_name"], layer["config"]
        name = layer_config["name"]
        if class_name == "InputLayer":
            shape = layer_config.get("batch_shape") or layer_config["batch_input_shape"]
            tensors[name] = tf.keras.Input(shape=tuple(shape[1:]), name=name)
            inputs.append(tensors[name])
            continue
        if class_name not in LAYER_BUILDERS:
            raise ValueError(f"Expected layers of types {sorted(LAYER_BUILDERS)} (or InputLayer). "
                             f"Received: {class_name} '{name}'")
        layer_class, keys = LAYER_BUILDERS[class_name]
        kwargs = {key: layer_config[key] for key in keys if key in layer_config}
        sources = [tensors[source] for source in _inbound_names(layer)]
        tensors[name] = layer_class(name=name, **kwargs)(sources if class_name == "Add"
                                                          else sources[0])
    output_layers = config["output_layers"]
    if output_layers and isinstance(output_layers[0], str):  # one output: [name, node, index]
        output_layers = [output_layers]
    outputs = [tensors[output[0]] for output in output_layers]
    return tf.keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs,
                          name=config["name"])


def transfer_weights(model: tf.keras.Model, reference: dict[str, np.ndarray]) -> int:
    """Sets every layer's weights from ``weights/<layer>/<index>``; returns the count set."""
    nb_set = 0
    for layer in model.layers:
        expected = len(layer.get_weights())
        values = [reference[f"weights/{layer.name}/{index}"] for index in range(expected)
                  if f"weights/{layer.name}/{index}" in reference]
        if len(values) != expected:
            raise ValueError(f"Expected {expected} arrays for layer '{layer.name}'. Received: "
                             f"{len(values)} in the reference file")
        layer.set_weights(values)
        nb_set += expected
    nb_exported = sum(key.startswith("weights/") for key in reference)
    if nb_set != nb_exported:
        raise ValueError(f"Expected every exported array to find a layer. Received: {nb_set} of "
                         f"{nb_exported} used")
    return nb_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_file", default="benchmarks/baseline/resnet_20_at_cifar10.keras")
    parser.add_argument("--reference", default=common.REFERENCE_FILE)
    parser.add_argument("--out", default=common.DENSE_MODEL_FILE)
    parser.add_argument("--nb_images", type=int, default=0, help="0: the whole evaluation split")
    args = parser.parse_args()

    reference = common.load_reference(args.reference)
    model = build_tf_keras(read_keras3_config(args.model_file))
    nb_arrays = transfer_weights(model, reference)
    nb_images = args.nb_images or len(reference["eval_images"])
    images = reference["eval_images"][:nb_images]
    labels = reference["eval_labels"][:nb_images]
    start = time.perf_counter()
    logits = common.keras_logits(model, images)
    seconds = time.perf_counter() - start
    expected = reference["reference_logits"][:nb_images]
    max_diff = float(np.max(np.abs(logits - expected)))
    nb_changed = int(np.sum(np.argmax(logits, -1) != np.argmax(expected, -1)))
    model.save(args.out)
    common.write_record("rebuild", {
        "model_file": args.model_file, "tf_keras_model": args.out, "nb_arrays": nb_arrays,
        "nb_parameters": int(model.count_params()), "nb_images": nb_images,
        "max_abs_logit_diff": max_diff, "tolerance": LOGIT_TOLERANCE,
        "nb_top1_changed": nb_changed, "keras3_accuracy": common.accuracy(expected, labels),
        "tf_keras_accuracy": common.accuracy(logits, labels), "eval_seconds": seconds,
        "passed": max_diff <= LOGIT_TOLERANCE and nb_changed == 0})
    if max_diff > LOGIT_TOLERANCE:
        raise SystemExit(f"Expected max |logit diff| <= {LOGIT_TOLERANCE}. Received: {max_diff}")


if __name__ == "__main__":
    main()
