"""Aggregates computed when reading: mean, std and 95 % confidence intervals over seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from bench.results import RunResult, Study

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean ± std over n values with a Student-t confidence interval (None when n < 2)."""

    n: int
    mean: float
    std: float
    ci_low: float | None
    ci_high: float | None
    minimum: float
    maximum: float
    values: tuple[float, ...]

    @property
    def ci_half_width(self) -> float | None:
        return None if self.ci_high is None else (self.ci_high - self.mean)


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Sample mean, sample std (ddof=1) and the t-interval of the mean."""
    if not values:
        raise ValueError("summarize needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Summary(n, mean, 0.0, None, None, min(values), max(values), tuple(values))
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half, min(values), max(values), tuple(values))


# Per-run metrics every table and check reads, by name. Each returns one float of an ok run, or None where
# the run has none: an estimator has no epochs, and a one-epoch run no steady state. "epoch_s" is the
# steady state (epochs 2..n), "first_epoch_s" the first epoch, which also traces and compiles (0.5 s against
# 0.1 to 0.2 s for later epochs in the committed studies); both from the stored history, not from
# Timings.epoch_s_mean (all epochs). "images_per_s" is test images over the median timed pass.
METRICS: dict[str, Callable[[RunResult], float | None]] = {
    "train_accuracy": lambda r: r.metrics.train.accuracy,
    "validation_accuracy": lambda r: r.metrics.validation.accuracy,
    "test_accuracy": lambda r: r.metrics.test.accuracy,
    "train_loss": lambda r: r.metrics.train.loss,
    "validation_loss": lambda r: r.metrics.validation.loss,
    "test_loss": lambda r: r.metrics.test.loss,
    "gap_train_test": lambda r: r.gaps.train_minus_test,
    "gap_train_validation": lambda r: r.gaps.train_minus_validation,
    "fit_s": lambda r: r.timings.fit_s,
    "epoch_s": lambda r: r.history.steady_epoch_s if r.history else None,
    "first_epoch_s": lambda r: r.history.first_epoch_s if r.history else None,
    "images_per_s": lambda r: r.timings.images_per_s,
}


def metric_values(runs: Sequence[RunResult], metric: str) -> list[float]:
    """One value per ok run that has it (an estimator has no epochs), in seed order."""
    getter = METRICS[metric]
    values = [getter(r) for r in sorted(runs, key=lambda r: r.seed) if r.status == "ok"]
    return [v for v in values if v is not None]


def model_summaries(study: Study) -> dict[str, dict[str, Summary]]:
    """For every model with at least one ok run: every metric it has summarized over seeds."""
    table: dict[str, dict[str, Summary]] = {}
    for model in study.models:
        runs = study.ok_runs(model)
        if runs:
            table[model] = {name: summarize(values) for name in METRICS if (values := metric_values(runs, name))}
    return table
