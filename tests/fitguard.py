"""The fast tier's guard: while armed, any model fit fails, in this process and in the processes it starts.

What counts as a fit, caught where the libraries start one (patched when each module is first imported,
so arming the guard imports nothing):

- Keras: ``keras.Model.fit`` and ``make_train_function`` (every model class but the epoch loop's), the
  epoch loop's ``bench.epochloop.fit_in_epochs``;
- scikit-learn: ``BaseEstimator._validate_params``, which every estimator's and every search's ``fit``
  (``GridSearchCV``, ``HalvingGridSearchCV``, ``LogisticRegression``, ...) calls first;
- the harness: ``bench.train.training.fit`` and each model family's ``fit`` (``bench.models.keras_family``,
  ``bench.models.sklearn_family``: an estimator that does not validate its parameters is caught there);
- scikeras: ``BaseWrapper.fit`` and ``partial_fit``.

tests/conftest.py arms it for every test not marked slow and puts ``fitguard_site/`` on PYTHONPATH, whose
``sitecustomize`` arms it in each Python process the test starts (``fmbench run``, Dask workers): a fit
there is written to the file named by ``FMBENCH_TEST_FIT_LOG``, which conftest reads after the test.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys

LOG_ENV = "FMBENCH_TEST_FIT_LOG"  # the file a started process reports a fit to
TEST_ENV = "FMBENCH_TEST_GUARDED"  # the test that started it
SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fitguard_site")

# module -> (class or None for a module-level function, attribute, what the message calls it)
TARGETS: dict[str, list[tuple[str | None, str, str]]] = {
    "keras": [("Model", "fit", "keras.Model.fit"), ("Model", "make_train_function", "keras.Model.make_train_function")],
    "sklearn.base": [("BaseEstimator", "_validate_params", "a scikit-learn estimator's or search's fit")],
    "scikeras.wrappers": [("BaseWrapper", "fit", "scikeras' fit"), ("BaseWrapper", "partial_fit", "scikeras' fit")],
    "bench.epochloop": [(None, "fit_in_epochs", "the epoch loop (bench.epochloop.fit_in_epochs)")],
    "bench.train.training": [(None, "fit", "bench.train.training.fit")],
    "bench.models.keras_family": [("KerasFamily", "fit", "the Keras family's fit")],
    "bench.models.sklearn_family": [("SklearnFamily", "fit", "the scikit-learn family's fit")],
}


class FitWhileGuarded(AssertionError):
    """A model was fitted by a test the fast tier runs."""


_armed: dict[str, str] = {}  # what: the test; log: the file started processes report to; here: this is its process
_found: list[str] = []  # fits refused in this process since the last take()


def arm(what: str, log: str) -> None:
    """Arm the guard in the test's own process: a fit raises FitWhileGuarded and is kept for take()."""
    install()
    _armed.update(what=what, log=log, here="yes")


def disarm() -> None:
    _armed.clear()


def take() -> list[str]:
    """The fits refused since the last call: in this process, and in those it started (the log file)."""
    refused, _found[:] = list(_found), []
    log = _armed.get("log")
    if log and os.path.exists(log):
        with open(log, encoding="utf-8") as handle:
            refused += [line.rstrip("\n") for line in handle if line.strip()]
        open(log, "w").close()
    return refused


def arm_from_environment() -> None:
    """In a process a guarded test started (fitguard_site/sitecustomize.py): armed if the test named its log."""
    log = os.environ.get(LOG_ENV)
    if log:
        install()
        _armed.update(what=os.environ.get(TEST_ENV, "a fast-tier test"), log=log)


def _refuse(label: str) -> None:
    if _armed.get("here"):
        _found.append(label)
        raise FitWhileGuarded(f"{_armed['what']} is not marked slow, and fits a model: {label}")
    found = f"in a process it started (pid {os.getpid()}: {' '.join(sys.argv)[:160]}): {label}"
    with open(_armed["log"], "a", encoding="utf-8") as handle:
        handle.write(found.replace("\n", " ") + "\n")
    raise FitWhileGuarded(f"{_armed['what']} is not marked slow, and fits a model {found}")


def _guarded(original, label: str):
    @functools.wraps(original)
    def guarded(*args, **kwargs):
        __tracebackhide__ = True  # pytest: a failing slow test's traceback shows the library, not this wrapper
        if _armed:
            _refuse(label)
        return original(*args, **kwargs)

    guarded.fitguard = True
    return guarded


def _patch(name: str, module) -> None:
    for owner_name, attribute, label in TARGETS[name]:
        owner = getattr(module, owner_name, None) if owner_name else module
        original = getattr(owner, attribute, None) if owner is not None else None
        if original is None or getattr(original, "fitguard", False):
            continue  # renamed or moved (the library-level patches still catch the fit), or patched already
        setattr(owner, attribute, _guarded(original, label))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a module in TARGETS, asks the other finders and patches the module
    once its own loader has run it."""

    def __init__(self):
        self.busy: set[str] = set()

    def find_spec(self, name, path, target=None):
        if name not in TARGETS or name in self.busy:
            return None
        self.busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(name, module)

        spec.loader.exec_module = exec_module  # on this module's own loader object: nothing else changes
        return spec


def install() -> None:
    """Patch what is imported already and, as it is imported, the rest of TARGETS (once per process)."""
    if any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _PatchOnImport())
    for name in TARGETS:
        if name in sys.modules:
            _patch(name, sys.modules[name])
