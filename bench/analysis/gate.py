"""Regression gate: a stored reference, and checks whose failure is a sentence.

``fmbench reference`` stores, per model, the per-seed values the gate needs; ``fmbench check`` turns a
new study plus that reference into a list of checks and evaluates each one.

The allowed drop (unless ``--max-drop`` gives one, used exactly) is:
  * the floor (0.005), when the two sides share two or more seeds and every shared seed moved by the
    same amount (the runs reproduce: a deterministic machine, or a change that costs each seed alike);
    then the means over the shared seeds are compared;
  * otherwise ``max(FLOOR, t_{0.99, dof} * s * sqrt(1/n_ref + 1/n_new))`` over all seeds, where ``s`` is
    the per-seed std pooled over every model of both sides (same data, same protocol, so alike) and
    ``dof`` its degrees of freedom (Welch's margin from one model alone where nothing can be pooled);
  * one seed a side and nothing to pool: the floor.
Why 99 %: a gate runs on every commit and across machines; at 95 % one check in twenty would fail on
seed noise alone. With ``--per-class`` a model's class checks share that 1 % (Bonferroni: 99.9 % each).
Why pooled: with two seeds a side one model alone has 2 degrees of freedom at best
(t = 7.0); pooled over two models, 4 (t = 3.7).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from bench.analysis.significance import pooled_spread, unpaired_margin, welch_margin
from bench.analysis.stats import METRICS, summarize
from bench.errors import BenchError
from bench.results import Environment, Record, RunResult, Study, write_json_atomic

REFERENCE_SCHEMA_VERSION = 1
FLOOR = 0.005
GATE_CONFIDENCE = 0.99
SAME_SHIFT = 1e-6  # far below one test image (1e-4 of accuracy): float round-off only
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
    """How much worse a metric may get, the rule that said so, and whether seeds are compared in pairs."""

    value: float
    rule: str
    paired: bool = False


def shared_seeds(reference: SeedValues, observed: SeedValues) -> list[int]:
    return sorted(set(reference.seeds) & set(observed.seeds))


def reproduces(reference: SeedValues, observed: SeedValues) -> bool:
    """Two or more shared seeds whose values all moved by the same amount: the runs are paired exactly.

    That is what a deterministic machine gives (shift 0), and what a change that costs every seed the
    same gives. Any other difference means the seeds landed elsewhere, as on another CPU or after a
    change of numerics, and only the seed spread can say what is noise.
    """
    shared = shared_seeds(reference, observed)
    ref, new = reference.by_seed(), observed.by_seed()
    shifts = [new[s] - ref[s] for s in shared]
    return len(shared) >= 2 and max(shifts) - min(shifts) <= SAME_SHIFT


def allowance(reference: SeedValues, observed: SeedValues, explicit: float | None,
              spread: tuple[float, int] | None = None, floor: float = FLOOR,
              confidence: float = GATE_CONFIDENCE) -> Allowance:
    """``explicit`` if given; the floor if the seeds reproduce; else max(floor, the 99 % unpaired margin).

    ``spread`` is the per-seed std pooled over models and both sides, with its degrees of freedom;
    without it the margin is Welch's from these two sides alone.
    """
    paired = reproduces(reference, observed)
    if explicit is not None:
        return Allowance(explicit, "--max-drop", paired)
    if paired:
        return Allowance(floor, f"floor {floor:g}, seeds reproduce", True)
    if spread is not None:
        margin, kind = unpaired_margin(*spread, len(reference.values), len(observed.values), confidence), "pooled"
    else:
        margin, kind = welch_margin(reference.values, observed.values, confidence), "Welch"
    if margin is None or margin <= floor:
        return Allowance(floor, f"floor {floor:g}")
    return Allowance(margin, f"{kind} t {confidence * 100:.4g}% margin")


def compared_means(reference: SeedValues, observed: SeedValues, paired: bool) -> tuple[float, float]:
    """Means over the shared seeds when compared in pairs, else over all seeds."""
    if paired:
        ref, new = reference.by_seed(), observed.by_seed()
        ref_values = [ref[s] for s in shared_seeds(reference, observed)]
        new_values = [new[s] for s in shared_seeds(reference, observed)]
    else:
        ref_values, new_values = reference.values, observed.values
    return math.fsum(ref_values) / len(ref_values), math.fsum(new_values) / len(new_values)


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
        ref_mean, new_mean = compared_means(self.reference, self.observed, self.allowance.paired)
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


Pair = tuple[str, str, str, bool, SeedValues, SeedValues]  # model, metric, label, higher is better, ref, new


def _model_pairs(model: str, ref: ModelReference, ok: list[RunResult], per_class: bool) -> list[Pair]:
    wanted = [("test_accuracy", LABELS["test_accuracy"], True, ref.test_accuracy, METRICS["test_accuracy"]),
              ("gap_train_test", LABELS["gap_train_test"], False, ref.gap_train_test, METRICS["gap_train_test"])]
    if per_class:
        unknown = set(ref.per_class_f1) - set(ok[0].per_class.class_names)
        if unknown:
            raise BenchError(f"{model}: the results lack classes the reference has", value=sorted(unknown))
        wanted += [(f"f1[{name}]", f"F1 of class {name}", True, values, _class_f1(name))
                   for name, values in ref.per_class_f1.items()]
    return [(model, metric, label, higher, reference, observed_values(ok, getter))
            for metric, label, higher, reference, getter in wanted]


def pooled_spreads(pairs: list[Pair]) -> dict[str, tuple[float, int] | None]:
    """Per metric: the per-seed std pooled over every model, reference and new side alike.

    The models train on the same data with the same protocol, so their seed noise is alike; pooling
    turns two seeds a side into usable degrees of freedom.
    """
    groups: dict[str, list[list[float]]] = {}
    for _, metric, _, _, reference, observed in pairs:
        groups.setdefault(metric, []).extend([reference.values, observed.values])
    return {metric: pooled_spread(values) for metric, values in groups.items()}


def build_checks(reference: Reference, study: Study, max_drop: float | None = None,
                 per_class: bool = False) -> list[RunsSucceeded | MetricCheck]:
    """Per model the reference covers: its runs succeeded, test accuracy, overfitting gap, per-class F1."""
    if max_drop is not None and not (0 <= max_drop < 1):
        raise BenchError("--max-drop must be a fraction of accuracy between 0 and 1 (0.005 is half a point)",
                         value=max_drop)
    succeeded, pairs = {}, []
    for model, ref in reference.models.items():
        runs = [r for r in study.runs if r.model == model]
        succeeded[model] = RunsSucceeded(model, runs)
        ok = [r for r in runs if r.status == "ok"]
        pairs += _model_pairs(model, ref, ok, per_class) if ok else []
    spreads = pooled_spreads(pairs)
    n_classes = sum(1 for metric in spreads if metric.startswith("f1["))
    checks: list[RunsSucceeded | MetricCheck] = []
    for model, runs_check in succeeded.items():
        checks.append(runs_check)
        for m, metric, label, higher, ref, new in pairs:
            # The per-class checks of a model share one 1 % false-alarm budget (Bonferroni).
            confidence = 1 - (1 - GATE_CONFIDENCE) / n_classes if metric.startswith("f1[") else GATE_CONFIDENCE
            if m == model:
                checks.append(MetricCheck(model, metric, label, higher, ref, new,
                                          allowance(ref, new, max_drop, spreads[metric], confidence=confidence)))
    return checks


def run_checks(checks: list[RunsSucceeded | MetricCheck]) -> list[Outcome]:
    return [check.evaluate() for check in checks]
