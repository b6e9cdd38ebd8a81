"""Tests of the recorded ResNet-20 baseline and of benchmarks/resnet20_baseline.sh installing it."""

import hashlib
import os
import subprocess

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORDED = os.path.join(ROOT, "benchmarks", "baseline", "resnet_20_at_cifar10.keras")
SCRIPT = os.path.join(ROOT, "benchmarks", "resnet20_baseline.sh")
# docs/benchmarks.md names this file by its hash: a changed baseline must change the docs too.
RECORDED_SHA256 = "3ea5eabd1d20906be3f04987c2a61e0ab1d7428312b34404b42c31fe929fd428"


def test_recorded_baseline_is_the_documented_resnet20():
    with open(RECORDED, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == RECORDED_SHA256
    model = keras.models.load_model(RECORDED, compile=False)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)
    assert model.count_params() == 274_042  # ResNet-20 for 10 classes
    logits = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    assert np.all(np.isfinite(logits))


def _run_script(tmp_path, *args):
    data_dir = tmp_path / "data" / "cifar10"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "test_batch.bin").write_bytes(b"")  # marks the data as converted: no conversion
    env = dict(os.environ, POCKETFLOW_DATA=str(tmp_path / "data"), POCKETFLOW_RUNS=str(tmp_path / "runs"))
    return subprocess.run(["bash", SCRIPT, *args], check=False, env=env, capture_output=True, text=True, timeout=600)


def test_script_installs_the_recorded_baseline_once(tmp_path):
    installed = tmp_path / "runs" / "resnet20" / "models" / "resnet_20_at_cifar10.keras"
    result = _run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "installed the recorded baseline" in result.stdout
    with open(RECORDED, "rb") as f:
        assert installed.read_bytes() == f.read()

    installed.write_bytes(b"a model of the user's")  # never overwritten
    result = _run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is there; --retrain trains a new one" in result.stdout
    assert installed.read_bytes() == b"a model of the user's"
