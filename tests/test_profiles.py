"""bench.profiles: the three profiles, TOML overrides, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from bench import models, profiles
from bench.errors import BenchError
from bench.models import mlp


def resolve(name, config=None, overrides=None):
    """A profile and its two reference models, checked as `fmbench run` checks them."""
    profile = profiles.resolve(name, config, overrides)
    return profile, {s.name: s for s in models.resolve(list(profiles.DEFAULT_MODELS), profile)}


def test_every_profile_is_valid_and_its_tuned_mlp_has_six_stage_grids():
    for name in profiles.PROFILES:
        profile, setups = resolve(name)
        assert profile.name == name
        assert setups["tuned"].stages == mlp.STAGES and setups["tuned"].grids == mlp.GRIDS[name]
        for _, params in mlp.STAGES:
            assert all(setups["tuned"].grids[p] for p in params)
    assert profiles.resolve("reference").baseline_epochs == 50
    assert resolve("reference")[1]["baseline"].params["epochs"] == 50
    assert profiles.resolve("quick").n_train is None


def test_toml_overrides_fields_and_the_aliases_of_the_tuned_mlps_table(tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('baseline_epochs = 4\ncv_folds = 2\n[grids]\noptimizer = ["sgd", "nadam"]\n'
                      '[tuned_defaults]\nneurons1 = 32\n[models.tuned.grids]\nneurons2 = [16]\n')
    profile, setups = resolve("smoke", config)
    assert profile.baseline_epochs == 4 and profile.cv_folds == 2
    assert profile.models == {"tuned": {"grids": {"optimizer": ["sgd", "nadam"], "neurons2": [16]},
                                        "params": {"neurons1": 32}}}
    tuned = setups["tuned"]
    assert tuned.grids["optimizer"] == ["sgd", "nadam"] and tuned.grids["neurons2"] == [16]
    assert tuned.grids["epochs"] == mlp.GRIDS["smoke"]["epochs"]  # untouched
    assert tuned.params == {**mlp.TUNED_DEFAULTS, "neurons1": 32}
    assert setups["baseline"].params["epochs"] == 4
    assert mlp.GRIDS["smoke"]["optimizer"] == ["adam", "rmsprop"]  # built-in not mutated


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[grids]\noptimizer = ["adamw2"]', r"^model 'tuned': grid 'optimizer': unknown optimizer 'adamw2'; "
                                               r"choose one of sgd, rmsprop"),
        ("[grids]\nbatch_size = []", r"^model 'tuned': grid 'batch_size' is empty; got \[\]"),
        ("[grids]\nepochs = [-2]", r"^model 'tuned': grid 'epochs': epochs must be a positive integer; got -2"),
        ("baseline_epochs = 0", r"^config .*grid.toml: baseline_epochs must be a positive integer; got 0"),
        ("[grids]\ndropout = [1.5]", r"dropout must be in \[0, 1\); got 1.5"),
        ("[tuned_defaults]\ndropout = 1.5", r"^model 'tuned': params: dropout must be in \[0, 1\); got 1.5"),
        ("grids = 3", r"^config .*grid.toml: field 'grids' must be a table; got 3"),
        ("colour = 1", r"unknown field 'colour'"),
        ("[grids]\nneurons3 = [5]", r"^model 'tuned': unknown grids entry 'neurons3'"),
        ("baseline_epochs = ", r"is not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, toml, message):
    config = tmp_path / "grid.toml"
    config.write_text(toml)
    with pytest.raises(BenchError, match=message):
        resolve("smoke", config)


def test_unknown_profile_and_negative_epochs():
    with pytest.raises(BenchError, match=r"unknown profile 'huge'; choose one of smoke, quick, reference"):
        profiles.resolve("huge")
    with pytest.raises(BenchError, match=r"command line: baseline_epochs must be a positive integer; got -3"):
        profiles.resolve("smoke", overrides={"baseline_epochs": -3})
