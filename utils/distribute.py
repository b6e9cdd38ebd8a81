"""tf.distribute strategies: one device by default, every visible GPU with --enbl_multi_gpu."""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging


def create_strategy(enbl_multi_gpu: bool) -> tf.distribute.Strategy:
    """The strategy a run trains under.

    * ``TF_CONFIG`` naming several workers -> ``MultiWorkerMirroredStrategy`` (multi-host);
    * ``enbl_multi_gpu`` with more than one visible GPU -> ``MirroredStrategy`` over all of them;
    * otherwise the default (single-device) strategy.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(hosts) for hosts in cluster.values()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if enbl_multi_gpu:
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        logging.warning("--enbl_multi_gpu: %d GPU(s) visible; training on one device.", len(gpus))
    return tf.distribute.get_strategy()


def split_cpu(nb_devices: int) -> list[str]:
    """Splits the CPU into ``nb_devices`` logical devices (tests of multi-replica training).

    Must run before TensorFlow initialises its devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(nb_devices)])
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes files and runs searches (worker 0 of a multi-host job)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)
