"""The trend across commits: history entries (``bench.results.history``) turned into per-model series, pure data.

A **series** is what one line of the trend page is: one model's figures on one machine fingerprint and one
software stack, under one profile, one set of that model's settings (its config digest) and one test set
(data digest and size), in commit order. Anything else mixes measurements that may differ for reasons
other than the code: a settings change (say, more epochs) therefore starts a new series, and the page says
so, rather than showing a step the change detector would rightly flag but nobody needs to be told about.

Per commit of a series (a **point**; two entries of one commit in one series pool their seeds):
  * every seed's test accuracy, their mean, and the seed band: **lowest to highest seed** (not mean ± std:
    at 2 seeds a std is one number's distance, and the band must show the seeds as they are);
  * the steady-state epoch time and inference images/s: mean, lowest and highest over seeds;
  * the detected step changes of the series (``bench.analysis.changes.detect_changes``, seed-aware,
    calibrated to 0.01 false changes per 100 unchanged commits), named by their short commits.

Per series, **the latest commit against the window** of up to ``window`` (10) commits before it: the
window's seeds pooled, its mean and 95 % t-interval, and the difference with a Student-t interval over one
seed spread pooled from both sides (``bench.analysis.significance.pooled``: on unchanged code it is one
recipe, so one spread, and a single new seed still gets an interval). The window never reaches back across
a detected change, so it measures the level the latest commit is compared with. One test per row, not
corrected over rows: the change markers are the calibrated verdict, this table is the close-up.

**By machine**: per model, the latest entry of every (machine, stack) with its mean ± 95 % t-interval over
seeds, epoch time and images/s: "comparing hardware" across any number of machines in one table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bench.analysis.changes import WINDOW, Change, Point, detect_changes
from bench.analysis.significance import pooled
from bench.analysis.stats import summarize
from bench.format import MISSING, format_duration, percent, points, speed
from bench.results.history import HistoryEntry, Machine, RunFigures, Stack

SHORT = 7  # a commit as git abbreviates it: how the page and the change labels name commits
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Spread:
    """A measured figure over seeds: mean, lowest and highest, from ``n`` seeds that recorded it."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread | None:
        values = [v for v in values if v is not None]
        return cls(math.fsum(values) / len(values), min(values), max(values), len(values)) if values else None


@dataclass(frozen=True)
class SeriesKey:
    """What a series holds fixed. Entries differing in any of these are never one line."""

    machine_id: str
    stack_id: str
    profile: str
    config_digest: str  # the model's own settings (HistoryEntry.model_config_digests)
    data_digest: str
    n_test: int


@dataclass(frozen=True)
class TrendPoint:
    """One commit of a series: its seeds' figures and where it sits on the model's commit axis (``x``)."""

    x: int
    commit: str
    short: str
    when: datetime
    branch: str | None
    subject: str | None
    studies: tuple[str, ...]
    seeds: tuple[int, ...]
    accuracies: tuple[float, ...]
    epoch_s: Spread | None
    images_per_s: Spread | None

    @property
    def mean(self) -> float:
        return math.fsum(self.accuracies) / len(self.accuracies)

    @property
    def low(self) -> float:
        return min(self.accuracies)

    @property
    def high(self) -> float:
        return max(self.accuracies)


@dataclass(frozen=True)
class Marker:
    """A detected change, as the page shows it: where (``x``: between its two commits) and its label."""

    x: float
    change: Change  # ``before`` and ``after`` are short commits

    @property
    def label(self) -> str:
        return self.change.describe()

    @property
    def short_label(self) -> str:
        return f"{points(self.change.size / 100)} at {self.change.after}"


@dataclass(frozen=True)
class Latest:
    """The latest commit of a series against the window of commits before it (shares; difference too)."""

    commit: str
    seeds: int
    mean: float
    ci: tuple[float, float] | None
    window_first: str
    window_last: str
    window_commits: int
    window_seeds: int
    window_mean: float
    window_ci: tuple[float, float] | None
    difference: float
    difference_ci: tuple[float, float] | None
    p_value: float | None
    cut_at: Change | None  # the change the window stops at, if it reaches back to one


@dataclass
class Series:
    key: SeriesKey
    machine: Machine
    stack: Stack
    points: list[TrendPoint]
    label: str = ""
    note: str = ""  # why it is a series of its own (a settings change), if it is one
    markers: list[Marker] = field(default_factory=list)
    latest: Latest | None = None


@dataclass
class ModelTrend:
    model: str
    commits: list[str]  # the x axis: every commit any series of the model has, in commit-time order
    series: list[Series]


