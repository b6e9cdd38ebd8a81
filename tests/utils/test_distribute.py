"""Multi-host training: TF_CONFIG, and two worker processes on localhost training together."""

import json
import os
import socket
import subprocess

import pytest

from tests.learners.cli import ROOT, launcher_command
from utils.distribute import tf_config


def test_tf_config_names_every_worker_and_this_task():
    config = json.loads(tf_config(["node1", "node2:2222"], 1, port=3333))
    assert config == {"cluster": {"worker": ["node1:3333", "node2:2222"]},
                      "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match="task_index"):
        tf_config(["node1"], 1)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_one_model_and_only_the_chief_writes(tmp_path):
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    flags = ["--tiny_net", "--nb_iters_train=20", "--save_step=10", "--summ_step=10",
             "--batch_size=16", "--enbl_export=false", "--model_dir=models", "--save_dir=out",
             "--log_dir=logs"]
    processes = []
    for index in range(2):
        workdir = tmp_path / f"worker{index}"
        workdir.mkdir()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT,
                   TF_CONFIG=tf_config(hosts, index))
        processes.append(subprocess.Popen(launcher_command("lenet_at_digits", *flags), cwd=workdir,
                                          env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    chief, worker = tmp_path / "worker0", tmp_path / "worker1"
    metrics = json.loads((chief / "out" / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 20
    assert metrics["train"]["global_batch_size"] == 32  # 16 per worker, two workers
    assert (chief / "models" / "tiny_lenet_at_digits.keras").is_file()
    assert not (worker / "out" / "model.keras").exists()
    assert not (worker / "logs" / "events.jsonl").exists()
