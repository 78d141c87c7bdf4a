"""The history store: one entry per recorded study, kept across commits, machines and software stacks.

An entry (``HistoryEntry``, kind ``history-entry``) is one complete, verified study boiled down to what
change over time is judged on: per model and seed, the accuracies, losses, gaps, per-class F1, the
steady-state epoch time, inference speed, parameters and FLOPs; and per entry, the commit (with its parent,
branch, time and subject), the machine and software stack (each with a short digest that names it), the
profile, a digest of the settings, the data's digest and the threads per run.

Layout: a store is a folder (or any fsspec URL: ``memory://``, ``s3://``, ``gs://``...) holding one JSON
file per entry and nothing else that is read::

    .fmbench/history/
        <commit12>-<machine_id>-<stack_id>-<study12>.json
        ...

The name is a function of the entry's content (commit, machine, stack and the study's own digest), and the
file's bytes are a function of the entry (sorted keys, fixed indentation), so re-adding a study finds its
file already there, byte-identical, and leaves it alone. The store is append-only: a file is never rewritten,
so a different entry under a taken name is refused, and a study already recorded under another name
(another commit) is refused too, so that no seed is ever counted twice. Two CI runners adding different
studies write different files: the folder merges without conflicts (a git branch, a CI cache, a bucket).
There is no index: every read lists and validates the files themselves, which stay the only source of truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import ValidationError, model_validator

from bench.errors import BenchError
from bench.format import MISSING, percent
from bench.results.migrations import REMAKE, migrate
from bench.results.schema import CONFIG_IN_MODEL_SPECS, Environment, Record, RunResult
from bench.results.store import Study

# 1: the first version. Its own sequence (bench.results.migrations, kind "history-entry").
HISTORY_SCHEMA_VERSION = 1
HISTORY_KIND = "history-entry"
ENV_VAR = "FMBENCH_HISTORY"
DEFAULT_LOCATION = ".fmbench/history"
ID_LENGTH = 8  # machine and stack ids: hex digits, enough that two fingerprints never share one in practice
NAME_DIGITS = 12  # commit and study digest in a file name: as unambiguous as a short git hash
COMMIT_FIX = "pass --commit SHA or run inside the git checkout"


def digest(value: Any, length: int | None = None) -> str:
    """SHA-256 of a JSON value in canonical form (sorted keys, no spaces): the same value, the same digest,
    whatever order its dicts were built in."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class Machine(Record):
    """What a machine is, not which one: two identical CI runners share a fingerprint (no hostname)."""

    cpu_model: str
    cpu_cores: int
    memory_gib: int  # whole GiB: the kernel's count wobbles by a fraction between boots
    gpus: list[str]

    @classmethod
    def of(cls, env: Environment) -> Machine:
        return cls(cpu_model=env.cpu_model, cpu_cores=env.cpu_cores, memory_gib=round(env.memory_gib),
                   gpus=list(env.gpus))


class Stack(Record):
    """The software that numbers depend on; None: the run did not record that package."""

    python: str
    tensorflow: str | None
    keras: str | None
    keras_backend: str
    scikit_learn: str | None
    fmbench: str | None

    @classmethod
    def of(cls, env: Environment) -> Stack:
        packages = env.packages
        return cls(python=env.python, tensorflow=packages.get("tensorflow"), keras=packages.get("keras"),
                   keras_backend=env.keras_backend, scikit_learn=packages.get("scikit-learn"),
                   fmbench=packages.get("fmbench"))