@dataclass(frozen=True)
class MachineRow:
    """Per model and (machine, stack): its latest entry's figures over seeds."""

    model: str
    machine_id: str
    stack_id: str
    machine: str
    stack: str
    commit: str
    when: datetime
    profile: str
    config_digest: str
    seeds: int
    mean: float
    ci: tuple[float, float] | None
    epoch_s: Spread | None
    images_per_s: Spread | None


@dataclass
class Trend:
    entries: list[HistoryEntry]
    models: list[ModelTrend]
    by_machine: list[MachineRow]
    window: int


def short(commit: str) -> str:
    return commit[:SHORT]


def describe_machine(machine: Machine) -> str:
    gpus = ", ".join(machine.gpus) if machine.gpus else "no GPU"
    return f"{machine.cpu_model}, {machine.cpu_cores} cores, {machine.memory_gib} GiB, {gpus}"


def describe_stack(stack: Stack) -> str:
    parts = [f"Python {stack.python}", f"TensorFlow {stack.tensorflow or MISSING}",
             f"Keras {stack.keras or MISSING} ({stack.keras_backend})", f"scikit-learn {stack.scikit_learn or MISSING}",
             f"fmbench {stack.fmbench or MISSING}"]
    return ", ".join(parts)


def model_runs(entry: HistoryEntry, model: str) -> list[RunFigures]:
    return sorted((r for r in entry.runs if r.model == model), key=lambda r: r.seed)


def series_key(entry: HistoryEntry, model: str) -> SeriesKey:
    return SeriesKey(entry.machine_id, entry.stack_id, entry.profile, entry.model_config_digests[model],
                     entry.data_digest, entry.n_test)


def _point(x: int, entries: Sequence[HistoryEntry], model: str) -> TrendPoint:
    """One commit of a series: the seeds of every entry of that commit in it, pooled."""
    runs = [r for e in entries for r in model_runs(e, model)]
    first = entries[0]
    return TrendPoint(x, first.commit, short(first.commit), first.when, first.branch, first.subject,
                      tuple(dict.fromkeys(e.study for e in entries)), tuple(r.seed for r in runs),
                      tuple(r.test_accuracy for r in runs), Spread.of(r.epoch_s for r in runs),
                      Spread.of(r.images_per_s for r in runs))


def _markers(series: Series) -> list[Marker]:
    """Detected changes of a series, renamed to short commits and placed between their two points."""
    found = detect_changes([Point(p.commit, p.accuracies, series.key.n_test) for p in series.points])
    markers = []
    for change in found:
        before, after = series.points[change.index - 1], series.points[change.index]
        named = dataclasses.replace(change, before=before.short, after=after.short)
        markers.append(Marker((before.x + after.x) / 2, named))
    return markers


def _interval(values: Sequence[float]) -> tuple[float, float] | None:
    summary = summarize(values, CONFIDENCE)
    return None if summary.ci_low is None else (summary.ci_low, summary.ci_high)


def latest_vs_window(points: Sequence[TrendPoint], changes: Sequence[Change], window: int = WINDOW) -> Latest | None:
    """The last point against up to ``window`` points before it, never reaching back past a change (whose
    ``index`` is the point a new level starts at). None for a series of one commit."""
    if len(points) < 2:
        return None
    last = len(points) - 1
    earlier = [c for c in changes if c.index <= last - 1]
    cut = max(earlier, key=lambda c: c.index, default=None)
    start = max(last - window, cut.index if cut is not None else 0)
    before = points[start:last]
    old = [a for p in before for a in p.accuracies]
    new = list(points[last].accuracies)
    test = pooled(old, new)
    df = float(test.df)
    difference_ci = p_value = None
    if df > 0 and float(test.se) > 0:
        half = float(test.half_width(CONFIDENCE))
        difference_ci, p_value = (float(test.difference) - half, float(test.difference) + half), float(test.p_value)
    return Latest(points[last].short, len(new), math.fsum(new) / len(new), _interval(new), before[0].short,
                  before[-1].short, len(before), len(old), math.fsum(old) / len(old), _interval(old),
                  float(test.difference), difference_ci, p_value,
                  cut if cut is not None and cut.index > last - window else None)


def _series_of(entries: Sequence[HistoryEntry], model: str, x_of: dict[str, int]) -> list[Series]:
    """Group a model's entries by series key (first seen first), then by commit into points."""
    grouped: dict[SeriesKey, dict[str, list[HistoryEntry]]] = {}
    for entry in entries:
        grouped.setdefault(series_key(entry, model), {}).setdefault(entry.commit, []).append(entry)
    made = []
    for key, by_commit in grouped.items():
        first = next(iter(by_commit.values()))[0]
        pts = [_point(x_of[commit], group, model) for commit, group in by_commit.items()]
        made.append(Series(key, first.machine, first.stack, pts))
    return made


