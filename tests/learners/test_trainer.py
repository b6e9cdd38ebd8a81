"""The shared trainer: weight decay targets, evaluation passes, resume after kill -9, replicas."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.trainer import adam_steps, decayed_variables, evaluate
from tests.learners.cli import ROOT, launcher_command
from utils.io import EventLog


def test_weight_decay_skips_batch_norm():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    names = sorted(v.path for v in decayed_variables(model))
    assert names == ["conv/bias", "conv/kernel", "dense/bias", "dense/kernel"]


def test_evaluate_is_one_exact_pass():
    dataset = create_dataset(DataConfig(batch_size_eval=7))  # 360 = 51 * 7 + 3: a partial batch
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    first = evaluate(model, dataset.eval_dataset())
    assert first["nb_examples"] == 360
    assert evaluate(model, dataset.eval_dataset()) == first


def test_adam_steps_learn_from_the_batches_they_are_given():
    keras.utils.set_random_seed(0)
    dataset = create_dataset(DataConfig(batch_size=32))
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    before = evaluate(model, dataset.eval_dataset())
    batches = iter(dataset.train_dataset(repeat=True))
    first = adam_steps(model, batches, 1, 1e-2, learning_rate_flag="--cp_rlout_lrn_rate_ft")
    last = adam_steps(model, batches, 100, 1e-2, learning_rate_flag="--cp_rlout_lrn_rate_ft")
    after = evaluate(model, dataset.eval_dataset())
    # The returned loss is one batch's of 32 (noisy): compared loosely; the eval pass is the measure.
    assert last < first
    assert after["loss"] < before["loss"] / 2
    assert after["accuracy"] > max(0.5, before["accuracy"] + 0.2)


def test_adam_steps_stop_at_a_non_finite_loss_or_weights_naming_the_step_and_the_flag():
    from utils.errors import TrainingDivergedError

    keras.utils.set_random_seed(0)
    dataset = create_dataset(DataConfig(batch_size=32))
    batches = iter(dataset.train_dataset(repeat=True))

    def linear():
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(10)])

    pattern = (r"roll-out fine-tuning step [1-5] of 20 gave loss=nan\..*"
               r"--cp_rlout_lrn_rate_ft, now 1e\+38")
    with pytest.raises(TrainingDivergedError, match=pattern):  # Adam at 1e38: NaN at step 2
        adam_steps(linear(), batches, 20, 1e38, learning_rate_flag="--cp_rlout_lrn_rate_ft",
                   description="roll-out fine-tuning")
    # The loss of the last step is computed before its update: the weights are checked after.
    with pytest.raises(TrainingDivergedError, match=r"step 1 of 1 gave non-finite weights in "
                                                    r".*--cp_lrn_rate_ft, now inf"):
        adam_steps(linear(), batches, 1, float("inf"), learning_rate_flag="--cp_lrn_rate_ft")


def test_adam_fine_tuning_learns_and_a_bad_optimizer_is_refused(tmp_path):
    import tensorflow as tf

    from learners.config import TrainConfig
    from learners.trainer import Trainer

    dataset = create_dataset(DataConfig(batch_size=32))
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    config = TrainConfig(optimizer="adam", learning_rate=1e-2, reference_batch_size=32,
                         train_steps=100, weight_decay=0.0, summary_step=50, save_step=100)
    event_log = EventLog(str(tmp_path / "logs" / "events.jsonl"))
    trainer = Trainer(model, dataset, config, strategy=tf.distribute.get_strategy(),
                      checkpoint_dir=str(tmp_path / "checkpoints"), event_log=event_log)
    assert isinstance(trainer.optimizer, keras.optimizers.Adam)
    before = evaluate(model, dataset.eval_dataset())["accuracy"]
    trainer.train()
    etas = [e["eta_seconds"] for e in _events(tmp_path / "logs") if e["event"] == "train_step"]
    assert len(etas) == 2 and etas[0] > 0 and etas[1] == 0  # at steps 50 and 100 of 100
    assert evaluate(model, dataset.eval_dataset())["accuracy"] > max(0.5, before + 0.2)
    with pytest.raises(ValueError, match="Expected `optimizer` in .*'rmsprop'"):
        TrainConfig(optimizer="rmsprop")


def test_the_same_seeded_training_ends_with_the_same_weights_whatever_ran_before(tmp_path):
    """A search builds pipelines and draws random numbers before the final fine-tune; the
    fine-tune of a plan must still end where a run of that plan alone ends (augmentation on)."""
    import numpy as np
    import tensorflow as tf

    from learners.config import TrainConfig
    from learners.trainer import Trainer

    dataset = create_dataset(DataConfig(batch_size=32))
    assert dataset.config.augment
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    initial = model.get_weights()
    config = TrainConfig(learning_rate=0.05, reference_batch_size=32, train_steps=20,
                         summary_step=10, save_step=20)

    def train(name):
        model.set_weights(initial)
        Trainer(model, dataset, config, strategy=tf.distribute.get_strategy(),
                checkpoint_dir=str(tmp_path / name),
                event_log=EventLog(str(tmp_path / name / "events.jsonl"))).train()
        return model.get_weights()

    first = train("first")
    tf.random.uniform((5,))  # what a search does in between: stateful draws, other pipelines
    next(iter(dataset.train_dataset(shuffle_seed=7)))
    second = train("second")
    assert max(float(np.abs(a - b).max()) for a, b in zip(first, initial, strict=True)) > 1e-3
    for a, b in zip(first, second, strict=True):  # another seed's batches: 0.52 apart
        np.testing.assert_allclose(a, b, atol=1e-4)  # float summation order on many cores


def _events(log_dir):
    """The logged events; a last line still being written (no newline yet) is left out."""
    with open(os.path.join(log_dir, "events.jsonl")) as handle:
        return [json.loads(line) for line in handle.read().split("\n")[:-1]]


def _start_training_and_signal(tmp_path, signal_number):
    """Starts a 1,500-step run, sends ``signal_number`` after its first checkpoint."""
    flags = ["--tiny_net", "--nb_iters_train=1500", "--save_step=100", "--summ_step=100",
             "--batch_size=16", "--enbl_export=false", f"--model_dir={tmp_path}/models",
             f"--save_dir={tmp_path}/out", f"--log_dir={tmp_path}/logs"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    command = launcher_command("lenet_at_digits", *flags)
    # A job started in the background (as CI runs) inherits SIGINT ignored, and Python then never
    # raises KeyboardInterrupt. While a Python handler is set here, exec gives the child the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    finally:
        signal.signal(signal.SIGINT, previous)
    # The "checkpoint" event is logged after the checkpoint is written: waiting for the index
    # file alone let a loaded machine kill the run between the two.
    events = tmp_path / "logs" / "events.jsonl"

    def checkpointed():
        return events.exists() and any(e["event"] == "checkpoint" for e in _events(events.parent))

    deadline = time.time() + 600  # start-up alone can take minutes on a loaded 2-core machine
    while not checkpointed() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not checkpointed():
        process.kill()
        pytest.fail(f"expected a first checkpoint event in {events} within 600 s. Received: "
                    f"none (exit code {process.wait()})")
    process.send_signal(signal_number)
    return command, env, process.wait()


def test_kill_9_then_rerun_resumes_and_finishes_the_planned_steps(tmp_path):
    command, env, _ = _start_training_and_signal(tmp_path, signal.SIGKILL)
    killed_at = max(e["step"] for e in _events(tmp_path / "logs") if e["event"] == "checkpoint")
    assert 100 <= killed_at < 1500, "the kill must land mid-training"

    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=180, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    events = _events(tmp_path / "logs")
    starts = [e["step"] for e in events if e["event"] == "train_start"]
    assert starts == [0, killed_at]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 1500
    assert metrics["train"]["resumed_from"] == killed_at
    # the killed launch's seconds up to its checkpoint count too
    assert metrics["train"]["total_seconds"] > metrics["train"]["seconds"] > 0


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_interrupt_saves_a_checkpoint_at_the_interrupted_step(tmp_path, signal_number):
    _, _, returncode = _start_training_and_signal(tmp_path, signal_number)
    assert returncode == 130
    events = _events(tmp_path / "logs")
    interrupted = [e["step"] for e in events if e["event"] == "interrupted"]
    assert len(interrupted) == 1 and 100 <= interrupted[0] < 1500
    assert [e for e in events if e["event"] == "checkpoint"][-1]["step"] == interrupted[0]
    checkpoint = (tmp_path / "out" / "checkpoints" / "checkpoint").read_text()
    assert f"ckpt-{interrupted[0]}" in checkpoint
    seconds = json.loads((tmp_path / "out" / "checkpoints" / "train_seconds.json").read_text())
    assert seconds["step"] == interrupted[0] and seconds["seconds"] > 0


_REPLICA_SCRIPT = textwrap.dedent("""
    import json, sys
    from utils.distribute import split_cpu
    devices = split_cpu(2)
    import keras, numpy as np, tensorflow as tf
    import datasets, nets
    from learners.config import TrainConfig
    from learners.trainer import Trainer

    def train(strategy, checkpoint_dir):
        helper = nets.create_model_helper("lenet_at_digits", nets.NetConfig(tiny=True))
        per_replica = 32 // strategy.num_replicas_in_sync
        data = datasets.create_dataset(datasets.DataConfig(batch_size=per_replica, augment=False))
        config = TrainConfig.from_defaults(helper.train_defaults(), train_steps=30,
                                           summary_step=10, save_step=1000)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = helper.build_model(data.input_shape, data.nb_classes)
        Trainer(model, data, config, strategy=strategy, checkpoint_dir=checkpoint_dir).train()
        return [w.numpy() for w in model.weights]

    mirrored = tf.distribute.MirroredStrategy(devices)
    one = train(tf.distribute.OneDeviceStrategy(devices[0]), sys.argv[1] + "/one")
    two = train(mirrored, sys.argv[1] + "/two")

    # A BatchNorm net under the same two replicas (a second trainer, as a learner's fine-tuning
    # stages create): moving statistics update, training runs.
    from tests.fixtures.data_fixtures import write_cifar10_binary
    write_cifar10_binary(sys.argv[1] + "/cifar", nb_train_per_file=16, nb_eval=8)
    strategy = mirrored
    helper = nets.create_model_helper("resnet_at_cifar10", nets.NetConfig(tiny=True))
    data = datasets.create_dataset(datasets.DataConfig(dataset="cifar10",
                                                       data_dir=sys.argv[1] + "/cifar", batch_size=4))
    with strategy.scope():
        resnet = helper.build_model(data.input_shape, data.nb_classes)
    config = TrainConfig.from_defaults(helper.train_defaults(), train_steps=3, save_step=1000)
    Trainer(resnet, data, config, strategy=strategy, checkpoint_dir=sys.argv[1] + "/resnet").train()
    moving_mean = resnet.get_layer("stem_bn").moving_mean.numpy()

    print(json.dumps({"max_diff": max(float(np.abs(a - b).max()) for a, b in zip(one, two)),
                      "max_change": max(float(np.abs(a).max()) for a in one),
                      "batch_norm_updated": bool(np.abs(moving_mean).max() > 0)}))
