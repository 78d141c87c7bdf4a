"""Units of work: one (model, seed) run, or one stage of a tuning search. Each is a small picklable
spec that runs wherever an executor sends it (this process, or a Dask worker on another machine):
it loads the data itself (checking the study's digest), starts TensorFlow with the study's thread
count, seeds itself, trains and returns its record. It writes no result file: the driver writes those.
The one file a unit writes is a Keras run's trained model with ``--save-models`` (``bench.study.work``):
``NAME-seedN.keras`` at the study folder's path, on the machine that runs the unit.

What a unit needs from its study travels as a ``UnitEnv``: names (of models, the data folder, the
profile), never arrays or models, so a unit costs a few kilobytes to send.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import data as data_mod
from bench import environment, tfruntime
from bench.errors import BenchError
from bench.models import CompileOptions, ModelSetup
from bench.profiles import Profile
from bench.progress import Progress
from bench.results import RunResult
from bench.study import work
from bench.study.work import now


@dataclass(frozen=True)
class UnitEnv:
    """What every unit of one study session shares; ``token`` keys each process's caches."""

    token: str
    study: str
    profile: Profile
    requests: dict[str, str]  # model name -> its --models entry (a built-in name or NAME=FACTORY)
    data_dir: str  # absolute: resolved by the driver, so every worker reads the same folder
    data_digest: str
    threads: int | None
    options: CompileOptions | None
    out: Path
    save_models: bool


@dataclass(frozen=True, eq=False)
class RunUnit:
    model: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0  # estimated seconds (the plan's cost model)

    @property
    def key(self) -> str:
        return f"run-{self.model}-seed{self.seed}"

    @property
    def file_name(self) -> str:
        return f"{self.model}-seed{self.seed}.json"

    def describe(self) -> str:
        return f"{self.model} seed {self.seed}"


@dataclass(frozen=True, eq=False)
class StageUnit:
    model: str
    tune_seed: int
    index: int  # 0-based
    fixed: dict[str, Any] = field(default_factory=dict)  # earlier stages' winners over the model's params
    cost: float = 0.0

    @property
    def key(self) -> str:
        return f"tune-{self.model}-seed{self.tune_seed}-stage{self.index + 1}"

    def describe(self) -> str:
        return f"tuning {self.model} (seed {self.tune_seed}) stage {self.index + 1}"


Unit = RunUnit | StageUnit

_DATA: dict[str, data_mod.Dataset] = {}
_SETUPS: dict[tuple[str, str], ModelSetup] = {}


def install(env: UnitEnv, dataset: data_mod.Dataset, setups: list[ModelSetup]) -> None:
    """Seed this process's caches with what the driver already has (the in-process executor)."""
    _DATA[env.token] = dataset
    _SETUPS.update({(env.token, setup.name): setup for setup in setups})


def dataset_for(env: UnitEnv) -> data_mod.Dataset:
    if env.token not in _DATA:
        dataset = data_mod.load_dataset(env.data_dir)
        if dataset.digest != env.data_digest:
            raise BenchError(f"the data in {env.data_dir} on {socket.gethostname()} is not the study's",
                             value=dataset.digest, fix=f"give this worker the files with digest {env.data_digest}")
        _DATA.clear()  # one study's data per process at a time
        _DATA[env.token] = dataset
    return _DATA[env.token]


def setup_for(env: UnitEnv, name: str) -> ModelSetup:
    if (env.token, name) not in _SETUPS:
        from bench.models import resolve
        from bench.models.user import finalize

        _SETUPS[(env.token, name)] = finalize(resolve([env.requests[name]], env.profile)[0])
    return _SETUPS[(env.token, name)]


def where() -> tuple[str, str]:
    """(host, worker) of this process: the Dask worker's address, or "in-process"."""
    worker = "in-process"
    if "distributed" in sys.modules:
        from distributed import get_worker

        with contextlib.suppress(ValueError):
            worker = get_worker().address
    return socket.gethostname(), worker


@functools.cache
def _environment():
    return environment.collect()


def execute(unit: Unit, env: UnitEnv, progress: Progress | None = None, parallel_search: bool = False):
    """Run one unit here; a RunResult (ok or failed) for a run, a Stage for a tuning stage.

    ``parallel_search``: the stage's fits go to the current joblib backend (the Dask cluster)."""
    tfruntime.start(env.threads)
    progress = progress or Progress(quiet=True)
    dataset, setup = dataset_for(env), setup_for(env, unit.model)
    with _thread_limit(env.threads):
        if isinstance(unit, StageUnit):
            return work.stage(env, dataset, setup, unit, progress, parallel_search)
        return run(env, dataset, setup, unit, progress)


def _thread_limit(threads: int | None):
    """scikit-learn's own native thread pools (OpenMP, BLAS) at the study's count too."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def run(env: UnitEnv, dataset, setup: ModelSetup, unit: RunUnit, progress: Progress) -> RunResult:
    """Train and evaluate one (model, seed); its record, ok or failed (a failure never escapes)."""
    split = work.split_for(env.profile, dataset, unit.seed)
    record = work.run_record(env, dataset, setup, unit, split, _environment(), where())
    try:
        fields = work.train(env, setup, unit, split, progress)
        # Read once it has trained, not from the environment this process cached before its first unit:
        # whether op determinism was on while this run trained.
        record["environment"] = record["environment"].model_copy(
            update={"op_determinism": environment.op_determinism_enabled()})
        # The trained run's fields complete its record (its compile options: what the built model was compiled with).
        return RunResult(status="ok", **{**record, **fields}, finished=now())
    except Exception as exc:  # a run that fails is recorded, the study goes on
        progress.say(traceback.format_exc())
        return RunResult(status="failed", error=f"{type(exc).__name__}: {exc}", finished=now(), **record)


def failed_run(env: UnitEnv, unit: RunUnit, error: str) -> RunResult:
    """The record of a run that never returned (its worker died every time, or its search failed):
    made by the driver."""
    dataset, setup = dataset_for(env), setup_for(env, unit.model)
    split = work.split_for(env.profile, dataset, unit.seed)
    record = work.run_record(env, dataset, setup, unit, split, _environment(), (socket.gethostname(), "none"))
    return RunResult(status="failed", error=error, finished=now(), **record)


__all__ = ["RunUnit", "StageUnit", "Unit", "UnitEnv", "execute", "failed_run", "install"]