class RunFigures(Record):
    """One (model, seed) run's figures, flat: an entry holds models x seeds of them."""

    model: str
    seed: int
    test_accuracy: float
    test_loss: float
    validation_accuracy: float
    validation_loss: float
    train_accuracy: float
    train_loss: float
    gap_train_test: float
    gap_train_validation: float
    f1: list[float]  # per class, in the entry's class_names order
    epoch_s: float | None  # steady state: mean epoch time leaving out the first (tracing, compiling); None
    # for an estimator (no epochs) or a one-epoch run (no steady state to see)
    images_per_s: float  # inference on the test set: test images over the median timed pass
    total_params: int | None
    flops_per_image: int | None  # forward pass; None where the run did not count them

    @classmethod
    def of(cls, run: RunResult) -> RunFigures:
        m = run.metrics
        steady = run.history.steady_epoch_s if run.history else None  # as METRICS["epoch_s"] reads it
        return cls(model=run.model, seed=run.seed, test_accuracy=m.test.accuracy, test_loss=m.test.loss,
                   validation_accuracy=m.validation.accuracy, validation_loss=m.validation.loss,
                   train_accuracy=m.train.accuracy, train_loss=m.train.loss,
                   gap_train_test=run.gaps.train_minus_test, gap_train_validation=run.gaps.train_minus_validation,
                   f1=list(run.per_class.f1), epoch_s=steady, images_per_s=run.timings.images_per_s,
                   total_params=run.total_params, flops_per_image=run.flops_per_image)


class HistoryEntry(Record):
    schema_version: int = HISTORY_SCHEMA_VERSION
    kind: Literal["history-entry"] = HISTORY_KIND
    commit: str
    parent: str | None  # first parent; None for a root commit or a commit not in the checkout
    branch: str | None  # None: detached HEAD and no --branch
    commit_time: str | None  # committer time, ISO 8601 with its offset; None: commit given, not in a checkout
    subject: str | None
    study: str
    study_digest: str  # SHA-256 of the study's validated manifest and runs: what "the same study" means
    finished: str  # when the study finished: orders entries whose commit time is unknown
    machine: Machine
    machine_id: str
    stack: Stack
    stack_id: str
    profile: str
    config_digest: str  # the settings of the whole study (see settings())
    model_config_digests: dict[str, str]  # per model: its settings alone, so adding a model changes no other's
    data_digest: str
    threads_per_run: int | None
    n_test: int
    seeds: list[int]
    models: list[str]
    class_names: list[str]
    runs: list[RunFigures]

    @model_validator(mode="after")
    def _consistent(self) -> HistoryEntry:
        """Ids that are not their fingerprints' digests, or runs that are not models x seeds, were edited."""
        if self.machine_id != digest(self.machine.model_dump(mode="json"), ID_LENGTH):
            raise ValueError(f"machine_id {self.machine_id} is not the digest of its machine")
        if self.stack_id != digest(self.stack.model_dump(mode="json"), ID_LENGTH):
            raise ValueError(f"stack_id {self.stack_id} is not the digest of its stack")
        if sorted((r.model, r.seed) for r in self.runs) != sorted((m, s) for m in self.models for s in self.seeds):
            raise ValueError("runs are not one per model and seed")
        return self

    @property
    def file_name(self) -> str:
        return f"{self.commit[:NAME_DIGITS]}-{self.machine_id}-{self.stack_id}-{self.study_digest[:NAME_DIGITS]}.json"

    @property
    def when(self) -> datetime:
        """The entry's place in time: its commit's time, else its study's end (both aware, compared in UTC)."""
        return _aware(datetime.fromisoformat(self.commit_time or self.finished))

    def to_bytes(self) -> bytes:
        """The file's exact bytes: the same entry always writes the same file."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, allow_nan=False)
        return (text + "\n").encode("utf-8")


# --- git ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GitInfo:
    commit: str
    parent: str | None = None
    branch: str | None = None
    commit_time: str | None = None
    subject: str | None = None


def _git(cwd: Path, *args: str) -> str | None:
    """git's output, or None when git is missing, fails or says no (not a checkout, no such commit)."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    # Only the final newline goes: a root commit's parent line is empty, and stripping it would shift the rest.
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def git_info(cwd: Path | str, commit: str | None = None, branch: str | None = None) -> GitInfo:
    """The commit to record (``commit``, else HEAD of the checkout ``cwd`` is in) with its parent, branch,
    time and subject as that checkout knows them. A commit given but unknown there (a shallow clone, no
    checkout at all) is recorded by its SHA alone; no commit and no checkout is bad input."""
    if commit is not None and not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit):
        raise BenchError("--commit must be a git commit SHA (7 to 40 hex digits)", value=commit, fix=COMMIT_FIX)
    cwd = Path(cwd)
    if _git(cwd, "rev-parse", "--is-inside-work-tree") != "true":
        if commit is None:
            raise BenchError(f"{cwd} is not inside a git checkout, so the commit to record is unknown",
                             fix=COMMIT_FIX)
        return GitInfo(commit.lower(), branch=branch)
    full = _git(cwd, "rev-parse", "--verify", "--quiet", f"{commit or 'HEAD'}^{{commit}}")
    if full is None:
        if commit is None:
            raise BenchError(f"the git checkout at {cwd} has no commit yet", fix=COMMIT_FIX)
        return GitInfo(commit.lower(), branch=branch)
    shown = (_git(cwd, "show", "-s", "--format=%P%n%cI%n%s", full) or "").split("\n", 2)
    parents, when, subject = [*shown, "", ""][:3]  # git printing less than asked leaves the rest unknown
    if branch is None and full == _git(cwd, "rev-parse", "HEAD"):
        branch = _git(cwd, "symbolic-ref", "--short", "--quiet", "HEAD")  # None when HEAD is detached
    return GitInfo(full, parents.split()[0] if parents.split() else None, branch or None, when or None,
                   subject or None)


