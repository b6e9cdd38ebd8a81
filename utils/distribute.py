"""tf.distribute strategies: one device by default, every visible GPU with --enbl_multi_gpu."""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging


def create_strategy(multi_gpu: bool) -> tf.distribute.Strategy:
    """The strategy a run trains under.

    * ``TF_CONFIG`` naming several workers -> ``MultiWorkerMirroredStrategy`` (multi-host);
    * ``multi_gpu`` with more than one visible GPU -> ``MirroredStrategy`` over all of them;
    * otherwise the default (single-device) strategy.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(hosts) for hosts in cluster.values()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if multi_gpu:
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


def tf_config(hosts: list[str], task_index: int, port: int = 12345) -> str:
    """The ``TF_CONFIG`` of worker ``task_index`` in a job over ``hosts`` (worker 0 is the chief).

    Args:
        hosts: host names, one worker each, in the same order on every worker.
        task_index: this worker's position in ``hosts``.
        port: port every worker listens on.
    """
    if not 0 <= task_index < len(hosts):
        raise ValueError(f"Expected 0 <= task_index < {len(hosts)} (the number of hosts). "
                         f"Received: task_index={task_index}")
    workers = [host if ":" in host else f"{host}:{port}" for host in hosts]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": task_index}})


if __name__ == "__main__":  # used by scripts/run_cluster.sh
    import argparse

    parser = argparse.ArgumentParser(description="Print the TF_CONFIG of one worker.")
    parser.add_argument("--hosts", required=True, help="comma-separated host names")
    parser.add_argument("--task_index", type=int, required=True)
    parser.add_argument("--port", type=int, default=12345)
    arguments = parser.parse_args()
    print(tf_config(arguments.hosts.split(","), arguments.task_index, arguments.port))
