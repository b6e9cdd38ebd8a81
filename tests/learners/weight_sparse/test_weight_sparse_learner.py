"""``--learner weight-sparse`` through ``run(config)`` on the tiny LeNet / digits: every protocol
meets its sparsity exactly, per layer as planned; the model is plain Keras with exact zeros; the
sparse TFLite file loads and scores like the dense one; an interrupted run resumes."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import datasets  # noqa: F401  (registers)
import nets  # noqa: F401  (registers)
from datasets.base import DataConfig
from export import interpreter
from hpo.trial_store import stored_seconds
from learners.config import DistillationConfig, ExportConfig, RunConfig, TrainConfig
from learners.runner import run
from learners.weight_sparse.config import WeightSparseConfig
from learners.weight_sparse.masks import SparsityMasker, maskable_kernels
from nets.model_helper import NetConfig

_NO_EXPORT = ExportConfig(enabled=False)


def _config(root, learner, save_dir, *, nb_iters=60, **overrides):
    train = TrainConfig(train_steps=nb_iters, learning_rate=0.02, reference_batch_size=32,
                        weight_decay=1e-4, summary_step=100, save_step=1000)
    export = ExportConfig(calibration_size=64, benchmark_threads=(1,), benchmark_repeats=5)
    values = {"learner": learner, "net": "lenet_at_digits", "model_dir": str(root / "models"),
              "save_dir": str(root / save_dir), "log_dir": str(root / "logs"),
              "data": DataConfig(batch_size=32), "net_config": NetConfig(tiny=True),
              "train": train, "export": export, **overrides}
    return RunConfig(**values)


def _settings(protocol, ratio=0.75):
    return WeightSparseConfig(prune_ratio=ratio, ratio_policy=protocol, mask_update_step=10,
                              rollouts=2, warmup_rollouts=1, regression_steps=5, finetune_steps=10,
                              reward_batches=2)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A directory whose ``models`` holds the tiny LeNet trained on digits (the dense model)."""
    root = tmp_path_factory.mktemp("weight_sparse")
    run(_config(root, "full-prec", "dense", nb_iters=200, export=_NO_EXPORT))
    return root


def _zeros(model):
    return {kernel.name: int(kernel.size - np.count_nonzero(np.asarray(kernel.variable(model))))
            for kernel in maskable_kernels(model)}


def _check_exact_sparsity(root, protocol, save_dir, metrics):
    """The final model: plain layers, exact zeros per kernel as planned, the overall target."""
    out = root / save_dir
    plan = json.loads((out / "plan.json").read_text())
    model = keras.models.load_model(out / "model.keras")  # no custom objects: plain layers
    dense = keras.models.load_model(root / "models/tiny_lenet_at_digits.keras")
    assert [type(layer) for layer in model.layers] == [type(layer) for layer in dense.layers]
    assert [w.shape for w in model.weights] == [w.shape for w in dense.weights]

    zeros = _zeros(model)
    nb_weights = sum(layer["size"] for layer in plan["layers"].values())
    assert sum(zeros.values()) == round(0.75 * nb_weights) == plan["nb_pruned"]
    assert zeros == {name: layer["pruned"] for name, layer in plan["layers"].items()}
    assert zeros == {name: layer["measured_pruned"] for name, layer in plan["layers"].items()}
    assert metrics["sparsity"]["overall"] == pytest.approx(0.75, abs=0.5 / nb_weights)
    assert metrics["nonzero_params"] == model.count_params() - sum(zeros.values())
    assert metrics["eval"]["nb_examples"] == 360 and metrics["dense_eval"]["accuracy"] > 0.3
    assert metrics["eval"]["accuracy"] > 0.2  # chance is 0.1
    assert {"eval_before_finetuning", "schedule", "train"} <= set(metrics)
    ratios = {name: layer["target_ratio"] for name, layer in plan["layers"].items()}
    if protocol == "uniform":
        assert set(ratios.values()) == {0.75}
    elif protocol == "heurist":  # conv1 (100 weights) < logits (160) < fc3 (512) < conv2 (800)
        assert ratios["conv1"] < ratios["logits"] < ratios["fc3"] < ratios["conv2"]
    else:
        trials = (out / "search/trials.jsonl").read_text().splitlines()
        assert len(trials) == 2
        best = json.loads((out / "search/best.json").read_text())
        assert 0.0 <= best["metrics"]["accuracy"] <= 1.0


def test_uniform_meets_the_sparsity_exactly_also_with_distillation(root):
    metrics = run(_config(root, "weight-sparse", "uniform", settings=_settings("uniform"),
                          export=_NO_EXPORT, distillation=DistillationConfig(enabled=True)))
    _check_exact_sparsity(root, "uniform", "uniform", metrics)


def test_optimal_searches_two_rollouts_and_meets_the_sparsity_exactly(root):
    metrics = run(_config(root, "weight-sparse", "optimal", settings=_settings("optimal"),
                          export=_NO_EXPORT))
    _check_exact_sparsity(root, "optimal", "optimal", metrics)


