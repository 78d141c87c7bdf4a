"""Studies as units on Dask: an existing cluster (``--scheduler``), a local one (``--workers``) that
loses a worker mid-study, and an in-process study that is killed and resumed. Every one must give
the numbers of an uninterrupted in-process study at the same ``--threads-per-run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import psutil
import pytest
from conftest import STUDIES, data_folder

from bench.format import plural
from bench.results import load_study
from bench.results.lockfile import holder
from bench.study.lock import LOCK_NAME

TINY = STUDIES.parent / "tiny.toml"
# A small real study: the smoke protocol, baseline and tuned, 2 seeds, 1,000 test images.
STUDY_ARGS = ("run", "--profile", "smoke", "--config", str(TINY), "--seeds", "0", "1", "--threads-per-run", "1")


def start_fmbench(*args: str) -> subprocess.Popen:
    """The CLI started in the background in its own process group (as a terminal's job), for tests
    that interrupt or race it."""
    env = {**os.environ, "FMBENCH_DATA_DIR": str(data_folder()), "TF_CPP_MIN_LOG_LEVEL": "3"}
    # Ctrl-C as a terminal would deliver it: a shell that started the test run in the background (`cmd &`)
    # hands it SIGINT ignored, Python then keeps it ignored, and this study ran to its end (seen here).
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir(),
                            start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"fmbench exited ({process.returncode}) before {what}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s")
        time.sleep(0.05)


def numbers(study) -> dict:
    """What must not depend on where or when a run ran: its parameters, scores and predictions."""
    return {r.file_name: (r.hyperparameters, r.metrics, r.history and r.history.loss, r.predictions.predicted)
            for r in study.runs}


@pytest.fixture(scope="module")
def uninterrupted(cli, tmp_path_factory) -> Path:
    """The reference: the same study, in this process's way (in-process), never interrupted."""
    out = tmp_path_factory.mktemp("uninterrupted") / "study"
    done = cli(*STUDY_ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def _cluster(tmp_path: Path) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, as a user starts them."""
    scheduler_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], stderr=subprocess.DEVNULL, env=quiet)]
    wait_for(lambda: scheduler_file.is_file() and scheduler_file.stat().st_size > 0, "the scheduler's file")
    address = json.loads(scheduler_file.read_text())["address"]
    processes += [subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host",
                                    "127.0.0.1", "--name", f"w{i}"], stderr=subprocess.DEVNULL, env=quiet)
                  for i in range(2)]
    return address, processes


def _stop(processes: list[subprocess.Popen]) -> None:
    """Workers first (each closes its own worker process; stopped after the scheduler, they would try
    to reach it again), then the scheduler; one too slow to stop on a busy machine is killed: stopping
    the user's cluster is not what the test checks."""
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)


def _workers(address: str) -> set[str]:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=120)
        return set(client.scheduler_info()["workers"])


def test_a_study_on_an_existing_cluster_matches_in_process_and_names_its_workers(cli, uninterrupted, tmp_path):
    address, processes = _cluster(tmp_path)
    try:
        workers = _workers(address)
        done = cli(*STUDY_ARGS, "--scheduler", address, "--out", str(tmp_path / "study"))
        assert done.returncode == 0, done.stderr
        assert f"running on {address}: 2 workers" in done.stderr and " on 2 workers" in done.stderr
    finally:
        _stop(processes)
    study, reference = load_study(tmp_path / "study"), load_study(uninterrupted)
    assert [r.file_name for r in study.runs] == [r.file_name for r in reference.runs]
    assert {r.worker for r in study.runs} <= workers and all(r.host for r in study.runs)
    assert numbers(study) == numbers(reference)
    assert study.manifest.tuning[0].best_params == reference.manifest.tuning[0].best_params
    assert study.manifest.sessions[0].executor == address


