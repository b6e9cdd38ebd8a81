"""Exports what the tfmot comparison needs from the product's side, with the product's own code.

Runs in the product's ``./.venv`` (Keras 3), so the tfmot environment never has to read a Keras 3
file or re-implement the preprocessing. Writes one ``.npz`` with

* ``weights/<layer name>/<index>``: every layer's ``get_weights()`` (Keras 3 and tf-keras list a
  Conv2D's, BatchNormalization's and Dense's variables in the same order);
* ``eval_images`` / ``eval_labels``: the evaluation split (``test_batch.bin`` of
  ``benchmarks/resnet20_baseline.sh``: files 4500-4999 of each class), preprocessed by
  ``Dataset.eval_dataset`` exactly as the trainer's evaluation does;
* ``calibration_images``: ``Dataset.calibration_images(500)``, the int8 export's calibration set;
* ``reference_logits``: the Keras 3 model's logits on the evaluation images (inference mode);

and prints the Keras 3 model's accuracy on the split.

    PYTHONPATH=. .venv/bin/python benchmarks/tfmot/export_reference.py \
        --model_file benchmarks/baseline/resnet_20_at_cifar10.keras \
        --data_dir ~/pocketflow_data/cifar10 --out ~/pocketflow_runs/tfmot/reference.npz
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_file", default="benchmarks/baseline/resnet_20_at_cifar10.keras")
    parser.add_argument("--data_dir", default=os.path.expanduser("~/pocketflow_data/cifar10"))
    parser.add_argument("--out", default=os.path.expanduser("~/pocketflow_runs/tfmot/reference.npz"))
    parser.add_argument("--nb_calibration", type=int, default=500)
    args = parser.parse_args()

    import keras

    from datasets.base import DataConfig
    from datasets.registry import create_dataset

    model = keras.models.load_model(args.model_file, compile=False)
    dataset = create_dataset(DataConfig(dataset="cifar10", data_dir=args.data_dir))
    images, labels = [], []
    for batch_images, batch_labels in dataset.eval_dataset().as_numpy_iterator():
        images.append(batch_images)
        labels.append(batch_labels)
    eval_images = np.concatenate(images).astype(np.float32)
    eval_labels = np.concatenate(labels).astype(np.int32)
    logits = np.concatenate([np.asarray(model(eval_images[start:start + 100], training=False))
                             for start in range(0, len(eval_images), 100)])
    arrays = {f"weights/{layer.name}/{index}": value
              for layer in model.layers for index, value in enumerate(layer.get_weights())}
    arrays.update(eval_images=eval_images, eval_labels=eval_labels,
                  calibration_images=dataset.calibration_images(args.nb_calibration),
                  reference_logits=logits.astype(np.float32))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez(args.out, **arrays)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == eval_labels))
    print(json.dumps({"out": args.out, "model_file": args.model_file,
                      "nb_eval_images": len(eval_images),
                      "nb_calibration_images": int(len(arrays["calibration_images"])),
                      "keras3_accuracy": accuracy}))


if __name__ == "__main__":
    main()