def test_optimal_with_rescoring_keeps_the_best_plan_on_the_longer_rollouts(root):
    settings = dataclasses.replace(_settings("optimal"), rollouts=3, rescored_plans=1,
                                   rescore_finetune_steps=5)
    metrics = run(_config(root, "weight-sparse", "rescored", settings=settings,
                          export=_NO_EXPORT))
    search = root / "rescored/search"
    trials = [json.loads(line) for line in (search / "trials.jsonl").read_text().splitlines()]
    scores = [json.loads(line) for line in (search / "rescored_ft5.jsonl").read_text().splitlines()]
    # the best reward's plan, then the uniform and heuristic plans (trials 0, 1) unless the same
    assert 1 <= len(scores) <= 3 and {0, 1} <= {s["trial"] for s in scores}
    best = trials[max(scores, key=lambda s: (s["score"], -s["trial"]))["trial"]]
    plan = json.loads((root / "rescored/plan.json").read_text())
    assert [layer["target_ratio"] for layer in plan["layers"].values()] == pytest.approx(
        [1.0 - keep for keep in best["projected"].values()])
    assert metrics["sparsity"]["overall"] == pytest.approx(0.75, abs=1e-3)

    # killed after the search, before its plan was saved: the rerun's search resumes from its
    # files at once, and its time is still that of the roll-outs and re-scores that were done
    (root / "rescored/plan.json").unlink()
    again = run(_config(root, "weight-sparse", "rescored", settings=settings,
                        export=_NO_EXPORT))
    assert again["search_seconds"] >= stored_seconds(str(search)) > 0
    # killed in the fine-tuning, before metrics.json: the plan is reloaded, the time still known
    (root / "rescored/metrics.json").unlink()
    resumed = run(_config(root, "weight-sparse", "rescored", settings=settings,
                          export=_NO_EXPORT))
    assert resumed["search_seconds"] == pytest.approx(stored_seconds(str(search)))


def test_sparse_tflite_loads_and_scores_like_the_dense_one(root):
    metrics = run(_config(root, "weight-sparse", "export", settings=_settings("uniform", 0.9)))
    out = root / "export"
    export, sparse = metrics["export"], metrics["sparse_export"]
    assert export["int8_audit"]["passed"] and export["max_abs_logit_diff"] <= 1e-4
    assert (out / "model.tflite").is_file() and (out / "model_int8.tflite").is_file()
    loaded = interpreter.load(str(out / "model_sparse.tflite"))
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype(np.float32)
    assert loaded.predict(images).shape == (4, 10)
    assert sparse["max_abs_logit_diff"] <= 1e-4
    assert abs(sparse["accuracy"] - export["float_accuracy"]) <= 0.01
    assert sparse["size_bytes"] < sparse["dense_float"]["size_bytes"]
    assert sparse["ops"].get("DENSIFY", 0) >= 1
    assert {row["model_file"] for row in metrics["latency"]} == {
        export["float_path"], export["int8_path"], sparse["path"]}
    assert set(sparse["speedup_vs_dense_float"]) == {"1"}
    assert sparse["speed"].startswith(("no speed-up", "the sparse TFLite file runs faster"))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["sparse_export"]["gzip_bytes"] == sparse["gzip_bytes"]


def test_an_interrupted_heuristic_run_resumes_and_meets_the_plan_exactly(root, monkeypatch):
    original = SparsityMasker.on_step_end

    def interrupted(self, step):
        original(self, step)
        if step == 30:
            raise KeyboardInterrupt("test kill")

    monkeypatch.setattr(SparsityMasker, "on_step_end", interrupted)
    config = _config(root, "weight-sparse", "resume", settings=_settings("heurist"),
                     export=_NO_EXPORT)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    assert (root / "resume/plan.json").is_file()
    monkeypatch.setattr(SparsityMasker, "on_step_end", original)
    metrics = run(config)
    assert metrics["train"]["resumed_from"] == 30 and metrics["train"]["steps"] == 60
    _check_exact_sparsity(root, "heurist", "resume", metrics)

    with pytest.raises(ValueError, match="prune_ratio: 0.75 -> 0.5"):  # other settings, same dir
        run(_config(root, "weight-sparse", "resume", settings=_settings("heurist", 0.5),
                    export=_NO_EXPORT))


def test_the_speed_verdict_calls_noise_noise():
    from learners.weight_sparse.export import speed_verdict

    def rows(*values):
        return [{"threads": t, "median_ms": m, "p10_ms": p} for t, m, p in values]

    dense = rows((1, 1.48, 1.13), (2, 1.92, 1.35))
    speedups, verdict = speed_verdict(dense, rows((1, 1.50, 1.0), (2, 1.81, 1.3)), 22)
    assert speedups["2"] == pytest.approx(1.92 / 1.81)
    assert verdict.startswith("no speed-up") and "22 DENSIFY" in verdict  # 1.06x inside the spread
    _, verdict = speed_verdict(dense, rows((1, 0.7, 0.6), (2, 0.9, 0.8)), 0)
    assert verdict.startswith("the sparse TFLite file runs faster")
