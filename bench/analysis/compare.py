"""Two or more studies side by side: what differs in the machine and stack, and whether accuracy did.

The first study is the baseline A; every other study is compared with it (B vs A, C vs A, ...).
Everything here is computed from result files; ``bench.report.compare`` renders it.

Whether a study differs is judged with seeds as the unit: Welch's t over every seed, and a paired t over
the per-seed differences of the seeds both studies ran. Every such p-value in one comparison is Holm-
adjusted over the models x studies shown, so "significant" (adjusted p < 0.05) keeps a 5 % family-wise
error however many rows there are. McNemar's test, per shared seed, asks only whether those two trained
models differ on this test set; it never decides a study-level verdict (see ``bench.analysis.significance``).

Speed (seconds per epoch, images per second) is compared as the ratio of geometric means over seeds, B over
A, with a 95 % interval: exp of a t-interval on the difference of mean log timings, with Welch's standard
error and Hsu's conservative df, min(n_A, n_B) - 1 (``ratio_of_geometric_means`` says why). Timings move
with the machine's load, so a ratio whose interval contains 1, or that has fewer than 2 seeds a side, is
"no measurable difference", never a speed-up or a slow-down. The grid search's wall time is one
measurement a study: its ratio has no interval. ``bench.analysis.compare_verdict`` words all of it.

Besides the environment, the protocol is compared field by field (``protocol_diff``: profile, its
settings, the data and each model's resolved record), so the verdict can say when a difference may come
from what was run rather than where.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.analysis.significance import (
    ALPHA,
    Difference,
    McNemar,
    Ratio,
    SeedAdvice,
    churn,
    difference_of_means,
    holm,
    mcnemar,
    paired_difference,
    ratio_of_geometric_means,
    seed_advice,
)
from bench.analysis.stats import METRICS, Summary, metric_values, summarize
from bench.errors import BenchError
from bench.results import Environment, RunResult, Study, load_study
from bench.results.schema import CONFIG_IN_MODEL_SPECS

DETECT = 0.005  # the accuracy difference the seeds advice is sized for (half a point)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class EnvRow:
    """One environment field that is not the same in every study; ``differs[i]``: study i differs from A."""

    field: str
    values: list[str]
    differs: list[bool]


@dataclass(frozen=True)
class Versus:
    """One model, one study against A: study-level tests over seeds, per-seed model tests, speed."""

    model: str
    label: str
    accuracy_a: tuple[float, ...]
    accuracy_b: tuple[float, ...]
    difference: Difference  # Welch over all seeds
    paired: Difference | None  # paired t over the shared seeds; None below 2 shared seeds
    trained_pairs: list[McNemar]  # per shared seed on the same test set: do these two models differ
    churn: float | None
    pairing: str
    epoch_s_ratio: Ratio | None  # None where a side has no epochs (an estimator)
    images_per_s_ratio: Ratio | None
    advice: SeedAdvice | None = None
    same_test_set: bool = True

    @property
    def tests(self) -> list[Difference]:
        """The study-level tests that have a p-value, Welch first."""
        return [d for d in (self.difference, self.paired) if d is not None and d.p_value is not None]

    @property
    def significant(self) -> bool:
        return any(d.p_adjusted is not None and d.p_adjusted < ALPHA for d in self.tests)


@dataclass(frozen=True)
class Comparison:
    labels: list[str]
    studies: list[Study]
    environment: list[EnvRow]
    models: list[str]
    accuracy: dict[str, list[Summary | None]]
    versus: list[Versus]
    tuning_s: list[float | None]
    detect: float
    family: int = 0  # study-level p-values Holm's correction runs over
    alpha: float = ALPHA
    protocol: list[EnvRow] = field(default_factory=list)  # profile, data and model settings that differ

    @property
    def tuning_ratios(self) -> list[float | None]:
        """Tuning wall time of each study over A's."""
        base = self.tuning_s[0]
        return [None if base is None or s is None or base <= 0 else s / base for s in self.tuning_s]


