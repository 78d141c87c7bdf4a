"""The report's data: one shape built from result files alone, rendered to HTML and PDF by ``bench.report.render``.

Several result folders may be given. Runs are grouped by (study name, model): folders holding the
same study (e.g. seeds run on two machines) merge into one group per model; different studies are
shown side by side, each model labelled "study · model". Sections drawn from the manifest (dataset,
grid search, tuning times) use the first folder given for each study.

With several seeds, per-class tables show the per-seed mean of each cell of scikit-learn's
``classification_report``; the prediction grids show the run of the lowest seed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.stats import Summary, metric_values, summarize
from bench.errors import BenchError
from bench.format import count, percent, score, span, unbreakable
from bench.report import figures, glance, sections
from bench.report.sections import Value, metric_text
from bench.results import Manifest, RunResult, Study, load_study

HEADLINE_ROWS = (("train_accuracy", "Train accuracy"), ("validation_accuracy", "Validation accuracy"),
                 ("test_accuracy", "Test accuracy"), ("train_loss", "Train loss"),
                 ("validation_loss", "Validation loss"), ("test_loss", "Test loss"),
                 ("gap_train_test", "Overfitting gap (train − test accuracy)"),
                 ("fit_s", "Fit time (median over seeds)"),
                 ("epoch_s", "Time per epoch, steady state (median over seeds)"),
                 ("images_per_s", "Inference speed (median over seeds)"))
# Speeds depend on whatever else the machine runs, and a t-interval over a few such seeds reaches 0 (the
# baseline on a busy machine: 31,776 ± 28,290 images/s, 95 % CI 0 to 285,956); these rows show the median
# over seeds and the seeds' range (min to max), figures that some seed measured.
SPEED_ROWS = frozenset({"fit_s", "epoch_s", "images_per_s"})
# Figures no file can vouch for: measured by the machine that wrote them, neither recomputed from the stored
# predictions nor pinned by another stored figure (README, "Result files"). Marked once, with a note.
UNVERIFIABLE = frozenset({"train_accuracy", "train_loss", "test_loss", "fit_s", "epoch_s", "images_per_s"})
# (anchor and partial name, heading, Report attribute that must be non-empty for the section to show), in
# reading order: the answer first, then what explains it; provenance (the dataset's digests and thumbnails,
# the environment) is an appendix, which in the PDF of a 2-model smoke study had filled pages 2 and 14.
SECTIONS = (("headline", "Headline results", "headline"),
            ("models", "Architectures and hyperparameters", "models"), ("learning-curves", "Learning curves", "curves"),
            ("per-class", "Per-class results", "per_class"), ("predictions", "Predictions", "predictions"),
            ("grid-search", "Grid search", "searches"), ("seeds", "Seeds", "seeds"), ("timing", "Timing", "timing"))
APPENDICES = (("dataset", "Dataset", "dataset"), ("environment", "Environment", "environment"))
REPORT_COLUMNS = ("precision", "recall", "f1-score", "support")


@dataclass
class Group:
    """One model of one study: its runs (all seeds, all folders) and the study's manifest."""

    label: str
    study: str
    model: str
    manifest: Manifest
    runs: list[RunResult]

    @property
    def ok_runs(self) -> list[RunResult]:
        return [r for r in self.runs if r.status == "ok"]


@dataclass
class Report:
    """Everything a report shows, as plain values the templates lay out; empty sections are left out."""

    title: str
    studies: list[str]
    meta: list[tuple[str, str]]
    problems: list[str]
    outcome: list[dict]
    headline: list[dict]
    groups: list[str]
    glance: list[dict] = field(default_factory=list)
    dataset: dict | None = None
    models: dict | None = None
    searches: list[dict] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    seeds: dict | None = None
    timing: dict | None = None
    environment: list[dict] = field(default_factory=list)

    @property
    def sections(self) -> list[dict]:
        """The sections to show, in order, each with its anchor, heading and partial template."""
        shown = []
        for appendix, table in ((False, SECTIONS), (True, APPENDICES)):
            present = [(a, h) for a, h, attribute in table if attribute == "headline" or getattr(self, attribute)]
            for index, (anchor, heading) in enumerate(present):
                number = f"Appendix {'ABCDEFGH'[index]}" if appendix else str(index + 1)
                shown.append({"anchor": anchor, "heading": heading, "number": number, "appendix": appendix,
                              "partial": f"partials/{anchor}.html"})
        return shown


