"""The model registry: any model runs through the same protocol, seeds, metrics, reports and gate.

A model is a ``ModelSpec`` (KerasTuner's ``build(hp)`` shape: a builder called with a dict of
parameters) in one module, plus its module's name in ``BUILTIN_MODULES``. Its spec names its family
(``bench.models.family``: how Keras models or scikit-learn estimators are fed, trained, searched,
costed and recorded), its default parameters per profile and, optionally, its tuning stages and
grids per profile. Users add models with ``NAME=path/to/file.py:function`` or
``NAME=package.module:function`` on the command line, ``[models.NAME]`` in a TOML config, or
the entry-point group ``fmbench.models`` (``bench.models.user``).

Nothing here imports Keras: specs build lazily, so the CLI can check a whole study's models
before TensorFlow starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError
from bench.models.family import Family, Fitted
from bench.models.keras_base import FAST, PLAIN, CompileOptions
from bench.models.keras_family import FIT_PARAMS, KERAS
from bench.models.params import check_grids, check_params
from bench.models.sklearn_family import SKLEARN
from bench.results import ModelRecord

# One entry per built-in model module; each defines SPECS, a list of ModelSpec.
BUILTIN_MODULES = ("bench.models.mlp", "bench.models.cnn", "bench.models.scikit")
# The families a user's factory may return a model of, asked in this order.
FAMILIES: tuple[Family, ...] = (KERAS, SKLEARN)

Stages = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: str  # "module:function" (or a file path) of the builder, recorded in every result
    build: Callable[[dict[str, Any]], Any]  # parameters (fit parameters left out) -> model or estimator
    defaults: Callable[[Any], dict[str, Any]]  # profile -> parameters (a Keras model's include epochs, batch size)
    constraints: Mapping[str, Any] = field(default_factory=dict)
    stages: Callable[[Any], Stages] = lambda profile: ()
    grids: Callable[[Any], dict[str, list]] = lambda profile: {}
    options: CompileOptions = FAST  # how the fast path trains it (per model: XLA does not pay for convolutions)
    compare_with: str | None = None  # the model whose result this one's sentence in the report is measured from
    source_sha256: str | None = None  # a user model's source file
    user: bool = False
    input_shape: tuple[int, ...] | None = None  # a Keras model's image shape if not 28x28 (28x28x1, 784)
    # fmbench perf's plain path: the model as a script would write it (float32 input scaled beforehand).
    reference: Callable[[dict[str, Any]], Any] | None = None
    # For the plan's estimate (bench.study.plan): seconds per training image per epoch at batch size 32
    # on a 2-core CPU (an estimator: per image of one fit), and what a stage is assumed to pick.
    cost: Callable[[dict[str, Any]], float] = lambda params: 1.1e-5
    assume: Mapping[str, Callable[[list], Any]] = field(default_factory=dict)
    family: Family = KERAS

    @property
    def kind(self) -> str:
        """The family's name, as result files record it."""
        return self.family.name

    def builder_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k not in FIT_PARAMS}


@dataclass(frozen=True)
class ModelSetup:
    """A model as one study runs it: the spec, its parameters and (if tuned) its stages and grids."""

    spec: ModelSpec
    params: dict[str, Any]
    stages: Stages
    grids: dict[str, list]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tuned(self) -> bool:
        return bool(self.stages)

    def record(self) -> ModelRecord:
        """What the manifest stores about it, so a report says exactly what ran."""
        return ModelRecord(kind=self.spec.kind, factory=self.spec.factory, source_sha256=self.spec.source_sha256,
                           tuned=self.tuned, params=self.params,
                           stages=[(name, list(names)) for name, names in self.stages], grids=self.grids,
                           compare_with=self.spec.compare_with)


_BUILTINS: dict[str, ModelSpec] = {}


def builtins() -> dict[str, ModelSpec]:
    """Built-in specs by name (imported on first use; none of them imports Keras at import time)."""
    if not _BUILTINS:
        for module in BUILTIN_MODULES:
            for spec in importlib.import_module(module).SPECS:
                _BUILTINS[spec.name] = spec
    return _BUILTINS


def _setup(spec: ModelSpec, profile, overrides: Mapping[str, Any], where: str) -> ModelSetup:
    params = {**spec.defaults(profile), **overrides.get("params", {})}
    check_params(f"{where}: params", overrides.get("params", {}), spec.constraints, strict=not spec.user)
    stages = tuple((str(n), tuple(p)) for n, p in overrides.get("stages", spec.stages(profile)))
    grids = {**spec.grids(profile), **overrides.get("grids", {})}
    check_grids(where, overrides.get("grids", {}), spec.constraints, strict=not spec.user)
    for stage_name, names in stages:
        for name in names:
            if name not in grids:
                raise BenchError(f"{where}: stage {stage_name!r} searches {name!r}, which has no grid",
                                 fix=f"add grids.{name} = [...]")
    return ModelSetup(spec, params, stages, grids)


def _check_tables(tables: Mapping[str, dict], known: Mapping[str, ModelSpec], installed: Callable[[], list]) -> None:
    """A [models.NAME] table sets up a built-in or installed model, or names its own factory: any other
    table is a mistake (a forgotten factory, a misspelt name) that used to be ignored while the study ran."""
    for name, table in tables.items():
        if "factory" not in table and name not in known and name not in installed():
            raise BenchError(f"[models.{name}] has no factory and {name!r} is not a built-in model",
                             fix=f'add factory = "file.py:function" to it, or name one of {", ".join(known)}')


def resolve(names: list[str], profile, where: str = "--models") -> list[ModelSetup]:
    """Each ``--models`` entry (a built-in name, or NAME=FACTORY for a user's model) and each
    ``[models.NAME]`` table of the config, checked and set up for ``profile``."""
    from bench.models import user

    known = builtins()
    tables: dict[str, dict] = dict(getattr(profile, "models", {}) or {})
    _check_tables(tables, known, user.entry_point_names)
    setups = []
    for entry in names:
        name, _, factory = entry.partition("=")
        table = tables.get(name, {})
        if factory or "factory" in table:
            spec = user.spec(name, factory or table["factory"], known, where if factory else f"[models.{name}]")
        elif name in known:
            spec = known[name]
        elif name in user.entry_point_names():
            spec = user.entry_point_spec(name)
        else:
            raise BenchError(f"unknown model {name!r}", fix=f"choose from {', '.join(known)}, or give "
                             f"NAME=path/to/file.py:function or NAME=package.module:function")
        setups.append(_setup(spec, profile, table, f"model {name!r}"))
    if len({s.name for s in setups}) != len(setups):
        raise BenchError(f"{where} names a model twice", value=[s.name for s in setups])
    return setups


__all__ = ["FAMILIES", "FAST", "FIT_PARAMS", "KERAS", "PLAIN", "SKLEARN", "CompileOptions", "Family", "Fitted",
           "ModelSetup", "ModelSpec", "builtins", "resolve"]
