"""Result files: the schema (defined once), atomic writes, validated loads, migrations.

A study directory holds ``study.json`` (the manifest) and one ``<model>-seed<N>.json``
per run. Raw per-seed and per-fold values are stored; aggregates are computed by
readers (``bench.stats``), never stored.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bench.errors import BenchError

SCHEMA_VERSION = 1
MANIFEST_NAME = "study.json"
T = TypeVar("T", bound=BaseModel)

# Upgrades from version N to N+1, applied on load; empty until the schema first changes.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitMetrics(Record):
    accuracy: float
    loss: float


class Metrics(Record):
    train: SplitMetrics
    validation: SplitMetrics
    test: SplitMetrics


class Gaps(Record):
    train_minus_test: float
    train_minus_validation: float


class History(Record):
    loss: list[float]
    accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    epoch_seconds: list[float]


class PerClass(Record):
    class_names: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]


class Predictions(Record):
    """Test-set predictions in test-set order: class and its softmax probability."""

    true: list[int]
    predicted: list[int]
    probability: list[float]


class ImageSet(Record):
    """A few uint8 images (base64 of the raw bytes) with labels and their set indices."""

    shape: list[int]
    images_b64: str
    labels: list[int]
    indices: list[int]
    predicted: list[int] | None = None
    probability: list[float] | None = None

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels, indices, **extra) -> ImageSet:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        return cls(shape=list(images.shape), images_b64=base64.b64encode(images.tobytes()).decode("ascii"),
                   labels=[int(v) for v in labels], indices=[int(v) for v in indices], **extra)

    def to_array(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.images_b64), dtype=np.uint8).reshape(self.shape)


class Timings(Record):
    data_load_s: float
    fit_s: float
    epoch_s_mean: float
    inference_s: float
    images_per_s: float


class DataRecord(Record):
    digest: str
    location: str
    source: str
    n_train: int
    n_validation: int
    n_test: int


class Environment(Record):
    hostname: str
    cpu_model: str
    cpu_cores: int
    memory_gib: float
    gpus: list[str]
    os: str
    python: str
    packages: dict[str, str]
    keras_backend: str
    op_determinism: bool
    git_commit: str | None


class Layer(Record):
    name: str
    type: str
    units: int | None
    activation: str | None
    rate: float | None
    params: int


class RunResult(Record):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["run"] = "run"
    study: str
    profile: str
    model: str
    seed: int
    status: Literal["ok", "failed"]
    error: str | None = None
    hyperparameters: dict[str, Any]
    compile_options: dict[str, Any]
    architecture: list[Layer] = []
    total_params: int | None = None
    metrics: Metrics | None = None
    gaps: Gaps | None = None
    history: History | None = None
    per_class: PerClass | None = None
    confusion_matrix: list[list[int]] | None = None
    predictions: Predictions | None = None
    mistakes: ImageSet | None = None
    timings: Timings | None = None
    data: DataRecord
    environment: Environment
    started: str
    finished: str

    @model_validator(mode="after")
    def _status_matches_content(self) -> RunResult:
        if self.status == "failed" and not self.error:
            raise ValueError("a failed run must say why in 'error'")
        needed = ("metrics", "gaps", "history", "per_class", "confusion_matrix", "predictions", "timings")
        missing = [name for name in needed if getattr(self, name) is None]
        if self.status == "ok" and missing:
            raise ValueError(f"an ok run lacks {', '.join(missing)}")
        return self

    @property
    def file_name(self) -> str:
        return f"{self.model}-seed{self.seed}.json"


class Stage(Record):
    """One grid-search stage with scikit-learn's full ``cv_results_`` (raw per-fold scores)."""

    index: int
    name: str
    param_grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    cv_results: dict[str, list[Any]]
    best_params: dict[str, Any]
    best_score: float
    n_folds: int
    wall_s: float