# The range each metric can take: a t-interval over few seeds can reach past it, which is shown clipped.
BOUNDS = {"accuracy": (0.0, 1.0), "gap": (-1.0, 1.0)}


def clip(metric: str, value: float) -> float:
    kind = "accuracy" if metric.endswith("accuracy") else metric.split("_")[0]
    low, high = BOUNDS.get(kind, (0.0, math.inf))
    return min(max(value, low), high)


def summary_cell(metric: str, summary: Summary) -> dict:
    """Mean ± std as text, the 95 % interval (clipped to the metric's range) as a second line."""
    ci = "one seed: no interval"
    if summary.ci_low is not None:
        ci = "95 % CI " + span(metric_text(metric, clip(metric, summary.ci_low)),
                               metric_text(metric, clip(metric, summary.ci_high)))
    # A line may break before "±" only, never inside a number and its unit.
    text = f"{metric_text(metric, summary.mean)} ±\u00a0{metric_text(metric, summary.std, spread=True)}"
    return {"value": summary.mean, "text": text, "ci": ci, "n": summary.n}


def speed_cell(metric: str, values: list[float]) -> dict:
    """The median over seeds as text, the seeds' range (min to max) as a second line."""
    median = statistics.median(values)
    spread = "one seed: no range" if len(values) < 2 else "range " + span(metric_text(metric, min(values)),
                                                                          metric_text(metric, max(values)))
    return {"value": median, "text": metric_text(metric, median), "ci": spread, "n": len(values)}


def load_groups(folders: list[Path], strict: bool) -> tuple[list[Study], list[Group], list[str]]:
    """Read every folder, group runs by (study, model), list invalid files and duplicate seeds."""
    studies = [load_study(folder, strict=strict) for folder in folders]
    problems = [p for s in studies for p in s.problems]
    names = list(dict.fromkeys(s.manifest.study for s in studies))
    groups: dict[tuple[str, str], Group] = {}
    for study in studies:
        for run in study.runs:
            key = (study.manifest.study, run.model)
            label = run.model if len(names) == 1 else f"{study.manifest.study} · {run.model}"
            group = groups.setdefault(key, Group(label, key[0], run.model, study.manifest, []))
            if any(r.seed == run.seed for r in group.runs):
                problems.append(f"{study.folder / run.file_name}: seed {run.seed} of {group.label} is also in an "
                                "earlier folder; this copy is ignored")
                continue
            group.runs.append(run)
    for study in studies:
        problems += [f"{study.folder / r.file_name}: run failed: {r.error}" for r in study.runs if r.status == "failed"]
    ordered = sorted(groups.values(), key=lambda g: (names.index(g.study), _model_rank(g)))
    for group in ordered:
        group.runs.sort(key=lambda r: r.seed)
    return studies, ordered, problems


def _model_rank(group: Group) -> int:
    models = group.manifest.models
    return models.index(group.model) if group.model in models else len(models)


def headline(groups: list[Group]) -> list[dict]:
    """Rows of metrics, one cell per model: mean ± std over ok seeds with a 95 % interval; speeds
    (SPEED_ROWS) as the median over seeds with their range."""
    rows = []
    for metric, title in HEADLINE_ROWS:
        cells = []
        for group in groups:
            values = metric_values(group.ok_runs, metric)
            if not values:  # no ok run, or runs without it (an estimator has no epochs, one epoch no steady state)
                cells.append({"model": group.label, "value": None, "text": "not measured" if group.ok_runs else
                              "no ok run", "ci": "", "n": 0})
                continue
            cell = speed_cell(metric, values) if metric in SPEED_ROWS else summary_cell(metric, summarize(values))
            cells.append({"model": group.label, **cell})
        rows.append({"metric": metric, "title": title, "cells": cells, "verifiable": metric not in UNVERIFIABLE})
    return rows


