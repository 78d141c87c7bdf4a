"""Study profiles (smoke, quick, reference) and their TOML overrides, validated.

A profile fixes the data size, the epochs, the six grid-search stages of the
reference protocol and their grids. ``--config FILE.toml`` overrides any of them.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.models.keras_base import ACTIVATIONS, INITIALIZERS, OPTIMIZERS
from bench.models.mlp import STAGES

TUNED_DEFAULTS: dict[str, Any] = {
    "epochs": 10, "batch_size": 32, "learning_rate": 0.001, "dropout": 0.0, "activation": "relu",
    "kernel_initializer": "glorot_uniform", "neurons1": 128, "neurons2": 64, "optimizer": "adam",
}
DEFAULT_MODELS = ("baseline", "tuned")
MODEL_TABLE_KEYS = ("factory", "params", "stages", "grids")
SEARCHES = ("exhaustive", "halving")


@dataclass
class Profile:
    name: str
    n_train: int | None  # None: all 60,000 training images
    n_test: int | None  # None: all 10,000 test images
    baseline_epochs: int
    grids: dict[str, list[Any]]
    validation_fraction: float = 0.2
    batch_size: int = 32
    cv_folds: int = 3
    search: str = "exhaustive"
    tuned_defaults: dict[str, Any] = field(default_factory=lambda: dict(TUNED_DEFAULTS))
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # [models.NAME] tables of a config

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", n_train=3000, n_test=None, baseline_epochs=2, cv_folds=3,
        grids={"epochs": [1, 2], "batch_size": [32, 64], "learning_rate": [0.001, 0.003], "dropout": [0.0],
               "activation": ["relu", "tanh"], "kernel_initializer": ["glorot_uniform"],
               "neurons1": [64, 128], "neurons2": [64], "optimizer": ["adam", "rmsprop"]},
    ),
    "quick": Profile(
        name="quick", n_train=None, n_test=None, baseline_epochs=10,
        grids={"epochs": [5, 10], "batch_size": [32, 128], "learning_rate": [0.001, 0.003],
               "dropout": [0.0, 0.2], "activation": ["relu", "tanh"],
               "kernel_initializer": ["glorot_uniform", "he_normal"], "neurons1": [128, 256],
               "neurons2": [64, 128], "optimizer": ["adam", "rmsprop"]},
    ),
    "reference": Profile(
        name="reference", n_train=None, n_test=None, baseline_epochs=50,
        grids={"epochs": [10, 20, 30, 50], "batch_size": [16, 32, 64, 128],
               "learning_rate": [0.0001, 0.001, 0.01], "dropout": [0.0, 0.1, 0.2],
               "activation": ["relu", "tanh", "sigmoid"],
               "kernel_initializer": ["glorot_uniform", "he_normal", "uniform"],
               "neurons1": [64, 128, 256], "neurons2": [32, 64, 128],
               "optimizer": ["sgd", "rmsprop", "adagrad", "adam", "adamax", "nadam"]},
    ),
}

_POSITIVE_INTS = ("epochs", "batch_size", "neurons1", "neurons2")
_CHOICES = {"activation": ACTIVATIONS, "kernel_initializer": INITIALIZERS, "optimizer": OPTIMIZERS}


def _check_value(where: str, name: str, value: Any) -> None:
    if name in _POSITIVE_INTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchError(f"{where}: {name} must be a positive integer", value=value)
    elif name in _CHOICES:
        if value not in _CHOICES[name]:
            raise BenchError(f"{where}: unknown {name} {value!r}", fix=f"choose one of {', '.join(_CHOICES[name])}")
    elif name == "learning_rate":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise BenchError(f"{where}: learning_rate must be a number above 0", value=value)
    elif name == "dropout" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not 0 <= value < 1):
        raise BenchError(f"{where}: dropout must be in [0, 1)", value=value)


def validate(profile: Profile, where: str) -> Profile:
    """Check every field; ``where`` names the source (profile or TOML file) in errors."""
    if isinstance(profile.baseline_epochs, bool) or not isinstance(profile.baseline_epochs, int) \
            or profile.baseline_epochs < 1:
        raise BenchError(f"{where}: baseline_epochs must be a positive integer", value=profile.baseline_epochs)
    for name in ("n_train", "n_test"):
        value = getattr(profile, name)
        if value is not None and (not isinstance(value, int) or value < 100):
            raise BenchError(f"{where}: {name} must be an integer of at least 100, or absent for all", value=value)
    if not isinstance(profile.cv_folds, int) or profile.cv_folds < 2:
        raise BenchError(f"{where}: cv_folds must be an integer of at least 2", value=profile.cv_folds)
    if not 0 < profile.validation_fraction < 1:
        raise BenchError(f"{where}: validation_fraction must be between 0 and 1", value=profile.validation_fraction)
    if profile.search not in SEARCHES:
        raise BenchError(f"{where}: unknown search {profile.search!r}", fix=f"choose one of {', '.join(SEARCHES)}")
    _check_value(where, "batch_size", profile.batch_size)
    for _, names in STAGES:
        for name in names:
            grid = profile.grids.get(name)
            if not isinstance(grid, list) or not grid:
                raise BenchError(f"{where}: grid '{name}' is empty", value=grid, fix="give at least one value")
            for value in grid:
                _check_value(f"{where}: grid '{name}'", name, value)
    for name, value in profile.tuned_defaults.items():
        _check_value(f"{where}: tuned_defaults", name, value)
    _check_model_tables(profile.models, where)
    return profile


def _check_model_tables(models: Any, where: str) -> None:
    """The shape of [models.NAME] tables; their values are checked against each model's constraints."""
    if not isinstance(models, dict):
        raise BenchError(f"{where}: field 'models' must be a table of [models.NAME] tables", value=models)
    for name, table in models.items():
        if not isinstance(table, dict):
            raise BenchError(f"{where}: [models.{name}] must be a table", value=table)
        unknown = set(table) - set(MODEL_TABLE_KEYS)
        if unknown:
            raise BenchError(f"{where}: [models.{name}] has unknown key {sorted(unknown)[0]!r}",
                             fix=f"known: {', '.join(MODEL_TABLE_KEYS)}")
        for key, kind in (("factory", str), ("params", dict), ("grids", dict), ("stages", list)):
            if key in table and not isinstance(table[key], kind):
                raise BenchError(f"{where}: [models.{name}] {key} must be a {kind.__name__}", value=table[key])
        for stage in table.get("stages", []):
            if not (isinstance(stage, list) and len(stage) == 2 and isinstance(stage[0], str)
                    and isinstance(stage[1], list) and stage[1]):
                raise BenchError(f"{where}: [models.{name}] stages must be [name, [parameters]] pairs",
                                 value=stage, fix='e.g. stages = [["learning rate", ["learning_rate"]]]')


