"""The result files' schema, defined once: run results, the study manifest and ``perf.json``.

A study directory holds ``study.json`` (the manifest) and one ``<model>-seed<N>.json``
per run. Raw per-seed and per-fold values are stored; aggregates are computed by
readers (``bench.analysis.stats``), never stored. Every file carries ``kind`` and ``schema_version``,
each kind with its own version sequence; older versions are upgraded on load by ``bench.results.migrations``.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

# Run files' and the manifest's version.
# 2: split record, test-label digest, saved-model record; data_load_s moved to the manifest.
# 3: runs name the host and worker that ran them; the manifest records threads per run, tuning per
#    seed and each session (executor, skipped units) of a resumable study.
# 4: runs keep every timed inference pass (Timings.inference_repeats_s); inference_s is their median.
#    The manifest did not change (it shares the number).
SCHEMA_VERSION = 4
# perf.json's version: it shared SCHEMA_VERSION's numbers up to 3, its content unchanged since 1.
PERF_SCHEMA_VERSION = 3
MANIFEST_NAME = "study.json"
# Manifest.config fields whose content each model's resolved record (Manifest.model_specs) holds: its
# [models.NAME] tables, and the tuned MLP's grids and defaults, which the profile itself held in studies
# written before the model families. Whoever asks "the same settings?" (--resume, the history's digests)
# leaves them out, so a study written before has the identity of the same study written after.
CONFIG_IN_MODEL_SPECS = ("grids", "tuned_defaults", "models")


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

    # The first epoch also traces and compiles the training step, so it is read apart from the others: the
    # committed studies' first epochs took 0.49 to 0.59 s and their later ones 0.09 to 0.20 s (2,400 images);
    # on the full set about 0.9 s against 0.2 s per steady epoch (2 busy cores).
    @property
    def first_epoch_s(self) -> float | None:
        """The first epoch's seconds, tracing and compiling included; None without epochs."""
        return self.epoch_seconds[0] if self.epoch_seconds else None

    @property
    def steady_epoch_s(self) -> float | None:
        """The mean seconds of epochs 2..n (the steady state); None with fewer than 2 epochs."""
        rest = self.epoch_seconds[1:]
        return sum(rest) / len(rest) if rest else None


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
    fit_s: float
    # The mean of every epoch, the first (tracing, compiling) included; None for a model without epochs (an
    # estimator). Readers take the steady state and the first epoch from History.
    epoch_s_mean: float | None
    inference_s: float  # the median of inference_repeats_s
    images_per_s: float  # data.n_test / inference_s
    # Seconds of every timed pass over the test set, in order (bench.train.training.INFERENCE_REPEATS of
    # them); a file migrated from schema 3 holds its one timing.
    inference_repeats_s: list[float]


class DataRecord(Record):
    digest: str  # the dataset's combined digest (bench.data.combined_digest), as in the manifest
    location: str
    source: str
    n_train: int
    n_validation: int
    n_test: int
    # SHA-256 of the test labels this run was scored on, as uint8 bytes in test order; None in files
    # migrated from schema 1, which did not record it.
    test_labels_sha256: str | None = None


class SplitRecord(Record):
    """How a run's training and validation parts were drawn, so anyone can draw them again.

    Indices point into the 60,000 training images, in the order the run used them; each digest is
    the SHA-256 of that index list as little-endian int64 bytes (``bench.data.indices_digest``).
    """

    seed: int
    method: str
    n_pool: int  # training images the split was drawn from (the profile's stratified subset, or all)
    validation_fraction: float
    train_indices_sha256: str
    validation_indices_sha256: str


class SavedModel(Record):
    """The trained model kept with ``--save-models``: a file beside the result, in Keras' own format."""

    file: str
    format: str
    sha256: str


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
    output_shape: list[int | None] | None = None  # per image (no batch axis)
    filters: int | None = None
    kernel: str | None = None  # kernel or pool size, e.g. "3x3"
    flops: int | None = None  # per image, forward pass (dense and convolution layers)


