"""Study profiles (smoke, quick, reference) and their TOML overrides, validated.

A profile fixes the size of the protocol: the data, the default epochs of a Keras model without its
own, the batch size, the folds and the search. Each model's parameters, stages and grids per profile
are its own module's (``bench.models``); ``--config FILE.toml`` overrides any of them, a model's in
its ``[models.NAME]`` table.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

# User-facing defaults that name built-in models, all here: what `fmbench run` and `fmbench perf` run
# without --models, the model whose grid stage `fmbench perf` times, and the reference post's names for
# the tuned MLP's grids and defaults, kept as aliases of its [models.tuned] table.
DEFAULT_MODELS = ("baseline", "tuned")
PERF_MODELS = ("baseline",)
PERF_SEARCH_MODEL = "tuned"
TABLE_ALIASES = {"grids": ("tuned", "grids"), "tuned_defaults": ("tuned", "params")}
MODEL_TABLE_KEYS = ("factory", "params", "stages", "grids")
SEARCHES = ("exhaustive", "halving")


@dataclass
class Profile:
    name: str
    n_train: int | None  # None: all 60,000 training images
    n_test: int | None  # None: all 10,000 test images
    baseline_epochs: int  # a Keras model's epochs where it has none of its own (the baseline, a user's model)
    validation_fraction: float = 0.2
    batch_size: int = 32
    cv_folds: int = 3
    search: str = "exhaustive"
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # [models.NAME] tables of a config

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(name="smoke", n_train=3000, n_test=None, baseline_epochs=2, cv_folds=3),
    "quick": Profile(name="quick", n_train=None, n_test=None, baseline_epochs=10),
    "reference": Profile(name="reference", n_train=None, n_test=None, baseline_epochs=50),
}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def validate(profile: Profile, where: str) -> Profile:
    """Check every field; ``where`` names the source (profile or TOML file) in errors."""
    for name in ("baseline_epochs", "batch_size"):
        if not _positive_int(getattr(profile, name)):
            raise BenchError(f"{where}: {name} must be a positive integer", value=getattr(profile, name))
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
        if key not in known | set(TABLE_ALIASES):
            raise BenchError(f"{where}: unknown field {key!r}",
                             fix=f"known fields: {', '.join(sorted(known | set(TABLE_ALIASES)))}")
        if key in TABLE_ALIASES:
            if not isinstance(value, dict):
                raise BenchError(f"{where}: field {key!r} must be a table", value=value)
            model, part = TABLE_ALIASES[key]
            table = merged["models"].setdefault(model, {})  # its values are checked with the model's own
            table[part] = {**table.get(part, {}), **value}
        elif key == "models":
            merged[key] = _merge_tables(merged[key], value) if isinstance(value, dict) else value
        else:
            merged[key] = value
    return Profile(**merged)


def _merge_tables(base: dict[str, Any], tables: dict[str, Any]) -> dict[str, Any]:
    """[models.NAME] tables over earlier ones (an alias above, or the config under the command line):
    a table's params and grids are merged key by key, its other entries replaced."""
    merged = dict(base)
    for name, table in tables.items():
        if not isinstance(table, dict) or not isinstance(merged.get(name), dict):
            merged[name] = table
            continue
        merged[name] = {**merged[name], **table}
        for part in ("params", "grids"):
            if isinstance(base[name].get(part), dict) and isinstance(table.get(part), dict):
                merged[name][part] = {**base[name][part], **table[part]}
    return merged


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
    profile = dataclasses.replace(PROFILES[name], models={})
    if config is not None:
        profile = validate(_merge(profile, read_toml(config), f"config {config}"), f"config {config}")
    if overrides:
        profile = validate(_merge(profile, overrides, "command line"), "command line")
    return validate(profile, f"profile {name!r}")