# --- entries -----------------------------------------------------------------------------------------------

# Configuration keys that only feed models' parameters (and those the specs hold, CONFIG_IN_MODEL_SPECS):
# left out of a model's own digest, so that a change to one model (the baseline's epochs) changes no other's.
MODEL_KEYS = ("baseline_epochs", "batch_size", *CONFIG_IN_MODEL_SPECS)


def settings(study: Study, model: str | None = None) -> dict[str, Any]:
    """What makes two studies "the same settings" (the whole study's, or one ``model``'s): profile, resolved
    configuration, search, tuning per seed and the models' specs. Not the seeds, the machine, the stack,
    threads or data: those have their own fields, so that entries differing only there can be pooled, or
    told apart, on purpose."""
    manifest = study.manifest
    shared = {"profile": manifest.profile, "search": manifest.search, "tune_per_seed": manifest.tune_per_seed}
    specs = {name: spec.model_dump(mode="json") for name, spec in manifest.model_specs.items()}
    if model is None or model not in specs:  # a manifest migrated from schema 1 has no specs: all of the config
        mine = {"model_specs": specs} if model is None else {"config": manifest.config, "model": model}
        return {**shared, "config": _without(manifest.config, CONFIG_IN_MODEL_SPECS), **mine}
    return {**shared, "config": _without(manifest.config, MODEL_KEYS), "model_spec": specs[model]}


def _without(config: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in keys}


def study_digest(study: Study) -> str:
    """The study's identity: its validated manifest and runs (as read, so migrated files keep theirs)."""
    return digest([study.manifest.model_dump(mode="json"), *(run.model_dump(mode="json") for run in
                                                             sorted(study.runs, key=lambda r: r.file_name))])


def _one(study: Study, what: str, values: list[Any]) -> Any:
    """The single value every run agrees on; an entry holds one machine, one stack, one test set."""
    distinct = list({json.dumps(v, sort_keys=True, default=str): v for v in values}.values())
    if len(distinct) != 1:
        raise BenchError(f"{study.folder}: its runs disagree on the {what}, and a history entry holds one",
                         value=[str(v) for v in distinct], fix="record studies whose runs share it")
    return distinct[0]


def _complete_runs(study: Study) -> list[RunResult]:
    failed = [f"{r.model} seed {r.seed}" for r in study.runs if r.status != "ok"]
    if failed:
        raise BenchError(f"{study.folder}: cannot record a study with failed runs in the history", value=failed,
                         fix="re-run the study until every run succeeds")
    if not study.runs:
        raise BenchError(f"{study.folder}: the study has no runs to record")
    manifest = study.manifest
    by_key = {(r.model, r.seed): r for r in study.runs}
    return [by_key[(model, seed)] for model in manifest.models for seed in manifest.seeds]


