"""Where units run. An executor takes units as they become ready (``submit``) and hands back each
one's outcome as it finishes (``results``, which goes on while units are pending, including those
submitted meanwhile). Three of them: this process (the default), a local Dask cluster
(``--workers N``) and an existing Dask cluster (``--scheduler tcp://HOST:PORT``); each is one module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Outcome:
    """A unit's return value, or the error that kept it from returning one (``value`` is then None)."""

    unit: Any
    value: Any = None
    error: str | None = None


class Executor:
    name = ""
    workers = 1  # units it runs at once (a cluster's: known once it has started)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        """Stop every unit still running and release what the executor started."""

    def submit(self, unit) -> None:
        raise NotImplementedError

    def results(self) -> Iterator[Outcome]:
        raise NotImplementedError


def make_executor(config, env, dataset, setups, progress) -> Executor:
    """The executor the study's options ask for."""
    if config.workers or config.scheduler:
        from bench.study.executors.dask_cluster import DaskExecutor

        return DaskExecutor(env, progress, workers=config.workers, address=config.scheduler)
    from bench.study.executors.in_process import InProcessExecutor

    return InProcessExecutor(env, dataset, setups, progress)
