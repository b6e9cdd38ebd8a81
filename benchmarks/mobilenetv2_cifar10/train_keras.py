"""Trains MobileNetV2 on CIFAR-10 with plain Keras: the model a user brings to ``--model_file``.

    python benchmarks/mobilenetv2_cifar10/train_keras.py --data_dir DIR --out model.keras

``DIR`` holds ``train/<class>/*.jpg`` and ``val/<class>/*.jpg`` (what ``prepare_data.sh``
writes). The model takes 32x32 images scaled to [-1, 1] (``--input_scale -1_1``) and outputs
logits. Nothing here uses PocketFlow: it is the script a user already has. An interrupted run
resumes from ``<out>.backup/`` (Keras's ``BackupAndRestore``) when started again.
"""

import argparse
import math

import keras
import tensorflow as tf


def image_split(directory: str, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    images = keras.utils.image_dataset_from_directory(
        directory, image_size=(32, 32), batch_size=batch_size, shuffle=shuffle, seed=seed,
        label_mode="int")
    return images.map(lambda x, y: (x / 127.5 - 1.0, y), num_parallel_calls=tf.data.AUTOTUNE)


def augment(images, labels):
    """Random horizontal flip and a random 32x32 crop of the image padded by 4 pixels."""
    images = tf.image.random_flip_left_right(images)
    padded = tf.pad(images, [[0, 0], [4, 4], [4, 4], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(padded, tf.shape(images)), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--out", required=True, help="the .keras file to write")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    train = image_split(f"{args.data_dir}/train", args.batch_size, True, args.seed)
    val = image_split(f"{args.data_dir}/val", 256, False, args.seed)
    steps = args.epochs * math.ceil(45_000 / args.batch_size)
    train = train.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=args.alpha,
                                           weights=None, classes=10,
                                           classifier_activation=None)
    for layer in model.layers:  # the applications' 0.999 lags far behind a short schedule
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.99
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train, validation_data=val, epochs=args.epochs, verbose=2,
              callbacks=[keras.callbacks.BackupAndRestore(f"{args.out}.backup")])
    model.save(args.out)
    print(f"val accuracy {model.evaluate(val, verbose=0)[1]:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
