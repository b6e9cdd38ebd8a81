"""tfmot on the recorded ResNet-20 / CIFAR-10 baseline, one row of docs/peers.md per subcommand.

    benchmarks/tfmot/.venv/bin/python benchmarks/tfmot/run_tfmot.py ptq
    benchmarks/tfmot/.venv/bin/python benchmarks/tfmot/run_tfmot.py qat
    benchmarks/tfmot/.venv/bin/python benchmarks/tfmot/run_tfmot.py prune --sparsity 0.9
    benchmarks/tfmot/.venv/bin/python benchmarks/tfmot/run_tfmot.py cluster --nb_clusters 16

Every subcommand starts from the tf-keras model of ``rebuild_resnet20.py`` and scores on the
evaluation split exported by ``export_reference.py`` (the same 5,000 preprocessed images as our
rows). The fine-tuning budgets are our rows' (``BUDGETS``), read from the table scripts under
``benchmarks/``. Training is resumable: a checkpoint per epoch in ``<runs>/<row>/``; run the same
command again to go on. Each row writes ``<runs>/<row>.json``. ``--max_steps N`` stops after N
steps (a smoke run) and records the step time and the projected duration of the full budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import glob
import json
import math
import os
import time

import common
import numpy as np
import tensorflow as tf

CIFAR_MEAN = (125.3, 123.0, 113.9)  # datasets/cifar10.py
CIFAR_STD = (63.0, 62.1, 66.7)
NB_TRAIN_IMAGES = 45_000  # files 0-4499 of each class (benchmarks/resnet20_baseline.sh)
STEPS_PER_EPOCH = 352  # the table scripts' --save_step: one checkpoint per epoch


@dataclasses.dataclass(frozen=True)
class Budget:
    """A fine-tuning budget, as our table scripts state it."""

    nb_epochs: int
    optimizer: str  # "adam" or "sgd" (momentum 0.9)
    learning_rate: float
    schedule: str  # "cosine" or "piecewise" (/10 at 50 % and 80 %)
    weight_decay: float
    batch_size: int = 128
    source: str = ""

    def __post_init__(self):
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"Expected optimizer 'adam' or 'sgd'. Received: {self.optimizer!r}")
        if self.schedule not in ("cosine", "piecewise"):
            raise ValueError(f"Expected schedule 'cosine' or 'piecewise'. Received: "
                             f"{self.schedule!r}")
        if self.nb_epochs <= 0 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError(f"Expected nb_epochs > 0, learning_rate > 0, weight_decay >= 0. "
                             f"Received: {self}")

    @property
    def total_steps(self) -> int:
        return math.ceil(self.nb_epochs * NB_TRAIN_IMAGES / self.batch_size)


BUDGETS = {
    # benchmarks/resnet20_uniform_tf.sh: 3 epochs (1,055 steps), Adam 1e-4, cosine.
    "qat": Budget(3, "adam", 1e-4, "cosine", 0.0, source="benchmarks/resnet20_uniform_tf.sh 8 8"),
    # benchmarks/resnet20_sparsity_table.sh: 16 epochs SGD, cosine from 0.05, weight decay 5e-4
    # (ours adds distillation from the dense model, which tfmot has no recipe for).
    "prune": Budget(16, "sgd", 0.05, "cosine", 5e-4,
                    source="benchmarks/resnet20_sparsity_table.sh uniform <ratio>"),
    # benchmarks/resnet20_quant_table.sh: 8 epochs Adam 1e-3, /10 at 50 % and 80 %, wd 5e-4.
    "cluster": Budget(8, "adam", 1e-3, "piecewise", 5e-4,
                      source="benchmarks/resnet20_quant_table.sh non-uniform 4"),
}


def read_train_images(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """The training split: ``data_batch_{1..5}.bin`` (CIFAR-10 binary records) as uint8 NHWC."""
    paths = sorted(glob.glob(os.path.join(data_dir, "data_batch_*.bin")))
    if not paths:
        raise FileNotFoundError(f"Expected CIFAR-10 data_batch_*.bin in '{data_dir}'. Received: "
                                "none (run benchmarks/resnet20_baseline.sh)")
    records = np.concatenate([np.fromfile(path, np.uint8).reshape(-1, 3073) for path in paths])
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int32)


def train_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int,
                  seed: int) -> tf.data.Dataset:
    """Shuffled batches with our training preprocessing: normalise, zero-pad 4 (the mean colour),
    random 32x32 crop, random horizontal flip (datasets/cifar10.py)."""
    mean, std = tf.constant(CIFAR_MEAN), tf.constant(CIFAR_STD)

    def augment(image, label):
        image = (tf.cast(image, tf.float32) - mean) / std
        image = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        image = tf.image.random_crop(image, [32, 32, 3])
        return tf.image.random_flip_left_right(image), label

    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def make_optimizer(budget: Budget) -> tf.keras.optimizers.Optimizer:
    if budget.schedule == "cosine":
        rate = tf.keras.optimizers.schedules.CosineDecay(budget.learning_rate, budget.total_steps)
    else:
        steps = [int(budget.total_steps * 0.5), int(budget.total_steps * 0.8)]
        rate = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
            steps, [budget.learning_rate, budget.learning_rate / 10, budget.learning_rate / 100])
    if budget.optimizer == "sgd":
        return tf.keras.optimizers.SGD(rate, momentum=0.9)
    return tf.keras.optimizers.Adam(rate)


def weight_decay_loss(model: tf.keras.Model, weight_decay: float):
    """L2 on conv / dense kernels (BatchNorm excluded, like ours), added to the model's losses."""
    kernels = [weight for weight in model.trainable_weights
               if "kernel" in weight.name and "gamma" not in weight.name]

    def loss():
        return weight_decay * tf.add_n([tf.nn.l2_loss(kernel) for kernel in kernels])

    return loss


