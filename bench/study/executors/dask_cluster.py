"""Units on a Dask cluster: a local one (``--workers N`` worker processes on 127.0.0.1) or an existing
one (``--scheduler tcp://HOST:PORT``, started with ``dask scheduler`` and ``dask worker``).

Each worker runs one unit at a time (one Dask thread) with TensorFlow at the study's thread count,
set by a worker plugin as the worker starts, before any unit imports TensorFlow. A worker that dies
mid-unit (killed, out of memory) costs that attempt only: the scheduler gives the unit to another
worker, up to ``ALLOWED_FAILURES`` times, then the driver records it failed and the study goes on.
A tuning stage's fits go to the same cluster through joblib's Dask backend.

Results are gathered as soon as a unit finishes, not when the driver reaches them: a worker that dies
right after (as one whose next unit kills it does) would otherwise take the finished result with it,
and the scheduler would run the unit again. A cluster left with no worker is watched (``Watchdog``):
Dask's nanny restarts a dead worker, but a CI run once hung 30 minutes with units queued and no worker
to take them, so a local cluster gets a new worker after ``REPLACE_AFTER_S`` and units still pending
after ``GIVE_UP_AFTER_S`` without any worker are recorded failed, saying so.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass

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
REPLACE_AFTER_S = 60.0  # a local cluster without a worker this long gets a new one (a restart takes ~10 s)
GIVE_UP_AFTER_S = 600.0  # ... and pending units fail after this long without any worker
POLL_S = 0.2
WATCH_EVERY_S = 5.0  # an existing cluster's scheduler is asked for its workers this often, not every poll


@dataclass
class Watchdog:
    """What to do about a cluster that has no worker: wait, add one (a local cluster, once per
    ``REPLACE_AFTER_S`` without one) or give up on the pending units."""

    local: bool
    empty_since: float | None = None
    replaced_at: float | None = None

    def step(self, now: float, n_workers: int) -> str:
        if n_workers:
            self.empty_since = self.replaced_at = None
            return "wait"
        if self.empty_since is None:
            self.empty_since = now
        if now - self.empty_since >= GIVE_UP_AFTER_S:
            return "give up"
        if self.local and now - (self.replaced_at or self.empty_since) >= REPLACE_AFTER_S:
            self.replaced_at = now
            return "add worker"
        return "wait"


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
        self.asked_at, self.last_count = -WATCH_EVERY_S, 1

    def __enter__(self) -> DaskExecutor:
        quiet = logging.CRITICAL if self.progress.quiet else logging.ERROR
        logging.getLogger("distributed.scheduler").addFilter(_not_a_lost_result)
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
        self.completed = as_completed(with_results=True, raise_errors=False)
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
        watchdog = Watchdog(local=self.cluster is not None)
        while self.pending:
            if not self.completed.has_ready():
                yield from self._watch(watchdog)
                continue
            future, value = next(self.completed)
            unit = self.pending.pop(future.key)
            if future.status == "finished":
                yield Outcome(unit, value)
            else:  # its worker died every time, or a stage raised; an error comes as (type, value, traceback)
                error = value[1] if isinstance(value, tuple) else value
                yield Outcome(unit, error=f"{type(error).__name__}: {error}")

    def _workers_now(self) -> int:
        """Workers alive: a local cluster's own record, kept current by its comm with the scheduler (no
        round trip); an existing cluster's, asked of its scheduler at most every ``WATCH_EVERY_S``."""
        if self.cluster is not None:
            return len(self.cluster.scheduler_info.get("workers", {}))
        now = time.monotonic()
        if now - self.asked_at >= WATCH_EVERY_S:
            self.asked_at, self.last_count = now, len(self.client.scheduler_info(n_workers=-1)["workers"])
        return self.last_count

    def _watch(self, watchdog: Watchdog):
        """Wait a moment for a unit to finish; act on a cluster that has lost every worker."""
        time.sleep(POLL_S)
        action = watchdog.step(time.monotonic(), self._workers_now())
        if action == "add worker":
            self.progress.say(f"no Dask worker for {REPLACE_AFTER_S:.0f} s; starting a new one")
            self.cluster.scale(len(self.cluster.worker_spec) + 1)
        elif action == "give up":
            for key, unit in list(self.pending.items()):
                del self.pending[key]
                yield Outcome(unit, error=f"NoWorker: no Dask worker alive for {GIVE_UP_AFTER_S:.0f} s")
            self.completed.clear()


def _not_a_lost_result(record: logging.LogRecord) -> bool:
    """The scheduler logs "Couldn't gather keys" as an ERROR when a finished unit's worker died before its
    result was fetched; it then runs the unit again, so nothing is lost and the user has nothing to do."""
    return not record.getMessage().startswith("Couldn't gather keys")


def _connect(address: str) -> Client:
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise BenchError(f"cannot reach the Dask scheduler at {address} ({exc})", value=address,
                         fix="start one with 'dask scheduler' and 'dask worker ADDRESS', or check --scheduler") \
            from exc
