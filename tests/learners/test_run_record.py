"""The run record: a directory without one is accepted, settings that change weights are not."""

import pytest

from learners.config import RunConfig, TrainConfig
from learners.run_record import RUN_CONFIG_FILE, check_run_config, write_run_config


def test_a_save_dir_without_a_record_is_accepted_and_gets_one(tmp_path):
    config = RunConfig(save_dir=str(tmp_path))
    check_run_config(config)  # an older run's directory: no record
    write_run_config(config)
    record = (tmp_path / RUN_CONFIG_FILE).read_bytes()
    check_run_config(RunConfig(save_dir=str(tmp_path), log_dir="elsewhere", exec_mode="eval",
                               train=TrainConfig(summary_step=7, save_step=9)))
    with pytest.raises(ValueError, match=r"seed: 0 -> 5"):
        check_run_config(RunConfig(save_dir=str(tmp_path), train=TrainConfig(seed=5)))
    assert (tmp_path / RUN_CONFIG_FILE).read_bytes() == record