def entry_from_study(study: Study, git: GitInfo | None = None) -> HistoryEntry:
    """The entry for a study read with ``load_study(folder, strict=True)``. Without ``git``, the commit the
    study recorded itself (its environment's) is used, with nothing else about it known."""
    runs, manifest = _complete_runs(study), study.manifest
    if git is None:
        if manifest.environment.git_commit is None:
            raise BenchError(f"{study.folder}: the study recorded no git commit", fix=COMMIT_FIX)
        git = GitInfo(manifest.environment.git_commit)
    machine = Machine.model_validate(_one(study, "machine", [Machine.of(r.environment).model_dump() for r in runs]))
    stack = Stack.model_validate(_one(study, "software stack", [Stack.of(r.environment).model_dump() for r in runs]))
    data_digest, n_test = _one(study, "test data", [(r.data.digest, r.data.n_test) for r in runs])
    return HistoryEntry(
        commit=git.commit, parent=git.parent, branch=git.branch, commit_time=git.commit_time, subject=git.subject,
        study=manifest.study, study_digest=study_digest(study), finished=manifest.finished,
        machine=machine, machine_id=digest(machine.model_dump(mode="json"), ID_LENGTH),
        stack=stack, stack_id=digest(stack.model_dump(mode="json"), ID_LENGTH), profile=manifest.profile,
        config_digest=digest(settings(study), 16),
        model_config_digests={m: digest(settings(study, m), 16) for m in manifest.models},
        data_digest=data_digest, threads_per_run=manifest.threads_per_run, n_test=n_test,
        seeds=list(manifest.seeds), models=list(manifest.models),
        class_names=list(runs[0].per_class.class_names), runs=[RunFigures.of(r) for r in runs])


# --- the store ---------------------------------------------------------------------------------------------

def resolve_location(flag: str | None = None) -> str:
    """--history, else $FMBENCH_HISTORY, else .fmbench/history (relative to the current folder)."""
    return flag or os.environ.get(ENV_VAR) or DEFAULT_LOCATION


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_since(text: str | None) -> datetime | None:
    """--since: an ISO date (midnight UTC) or date and time (UTC unless it names its offset)."""
    if text is None:
        return None
    try:
        return _aware(datetime.fromisoformat(text) if "T" in text or " " in text
                      else datetime.combine(date.fromisoformat(text), datetime.min.time()))
    except ValueError:
        raise BenchError("--since must be an ISO date such as 2026-11-30 or 2026-11-30T09:00:00+00:00",
                         value=text) from None


def _parse(data: bytes, where: str) -> HistoryEntry:
    """One entry file's bytes, migrated and validated; every problem is a BenchError naming the file."""
    fix = f"the file is damaged; delete it and {REMAKE[HISTORY_KIND]}"
    try:
        payload = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{where}: not valid JSON ({exc})", fix=fix) from exc
    if not isinstance(payload, dict):
        raise BenchError(f"{where}: expected a JSON object", value=type(payload).__name__, fix=fix)
    payload = migrate(payload, where, HISTORY_KIND, HISTORY_SCHEMA_VERSION)  # type: ignore[arg-type]
    try:
        return HistoryEntry.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BenchError(f"{where}: invalid HistoryEntry, field '{field}': {first['msg']}", fix=fix) from exc