def environment_fields(env: Environment) -> dict[str, str]:
    """Flatten an environment to text fields; packages become ``packages.<name>``."""
    fields: dict[str, str] = {}
    for name, value in env.model_dump().items():
        if name == "packages":
            fields.update({f"packages.{pkg}": version for pkg, version in sorted(value.items())})
        elif name == "gpus":
            fields[name] = ", ".join(value) or "none"
        else:
            fields[name] = "-" if value is None else str(value)
    return fields


def environment_diff(environments: list[Environment]) -> list[EnvRow]:
    """Only the fields whose value is not the same everywhere (a package missing on one side counts)."""
    return fields_diff([environment_fields(env) for env in environments])


def protocol_fields(study: Study) -> dict[str, str]:
    """What a study ran, as text fields: profile, data, settings and each model's record (``model.params.x``)."""
    manifest = study.manifest
    fields = {"profile": manifest.profile, "dataset digest": manifest.dataset.digest or "-",
              "threads_per_run": str(manifest.threads_per_run), "tune_per_seed": str(manifest.tune_per_seed)}
    # baseline_epochs acts through each model's resolved record, which names the model: where there are
    # records, a change shows there once ("baseline.params.epochs"), not twice.
    skip = {"name", *CONFIG_IN_MODEL_SPECS, *(("baseline_epochs",) if manifest.model_specs else ())}
    fields.update({name: str(value) for name, value in manifest.config.items() if name not in skip})
    for model, record in manifest.model_specs.items():
        for name, value in record.model_dump().items():
            if isinstance(value, dict):
                fields.update({f"{model}.{name}.{key}": str(v) for key, v in value.items()})
            else:
                fields[f"{model}.{name}"] = str(value)
    return fields


def protocol_diff(studies: list[Study]) -> list[EnvRow]:
    """The protocol fields whose value is not the same in every study."""
    return fields_diff([protocol_fields(study) for study in studies])


def fields_diff(flat: list[dict[str, str]]) -> list[EnvRow]:
    names = list(dict.fromkeys(name for fields in flat for name in fields))
    rows = []
    for name in names:
        values = [fields.get(name, "(absent)") for fields in flat]
        if len(set(values)) > 1:
            rows.append(EnvRow(name, values, [v != values[0] for v in values]))
    return rows


def same_test_set(a: list[RunResult], b: list[RunResult]) -> bool:
    """Per-image comparisons need the same images in the same order."""
    return (a[0].data.digest == b[0].data.digest and a[0].data.n_test == b[0].data.n_test
            and a[0].predictions.true == b[0].predictions.true)


def run_pairs(a: list[RunResult], b: list[RunResult]) -> tuple[list[tuple[RunResult, RunResult]], bool]:
    """Runs paired by seed where seeds are shared (True), else in seed order (then churn includes seed churn)."""
    by_seed_b = {r.seed: r for r in b}
    shared = [(r, by_seed_b[r.seed]) for r in sorted(a, key=lambda r: r.seed) if r.seed in by_seed_b]
    if shared:
        return shared, True
    return list(zip(sorted(a, key=lambda r: r.seed), sorted(b, key=lambda r: r.seed), strict=False)), False


def pairing_text(pairs: list[tuple[RunResult, RunResult]], shared: bool, comparable: bool) -> str:
    if not comparable:
        return "different test sets: no per-image comparison"
    if not shared:
        return "no shared seed: runs paired in seed order, churn includes seed-to-seed churn"
    return "paired on seeds " + ", ".join(str(a.seed) for a, _ in pairs)


def _correct(run: RunResult) -> np.ndarray:
    return np.asarray(run.predictions.predicted) == np.asarray(run.predictions.true)