def _label(series: Series, all_series: Sequence[Series]) -> str:
    """"machine 1a2b3c4d · stack 5e6f7a8b", plus the profile, settings or test set where those differ."""
    parts = [f"machine {series.key.machine_id}", f"stack {series.key.stack_id}"]
    if len({s.key.profile for s in all_series}) > 1:
        parts.append(f"profile {series.key.profile}")
    if len({s.key.config_digest for s in all_series}) > 1:
        parts.append(f"settings {series.key.config_digest[:8]}")
    if len({(s.key.data_digest, s.key.n_test) for s in all_series}) > 1:
        parts.append(f"test set {series.key.data_digest[:8]} ({series.key.n_test:,} images)")
    return " · ".join(parts)


def _settings_notes(series: Sequence[Series]) -> None:
    """Say where a settings change (or another test set) started a series on a machine and stack already seen."""
    seen: dict[tuple[str, str, str], Series] = {}
    for s in sorted(series, key=lambda s: s.points[0].x):
        place = (s.key.machine_id, s.key.stack_id, s.key.profile)
        earlier = seen.get(place)
        if earlier is not None:
            what = ("settings changed" if s.key.config_digest != earlier.key.config_digest
                    else "the test set changed")
            s.note = (f"{what} at {s.points[0].short}: a new series starts there (settings "
                      f"{earlier.key.config_digest[:8]} before, {s.key.config_digest[:8]} from then)")
        seen[place] = s


def model_trend(entries: Sequence[HistoryEntry], model: str, window: int = WINDOW) -> ModelTrend:
    """Every series of ``model`` among ``entries`` (in commit-time order), with changes and the latest table."""
    runs_it = [e for e in entries if model in e.models]
    commits = list(dict.fromkeys(e.commit for e in runs_it))
    x_of = {commit: i for i, commit in enumerate(commits)}
    series = _series_of(runs_it, model, x_of)
    _settings_notes(series)
    for s in series:
        s.label = _label(s, series)
        s.markers = _markers(s)
        s.latest = latest_vs_window(s.points, [m.change for m in s.markers], window)
    return ModelTrend(model, commits, series)


def by_machine(entries: Sequence[HistoryEntry], models: Sequence[str]) -> list[MachineRow]:
    """Per model, the latest entry of every (machine, stack) that ran it, latest first within the model."""
    rows = []
    for model in models:
        latest: dict[tuple[str, str], HistoryEntry] = {}
        for entry in entries:  # commit-time order: a later entry replaces an earlier one
            if model in entry.models:
                latest[(entry.machine_id, entry.stack_id)] = entry
        for entry in sorted(latest.values(), key=lambda e: e.when, reverse=True):
            runs = model_runs(entry, model)
            accuracies = [r.test_accuracy for r in runs]
            rows.append(MachineRow(model, entry.machine_id, entry.stack_id, describe_machine(entry.machine),
                                   describe_stack(entry.stack), short(entry.commit), entry.when, entry.profile,
                                   entry.model_config_digests[model][:8], len(runs),
                                   math.fsum(accuracies) / len(accuracies), _interval(accuracies),
                                   Spread.of(r.epoch_s for r in runs), Spread.of(r.images_per_s for r in runs)))
    return rows


def build_trend(entries: Sequence[HistoryEntry], models: Sequence[str] | None = None,
                window: int = WINDOW) -> Trend:
    """The whole trend of ``entries`` (commit-time order, as ``HistoryStore.entries`` returns them) for
    ``models`` (default: every model, in order of first appearance). Entries running none of them are dropped."""
    names = list(models) if models else list(dict.fromkeys(m for e in entries for m in e.models))
    kept = [e for e in entries if any(m in e.models for m in names)]
    present = [m for m in names if any(m in e.models for e in kept)]
    return Trend(kept, [model_trend(kept, m, window) for m in present], by_machine(kept, present), window)


def format_by_machine(rows: Sequence[MachineRow]) -> str:
    """The by-machine table for a terminal: one row per model, machine and stack."""
    table = [("model", "machine", "stack", "commit", "seeds", "mean test accuracy", "95 % interval",
              "per epoch", "inference")]
    for r in rows:
        interval = f"{percent(r.ci[0])} to {percent(r.ci[1])}" if r.ci else "one seed: none"
        epoch = format_duration(r.epoch_s.mean, digits=3) if r.epoch_s else MISSING
        images = speed(r.images_per_s.mean) if r.images_per_s else MISSING
        table.append((r.model, r.machine_id, r.stack_id, r.commit, str(r.seeds), percent(r.mean), interval,
                      epoch, images))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in table]
    described = dict.fromkeys(f"machine {r.machine_id}: {r.machine}; stack {r.stack_id}: {r.stack}" for r in rows)
    return "\n".join([*(line.rstrip() for line in lines), "", *described])