""")


def test_two_replicas_learn_what_one_replica_learns(tmp_path):
    # Same seed, same global batch of 32: one replica of 32 vs two of 16. Gradients are
    # all-reduced, so the weights after 30 steps agree up to float summation order.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", _REPLICA_SCRIPT, str(tmp_path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["max_change"] > 0.01
    assert numbers["max_diff"] < 1e-5
    assert numbers["batch_norm_updated"]


def _linear_trainer(checkpoint_dir, train_steps, save_step=10, event_log=None, **kwargs):
    import tensorflow as tf

    from learners.config import TrainConfig
    from learners.trainer import Trainer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    config = TrainConfig(learning_rate=0.05, reference_batch_size=32, train_steps=train_steps,
                         summary_step=10, save_step=save_step)
    return Trainer(model, create_dataset(DataConfig(batch_size=32)), config,
                   strategy=tf.distribute.get_strategy(), checkpoint_dir=str(checkpoint_dir),
                   event_log=event_log, **kwargs)


def _sha256(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_non_finite_loss_stops_training_before_any_checkpoint(tmp_path):
    import numpy as np

    from utils.errors import TrainingDivergedError

    trainer = _linear_trainer(tmp_path / "checkpoints", 30,
                              event_log=EventLog(str(tmp_path / "logs" / "events.jsonl")))
    trainer.model.set_weights([np.full_like(w, np.nan) for w in trainer.model.get_weights()])
    with pytest.raises(TrainingDivergedError, match=r"step 1 of 30 gave loss=nan.*--lrn_rate_init"):
        trainer.train()
    assert not list((tmp_path / "checkpoints").glob("ckpt-*"))
    assert _events(tmp_path / "logs")[-1]["event"] == "diverged"


def test_a_fine_tuning_that_diverges_names_the_flag_of_its_own_learning_rate(tmp_path):
    import numpy as np

    from utils.errors import TrainingDivergedError

    trainer = _linear_trainer(tmp_path / "checkpoints", 30, learning_rate_flag="--cp_lrn_rate_ft")
    trainer.model.set_weights([np.full_like(w, np.nan) for w in trainer.model.get_weights()])
    with pytest.raises(TrainingDivergedError, match=r"\(--cp_lrn_rate_ft, now 0\.05\)"):
        trainer.train()


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    import numpy as np

    from utils.errors import TrainingDivergedError

    trainer = _linear_trainer(tmp_path / "checkpoints", 30)
    trainer.train()
    before = {p.name: _sha256(p) for p in (tmp_path / "checkpoints").iterdir()}
    trainer.model.set_weights([np.full_like(w, np.inf) for w in trainer.model.get_weights()])
    with pytest.raises(TrainingDivergedError, match="non-finite weights"):
        trainer.save()
    assert {p.name: _sha256(p) for p in (tmp_path / "checkpoints").iterdir()} == before


def test_a_damaged_newest_checkpoint_is_skipped_named_and_kept(tmp_path, caplog):
    directory = tmp_path / "checkpoints"
    _linear_trainer(directory, 30).train()  # keeps ckpt-20 and ckpt-30
    good = {p.name: _sha256(p) for p in directory.glob("ckpt-20*")}
    data = directory / "ckpt-30.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])  # truncated
    damaged = {p.name: _sha256(p) for p in directory.glob("ckpt-30*")}
    trainer = _linear_trainer(directory, 40)
    assert trainer.restore() == 20
    assert "ckpt-30" in caplog.text and "does not restore" in caplog.text
    assert {p.name: _sha256(p) for p in directory.glob("ckpt-20*")} == good
    assert {p.name: _sha256(p) for p in directory.glob("ckpt-30*")} == damaged
    assert '"ckpt-20"' in (directory / "checkpoint").read_text()
    trainer.train()  # to 40: the damaged ckpt-30 is moved aside, never overwritten or deleted
    kept = {p.name.split(".damaged-")[0]: _sha256(p) for p in directory.glob("*.damaged-*")}
    assert kept == damaged
    assert 'model_checkpoint_path: "ckpt-40"' in (directory / "checkpoint").read_text()
    assert _linear_trainer(directory, 40).restore() == 40


@pytest.mark.parametrize("index", ["garbage {{{", None], ids=["garbage", "missing"])
def test_a_damaged_or_missing_checkpoint_index_is_rebuilt(tmp_path, caplog, index):
    directory = tmp_path / "checkpoints"
    _linear_trainer(directory, 30).train()
    checkpoints = {p.name: _sha256(p) for p in directory.glob("ckpt-*")}
    if index is None:
        (directory / "checkpoint").unlink()
    else:
        (directory / "checkpoint").write_text(index)
    assert _linear_trainer(directory, 40).restore() == 30  # not a silent restart from 0
    assert "rebuilt" in caplog.text and str(directory / "checkpoint") in caplog.text
    assert 'model_checkpoint_path: "ckpt-30"' in (directory / "checkpoint").read_text()
    assert {p.name: _sha256(p) for p in directory.glob("ckpt-*")} == checkpoints


def test_a_checkpoint_a_killed_run_did_not_finish_writing_is_removed(tmp_path):
    directory = tmp_path / "checkpoints"
    _linear_trainer(directory, 20).train()
    partial = directory / "ckpt-30_temp"  # TensorFlow's shards before their merge into ckpt-30
    partial.mkdir()
    (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 10)
    assert _linear_trainer(directory, 40).restore() == 20
    assert not partial.exists() and (directory / "ckpt-20.index").exists()


def test_no_restorable_checkpoint_is_an_error_naming_the_directory(tmp_path):
    directory = tmp_path / "checkpoints"
    _linear_trainer(directory, 20).train()
    for data in directory.glob("ckpt-*.data-*"):
        data.write_bytes(b"")
    with pytest.raises(ValueError, match=r"checkpoints.*none does.*ckpt-20.*ckpt-10"):
        _linear_trainer(directory, 40).restore()
    assert len(list(directory.glob("ckpt-*"))) == 4  # nothing deleted