def classification_table(run: RunResult) -> dict[str, Any]:
    """scikit-learn's ``classification_report(output_dict=True)`` rebuilt from the run's stored scores."""
    pc = run.per_class
    table: dict[str, Any] = {name: {"precision": p, "recall": r, "f1-score": f, "support": s}
                             for name, p, r, f, s in zip(pc.class_names, pc.precision, pc.recall, pc.f1,
                                                         pc.support, strict=True)}
    matrix = np.asarray(run.confusion_matrix)
    table["accuracy"] = float(np.trace(matrix) / matrix.sum())
    support = np.asarray(pc.support, dtype=float)
    for name, weights in (("macro avg", np.ones_like(support)), ("weighted avg", support)):
        table[name] = {column: float(np.average(getattr(pc, "f1" if column == "f1-score" else column),
                                                weights=weights)) for column in REPORT_COLUMNS[:3]}
        table[name]["support"] = int(support.sum())
    return table


def mean_classification_table(runs: list[RunResult]) -> dict[str, Any]:
    """Every cell of the classification report averaged over seeds."""
    tables = [classification_table(r) for r in runs]
    mean: dict[str, Any] = {}
    for key, cell in tables[0].items():
        if isinstance(cell, dict):
            mean[key] = {c: math.fsum(t[key][c] for t in tables) / len(tables) for c in cell}
        else:
            mean[key] = math.fsum(t[key] for t in tables) / len(tables)
    return mean


def per_class_section(groups: list[Group]) -> list[dict]:
    tables = []
    for group in groups:
        runs = group.ok_runs
        if not runs:
            continue
        table = mean_classification_table(runs)
        names = runs[0].per_class.class_names
        rows = [{"name": key, "cells": [Value(table[key][c], score(table[key][c]) if c != "support"
                                              else count(table[key][c])) for c in REPORT_COLUMNS],
                 "average": key.endswith(" avg")} for key in [*names, "macro avg", "weighted avg"]]
        pooled = np.sum([np.asarray(r.confusion_matrix) for r in runs], axis=0)
        tables.append({"label": group.label, "n": len(runs), "rows": rows,
                         "accuracy": Value(table["accuracy"], unbreakable(percent(table["accuracy"]))),
                         "confusion": figures.confusion_heatmap(pooled, names)})
    return tables


def build_report(folders: list[Path], strict: bool = False) -> Report:
    """Read result folders and assemble every section; sections with nothing to show stay empty."""
    studies, groups, problems = load_groups([Path(f) for f in folders], strict)
    if not groups:
        raise BenchError(f"no readable run in {', '.join(map(str, folders))}; nothing to report",
                         fix="; ".join(problems) or "run 'fmbench run' first")
    manifests = _primary_manifests(studies)
    report = Report(title=sections.title(manifests), studies=[m.study for m in manifests],
                    meta=sections.meta(manifests, groups), problems=problems,
                    outcome=glance.outcome(groups), headline=headline(groups), groups=[g.label for g in groups],
                    glance=glance.glance_rows(groups))
    report.dataset = sections.dataset(manifests[0], groups)
    report.models = sections.models(groups)
    report.searches = sections.searches(manifests)
    report.curves = sections.curves(groups)
    report.per_class = per_class_section(groups)
    report.predictions = sections.predictions(groups)
    report.seeds = sections.seeds(groups)
    report.timing = sections.timing(groups, manifests)
    report.environment = sections.environments(studies, groups)
    return report


def _primary_manifests(studies: list[Study]) -> list[Manifest]:
    """The first manifest of each distinct study, in the order folders were given."""
    seen: dict[str, Manifest] = {}
    for study in studies:
        seen.setdefault(study.manifest.study, study.manifest)
    return list(seen.values())
