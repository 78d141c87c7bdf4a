"""Page one of a report: for every model, the four questions answered in one row and in plain sentences.

  * How good: mean test accuracy ± std over seeds, its 95 % interval.
  * How stable: the seed-to-seed std, the range, the worst seed.
  * How fast: seconds per epoch after the first (the first includes tracing and compiling: 0.9 s against
    0.2 s for the smoke baseline, so a mean over two epochs read 0.56 s), the first epoch apart, and
    inference images/s; times are measured, not verifiable from the files, and say so.
  * Better or worse than what it is measured against (a model's ``compare_with``: the tuned MLP against
    the baseline, a user's model against whatever it names): the difference, its 95 % interval and whether
    that interval leaves seed noise. Within one study both models ran on the same seeds and so the same
    splits, so the difference is paired by seed; without two shared seeds, Welch's over all seeds.

A headline that named the best model without saying whether the runner-up was within seed noise of it
read as a verdict ("Best test accuracy: mine, 76.93 % ± 0.35" beside baseline 76.27 ± 1.73); every
comparison sentence here carries its interval.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.analysis.significance import Difference, difference_of_means, paired_difference
from bench.analysis.stats import METRICS, Summary, metric_values, summarize
from bench.format import MISSING, format_duration, plural, span, unbreakable
from bench.format import percent as _percent
from bench.format import points as _points
from bench.format import speed as _speed


def percent(value: float) -> str:
    """The formatters of bench.format, their number and unit kept on one line (a range wrapped before '%')."""
    return unbreakable(_percent(value))


def points(value: float, signed: bool = True) -> str:
    return unbreakable(_points(value, signed))


def speed(value: float) -> str:
    return unbreakable(_speed(value))


def seconds(value: float) -> str:
    return unbreakable(format_duration(value, digits=2))


def by_seed(group, metric: str = "test_accuracy") -> dict[int, float]:
    getter = METRICS[metric]
    return {r.seed: getter(r) for r in group.ok_runs if getter(r) is not None}


@dataclass(frozen=True)
class Versus:
    """Model B against model A on test accuracy: B minus A with its interval, over ``n`` seeds."""

    other: str
    a: Summary
    b: Summary
    difference: Difference
    paired: bool
    n: int

    @property
    def within_noise(self) -> bool | None:
        d = self.difference
        return None if d.ci_low is None else d.ci_low <= 0 <= d.ci_high

    def interval(self) -> str:
        """'the 95 % interval of the difference, paired over 3 seeds, is -1.20 to +2.20 points: within
        seed noise', or why there is none."""
        d = self.difference
        if d.ci_low is None:
            return "with a single seed there is no interval, so the difference is not yet confirmed"
        how = f"paired over {plural(self.n, 'seed')}" if self.paired else f"over {self.a.n} and {self.b.n} seeds"
        verdict = "within seed noise" if self.within_noise else "beyond seed noise"
        low, high = _points(d.ci_low).replace(" points", ""), points(d.ci_high)
        return f"the 95 % interval of the difference, {how}, is {span(low, high)}: {verdict}"


def versus(a_group, b_group, other: str) -> Versus:
    """B's test accuracy against A's: paired by seed where they share at least two seeds."""
    a, b = by_seed(a_group), by_seed(b_group)
    shared = sorted(set(a) & set(b)) if a_group.study == b_group.study else []
    if len(shared) >= 2:
        difference = paired_difference([a[s] for s in shared], [b[s] for s in shared])
        paired, n = True, len(shared)
    else:
        difference, paired, n = difference_of_means(list(a.values()), list(b.values())), False, len(b)
    return Versus(other, summarize(list(a.values())), summarize(list(b.values())), difference, paired, n)


def change_sentence(v: Versus, subject: str) -> dict:
    """The plain outcome of tuning (or of one model against another) on test accuracy; ``worse`` flags a
    loss beyond seed noise so the page can mark it (a loss inside it, marked red, read as an alarm)."""
    diff = v.b.mean - v.a.mean
    change = f"({percent(v.a.mean)} → {percent(v.b.mean)})"
    unchanged = round(abs(diff) * 100, 2) == 0  # under 0.005 points: what the page shows as 0.00
    if unchanged:
        text = f"{subject} left test accuracy unchanged {change}"
    else:
        verb = "lowered" if diff < 0 else "raised"
        text = f"{subject} {verb} test accuracy by {points(abs(diff), signed=False)} {change}"
    return {"text": f"{text}; {v.interval()}.", "worse": diff < 0 and not unchanged and v.within_noise is False}


def comparisons(groups: list) -> list[tuple[object, Versus]]:
    """Every model with a ``compare_with`` that names a model with ok runs in its study."""
    found = {(g.study, g.model): g for g in groups if g.ok_runs}
    pairs = []
    for group in groups:
        spec = group.manifest.model_specs.get(group.model)
        other = spec.compare_with if spec else None
        if other and (group.study, other) in found and (group.study, group.model) in found:
            pairs.append((group, versus(found[(group.study, other)], group, other)))
    return pairs


