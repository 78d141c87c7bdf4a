"""Regression gate: a stored reference, and checks whose failure is a sentence.

``fmbench reference`` stores, per model, the per-seed values the gate needs; ``fmbench check`` turns a
new study plus that reference into a list of checks and evaluates each one.

The allowed drop (unless ``--max-drop`` gives one) is ``max(FLOOR, margin)`` where ``margin`` is the
one-sided 99 % noise margin of the difference in means:
  * both sides share two or more seeds: pair them, ``t_{0.99, n-1} * sd(differences) / sqrt(n)``,
    and compare the means over those shared seeds only;
  * otherwise: Welch, ``t_{0.99, df} * sqrt(s_ref^2 / n_ref + s_new^2 / n_new)``;
  * fewer than two seeds on a side (no spread to measure): 0, so the floor alone applies.
Why 99 % and not 95 %: a CI gate is run on many machines and commits; at 95 % one check in twenty
would fail on seed or CPU noise alone. Why a floor: on the same machine runs are deterministic, the
margin is then 0, and a floor keeps sub-half-point float noise from another CPU from failing CI.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from bench.errors import BenchError
from bench.results import Environment, Record, RunResult, Study, write_json_atomic
from bench.significance import paired_margin, welch_margin
from bench.stats import METRICS, summarize

REFERENCE_SCHEMA_VERSION = 1
FLOOR = 0.005
GATE_CONFIDENCE = 0.99
LABELS = {"test_accuracy": "test accuracy", "gap_train_test": "overfitting gap (train - test accuracy)"}


class SeedValues(Record):
    """One metric of one model: the value of every seed (mean and std stored for people reading the file)."""

    seeds: list[int]
    values: list[float]
    mean: float
    std: float

    @classmethod
    def of(cls, seeds: list[int], values: list[float]) -> SeedValues:
        summary = summarize(values)
        return cls(seeds=seeds, values=values, mean=summary.mean, std=summary.std)

    def by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.values, strict=True))


class ModelReference(Record):
    test_accuracy: SeedValues
    gap_train_test: SeedValues
    per_class_f1: dict[str, SeedValues]


class Reference(Record):
    schema_version: int = REFERENCE_SCHEMA_VERSION
    kind: Literal["reference"] = "reference"
    profile: str
    study: str
    source: str
    created: str
    seeds: list[int]
    data_digest: str
    n_test: int
    environment: Environment
    models: dict[str, ModelReference]


def _model_reference(runs: list[RunResult]) -> ModelReference:
    runs = sorted(runs, key=lambda r: r.seed)
    seeds = [r.seed for r in runs]
    classes = runs[0].per_class.class_names
    per_class = {name: SeedValues.of(seeds, [r.per_class.f1[i] for r in runs]) for i, name in enumerate(classes)}
    return ModelReference(test_accuracy=SeedValues.of(seeds, [METRICS["test_accuracy"](r) for r in runs]),
                          gap_train_test=SeedValues.of(seeds, [METRICS["gap_train_test"](r) for r in runs]),
                          per_class_f1=per_class)


def build_reference(study: Study) -> Reference:
    """A reference from a study in which every run succeeded."""
    failed = [f"{r.model} seed {r.seed}" for r in study.runs if r.status != "ok"]
    if failed:
        raise BenchError(f"{study.folder}: cannot make a reference from a study with failed runs",
                         value=failed, fix="re-run the study until every run succeeds")
    if not study.runs:
        raise BenchError(f"{study.folder}: the study has no runs to make a reference from")
    models = {model: _model_reference(study.ok_runs(model)) for model in study.models}
    first = study.runs[0]
    return Reference(profile=study.manifest.profile, study=study.manifest.study, source=str(study.folder),
                     created=datetime.now(UTC).isoformat(timespec="seconds"), seeds=study.manifest.seeds,
                     data_digest=first.data.digest, n_test=first.data.n_test,
                     environment=study.manifest.environment, models=models)


def write_reference(reference: Reference, path: Path) -> None:
    write_json_atomic(Path(path), reference.model_dump(mode="json"))


def read_reference(path: Path) -> Reference:
    """Load and validate a reference file; every problem is one BenchError naming the file."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchError(f"reference file missing: {path}", fix="make one with 'fmbench reference'") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != "reference":
        raise BenchError(f"{path}: not an fmbench reference file (field 'kind' is not 'reference')",
                         fix="make one with 'fmbench reference RESULTS_DIR --out FILE.json'")
    if payload.get("schema_version") != REFERENCE_SCHEMA_VERSION:
        raise BenchError(f"{path}: reference schema_version {payload.get('schema_version')!r} is not supported "
                         f"(this fmbench reads {REFERENCE_SCHEMA_VERSION})", fix="re-make the reference")
    try:
        return Reference.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BenchError(f"{path}: invalid reference, field '{where}': {first['msg']}") from exc