def compare_model(model: str, label: str, a: list[RunResult], b: list[RunResult]) -> Versus:
    """Welch over seeds, paired t and McNemar over shared seeds, churn, speed; p-values not yet adjusted."""
    acc_a, acc_b = metric_values(a, "test_accuracy"), metric_values(b, "test_accuracy")
    pairs, shared = run_pairs(a, b)
    comparable = same_test_set(a, b)
    accuracy = METRICS["test_accuracy"]
    image = 1 / min(a[0].data.n_test, b[0].data.n_test)  # one test image (the coarser): the data's resolution
    paired = (paired_difference([accuracy(x) for x, _ in pairs], [accuracy(y) for _, y in pairs], resolution=image)
              if shared else None)
    trained = [mcnemar(x.seed, _correct(x), _correct(y)) for x, y in pairs] if comparable and shared else []
    churns = [churn(x.predictions.predicted, y.predictions.predicted) for x, y in pairs] if comparable else []
    return Versus(model, label, tuple(acc_a), tuple(acc_b), difference_of_means(acc_a, acc_b, resolution=image),
                  paired, trained, float(np.mean(churns)) if churns else None, pairing_text(pairs, shared, comparable),
                  ratio_of_geometric_means(metric_values(a, "epoch_s"), metric_values(b, "epoch_s")),
                  ratio_of_geometric_means(metric_values(a, "images_per_s"), metric_values(b, "images_per_s")),
                  same_test_set=comparable)


def _adjusted(test: Difference | None, p_values) -> Difference | None:
    return test if test is None or test.p_value is None else replace(test, p_adjusted=next(p_values))


def adjust(rows: list[Versus]) -> list[Versus]:
    """Holm over every study-level p-value of the rows, and separately over the per-seed McNemar tests."""
    study = iter(holm([d.p_value for v in rows for d in v.tests]))
    models = iter(holm([t.p_value for v in rows for t in v.trained_pairs]))
    return [replace(v, difference=_adjusted(v.difference, study), paired=_adjusted(v.paired, study),
                    trained_pairs=[replace(t, p_adjusted=next(models)) for t in v.trained_pairs]) for v in rows]


def advise(rows: list[Versus], detect: float) -> list[Versus]:
    """Seeds advice for Welch at Holm's strictest level, alpha / (tests in the family): it holds whatever
    the other rows show."""
    alpha = ALPHA / max(1, sum(len(v.tests) for v in rows))
    return [replace(v, advice=seed_advice(v.accuracy_a, v.accuracy_b, detect, alpha=alpha)) for v in rows]


def tuning_seconds(study: Study) -> float | None:
    """Wall time of all grid searches of a study; None when it tuned nothing."""
    return sum(t.wall_s for t in study.manifest.tuning) if study.manifest.tuning else None


def load_studies(folders: list[Path]) -> list[Study]:
    if len(folders) < 2:
        raise BenchError("compare needs at least two results folders", value=[str(f) for f in folders])
    studies = [load_study(folder) for folder in folders]
    for study in studies:
        if not study.ok_runs():
            raise BenchError(f"{study.folder}: no successful run to compare", fix="re-run the study")
    return studies


def compare(studies: list[Study], detect: float = DETECT) -> Comparison:
    """Everything the comparison report shows, computed from the studies' result files."""
    labels = [f"{LETTERS[i % 26]}: {s.manifest.study or s.folder.name}" for i, s in enumerate(studies)]
    models = list(dict.fromkeys(m for s in studies for m in s.models if s.ok_runs(m)))
    accuracy = {m: [summarize(metric_values(s.ok_runs(m), "test_accuracy")) if s.ok_runs(m) else None
                    for s in studies] for m in models}
    versus = advise(adjust([compare_model(m, f"{labels[i][0]} vs A", studies[0].ok_runs(m), s.ok_runs(m))
                            for m in models for i, s in enumerate(studies)
                            if i > 0 and studies[0].ok_runs(m) and s.ok_runs(m)]), detect)
    return Comparison(labels, studies, environment_diff([s.manifest.environment for s in studies]), models,
                      accuracy, versus, [tuning_seconds(s) for s in studies], detect,
                      sum(len(v.tests) for v in versus), protocol=protocol_diff(studies))