def subject_of(group, v: Versus) -> str:
    spec = group.manifest.model_specs.get(group.model)
    return "Tuning" if spec and spec.tuned else f"{group.model}, measured against {v.other},"


def best_sentence(scored: list) -> dict:
    """The best mean test accuracy, and whether the runner-up is within seed noise of it."""
    ranked = sorted(scored, key=lambda g: summarize(list(by_seed(g).values())).mean, reverse=True)
    best = ranked[0]
    s = summarize(list(by_seed(best).values()))
    text = f"Best test accuracy: {best.label}, {percent(s.mean)} ± {points(s.std, signed=False)} over " \
           f"{plural(s.n, 'seed')}"
    if len(ranked) > 1:
        v = versus(ranked[1], best, ranked[1].label)
        text += f"; ahead of {ranked[1].label} ({percent(v.a.mean)}): {v.interval()}"
    return {"text": text + ".", "worse": False}


def speed_parts(group) -> list[str]:
    """How fast one model trained and predicted here, as clauses (medians over seeds)."""
    parts = []
    steady, first = _median(group, "epoch_s"), _median(group, "first_epoch_s")
    if steady is not None:
        parts.append(f"{seconds(steady)} per epoch after the first"
                     + (f" (first: {seconds(first)}, with compiling)" if first is not None else ""))
    elif first is not None:
        parts.append(f"one epoch: {seconds(first)}, with compiling")
    if steady is None and first is None and _median(group, "fit_s") is not None:
        parts.append(f"fit {seconds(_median(group, 'fit_s'))}")
    images = _median(group, "images_per_s")
    if images is not None:
        parts.append(f"{speed(images)} at inference")
    return parts


def speed_sentence(scored: list) -> dict:
    models = [f"{g.label} {', '.join(speed_parts(g))}" for g in scored if speed_parts(g)]
    return {"text": f"How fast on this machine (medians over seeds): {'; '.join(models)}. Times are "
            "measured, not verifiable from the files, and move with the machine's load.", "worse": False}


def _median(group, metric: str) -> float | None:
    if metric not in METRICS:
        return None
    values = metric_values(group.ok_runs, metric)
    return statistics.median(values) if values else None


def glance_rows(groups: list) -> list[dict]:
    """One row per model with ok runs: the four questions' short answers."""
    against = {id(g): v for g, v in comparisons(groups)}
    rows = []
    for group in groups:
        accuracy = by_seed(group)
        if not accuracy:
            continue
        s = summarize(list(accuracy.values()))
        worst = min(accuracy, key=accuracy.get)
        ci = "one seed: no interval" if s.ci_low is None else \
            "95 % CI " + span(percent(max(s.ci_low, 0.0)), percent(min(s.ci_high, 1.0)))
        v = against.get(id(group))
        rows.append({"label": group.label, "good": f"{percent(s.mean)} ± {points(s.std, signed=False)}", "ci": ci,
                     "stable": f"{plural(s.n, 'seed')}, range {span(percent(s.minimum), percent(s.maximum))}",
                     "worst": f"worst: seed {worst}, {percent(accuracy[worst])}",
                     "fast": speed_parts(group) or [MISSING],
                     "versus": _versus_cell(v)})
    return rows


def _versus_cell(v: Versus | None) -> dict:
    if v is None:
        return {"text": MISSING, "note": "", "worse": False}
    d = v.difference
    note = "one seed: no interval" if d.ci_low is None else \
        f"95 % CI {span(points(d.ci_low), points(d.ci_high))}, {'within' if v.within_noise else 'beyond'} seed noise"
    return {"text": f"{points(d.difference)} vs {v.other}", "note": note,
            "worse": d.ci_high is not None and d.ci_high < 0}


def outcome(groups: list) -> list[dict]:
    """Plain sentences: each comparison with its interval, the best model with its runner-up, how fast,
    the largest overfitting gap, and failed runs."""
    several = len({g.study for g in groups}) > 1
    sentences = []
    for group, v in comparisons(groups):
        sentence = change_sentence(v, subject_of(group, v))
        sentences.append({**sentence, "text": (f"{group.study}: " if several else "") + sentence["text"]})
    scored = [g for g in groups if g.ok_runs and by_seed(g)]
    if scored:
        sentences.append(best_sentence(scored))
        if any(speed_parts(g) for g in scored):
            sentences.append(speed_sentence(scored))
        gaps = {g.label: summarize(metric_values(g.ok_runs, "gap_train_test")).mean for g in scored}
        label = max(gaps, key=gaps.get)
        sentences.append({"text": f"Largest overfitting gap: {label}, train accuracy "
                          f"{points(gaps[label], signed=False)} above test accuracy.", "worse": False})
    failed = sum(1 for g in groups for r in g.runs if r.status == "failed")
    if failed:
        sentences.append({"text": f"{plural(failed, 'run')} failed: left out of every mean; see Seeds.",
                          "worse": True})
    return sentences
