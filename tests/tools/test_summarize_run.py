import pytest

from tools.benchmark.summarize_run import summarize


def _step(time, step, images_per_sec=100.0):
    return {"time": time, "event": "train_step", "description": "full-prec", "step": step,
            "images_per_sec": images_per_sec}


def test_training_time_leaves_out_the_gap_of_a_restart():
    events = [
        {"time": 0, "event": "train_start", "description": "full-prec", "step": 0, "total_steps": 30,
         "global_batch_size": 8},
        _step(10, 10, 100.0), _step(20, 20, 300.0),
        # killed here; restarted an hour later from the checkpoint at step 10
        {"time": 3620, "event": "train_start", "description": "full-prec", "step": 10,
         "total_steps": 30, "global_batch_size": 8},
        {"time": 3625, "event": "eval", "description": "full-prec", "step": 10, "accuracy": 0.5},
        _step(3640, 30, 200.0),
    ]
    summary = summarize(events)
    assert summary["train_hours"] == pytest.approx(40 / 3600)
    assert summary["restarts"] == 1
    assert summary["steps"] == 30
    assert summary["median_images_per_sec"] == 200.0
    assert summary["eval_curve"] == [(10, 0.5)]


def test_no_steps_is_an_error():
    with pytest.raises(ValueError, match="train_step"):
        summarize([])
