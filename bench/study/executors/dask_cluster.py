"""Units on a Dask cluster: a local one (``--workers N`` worker processes on 127.0.0.1) or an existing
one (``--scheduler tcp://HOST:PORT``, started with ``dask scheduler`` and ``dask worker``).

Each worker runs one unit at a time (one Dask thread) with TensorFlow at the study's thread count,
set by a worker plugin as the worker starts, before any unit imports TensorFlow. A worker that dies
mid-unit (killed, out of memory) costs that attempt only: the scheduler gives the unit to another
worker, up to ``ALLOWED_FAILURES`` times, then the driver records it failed and the study goes on.
A tuning stage's fits go to the same cluster through joblib's Dask backend.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

import dask
from distributed import Client, LocalCluster, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

from bench import tfruntime
from bench.errors import BenchError
from bench.format import plural
from bench.study import units
from bench.study.executors import Executor, Outcome

ALLOWED_FAILURES = 2  # deaths of a unit's worker before the unit counts as failed (Dask's default is 3)
CONNECT_TIMEOUT = "15s"


class ThreadsPlugin(WorkerPlugin):
    """Start TensorFlow with the study's thread count in every worker, present and future. A local
    cluster's workers also ignore Ctrl-C, which the terminal sends them too: the driver shuts them down
    (without this each printed a traceback of Dask's event loop)."""

    name = "fmbench-threads"

    def __init__(self, threads: int | None, ignore_interrupt: bool = False):
        self.threads, self.ignore_interrupt = threads, ignore_interrupt

    def setup(self, worker) -> None:
        if self.ignore_interrupt and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        tfruntime.start(self.threads)


def run_unit(unit, env: units.UnitEnv):
    """A unit on a worker; a stage's grid-search fits spread over the cluster."""
    if isinstance(unit, units.StageUnit):
        import joblib

        with joblib.parallel_backend("dask"):
            return units.execute(unit, env, parallel_search=True)
    return units.execute(unit, env)


class DaskExecutor(Executor):
    def __init__(self, env: units.UnitEnv, progress, workers: int | None = None, address: str | None = None):
        self.env, self.progress, self.workers, self.address = env, progress, workers, address
        self.name = address or f"local cluster of {workers} workers"
        self.cluster = self.client = None
        self.pending: dict[str, object] = {}
        self.completed = None

    def __enter__(self) -> DaskExecutor:
        quiet = logging.CRITICAL if self.progress.quiet else logging.ERROR
        # multiprocessing's resource tracker warns of the cluster's semaphore when Ctrl-C stops it early.
        os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
        # Saturation 1: a worker holds only the unit it runs, so its death costs no queued unit an attempt.
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                              "distributed.scheduler.worker-saturation": 1.0}):
            if self.address:
                self.client = _connect(self.address)
            else:
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address=None, silence_logs=quiet)
                self.client = Client(self.cluster)
        self.client.register_plugin(ThreadsPlugin(self.env.threads, ignore_interrupt=self.cluster is not None))
        self.completed = as_completed()
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))
        self.progress.say(f"running on {self.name}: {plural(self.workers, 'worker')}")
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:  # interrupted: closing mid-unit makes the nannies log errors nobody needs
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        for closable in (self.client, self.cluster):
            if closable is not None:
                closable.close()

    def submit(self, unit) -> None:
        future = self.client.submit(run_unit, unit, self.env, key=f"{unit.key}-{self.env.token}", pure=False)
        self.pending[future.key] = unit
        self.completed.add(future)

    def results(self):
        for future in self.completed:
            unit = self.pending.pop(future.key)
            try:
                yield Outcome(unit, future.result())
            except Exception as exc:  # its worker died every time, or a stage raised
                yield Outcome(unit, error=f"{type(exc).__name__}: {exc}")


def _connect(address: str) -> Client:
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise BenchError(f"cannot reach the Dask scheduler at {address} ({exc})", value=address,
                         fix="start one with 'dask scheduler' and 'dask worker ADDRESS', or check --scheduler") \
            from exc