def fine_tune(model: tf.keras.Model, budget: Budget, run_dir: str, data_dir: str, seed: int,
              max_steps: int, callbacks: list) -> dict:
    """Fine-tunes resumably: a tf.train checkpoint (model and optimizer) after every epoch."""
    if budget.weight_decay:
        model.add_loss(weight_decay_loss(model, budget.weight_decay))
    model.compile(optimizer=make_optimizer(budget),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, "checkpoints"), 2)
    done_steps = 0
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        done_steps = int(model.optimizer.iterations.numpy())
        print(f"resumed from {manager.latest_checkpoint} at step {done_steps}")
    images, labels = read_train_images(data_dir)
    step_times = []
    target = budget.total_steps if max_steps <= 0 else min(budget.total_steps, max_steps)
    while done_steps < target:
        epoch = done_steps // STEPS_PER_EPOCH
        steps = min(STEPS_PER_EPOCH - done_steps % STEPS_PER_EPOCH, target - done_steps)
        dataset = train_dataset(images, labels, budget.batch_size, seed + epoch)
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=2)
        step_times.append((time.perf_counter() - start) / steps)
        done_steps += steps
        manager.save(checkpoint_number=done_steps)
    seconds_per_step = float(np.median(step_times)) if step_times else None
    return {"steps_done": done_steps, "total_steps": budget.total_steps,
            "finished": done_steps >= budget.total_steps, "seconds_per_step": seconds_per_step,
            "projected_hours": (seconds_per_step * budget.total_steps / 3600
                                if seconds_per_step else None),
            "budget": dataclasses.asdict(budget)}