@dataclass(frozen=True)
class Allowance:
    """How much worse a metric may get, and the rule that said so (shown beside every result)."""

    value: float
    rule: str


def allowance(reference: SeedValues, observed: SeedValues, explicit: float | None,
              floor: float = FLOOR) -> Allowance:
    if explicit is not None:
        return Allowance(explicit, "--max-drop")
    ref, new = reference.by_seed(), observed.by_seed()
    shared = sorted(set(ref) & set(new))
    if len(shared) >= 2:
        margin, kind = paired_margin([new[s] - ref[s] for s in shared], GATE_CONFIDENCE), "paired t"
    else:
        margin, kind = welch_margin(reference.values, observed.values, GATE_CONFIDENCE), "Welch t"
    if margin is None or margin <= floor:
        return Allowance(floor, f"floor {floor:g}")
    return Allowance(margin, f"{kind} 99% margin")


def compared_means(reference: SeedValues, observed: SeedValues) -> tuple[float, float]:
    """Means over the shared seeds when two or more are shared (paired), else over all seeds."""
    ref, new = reference.by_seed(), observed.by_seed()
    shared = sorted(set(ref) & set(new))
    if len(shared) < 2:
        shared_ref, shared_new = reference.values, observed.values
    else:
        shared_ref, shared_new = [ref[s] for s in shared], [new[s] for s in shared]
    return math.fsum(shared_ref) / len(shared_ref), math.fsum(shared_new) / len(shared_new)


@dataclass(frozen=True)
class Outcome:
    """A check's result: the numbers and one sentence a person can act on."""

    name: str
    model: str
    metric: str
    reference: float | None
    observed: float | None
    allowed: float | None
    rule: str
    passed: bool
    sentence: str

    @property
    def change(self) -> float | None:
        return None if self.reference is None or self.observed is None else self.observed - self.reference


def points(value: float) -> str:
    return f"{value * 100:+.2f} points"


@dataclass(frozen=True)
class MetricCheck:
    """A metric must not get worse than the reference by more than the allowance."""

    model: str
    metric: str
    label: str
    higher_is_better: bool
    reference: SeedValues
    observed: SeedValues
    allowance: Allowance

    def evaluate(self) -> Outcome:
        ref_mean, new_mean = compared_means(self.reference, self.observed)
        worse_by = (ref_mean - new_mean) if self.higher_is_better else (new_mean - ref_mean)
        passed = worse_by <= self.allowance.value + 1e-12  # float round-off must not fail an exact tie
        verb = ("fell" if new_mean < ref_mean else "rose") if not passed else "went"
        sentence = (f"{self.model} {self.label} {verb} from {ref_mean:.4f} to {new_mean:.4f} "
                    f"({points(new_mean - ref_mean)}), ")
        sentence += (f"within the allowed {self.allowance.value * 100:.2f} points ({self.allowance.rule})" if passed
                     else f"worse by more than the allowed {self.allowance.value * 100:.2f} points "
                          f"({self.allowance.rule})")
        return Outcome(f"{self.model}.{self.metric}", self.model, self.metric, ref_mean, new_mean,
                       self.allowance.value, self.allowance.rule, passed, sentence)


