"""Result files: schema (``schema``), atomic writes and verified loads (``store``, ``verify``),
upgrades of older files (``migrations``). The names below are the package's public surface."""

from bench.results.contradiction import Contradiction
from bench.results.migrations import MIGRATIONS, migrate
from bench.results.schema import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    DataRecord,
    DatasetSummary,
    Environment,
    Gaps,
    History,
    ImageSet,
    Layer,
    Manifest,
    Metrics,
    ModelPerf,
    ModelRecord,
    PathTiming,
    PerClass,
    PerfResult,
    Predictions,
    Record,
    RunResult,
    SavedModel,
    SearchPerf,
    Session,
    SplitMetrics,
    SplitRecord,
    Stage,
    Timings,
    Tuning,
)
from bench.results.store import (
    Study,
    load_study,
    read_record,
    save,
    to_jsonable,
    write_bytes_atomic,
    write_json_atomic,
)
from bench.results.verify import verify_run

__all__ = [
    "MANIFEST_NAME", "MIGRATIONS", "SCHEMA_VERSION", "Contradiction", "DataRecord", "DatasetSummary", "Environment",
    "Gaps", "History", "ImageSet", "Layer", "Manifest", "Metrics", "ModelPerf", "ModelRecord", "PathTiming",
    "PerClass", "PerfResult", "Predictions", "Record", "RunResult", "SavedModel", "SearchPerf", "Session",
    "SplitMetrics", "SplitRecord", "Stage", "Study", "Timings", "Tuning", "load_study", "migrate", "read_record",
    "save", "to_jsonable", "verify_run", "write_bytes_atomic", "write_json_atomic",
]