class Tuning(Record):
    seed: int
    search: Literal["exhaustive", "halving"]
    n_train: int
    stages: list[Stage]
    best_params: dict[str, Any]
    wall_s: float


class Manifest(Record):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["manifest"] = "manifest"
    study: str
    profile: str
    seeds: list[int]
    models: list[str]
    config: dict[str, Any]
    search: Literal["exhaustive", "halving"]
    tuning: list[Tuning]
    runs: list[str]
    dataset: dict[str, Any]
    train_samples: ImageSet
    test_samples: ImageSet
    environment: Environment
    started: str
    finished: str
    estimate_s: float
    wall_s: float
    command: list[str]



class PathTiming(Record):
    """One training path of ``fmbench perf`` for one model: raw seconds and accuracy per seed."""

    compile_options: dict[str, Any]
    epoch_seconds: list[list[float]]  # [seed][epoch]; the first epoch includes tracing and compiling
    fit_seconds: list[float]
    test_accuracy: list[float]


class ModelPerf(Record):
    model: str
    params: int
    flops_per_epoch: float  # 6 x parameters x images: forward and backward passes
    n_images: int
    epochs: int
    batch_size: int
    seeds: list[int]
    plain: PathTiming  # Keras' model.fit as the reference post calls it: float32 arrays, default compile
    fast: PathTiming  # the harness's fast path
    peak_rss_gib: float  # this process's peak resident memory after both paths


class SearchPerf(Record):
    """One grid stage timed with each search, same data, folds and seed."""

    stage: str
    param_grid: dict[str, list[Any]]
    n_train: int
    epochs: int
    n_folds: int
    seconds: dict[str, float]  # search kind -> wall seconds
    best_score: dict[str, float]
    best_params: dict[str, dict[str, Any]]
    n_fits: dict[str, int]


class PerfResult(Record):
    """``perf.json``: how fast this machine trains, and how long a grid stage takes."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["perf"] = "perf"
    config: dict[str, Any]
    matmul_size: int
    matmul_flops: float  # attainable FLOP/s: best of several dense float32 matrix products
    models: list[ModelPerf]
    search: SearchPerf | None
    environment: Environment
    started: str
    finished: str
    wall_s: float

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


def migrate(payload: dict, path: Path) -> dict:
    version = payload.get("schema_version")
    if not isinstance(version, int):
        raise BenchError(f"{path}: field 'schema_version' is missing or not an integer", value=version,
                         fix="this is not an fmbench result file")
    if version > SCHEMA_VERSION or (version < SCHEMA_VERSION and version not in MIGRATIONS):
        raise BenchError(f"{path}: schema_version {version} is not supported (this fmbench reads "
                         f"{SCHEMA_VERSION})", fix="re-run the study or use a matching fmbench version")
    while version < SCHEMA_VERSION:
        payload = MIGRATIONS[version](payload)
        version = payload["schema_version"]
    return payload


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field '{where}': {first['msg']}"


def read_record(path: Path, model: type[T]) -> T:
    """Load and validate one file; every problem is a BenchError naming the file."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchError(f"result file missing: {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc})", fix="the file is damaged; re-run the study") from exc
    if not isinstance(payload, dict):
        raise BenchError(f"{path}: expected a JSON object", value=type(payload).__name__)
    payload = migrate(payload, path)
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


def load_study(folder: Path | str, strict: bool = True) -> Study:
    """Read a study folder; with ``strict`` False, invalid run files are listed, not fatal."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"results folder does not exist: {folder}", fix="pass the --out folder of 'fmbench run'")
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BenchError(f"no {MANIFEST_NAME} in {folder}", fix="pass a folder written by 'fmbench run'")
    manifest = read_record(manifest_path, Manifest)
    runs, problems = [], []
    for name in manifest.runs:
        try:
            runs.append(read_record(folder / name, RunResult))
        except BenchError as exc:
            if strict:
                raise
            problems.append(str(exc))
    return Study(folder, manifest, runs, problems)