@dataclass(frozen=True)
class RunsSucceeded:
    """Every run of a model the reference covers must have finished: a crash is the worst regression."""

    model: str
    runs: list[RunResult]

    def evaluate(self) -> Outcome:
        failed = [r for r in self.runs if r.status != "ok"]
        passed = bool(self.runs) and not failed
        sentence = f"{self.model}: {len(self.runs) - len(failed)} of {len(self.runs)} runs succeeded"
        if failed:
            sentence += f"; seed {failed[0].seed} failed: {failed[0].error}"
        return Outcome(f"{self.model}.runs", self.model, "runs", None, None, None, "all must succeed", passed,
                       sentence)


def ensure_comparable(reference: Reference, study: Study, reference_path: Path) -> None:
    """Bad input, not a regression: another profile, another test set, or a model the results lack."""
    if study.manifest.profile != reference.profile:
        raise BenchError(f"{study.folder} is a '{study.manifest.profile}' study but {reference_path} is a "
                         f"'{reference.profile}' reference", fix="check against a reference of the same profile")
    missing = [m for m in reference.models if m not in study.manifest.models]
    if missing:
        raise BenchError(f"{study.folder} has no runs of {', '.join(missing)}, which {reference_path} covers",
                         fix=f"run the study with --models {' '.join(reference.models)}")
    ok = study.ok_runs()
    if ok and (ok[0].data.digest, ok[0].data.n_test) != (reference.data_digest, reference.n_test):
        raise BenchError(f"{study.folder} was tested on other data than {reference_path}",
                         value=f"{ok[0].data.n_test} images, digest {ok[0].data.digest[:12]}",
                         fix=f"the reference used {reference.n_test} images, digest {reference.data_digest[:12]}")


def observed_values(runs: list[RunResult], value) -> SeedValues:
    """Per-seed values of ok runs, ``value`` mapping a run to one float."""
    runs = sorted(runs, key=lambda r: r.seed)
    return SeedValues.of([r.seed for r in runs], [float(value(r)) for r in runs])


def _class_f1(name: str):
    return lambda run: run.per_class.f1[run.per_class.class_names.index(name)]


def _model_checks(model: str, ref: ModelReference, ok: list[RunResult], max_drop: float | None,
                  per_class: bool) -> list[MetricCheck]:
    wanted = [("test_accuracy", LABELS["test_accuracy"], True, ref.test_accuracy, METRICS["test_accuracy"]),
              ("gap_train_test", LABELS["gap_train_test"], False, ref.gap_train_test, METRICS["gap_train_test"])]
    if per_class:
        unknown = set(ref.per_class_f1) - set(ok[0].per_class.class_names)
        if unknown:
            raise BenchError(f"{model}: the results lack classes the reference has", value=sorted(unknown))
        wanted += [(f"f1[{name}]", f"F1 of class {name}", True, values, _class_f1(name))
                   for name, values in ref.per_class_f1.items()]
    checks = []
    for metric, label, higher, reference, getter in wanted:
        observed = observed_values(ok, getter)
        checks.append(MetricCheck(model, metric, label, higher, reference, observed,
                                  allowance(reference, observed, max_drop)))
    return checks


def build_checks(reference: Reference, study: Study, max_drop: float | None = None,
                 per_class: bool = False) -> list[RunsSucceeded | MetricCheck]:
    """Per model the reference covers: its runs succeeded, test accuracy, overfitting gap, per-class F1."""
    if max_drop is not None and not (0 <= max_drop < 1):
        raise BenchError("--max-drop must be a fraction of accuracy between 0 and 1 (0.005 is half a point)",
                         value=max_drop)
    checks: list[RunsSucceeded | MetricCheck] = []
    for model, ref in reference.models.items():
        runs = [r for r in study.runs if r.model == model]
        checks.append(RunsSucceeded(model, runs))
        ok = [r for r in runs if r.status == "ok"]
        if ok:
            checks += _model_checks(model, ref, ok, max_drop, per_class)
    return checks


def run_checks(checks: list[RunsSucceeded | MetricCheck]) -> list[Outcome]:
    return [check.evaluate() for check in checks]