def test_a_local_cluster_loses_a_worker_mid_study_and_finishes(uninterrupted, tmp_path):
    out = tmp_path / "study"
    run = start_fmbench(*STUDY_ARGS, "--workers", "2", "--out", str(out))
    wait_for(lambda: any(out.glob("*-seed*.json")), "the first result file", run)
    workers = [p for p in psutil.Process(run.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, workers  # the driver's nannies start one process per worker
    workers[0].send_signal(signal.SIGKILL)
    _, stderr = run.communicate(timeout=900)
    assert run.returncode == 0, stderr
    study = load_study(out)  # strict: every file valid and consistent with its own evidence
    assert len(study.runs) == 4 and all(r.status == "ok" for r in study.runs)
    assert numbers(study) == numbers(load_study(uninterrupted))
    _, alive = psutil.wait_procs(workers[1:], timeout=60)  # a process's exit is reaped a moment after it
    assert not [p for p in alive if _running(p)], alive  # no orphans


CRASHING_MODEL = '''
import os
import keras


def build(params):
    """Builds in the driver (fmbench checks a model once); kills any Dask worker that builds it."""
    try:
        from distributed import get_worker

        get_worker()
        os._exit(1)
    except (ImportError, ValueError):
        pass
    inputs = keras.Input(shape=(28, 28, 1), dtype="uint8")
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
'''


@pytest.mark.slow
def test_a_unit_whose_worker_dies_every_time_is_recorded_failed_and_the_study_goes_on(cli, tmp_path):
    (tmp_path / "crash.py").write_text(CRASHING_MODEL)
    done = cli(*STUDY_ARGS, "--models", "baseline", f"crash={tmp_path / 'crash.py'}:build", "--workers", "1",
               "--out", str(tmp_path / "study"))
    assert done.returncode == 1, done.stderr
    assert "fmbench run: 2 runs failed: crash-seed" in done.stderr
    study = load_study(tmp_path / "study")
    crashed = [r for r in study.runs if r.model == "crash"]
    assert [r.status for r in crashed] == ["failed", "failed"]
    assert all("no result: KilledWorker" in r.error and r.worker == "none" for r in crashed)
    assert [r.status for r in study.runs if r.model == "baseline"] == ["ok", "ok"]


@pytest.mark.slow
def test_ctrl_c_stops_a_cluster_study_cleanly(tmp_path):
    out = tmp_path / "study"
    run = start_fmbench(*STUDY_ARGS, "--workers", "2", "--out", str(out))
    wait_for(lambda: any(out.glob("*-seed*.json")), "the first result file", run)
    workers = psutil.Process(run.pid).children(recursive=True)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "interrupted; results already written are kept" in stderr and "Traceback" not in stderr, stderr
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not [p for p in alive if _running(p)], (alive, stderr)
    assert not list(out.rglob("*.tmp")) and not (out / LOCK_NAME).exists(), list(out.iterdir())
    study = load_study(out, strict=False)  # cut short: incomplete, and said to be; every file on disk kept
    assert study.runs and all(r.status == "ok" for r in study.runs), study.problems
    assert {r.file_name for r in study.runs} == {p.name for p in out.glob("*-seed*.json")}, study.problems
    assert len(study.problems) == 1 and "the study is incomplete" in study.problems[0], study.problems


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # exited between the two questions
        return False


def test_a_killed_study_resumes_where_it_stopped(cli, uninterrupted, tmp_path):
    out = tmp_path / "study"
    run = start_fmbench(*STUDY_ARGS, "--out", str(out))
    wait_for(lambda: any(out.glob("*-seed*.json")), "the first result file", run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    kept = {p.name: p.read_bytes() for p in out.glob("*-seed*.json")}
    stages_done = _stages_on_disk(out)
    assert (out / LOCK_NAME).exists()  # a kill leaves its lock: the next run finds it stale
    done = cli(*STUDY_ARGS, "--out", str(out), "--resume")
    assert done.returncode == 0, done.stderr
    assert "taking over a stale lock" in done.stderr
    assert f"skipping {plural(len(kept), 'finished run')}" in done.stderr
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert not list(out.rglob("*.tmp")) and not (out / LOCK_NAME).exists() and not (out / "checkpoints").exists()
    study = load_study(out)
    assert numbers(study) == numbers(load_study(uninterrupted))
    assert [s.units_skipped for s in study.manifest.sessions] == [0, len(kept) + stages_done]


def _stages_on_disk(out: Path) -> int:
    """Tuning stages a study folder holds: finished searches' and unfinished ones' checkpoints (as
    --resume counts them: a kill between saving a finished search and dropping its checkpoint leaves both)."""
    searches = json.loads((out / "study.json").read_text())["tuning"]
    finished = {(t["model"], t["seed"]) for t in searches}
    checkpoints = [json.loads(p.read_text()) for p in out.glob("checkpoints/*.json")]
    return (sum(len(t["stages"]) for t in searches)
            + sum(len(c["stages"]) for c in checkpoints if (c["model"], c["seed"]) not in finished))


def test_a_study_killed_while_tuning_keeps_its_finished_stages(cli, uninterrupted, tmp_path):
    out = tmp_path / "study"
    checkpoint = out / "checkpoints" / "tuning-tuned-seed0.json"
    run = start_fmbench(*STUDY_ARGS, "--out", str(out))
    wait_for(checkpoint.is_file, "the first tuning checkpoint", run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    finished = json.loads(checkpoint.read_text())["stages"]
    assert 1 <= len(finished) < 6
    done = cli(*STUDY_ARGS, "--out", str(out), "--resume")
    assert done.returncode == 0, done.stderr
    assert f"and {plural(len(finished), 'stage')} of unfinished ones" in done.stderr
    stages = json.loads((out / "study.json").read_text())["tuning"][0]["stages"]
    assert stages[:len(finished)] == finished  # wall times and all: not run again
    assert [s["index"] for s in stages] == [1, 2, 3, 4, 5, 6]
    assert numbers(load_study(out)) == numbers(load_study(uninterrupted))


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(cli, tmp_path):
    out = tmp_path / "study"
    first = start_fmbench(*STUDY_ARGS, "--models", "baseline", "--out", str(out))
    wait_for(lambda: (holder(out / LOCK_NAME) or {}).get("pid") == first.pid, "the first run's lock", first)
    # Held still, lock and all, until the second has started and looked: on a busy machine the first can
    # otherwise finish its two runs first, and the second then meets a finished study instead.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = cli(*STUDY_ARGS, "--models", "baseline", "--out", str(out))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert f"is in use by fmbench (pid {first.pid} on " in second.stderr
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert load_study(out).manifest.runs == ["baseline-seed0.json", "baseline-seed1.json"]


def test_resume_refuses_another_study_naming_the_field(cli, smoke_study, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    for path in smoke_study.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    done = cli("run", "--profile", "smoke", "--config", str(TINY), "--seeds", "0", "1", "--out", str(folder),
               "--resume")
    assert done.returncode == 2, done.stderr
    assert "holds a different study: seeds is [0, 1, 2] there, [0, 1] here" in done.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_bad_cluster_options_are_one_line_and_exit_2(cli, tmp_path):
    for args, message in ((("--workers", "0"), "--workers must be at least 1"),
                          (("--threads-per-run", "0"), "--threads-per-run must be at least 1"),
                          (("--scheduler", "localhost:8786"), "--scheduler must be a Dask scheduler address"),
                          (("--scheduler", "tcp://127.0.0.1:9"), "cannot reach the Dask scheduler at tcp://127.0.0.1:9")):
        done = cli("run", "--profile", "smoke", *args, "--out", str(tmp_path / "x"))
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_the_watchdog_waits_replaces_a_local_clusters_lost_worker_then_gives_up():
    from bench.study.executors.dask_cluster import GIVE_UP_AFTER_S, REPLACE_AFTER_S, Watchdog

    dog = Watchdog(local=True)
    assert dog.step(0.0, 1) == "wait"
    assert [dog.step(t, 0) for t in (10.0, 10.0 + REPLACE_AFTER_S - 1)] == ["wait", "wait"]
    assert dog.step(10.0 + REPLACE_AFTER_S, 0) == "add worker"
    assert dog.step(11.0 + REPLACE_AFTER_S, 0) == "wait"  # the new worker gets its own time to start
    assert dog.step(10.0 + 2 * REPLACE_AFTER_S, 0) == "add worker"
    assert dog.step(10.0 + GIVE_UP_AFTER_S, 0) == "give up"
    assert dog.step(11.0 + GIVE_UP_AFTER_S, 3) == "wait" and dog.step(12.0 + GIVE_UP_AFTER_S, 0) == "wait"
    remote = Watchdog(local=False)  # nobody here can start a remote cluster's worker
    assert [remote.step(t, 0) for t in (0.0, REPLACE_AFTER_S, GIVE_UP_AFTER_S)] == ["wait", "wait", "give up"]


class _Quiet:
    quiet = True
    messages: typing.ClassVar[list[str]] = []

    def say(self, message: str) -> None:
        self.messages.append(message)


@pytest.mark.slow
def test_a_local_cluster_left_without_a_worker_gets_a_new_one_and_pending_units_fail_after_the_wait(
        monkeypatch):
    from types import SimpleNamespace

    from bench.study.executors import dask_cluster

    monkeypatch.setattr(dask_cluster, "REPLACE_AFTER_S", 0.5)
    with dask_cluster.DaskExecutor(SimpleNamespace(threads=1), _Quiet(), workers=1) as executor:
        executor.client.retire_workers(close_workers=True, remove=True)
        wait_for(lambda: not executor.client.scheduler_info()["workers"], "the worker's retirement", timeout=60)
        executor.pending["a-unit"] = "the unit"
        failed = list(executor._watch(dask_cluster.Watchdog(local=False, empty_since=-1e9)))
        assert [(o.unit, o.error) for o in failed] == [("the unit", "NoWorker: no Dask worker alive for 600 s")]
        dog = dask_cluster.Watchdog(local=True)
        deadline = time.monotonic() + 120
        while not executor.client.scheduler_info()["workers"] and time.monotonic() < deadline:
            list(executor._watch(dog))
        assert executor.client.scheduler_info()["workers"], "no new worker after 120 s"
        assert "no Dask worker for 0 s; starting a new one" in _Quiet.messages
    assert not executor.pending