class RunResult(Record):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["run"] = "run"
    study: str
    profile: str
    model: str
    seed: int
    status: Literal["ok", "failed"]
    error: str | None = None
    model_kind: Literal["keras", "sklearn"] = "keras"
    factory: str | None = None  # the builder that made the model: "module:function" or "/path/file.py:function"
    source_sha256: str | None = None  # SHA-256 of a user model's source file
    estimator: str | None = None  # an estimator's repr, every parameter included
    hyperparameters: dict[str, Any]
    compile_options: dict[str, Any]
    architecture: list[Layer] = []
    total_params: int | None = None
    flops_per_image: int | None = None  # forward pass
    metrics: Metrics | None = None
    gaps: Gaps | None = None
    history: History | None = None
    per_class: PerClass | None = None
    confusion_matrix: list[list[int]] | None = None
    predictions: Predictions | None = None
    mistakes: ImageSet | None = None
    timings: Timings | None = None
    data: DataRecord
    split: SplitRecord | None = None  # None only in files migrated from schema 1
    saved_model: SavedModel | None = None
    environment: Environment
    host: str | None = None  # the machine that ran it (None: migrated from a file that did not say)
    worker: str | None = None  # "in-process", or the Dask worker's address
    started: str
    finished: str

    @model_validator(mode="after")
    def _status_matches_content(self) -> RunResult:
        if self.status == "failed" and not self.error:
            raise ValueError("a failed run must say why in 'error'")
        needed = ("metrics", "gaps", "per_class", "confusion_matrix", "predictions", "timings")
        # A run that trained in epochs (its family's, bench.models.family) has their mean time and their curves.
        needed += ("history",) if self.timings is not None and self.timings.epoch_s_mean is not None else ()
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
    model: str
    seed: int
    search: Literal["exhaustive", "halving"]
    n_train: int
    stages: list[Stage]
    best_params: dict[str, Any]
    wall_s: float


class Session(Record):
    """One ``fmbench run`` invocation on the study: a study resumed twice has three."""

    executor: str  # "in-process", "local cluster of N workers", or the scheduler's address
    started: str
    finished: str
    wall_s: float
    units_run: int
    units_skipped: int  # found complete on disk (--resume)


class PartSummary(Record):
    """One of the dataset's two files of images (bench.data.summarize)."""

    count: int
    shape: list[int]
    class_counts: list[int]
    pixels: dict[str, float]


class DatasetSummary(Record):
    """The dataset a study read (bench.data.summarize). Files migrated from schema 1 lack the per-file
    digests and the official flag: those stay empty or None (unknown)."""

    location: str | None = None
    source: str | None = None
    digest: str | None = None
    file_sha256: dict[str, str] = {}
    official: bool | None = None
    class_names: list[str] = []
    train: PartSummary | None = None
    test: PartSummary | None = None


class ModelRecord(Record):
    """One model as a study ran it (``bench.models.ModelSetup.record``): its family, builder, parameters,
    stages and grids, and the model its sentence in the report is measured from. Files migrated from
    schema 1 recorded only the tuned MLP's factory: its params are None (unknown), not empty."""

    kind: str = "keras"  # its family's name (bench.models.family)
    factory: str
    source_sha256: str | None = None  # a user model's source file
    tuned: bool = False
    params: dict[str, Any] | None = None
    stages: list[tuple[str, list[str]]] = []
    grids: dict[str, list[Any]] = {}
    compare_with: str | None = None


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
    dataset: DatasetSummary
    train_samples: ImageSet
    test_samples: ImageSet
    environment: Environment
    started: str
    finished: str
    estimate_s: float
    wall_s: float
    command: list[str]
    data_load_s: float | None = None  # reading and checking the four files; None if migrated from schema 1
    test_labels_sha256: str | None = None  # as DataRecord.test_labels_sha256: every run must match it
    model_specs: dict[str, ModelRecord] = {}  # empty in files migrated from schema 1
    threads_per_run: int | None = None  # TensorFlow's threads in each run (None: TensorFlow's default)
    tune_per_seed: bool = False
    sessions: list[Session] = []  # empty in files migrated from schema 2



class PathTiming(Record):
    """One training path of ``fmbench perf`` for one model: raw seconds and accuracy per seed."""

    compile_options: dict[str, Any]
    epoch_seconds: list[list[float]]  # [seed][epoch]; the first epoch includes tracing and compiling
    fit_seconds: list[float]
    test_accuracy: list[float]


class ModelPerf(Record):
    model: str
    params: int
    flops_per_epoch: float  # 3 x forward FLOPs per image (Layer.flops summed) x images: backward = 2 x forward
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

    schema_version: int = PERF_SCHEMA_VERSION
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
