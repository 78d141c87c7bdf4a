"""The user's own models: ``NAME=path/to/file.py:function``, ``NAME=package.module:function``,
``[models.NAME] factory = "..."`` in a config, or the entry-point group ``fmbench.models``.

The factory is called with the model's parameter dict (fit settings such as epochs left out) and
returns a Keras model or a scikit-learn estimator. Checking happens in two steps, both before any
training: ``spec`` checks the text, the file or module and the name (no import, so the CLI can do
it before TensorFlow starts); ``finalize`` imports the factory, builds each model once and checks
what came back (a Keras model or an estimator, 10 outputs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.models import FAMILIES, ModelSetup, ModelSpec
from bench.models.params import PositiveInt

ENTRY_POINT_GROUP = "fmbench.models"
# Fit settings are checked; any other parameter is the factory's to judge (checks are not strict).
USER_CONSTRAINTS = {"epochs": PositiveInt(), "batch_size": PositiveInt()}


def _parse(target: str, where: str) -> tuple[str, str]:
    module, sep, function = target.rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise BenchError(f"{where}: model factory {target!r} is not FILE.py:FUNCTION or MODULE:FUNCTION",
                         fix="e.g. mine=models/small.py:build or mine=mypackage.models:build")
    return module, function


def _is_file(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def spec(name: str, target: str, builtins: dict[str, ModelSpec], where: str) -> ModelSpec:
    """A user model's spec, checked without importing anything; its kind is settled by ``finalize``."""
    if name in builtins:
        raise BenchError(f"{where}: model name {name!r} clashes with a built-in model",
                         fix="give your model another name (NAME=FACTORY)")
    if not name.isidentifier():
        raise BenchError(f"{where}: model name {name!r} must be a plain name (letters, digits, _)")
    module, function = _parse(target, where)
    digest = None
    if _is_file(module):
        path = Path(module).absolute()
        if not path.is_file():
            raise BenchError(f"{where}: model file not found: {path}", fix="check the path before the ':'")
        target, digest = f"{path}:{function}", hashlib.sha256(path.read_bytes()).hexdigest()
    elif _find(module) is None:
        raise BenchError(f"{where}: model module {module!r} not found",
                         fix="install it, or give a file path (path/to/file.py:function)")
    return ModelSpec(name=name, factory=target, build=_unloaded(target),
                     defaults=lambda p: {"epochs": p.baseline_epochs, "batch_size": p.batch_size},
                     constraints=USER_CONSTRAINTS, source_sha256=digest, user=True)


def _find(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _unloaded(target: str):
    def build(params: dict[str, Any], options=None):
        raise RuntimeError(f"model factory {target} used before bench.models.user.finalize loaded it")
    return build


def load_factory(target: str, where: str):
    """Import the factory's module (a file or a module path) and return the function."""
    module_name, function = _parse(target, where)
    try:
        if _is_file(module_name):
            path = Path(module_name)
            unique = f"fmbench_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            loader_spec = importlib.util.spec_from_file_location(unique, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[unique] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:  # the user's code can raise anything on import
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BenchError(f"{where}: importing {module_name} failed: {type(exc).__name__}: {first}",
                         fix="fix the model's file (run it with python to see the traceback, or use --debug)") from exc
    factory = getattr(module, function, None)
    if not callable(factory):
        raise BenchError(f"{where}: {module_name} has no function {function!r}",
                         fix=f"define {function}(params) there, or name the right function after the ':'")
    return factory


def entry_point_names() -> list[str]:
    return [ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]


def entry_point_spec(name: str) -> ModelSpec:
    """An installed package's model: its entry point is a ModelSpec, or a factory ``module:function``."""
    (ep,) = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    loaded = ep.load()
    if isinstance(loaded, ModelSpec):
        return loaded
    return dataclasses.replace(spec(name, ep.value, {}, f"entry point {name!r}"),
                               build=_bound(loaded, ep.value))


def _bound(factory, target: str):
    def build(params: dict[str, Any], options=None):
        model = factory(dict(params))
        if options is None:  # how the scikit-learn family builds: the estimator as the factory made it
            return model
        from bench.models.keras_base import prepare

        return prepare(model, params, options)
    build.target = target
    return build


def finalize(setup: ModelSetup) -> ModelSetup:
    """Import a user model's factory, build it once, and settle its family; bad models are one line."""
    if not setup.spec.user:
        return setup
    where = f"model {setup.name!r}"
    factory = load_factory(setup.spec.factory, where)
    params = setup.spec.builder_params(setup.params)
    try:
        built = factory(dict(params))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BenchError(f"{where}: {setup.spec.factory} raised {type(exc).__name__}: {first}",
                         value=params or None, fix="check the factory and its params") from exc
    family = next((f for f in FAMILIES if f.accepts(built)), None)
    if family is None:
        raise BenchError(f"{where}: the factory returned {_a_type(built)}, neither a Keras model nor a "
                         "scikit-learn estimator", fix="return a keras.Model or an object with fit/predict/get_params")
    shape = family.check_built(built, where)
    spec = dataclasses.replace(setup.spec, family=family, build=_bound(factory, setup.spec.factory), input_shape=shape,
                               options=family.options_for(built, setup.spec.options))
    return dataclasses.replace(setup, spec=spec)


def _a_type(value) -> str:
    """'None', 'an int', 'a str': what a factory returned, in words."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