class HistoryStore:
    """A folder of entry files on any fsspec file system; ``location`` is a path or a URL."""

    def __init__(self, location: str):
        self.location = str(location)
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.location)
        except (ImportError, ValueError) as exc:  # an unknown protocol, or its package not installed
            raise BenchError(f"history location {self.location} cannot be opened: {exc}",
                             fix="install the fsspec package for that protocol (e.g. s3fs, gcsfs), or pass a "
                                 "folder") from exc
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)

    def show(self, path: str) -> str:
        """How a path in the store is named to the user: a plain path on disk, else the location as given (a URL;
        fsspec's own form of it can differ, as memory://x becoming memory:///x) and the file's name."""
        return path if self.local else f"{self.location.rstrip('/')}/{Path(path).name}"

    def add(self, entry: HistoryEntry) -> tuple[str, bool]:
        """Record ``entry``: (its file as shown, True if written; False if already there, byte-identical)."""
        path, data = f"{self.root}/{entry.file_name}", entry.to_bytes()
        if self.fs.exists(path):
            if self.fs.cat_file(path) == data:
                return self.show(path), False
            raise BenchError(f"{self.show(path)} already records this study with other details (commit, branch "
                             "or figures differ); history entries are never rewritten",
                             fix="delete that file first if it is wrong, or record under another --commit")
        elsewhere = self._files(f"*-{entry.study_digest[:NAME_DIGITS]}.json")
        if elsewhere:
            raise BenchError(f"study {entry.study} is already recorded as {self.show(elsewhere[0])}; one study is "
                             "one entry, so its seeds are never counted twice",
                             fix="delete that file first if it names the wrong commit")
        self._write(path, data)
        return self.show(path), True

    def _write(self, path: str, data: bytes) -> None:
        """Atomically: readers (another CI runner) never see half an entry."""
        if self.local:
            from bench.results.store import write_bytes_atomic

            write_bytes_atomic(Path(path), data)
            return
        self.fs.makedirs(self.root, exist_ok=True)
        temporary = f"{self.root}/.{Path(path).name}.{uuid.uuid4().hex}.tmp"  # hidden: never read as an entry
        self.fs.pipe_file(temporary, data)
        try:
            self.fs.mv(temporary, path)
        finally:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)

    def _files(self, pattern: str = "*.json") -> list[str]:
        if not self.fs.isdir(self.root):
            return []
        return sorted(p for p in self.fs.glob(f"{self.root}/{pattern}") if not Path(p).name.startswith("."))

    def read(self, path: str) -> HistoryEntry:
        """One entry file, validated, and named as its content says (a renamed file would mislead)."""
        entry = _parse(self.fs.cat_file(path), self.show(path))
        if Path(path).name != entry.file_name:
            raise BenchError(f"{self.show(path)}: the file's name does not match its content, which names "
                             f"{entry.file_name}", fix=f"rename it to {entry.file_name}")
        return entry

    def entries(self, *, model: str | None = None, machine_id: str | None = None, branch: str | None = None,
                since: str | datetime | None = None) -> list[HistoryEntry]:
        """Every entry, read and validated afresh, that matches the filters, in commit-time order (commit SHA
        breaking ties). ``model``: entries that ran it (whole, not cut down); ``since``: on or after."""
        start = parse_since(since) if isinstance(since, str) else since
        found = [self.read(path) for path in self._files()]
        found = [e for e in found if (model is None or model in e.models)
                 and (machine_id is None or e.machine_id == machine_id)
                 and (branch is None or e.branch == branch) and (start is None or e.when >= _aware(start))]
        return sorted(found, key=lambda e: (e.when, e.commit, e.file_name))


# --- the list command's table ------------------------------------------------------------------------------

def format_entries(entries: list[HistoryEntry], location: str) -> str:
    """A compact table, one entry a line: commit, time, branch, machine, stack, profile, seeds, and each
    model's mean test accuracy."""
    if not entries:
        return f"no history entries in {location}"
    rows = [("commit", "committed", "branch", "machine", "stack", "profile", "seeds", "mean test accuracy")]
    for e in entries:
        means = ", ".join(f"{m} {percent(_mean(e, m))}" for m in e.models)
        rows.append((e.commit[:NAME_DIGITS], e.commit_time[:16].replace("T", " ") if e.commit_time else MISSING,
                     e.branch or MISSING, e.machine_id, e.stack_id, e.profile, str(len(e.seeds)), means))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _mean(entry: HistoryEntry, model: str) -> float:
    values = [r.test_accuracy for r in entry.runs if r.model == model]
    return sum(values) / len(values)
