"""End-to-end tests of ``--learner full-prec`` through the same ``run(config)`` main.py calls."""

import json
import os
from unittest import mock

import keras
import numpy as np
import pytest

import datasets  # noqa: F401  (registers)
import nets  # noqa: F401  (registers)
from datasets.base import DataConfig
from learners.base import MissingModelError
from learners.config import DistillationConfig, ExportConfig, RunConfig, TrainConfig
from learners.runner import run
from nets.model_helper import NetConfig
from utils.io import is_completed


def tiny_config(tmp_path, **overrides) -> RunConfig:
    values = {
        "learner": "full-prec", "net": "lenet_at_digits", "model_dir": str(tmp_path / "models"),
        "save_dir": str(tmp_path / "out"), "log_dir": str(tmp_path / "logs"),
        "data": DataConfig(batch_size=32), "net_config": NetConfig(tiny=True),
        "train": TrainConfig(train_steps=300, learning_rate=0.02, reference_batch_size=32,
                          weight_decay=1e-4, summary_step=50, save_step=150),
        "export": ExportConfig(enabled=False)}
    values.update(overrides)
    return RunConfig(**values)


def test_train_writes_artifacts_and_eval_mode_reads_them(tmp_path):
    config = tiny_config(tmp_path)
    metrics = run(config)

    assert os.path.isfile(tmp_path / "out" / "model.keras")
    assert os.path.isfile(tmp_path / "models" / "tiny_lenet_at_digits.keras")
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["train"]["steps"] == 300
    assert saved["eval"]["nb_examples"] == 360
    assert saved["params"] > 0 and saved["macs"] > 0
    assert metrics["eval"]["accuracy"] > 0.7  # 300 steps of a tiny LeNet already learn digits
    events = [json.loads(line) for line in (tmp_path / "logs" / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [150, 300]
    assert any(e["event"] == "eval" for e in events)

    evaluated = run(tiny_config(tmp_path, exec_mode="eval"))
    assert evaluated["eval"]["accuracy"] == pytest.approx(metrics["eval"]["accuracy"])


def test_finished_run_is_not_retrained(tmp_path):
    run(tiny_config(tmp_path))
    first = os.path.getmtime(tmp_path / "out" / "checkpoints" / "checkpoint")
    run(tiny_config(tmp_path))
    events = [json.loads(line) for line in (tmp_path / "logs" / "events.jsonl").read_text().splitlines()]
    starts = [e for e in events if e["event"] == "train_start"]
    assert [e["step"] for e in starts] == [0, 300]
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["train"]["resumed_from"] == 0 and saved["train"]["seconds"] > 0
    assert os.path.getmtime(tmp_path / "out" / "checkpoints" / "checkpoint") >= first


def test_a_run_killed_during_export_is_not_completed_and_its_rerun_exports_without_retraining(
        tmp_path):
    config = tiny_config(tmp_path, export=ExportConfig(calibration_size=32, benchmark=False))
    metrics_path = tmp_path / "out" / "metrics.json"
    with mock.patch("learners.base.Learner.export", side_effect=KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            run(config)
    assert metrics_path.exists() and not is_completed(str(metrics_path))  # the learner's write

    run(config)
    assert is_completed(str(metrics_path))
    saved = json.loads(metrics_path.read_text())
    assert saved["export"]["int8_audit"]["passed"]
    events = (tmp_path / "logs" / "events.jsonl").read_text().splitlines()
    assert [e["step"] for e in map(json.loads, events) if e["event"] == "train_start"] == [0, 300]


def test_distillation_needs_the_pretrained_model(tmp_path):
    config = tiny_config(tmp_path, distillation=DistillationConfig(enabled=True))
    with pytest.raises(MissingModelError, match="tiny_lenet_at_digits.keras"):
        run(config)


def test_distillation_trains_the_student_and_keeps_the_teacher(tmp_path):
    run(tiny_config(tmp_path))
    teacher_path = tmp_path / "models" / "tiny_lenet_at_digits.keras"
    teacher_before = keras.models.load_model(teacher_path).get_weights()
    metrics = run(tiny_config(tmp_path, save_dir=str(tmp_path / "student"),
                              distillation=DistillationConfig(enabled=True, loss_weight=1.0)))
    teacher_after = keras.models.load_model(teacher_path).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(teacher_before, teacher_after))
    assert metrics["eval"]["accuracy"] > 0.7
    assert os.path.isfile(tmp_path / "student" / "model.keras")