def _merge(base: Profile, overrides: dict[str, Any], where: str) -> Profile:
    known = {f.name for f in dataclasses.fields(Profile)} - {"name"}
    merged = base.as_dict()
    for key, value in overrides.items():
        if key not in known:
            raise BenchError(f"{where}: unknown field {key!r}", fix=f"known fields: {', '.join(sorted(known))}")
        if key == "models":
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
        elif key in ("grids", "tuned_defaults"):
            if not isinstance(value, dict):
                raise BenchError(f"{where}: field {key!r} must be a table", value=value)
            unknown = set(value) - set(TUNED_DEFAULTS)
            if unknown:
                raise BenchError(f"{where}: unknown {key} entry {sorted(unknown)[0]!r}",
                                 fix=f"known: {', '.join(TUNED_DEFAULTS)}")
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return Profile(**merged)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise BenchError(f"config file missing: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"config file {path} is not valid TOML ({exc})") from exc


def resolve(name: str, config: Path | None = None, overrides: dict[str, Any] | None = None) -> Profile:
    """The named profile, with a TOML file's and then command-line overrides applied, validated."""
    if name not in PROFILES:
        raise BenchError(f"unknown profile {name!r}", fix=f"choose one of {', '.join(PROFILES)}")
    profile = dataclasses.replace(PROFILES[name], grids=dict(PROFILES[name].grids), models={})
    if config is not None:
        profile = validate(_merge(profile, read_toml(config), f"config {config}"), f"config {config}")
    if overrides:
        profile = validate(_merge(profile, overrides, "command line"), "command line")
    return validate(profile, f"profile {name!r}")
