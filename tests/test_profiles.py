"""bench.profiles: the three profiles, TOML overrides, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from bench import profiles
from bench.errors import BenchError
from bench.models import mlp


def test_every_profile_is_valid_and_has_six_stage_grids():
    for name in profiles.PROFILES:
        profile = profiles.resolve(name)
        assert profile.name == name
        for _, params in mlp.STAGES:
            assert all(profile.grids[p] for p in params)
    assert profiles.resolve("reference").baseline_epochs == 50
    assert profiles.resolve("quick").n_train is None


def test_toml_overrides_grids_and_fields(tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('baseline_epochs = 4\ncv_folds = 2\n[grids]\noptimizer = ["sgd", "nadam"]\n')
    profile = profiles.resolve("smoke", config)
    assert profile.baseline_epochs == 4 and profile.cv_folds == 2
    assert profile.grids["optimizer"] == ["sgd", "nadam"]
    assert profile.grids["epochs"] == profiles.PROFILES["smoke"].grids["epochs"]  # untouched
    assert profiles.PROFILES["smoke"].grids["optimizer"] == ["adam", "rmsprop"]  # built-in not mutated


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[grids]\noptimizer = ["adamw2"]', r"config .*grid.toml: grid 'optimizer': unknown optimizer 'adamw2'"),
        ("[grids]\nbatch_size = []", r"config .*grid.toml: grid 'batch_size' is empty; got \[\]"),
        ("[grids]\nepochs = [-2]", r"grid 'epochs': epochs must be a positive integer; got -2"),
        ("baseline_epochs = 0", r"baseline_epochs must be a positive integer; got 0"),
        ("[grids]\ndropout = [1.5]", r"dropout must be in \[0, 1\); got 1.5"),
        ("colour = 1", r"unknown field 'colour'"),
        ("[grids]\nneurons3 = [5]", r"unknown grids entry 'neurons3'"),
        ("baseline_epochs = ", r"is not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, toml, message):
    config = tmp_path / "grid.toml"
    config.write_text(toml)
    with pytest.raises(BenchError, match=message):
        profiles.resolve("smoke", config)


def test_unknown_profile_and_negative_epochs():
    with pytest.raises(BenchError, match=r"unknown profile 'huge'; choose one of smoke, quick, reference"):
        profiles.resolve("huge")
    with pytest.raises(BenchError, match=r"command line: baseline_epochs must be a positive integer; got -3"):
        profiles.resolve("smoke", overrides={"baseline_epochs": -3})
