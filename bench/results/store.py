"""Result files on disk: atomic writes, and loads that validate, migrate and verify.

Every reader (report, compare, reference, check) goes through ``load_study``, so a figure
that its own file contradicts is caught in one place (``bench.results.verify``). Every record file
(run, manifest, perf.json, gate reference) is read by ``read_record``, migrated as its kind says; every
result file, saved models included, is written by ``write_bytes_atomic``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from bench.errors import BenchError
from bench.results import whole
from bench.results.migrations import REMAKE, migrate
from bench.results.schema import MANIFEST_NAME, Manifest, RunResult
from bench.results.verify import verify_run

T = TypeVar("T", bound=BaseModel)


def to_jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and tuples to plain JSON values (for cv_results_ and params)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_bytes_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temp file beside ``path`` then rename: readers never see half a file,
    and a failed write leaves the old file as it was (text is written as UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: dict) -> None:
    """Plain JSON (NaN refused: a failed value is a status, never a NaN), written atomically."""
    write_bytes_atomic(path, json.dumps(payload, indent=1, allow_nan=False))


def save(record: RunResult | Manifest, folder: Path, name: str | None = None) -> Path:
    path = Path(folder) / (name or (record.file_name if isinstance(record, RunResult) else MANIFEST_NAME))
    write_json_atomic(path, record.model_dump(mode="json"))
    return path


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field '{where}': {first['msg']}"


def read_record(path: Path, model: type[T]) -> T:
    """Load, migrate and validate one file of any kind (run, manifest, perf.json, gate reference); every
    problem is a BenchError naming the file. ``model`` says which kind and version it reads: the defaults
    of its ``kind`` and ``schema_version`` fields."""
    kind, version = model.model_fields["kind"].default, model.model_fields["schema_version"].default
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchError(f"{kind} file missing: {path}", fix=REMAKE[kind]) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc})", fix=f"the file is damaged; {REMAKE[kind]}") from exc
    if not isinstance(payload, dict):
        raise BenchError(f"{path}: expected a JSON object", value=type(payload).__name__)
    payload = migrate(payload, path, kind, version)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise BenchError(f"{path}: invalid {model.__name__}, {_describe(exc)}") from exc


@dataclass
class Study:
    """A study as read back from disk: the manifest, its valid runs, and files that were not."""

    folder: Path
    manifest: Manifest
    runs: list[RunResult]
    problems: list[str] = field(default_factory=list)

    def ok_runs(self, model: str | None = None) -> list[RunResult]:
        return [r for r in self.runs if r.status == "ok" and (model is None or r.model == model)]

    @property
    def models(self) -> list[str]:
        return [m for m in self.manifest.models if any(r.model == m for r in self.runs)]


STUDY_FIX = "finish the study (its command with --resume), or re-run it, before trusting it"
RUN_FIX = "re-run that seed before trusting this study"


def load_study(folder: Path | str, strict: bool = True) -> Study:
    """Read a study folder: validate every file, verify every run against its own evidence, and the study as
    a whole (``bench.results.whole``: every planned run present and listed, seeds that are what they say).

    A missing, invalid or self-contradicting run file is left out of ``runs`` and named in ``problems``, as is
    anything wrong with the study as a whole; with ``strict`` the first problem is an error (exit 2) instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"results folder does not exist: {folder}", fix="pass the --out folder of 'fmbench run'")
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BenchError(f"no {MANIFEST_NAME} in {folder}", fix="pass a folder written by 'fmbench run'")
    manifest = read_record(manifest_path, Manifest)
    loaded, problems = _read_runs(folder, manifest)
    contradictions = [c for run, path in loaded for c in verify_run(run, manifest, path)]
    contradictions += whole.split_owners(loaded)
    bad = {c.path for c in contradictions}
    runs = [run for run, path in loaded if path not in bad]
    problems += [(str(c), RUN_FIX) for c in contradictions]
    problems += [(p, STUDY_FIX) for p in whole.study_problems(folder, manifest, len(loaded))]
    if strict and problems:
        raise BenchError(problems[0][0], fix=problems[0][1])
    return Study(folder, manifest, runs, [p for p, _ in problems])


def _read_runs(folder: Path, manifest: Manifest) -> tuple[list[tuple[RunResult, Path]], list[tuple[str, str]]]:
    """Every planned run that study.json lists and the folder holds (the rest is named by ``whole``)."""
    wanted = [name for name in dict.fromkeys(manifest.runs)
              if name in set(whole.planned_runs(manifest)) and (folder / name).is_file()]
    loaded, problems = [], []
    for name in wanted:
        try:
            loaded.append((read_record(folder / name, RunResult), folder / name))
        except BenchError as exc:
            problems.append((exc.message(), ""))  # its own fix is in the message
    return loaded, problems