def convert(model: tf.keras.Model, mode: str, calibration: np.ndarray | None = None) -> bytes:
    """TFLite conversion: ``float``, ``int8`` (post-training, full integer, as our
    ``export/converter.py::convert_int8``), ``qat`` (ranges from the fake-quant ops, int8 input
    and output, as ``convert_quantization_aware``), ``sparse`` (EXPERIMENTAL_SPARSITY)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "int8":
        def representative_dataset():
            for index in range(len(calibration)):
                yield [calibration[index:index + 1].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if mode == "qat":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode in ("int8", "qat"):
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if mode == "sparse":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def score_tflite(name: str, contents: bytes, reference: dict, run_dir: str) -> dict:
    """Writes ``<run_dir>/<name>.tflite``; its accuracy on the split, size and gzip -9 size."""
    path = os.path.join(run_dir, f"{name}.tflite")
    with open(path, "wb") as file:
        file.write(contents)
    logits = common.tflite_logits(path, reference["eval_images"])
    return {"path": path, "accuracy": common.accuracy(logits, reference["eval_labels"]),
            "size_bytes": len(contents), "gzip_bytes": len(gzip.compress(contents, 9))}


def kernel_sparsity(model: tf.keras.Model) -> dict:
    """Fraction of zeros per conv / dense kernel, and over all of them."""
    per_layer, zeros, total = {}, 0, 0
    for layer in model.layers:
        if isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.Dense)):
            kernel = layer.kernel.numpy()
            per_layer[layer.name] = float(np.mean(kernel == 0))
            zeros, total = zeros + int(np.sum(kernel == 0)), total + kernel.size
    return {"overall": zeros / total, "per_layer": per_layer}


def run_ptq(args, reference, run_dir) -> dict:
    model = tf.keras.models.load_model(args.model_file, compile=False)
    calibration = reference["calibration_images"]
    start = time.perf_counter()
    int8 = convert(model, "int8", calibration)
    seconds = time.perf_counter() - start
    return {"row": "ptq_int8", "nb_calibration_images": int(len(calibration)),
            "convert_seconds": seconds,
            "float": score_tflite("float", convert(model, "float"), reference, run_dir),
            "int8": score_tflite("int8", int8, reference, run_dir)}


def run_qat(args, reference, run_dir) -> dict:
    import tensorflow_model_optimization as tfmot

    model = tfmot.quantization.keras.quantize_model(
        tf.keras.models.load_model(args.model_file, compile=False))
    training = fine_tune(model, BUDGETS["qat"], run_dir, args.data_dir, args.seed,
                         args.max_steps, [])
    keras_accuracy = common.accuracy(common.keras_logits(model, reference["eval_images"]),
                                     reference["eval_labels"])
    return {"row": "qat_8bit", "training": training, "keras_accuracy": keras_accuracy,
            "int8": score_tflite("int8", convert(model, "qat"), reference, run_dir)}


def run_prune(args, reference, run_dir) -> dict:
    import tensorflow_model_optimization as tfmot

    budget = BUDGETS["prune"]
    # Our ramp: cubic, from 10 % to 50 % of the steps, masks every 100 steps.
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=args.sparsity, power=3,
        begin_step=int(0.1 * budget.total_steps), end_step=int(0.5 * budget.total_steps),
        frequency=100)
    model = tfmot.sparsity.keras.prune_low_magnitude(
        tf.keras.models.load_model(args.model_file, compile=False), pruning_schedule=schedule)
    training = fine_tune(model, budget, run_dir, args.data_dir, args.seed, args.max_steps,
                         [tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    keras_accuracy = common.accuracy(common.keras_logits(stripped, reference["eval_images"]),
                                     reference["eval_labels"])
    return {"row": f"prune_{args.sparsity}", "target_sparsity": args.sparsity,
            "training": training, "keras_accuracy": keras_accuracy,
            "measured_sparsity": kernel_sparsity(stripped),
            "float": score_tflite("float", convert(stripped, "float"), reference, run_dir),
            "sparse": score_tflite("sparse", convert(stripped, "sparse"), reference, run_dir),
            "int8": score_tflite("int8", convert(stripped, "int8",
                                                 reference["calibration_images"]),
                                 reference, run_dir)}


def run_cluster(args, reference, run_dir) -> dict:
    import tensorflow_model_optimization as tfmot

    clustering = tfmot.clustering.keras
    model = clustering.cluster_weights(
        tf.keras.models.load_model(args.model_file, compile=False),
        number_of_clusters=args.nb_clusters,
        cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS)
    training = fine_tune(model, BUDGETS["cluster"], run_dir, args.data_dir, args.seed,
                         args.max_steps, [])
    stripped = clustering.strip_clustering(model)
    keras_accuracy = common.accuracy(common.keras_logits(stripped, reference["eval_images"]),
                                     reference["eval_labels"])
    # The packed size our `non-uniform` row reports: log2(clusters) bits per clustered weight
    # plus a float32 codebook per layer, everything else float32.
    bits = math.ceil(math.log2(args.nb_clusters))
    packed_bits = 0
    for layer in stripped.layers:
        for weight in layer.weights:
            clustered = "kernel" in weight.name and isinstance(
                layer, (tf.keras.layers.Conv2D, tf.keras.layers.Dense))
            packed_bits += (weight.shape.num_elements() * bits + 32 * args.nb_clusters
                            if clustered else 32 * weight.shape.num_elements())
    return {"row": f"cluster_{args.nb_clusters}", "training": training,
            "keras_accuracy": keras_accuracy, "packed_bytes": math.ceil(packed_bits / 8),
            "float": score_tflite("float", convert(stripped, "float"), reference, run_dir)}


SUBCOMMANDS = {"ptq": run_ptq, "qat": run_qat, "prune": run_prune, "cluster": run_cluster}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("subcommand", choices=sorted(SUBCOMMANDS))
    parser.add_argument("--model_file", default=common.DENSE_MODEL_FILE)
    parser.add_argument("--reference", default=common.REFERENCE_FILE)
    parser.add_argument("--data_dir", default=os.path.expanduser("~/pocketflow_data/cifar10"))
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--nb_clusters", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_steps", type=int, default=0, help="0: the whole budget")
    parser.add_argument("--run_name", default="", help="default: the row's name")
    args = parser.parse_args()
    if not 0 < args.sparsity < 1:
        raise SystemExit(f"Expected 0 < --sparsity < 1. Received: {args.sparsity}")
    if args.nb_clusters < 2:
        raise SystemExit(f"Expected --nb_clusters >= 2. Received: {args.nb_clusters}")
    tf.keras.utils.set_random_seed(args.seed)
    name = args.run_name or {"ptq": "ptq_int8", "qat": "qat_8bit",
                             "prune": f"prune_{args.sparsity}",
                             "cluster": f"cluster_{args.nb_clusters}"}[args.subcommand]
    if args.max_steps > 0 and not args.run_name:
        name += f"_smoke{args.max_steps}"
    run_dir = os.path.join(common.RUNS_DIR, name)
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    record = SUBCOMMANDS[args.subcommand](args, common.load_reference(args.reference), run_dir)
    record.update(command=f"run_tfmot.py {' '.join(os.sys.argv[1:])}",
                  wall_seconds=time.perf_counter() - start)
    common.write_record(name, record)


if __name__ == "__main__":
    main()
