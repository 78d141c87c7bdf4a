"""The descriptive sections of a report (dataset, models, grid search, curves, predictions, seeds,
timing, environment), each built from result records into plain dicts the templates lay out.

A builder returns an empty value when it has nothing to show, so the section is left out.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.analysis.stats import metric_values, summarize
from bench.data import unofficial_files
from bench.format import (
    MISSING,
    NBSP,
    count,
    flops,
    format_duration,
    metric,
    percent,
    plural,
    points,
    span,
    unbreakable,
)
from bench.report import figures
from bench.results import Environment, ImageSet, Manifest, RunResult, Stage, Study

if TYPE_CHECKING:
    from bench.report.build import Group

SEARCH_NAMES = {"exhaustive": "exhaustive grid search (scikit-learn GridSearchCV)",
                "halving": "successive halving (scikit-learn HalvingGridSearchCV)"}
SEED_COLUMNS = ("train_accuracy", "validation_accuracy", "test_accuracy", "test_loss", "gap_train_test", "fit_s",
                "images_per_s")


@dataclass(frozen=True)
class Value:
    """A number in a table: the exact value (kept in the HTML for machines) and its text for readers."""

    value: float | None
    text: str


def metric_text(name: str, value: float, spread: bool = False) -> str:
    """A metric's value (``spread``: a std, unsigned) as ``bench.format`` writes it, kept on one line."""
    return unbreakable(metric(name, value, spread))


def _duration(seconds: float, digits: int = 0) -> str:
    return unbreakable(format_duration(seconds, digits))


def text_of(value: Any) -> str:
    """Hyperparameter and other free values as short text (lists, floats, None)."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def class_names(groups: list[Group], manifest: Manifest) -> list[str]:
    if manifest.dataset.class_names:
        return list(manifest.dataset.class_names)
    runs = [r for g in groups for r in g.ok_runs]
    return runs[0].per_class.class_names if runs else [str(i) for i in range(10)]


def title(manifests: list[Manifest]) -> str:
    return "fmbench report: " + ", ".join(m.study for m in manifests)


def _environments(groups: list[Group], manifests: list[Manifest]) -> list[Environment]:
    records = [m.environment for m in manifests] + [r.environment for g in groups for r in g.runs]
    return list({json.dumps(e.model_dump(), sort_keys=True): e for e in records}.values())


def _minute(timestamp: str) -> str:
    """An ISO timestamp to the minute, as readers write it: "2026-11-30 08:56"."""
    return timestamp[:16].replace("T", " ")


def meta(manifests: list[Manifest], groups: list[Group]) -> list[tuple[str, str]]:
    """The title block: study, profile, dates, seeds, machines and software."""
    environments = _environments(groups, manifests)
    machines = [f"{e.hostname}: {e.cpu_model}, {plural(e.cpu_cores, 'core')}, {e.memory_gib:g} GiB memory, "
                f"GPU: {', '.join(e.gpus) or 'none'}" for e in environments]
    software = [f"Python {e.python}, " + ", ".join(f"{k} {v}" for k, v in e.packages.items()) +
                f", Keras backend {e.keras_backend}" for e in environments]
    seeds = sorted({r.seed for g in groups for r in g.runs})
    rows = [("Study", ", ".join(m.study for m in manifests)),
            ("Profile", ", ".join(dict.fromkeys(m.profile for m in manifests))),
            ("Date", ", ".join(f"{_minute(m.started)} to {_minute(m.finished)} UTC" for m in manifests)),
            ("Seeds", f"{len(seeds)} ({', '.join(map(str, seeds))})"),
            ("Models", ", ".join(g.label for g in groups)),
            ("Machine", "; ".join(dict.fromkeys(machines))),
            ("Software", "; ".join(dict.fromkeys(software))),
            ("Command", "; ".join("fmbench " + " ".join(m.command) for m in manifests))]
    return rows


def image_grid(images: ImageSet, captions: list[dict]) -> list[dict]:
    """Small pictures with their captions, for a 5-column grid."""
    return [{"uri": figures.image_uri(image), **caption} for image, caption in zip(images.to_array(), captions,
                                                                                  strict=True)]


def dataset(manifest: Manifest, groups: list[Group]) -> dict | None:
    """Counts, shapes, class balance and the first 25 training images."""
    info, names = manifest.dataset, class_names(groups, manifest)
    parts = {"train": info.train, "test": info.test}
    splits = [{"name": f"{name} set (full)", "count": count(part.count),
               "shape": "×".join(str(d) for d in part.shape[1:]) or MISSING}
              for name, part in parts.items() if part is not None]
    runs = [r for g in groups for r in g.runs]
    if runs:
        data = runs[0].data
        splits += [{"name": f"used for {part}", "count": count(n), "shape": ""} for part, n in
                   (("training", data.n_train), ("validation", data.n_validation), ("test", data.n_test))]
    counts = [part.class_counts if part is not None else None for part in parts.values()]
    balance = [{"name": name, "train": _nth(counts[0], i), "test": _nth(counts[1], i)} for i, name in enumerate(names)]
    samples = image_grid(manifest.train_samples, [{"caption": _name(names, y), "right": None}
                                                  for y in manifest.train_samples.labels])
    return {"splits": splits, "balance": balance, "samples": samples, "digest": info.digest or MISSING,
            "files": sorted(info.file_sha256.items()), "test_labels": manifest.test_labels_sha256,
            "official": official(info.file_sha256),
            "source": f"{info.location or MISSING} ({info.source or MISSING})"}


def official(files: dict[str, str]) -> str:
    """Whether the study's data is the official Fashion-MNIST, from its recorded per-file digests."""
    if not files:
        return "not known (the study did not record per-file digests)"
    different = unofficial_files(files)
    if not different:
        return "yes: all four files match the published SHA-256"
    return f"NO: {', '.join(different)} differ from the published SHA-256; not comparable with published results"


def _nth(values: list | None, i: int) -> str:
    return count(values[i]) if isinstance(values, list) and i < len(values) else MISSING


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def models(groups: list[Group]) -> dict | None:
    """Layers of each model and a side-by-side table of hyperparameters and compile options."""
    firsts = [(g, (g.ok_runs or g.runs)[0]) for g in groups if g.runs]
    if not firsts:
        return None
    architectures = [{"label": g.label, "layers": [_layer_row(layer) for layer in r.architecture],
                      "total": r.total_params, "flops": flops(r.flops_per_image), "factory": r.factory,
                      "source": r.source_sha256, "estimator": r.estimator}
                     for g, r in firsts if r.architecture or r.estimator]
    rows, shown = [], set()
    for source in ("hyperparameters", "compile_options"):
        names = [k for k in dict.fromkeys(k for g, _ in firsts for r in g.runs for k in getattr(r, source))
                 if k not in shown]  # a compile option that is also a hyperparameter has the hyperparameter's row
        shown.update(names)
        for name in names:
            cells = []
            for g, _ in firsts:
                values = list(dict.fromkeys(text_of(_setting(r, source, name)) for r in g.runs))
                cells.append(values[0] if len(values) == 1 else "varies by seed: " + " / ".join(values))
            rows.append({"name": name, "source": source.replace("_", " "), "cells": cells})
    return {"labels": [g.label for g, _ in firsts], "architectures": architectures, "rows": rows}


def _setting(run, source: str, name: str):
    """A run's value of one setting. A model compiled by a user's factory has no optimizer or learning rate
    among its hyperparameters, only among the compile options read from it: its row shows those (not '—')."""
    value = getattr(run, source).get(name)
    return run.compile_options.get(name) if value is None and source == "hyperparameters" else value


def _layer_row(layer) -> dict:
    shape = "×".join("?" if d is None else str(d) for d in layer.output_shape) if layer.output_shape else ""
    return {"name": layer.name, "type": layer.type, "shape": shape,
            "size": layer.units if layer.units is not None else (layer.filters if layer.filters is not None else ""),
            "kernel": layer.kernel or "", "activation": layer.activation or "",
            "rate": layer.rate if layer.rate is not None else "", "params": count(layer.params),
            "flops": count(layer.flops) if layer.flops else ""}


def stage_section(stage: Stage, ylim: tuple[float, float] | None = None) -> dict:
    """One grid-search stage: every candidate's scores (table), whether its winner stands out of the fold
    noise (a sentence) and a chart of mean CV accuracy (on ``ylim``, the search's shared scale in %)."""
    cv, names = stage.cv_results, list(stage.param_grid)
    n = len(cv.get("params", []))
    splits = sorted((k for k in cv if k.startswith("split") and k.endswith("_test_score")),
                    key=lambda k: int(k[5:-11]))
    extra = [k for k in ("iter", "n_resources") if k in cv]
    rows = []
    for i in range(n):
        params = cv["params"][i]
        rows.append({"params": [text_of(params.get(p)) for p in names], "extra": [text_of(cv[k][i]) for k in extra],
                     # The column heading gives the unit (%), so the cells hold numbers alone.
                     "mean": Value(cv["mean_test_score"][i], f"{percent(cv['mean_test_score'][i], unit=False)} ± "
                                   f"{percent(cv['std_test_score'][i], unit=False)}"),
                     "rank": cv["rank_test_score"][i], "fit": metric_text("fit_s", cv["mean_fit_time"][i]),
                     "folds": " / ".join(percent(cv[k][i], unit=False) for k in splits if cv[k][i] is not None),
                     "best": cv["rank_test_score"][i] == 1})
    return {"index": stage.index, "name": stage.name, "names": names, "extra": extra, "rows": rows,
            "n_folds": stage.n_folds, "wall": _duration(stage.wall_s, digits=1),
            "best_score": unbreakable(percent(stage.best_score)),
            "best": ", ".join(f"{k} = {text_of(v)}" for k, v in stage.best_params.items()),
            "verdict": stage_verdict(stage), "chart": stage_chart(stage, names, ylim)}


def _final_candidates(cv: dict) -> dict[str, int]:
    """Each candidate's last row (successive halving lists a candidate once per round it survives)."""
    last: dict[str, int] = {}
    for i, params in enumerate(cv.get("params", [])):
        last[json.dumps(params, sort_keys=True)] = i
    return last


def _scored(cv: dict, indices) -> list[dict]:
    """The rows at ``indices`` that have a score, as the candidate's parameters plus its mean and fold std."""
    return [cv["params"][i] | {"_mean": cv["mean_test_score"][i], "_std": cv["std_test_score"][i]}
            for i in indices if cv["mean_test_score"][i] is not None]


def _winner_index(rows: list[dict], best: dict) -> int | None:
    found = [i for i, r in enumerate(rows) if all(r.get(k) == v for k, v in best.items())]
    return found[0] if found else None


def stage_chart(stage: Stage, names: list[str],
                ylim: tuple[float, float] | None = None) -> figures.Picture | None:
    """Dots ± fold std per candidate, winner starred: over the values of one tuned parameter, or over the
    candidates of two (labelled by both values); nothing for more."""
    rows = _scored(stage.cv_results, _final_candidates(stage.cv_results).values())
    if not rows or len(names) not in (1, 2):
        return None
    means, stds = [r["_mean"] for r in rows], [r["_std"] for r in rows]
    winner = _winner_index(rows, stage.best_params)
    if len(names) == 1:
        return figures.one_param_chart(names[0], [r.get(names[0]) for r in rows], means, stds, winner=winner,
                                       ylim=ylim)
    labels = [[text_of(r.get(name)) for name in names] for r in rows]
    return figures.candidates_chart(names, labels, means, stds, winner=winner, ylim=ylim)


# The winner is "clear" when its lead over the runner-up exceeds this many standard errors of the difference:
# about a two-sided 95 % bound, no finer, since fold scores are not independent (the folds share data).
NOISE_SE = 2


def _contest(stage: Stage) -> tuple[list[dict], str]:
    """The scored candidates the winner is judged among, best first, and where (for the sentence).

    Exhaustive: all of them. Successive halving: the last round that scored two or more, because rounds
    differ in training images and scores of different rounds do not compare; the winner tops that round.
    """
    cv = stage.cv_results
    rounds = cv.get("iter") or [0] * len(cv.get("params", []))
    by_round: dict[Any, list[int]] = {}
    for i, r in enumerate(rounds):
        by_round.setdefault(r, []).append(i)
    contested = [r for r, rows in by_round.items() if len(_scored(cv, rows)) > 1]
    if not contested:
        return sorted(_scored(cv, _final_candidates(cv).values()), key=lambda r: -r["_mean"]), ""
    last = max(contested)
    rows = sorted(_scored(cv, by_round[last]), key=lambda r: -r["_mean"])  # stable: ties keep grid order
    if "iter" not in cv:
        return rows, ""
    images = count(cv["n_resources"][by_round[last][0]]) if "n_resources" in cv else MISSING
    return rows, f" (successive halving, round {last + 1} of {len(by_round)}, on {images} training images)"


def stage_verdict(stage: Stage) -> str:
    """One sentence: whether the stage's winner is distinguishable from the runner-up given the fold spread.

    Its lead is compared with ``NOISE_SE`` standard errors of the difference of the two means over k folds,
    sqrt((s1² + s2²) / (k - 1)): scikit-learn's fold std s divides by k, so s² / (k - 1) is the sample
    variance over k folds divided by k, the variance of a mean of k independent folds.
    """
    rows, where = _contest(stage)
    head = f"Stage {stage.index}{where}"
    if len(rows) < 2:
        only = ", ".join(f"{k} = {text_of(v)}" for k, v in stage.best_params.items())
        return f"{head}: one candidate ({only}), so nothing to choose."
    winner, runner = rows[0], rows[1]
    lead = winner["_mean"] - runner["_mean"]
    if stage.n_folds < 2:
        verdict = f"no fold spread to judge by (lead {_points(lead)}, {plural(stage.n_folds, 'fold')})"
    else:
        noise = NOISE_SE * ((winner["_std"] ** 2 + runner["_std"] ** 2) / (stage.n_folds - 1)) ** 0.5
        judged = "clear winner" if lead > noise else "within fold noise"
        verdict = f"{judged} (lead {_points(lead)}, noise ±{NBSP}{_points(noise)})"
    return (f"{head}: winner {_candidate_text(winner, runner)} vs runner-up {_candidate_text(runner, winner)}: "
            f"{verdict}.")


def _points(difference: float) -> str:
    return unbreakable(points(difference, signed=False))


def _candidate_text(row: dict, other: dict) -> str:
    """A candidate's mean ± fold std, and the parameter values that set it apart from ``other``."""
    differs = ", ".join(unbreakable(f"{k} = {text_of(v)}") for k, v in row.items() if not k.startswith("_") and
                        other.get(k) != v)
    return f"{unbreakable(percent(row['_mean']))} ±{NBSP}{_points(row['_std'])}" + (f" ({differs})" if differs else "")


def stage_sections(stages: list[Stage]) -> list[dict]:
    """Every stage of one search, their charts on one accuracy scale so that gaps compare across stages."""
    rows = [r for s in stages for r in _scored(s.cv_results, _final_candidates(s.cv_results).values())]
    ylim = figures.accuracy_limits([r["_mean"] for r in rows], [r["_std"] for r in rows]) if rows else None
    return [stage_section(s, ylim) for s in stages]


def searches(manifests: list[Manifest]) -> list[dict]:
    """Per study with tuning: the search used, best parameters per tuning seed, and every stage."""
    found = []
    for manifest in manifests:
        for model in dict.fromkeys(t.model for t in manifest.tuning):
            tunings = [t for t in manifest.tuning if t.model == model]
            names = list(dict.fromkeys(k for t in tunings for k in t.best_params))
            best = [{"name": k, "cells": [text_of(t.best_params.get(k)) for t in tunings]} for k in names]
            best += [{"name": "training images", "cells": [count(t.n_train) for t in tunings]},
                     {"name": "search time", "cells": [_duration(t.wall_s, digits=1) for t in tunings]}]
            found.append({"study": manifest.study, "model": model,
                          "search": SEARCH_NAMES.get(manifest.search, manifest.search),
                          "seed": tunings[0].seed, "repeated": len(tunings) > 1,
                          "tuning_seeds": [t.seed for t in tunings],
                          "best": best, "stages": stage_sections(tunings[0].stages), "noise_se": NOISE_SE})
    return found


def curves(groups: list[Group]) -> list[dict]:
    return [{"label": g.label, "n": len(g.ok_runs),
             "figure": figures.learning_curves([r.history for r in g.ok_runs], g.label)}
            for g in groups if g.ok_runs and all(r.history for r in g.ok_runs)]


def predictions(groups: list[Group]) -> list[dict]:
    """For the lowest ok seed of each model: the first 25 test images and its most confident mistakes."""
    found, pictures = [], {}
    for group in groups:
        if not group.ok_runs:
            continue
        run, samples = group.ok_runs[0], group.manifest.test_samples
        names = class_names([group], group.manifest)
        key = id(samples)
        if key not in pictures:  # the same 25 test images serve every model of a study
            pictures[key] = [figures.image_uri(image) for image in samples.to_array()]
        first = []
        for uri, index in zip(pictures[key], samples.indices, strict=True):
            if index >= len(run.predictions.true):  # a sample outside the test subset this run used
                continue
            true, predicted = run.predictions.true[index], run.predictions.predicted[index]
            confidence = unbreakable(percent(run.predictions.probability[index], digits=0))
            first.append({"uri": uri, "caption": _name(names, predicted), "true": _name(names, true),
                          "right": predicted == true, "probability": confidence})
        mistakes = []
        if run.mistakes is not None and run.mistakes.predicted is not None:
            m = run.mistakes
            mistakes = image_grid(m, [{"caption": _name(names, p), "true": _name(names, t), "right": False,
                                       "probability": unbreakable(percent(q, digits=0))}
                                      for p, t, q in zip(m.predicted, m.labels, m.probability or [], strict=False)])
        found.append({"label": group.label, "seed": run.seed, "first": first, "mistakes": mistakes,
                      "correct": sum(1 for item in first if item["right"])})
    return found


def seeds(groups: list[Group]) -> dict | None:
    """One row per run (failed runs say why) and a strip plot of test accuracy per model."""
    rows = []
    for group in groups:
        for run in group.runs:
            cells = ([Value(v, metric_text(m, v)) for m, v in
                      ((m, metric_values([run], m)[0]) for m in SEED_COLUMNS)] if run.status == "ok" else [])
            rows.append({"label": group.label, "seed": run.seed, "status": run.status, "cells": cells,
                         "error": run.error or ""})
    if not rows:
        return None
    strip = figures.seed_strip({g.label: metric_values(g.ok_runs, "test_accuracy") for g in groups if g.ok_runs})
    return {"columns": SEED_COLUMNS, "rows": rows, "figure": strip}


DEFAULT_THREADS = "TensorFlow's default"
ONE_TIMING = "one timing, not a repeated measurement"


def _means(runs: list[RunResult], names: tuple[str, ...]) -> list[str]:
    """Each metric's mean over the runs that have it; "—" where none has (an estimator has no epochs, a
    one-epoch run no steady state)."""
    return [metric_text(m, summarize(values).mean) if (values := metric_values(runs, m)) else MISSING
            for m in names]


def inference_cells(runs: list[RunResult]) -> list[str]:
    """Inference speed from every timed pass of the runs, pooled over seeds: the median pass, the range
    from the slowest pass to the fastest, and how many passes each seed timed (a file from before schema 4
    timed one: ONE_TIMING)."""
    speeds = [r.data.n_test / s for r in runs for s in r.timings.inference_repeats_s if s > 0]
    if not speeds:
        return [MISSING] * 3
    spread = span(metric_text("images_per_s", min(speeds)), metric_text("images_per_s", max(speeds)))
    return [metric_text("images_per_s", statistics.median(speeds)), spread if len(speeds) > 1 else MISSING,
            _timed_passes(runs)]


def _timed_passes(runs: list[RunResult]) -> str:
    counts = sorted({len(r.timings.inference_repeats_s) for r in runs})
    if counts == [1]:
        return ONE_TIMING
    return f"{counts[0]} per seed" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} per seed"


def _speed_texts(runs: list[RunResult]) -> list[str]:
    """Steady-state time per epoch and fit time (means over runs), and the median timed inference pass."""
    return [*_means(runs, ("epoch_s", "fit_s")), inference_cells(runs)[0]]


MIN_EPOCHS_DRAWN = 4


def timing(groups: list[Group], manifests: list[Manifest]) -> dict | None:
    """Training and inference times per model (and per host or worker where runs were spread), per-epoch
    times, tuning time per stage, and each study's wall time, threads and sessions. Epochs: the steady state
    (epochs 2..n) and the first epoch (which traces and compiles) apart, means over seeds; inference: the
    median and range of every timed pass, pooled over seeds (``inference_cells``)."""
    models = [{"label": g.label, "n": len(g.ok_runs),
               "cells": [*_means(g.ok_runs, ("epoch_s", "first_epoch_s", "fit_s")), *inference_cells(g.ok_runs)]}
              for g in groups if g.ok_runs]
    per_epoch = {g.label: _mean_epoch_seconds(g) for g in groups if g.ok_runs and all(r.history for r in g.ok_runs)}
    stages = [{"study": m.study, "seed": t.seed, "index": s.index, "name": s.name,
               "candidates": len(_final_candidates(s.cv_results)), "folds": s.n_folds,
               "wall": _duration(s.wall_s, digits=1)}
              for m in manifests for t in m.tuning for s in t.stages]
    # Whole studies as the CLI says them when it finishes ("done in 3.5 min (estimated 4.0 min)").
    studies = [{"study": m.study, "wall": _duration(m.wall_s), "estimate": _duration(m.estimate_s),
                "tuning": _duration(sum(t.wall_s for t in m.tuning)) if m.tuning else MISSING,
                "threads": DEFAULT_THREADS if m.threads_per_run is None else str(m.threads_per_run)}
               for m in manifests]
    if not models and not stages:
        return None
    # A line through 2 or 3 epochs says nothing the table's first and steady columns do not (and took a
    # quarter page of a smoke report); over more epochs it shows drift, a busy spell, throttling.
    drawn = max(map(len, per_epoch.values()), default=0) >= MIN_EPOCHS_DRAWN
    figure = figures.epoch_times(per_epoch) if drawn else None
    return {"models": models, "figure": figure, "stages": stages, "studies": studies,
            "places": speed_by_place(groups), "sessions": sessions(manifests)}


def spread_over(runs: list[RunResult]) -> str | None:
    """"host" when runs ran on several machines, "worker" when on several workers of one machine, None
    when all ran in one place. An unrecorded place (a migrated file) is not evidence of another one."""
    for attribute in ("host", "worker"):
        if len({getattr(r, attribute) for r in runs} - {None}) > 1:
            return attribute
    return None


def speed_by_place(groups: list[Group]) -> list[dict]:
    """Per study spread over hosts or workers: each model's speed in each place. Rows are per model as
    well, because one place running more of a slower model would otherwise look slower itself."""
    tables = []
    for study in dict.fromkeys(g.study for g in groups):
        scored = [g for g in groups if g.study == study and g.ok_runs]
        attribute = spread_over([r for g in scored for r in g.ok_runs])
        if attribute is None:
            continue
        rows = []
        for group in scored:
            for place in dict.fromkeys(getattr(r, attribute) for r in group.ok_runs):
                runs = [r for r in group.ok_runs if getattr(r, attribute) == place]
                rows.append({"label": group.label, "place": _env_text(place), "n": len(runs),
                             "cells": _speed_texts(runs)})
        tables.append({"study": study, "by": attribute, "rows": rows})
    return tables


def sessions(manifests: list[Manifest]) -> list[dict]:
    """Every ``fmbench run`` of a study that took more than one (a resumed study), in order; a study run
    in one go says no more than its wall time already does."""
    return [{"study": m.study, "started": _minute(s.started), "executor": s.executor,
             "wall": _duration(s.wall_s), "run": s.units_run, "skipped": s.units_skipped}
            for m in manifests if len(m.sessions) > 1 for s in m.sessions]


def _mean_epoch_seconds(group: Group) -> list[float]:
    series = [r.history.epoch_seconds for r in group.ok_runs]
    length = min(len(s) for s in series)
    return [float(np.mean([s[i] for s in series])) for i in range(length)]


def environments(studies: list[Study], groups: list[Group]) -> list[dict]:
    """Every distinct environment record, every field, and which files it came from."""
    found: dict[str, dict] = {}
    records = [(f"{s.folder.name}/study.json", s.manifest.environment) for s in studies]
    records += [(f"{g.study}/{r.file_name}", r.environment) for g in groups for r in g.runs]
    for source, env in records:
        key = json.dumps(env.model_dump(), sort_keys=True)
        if key not in found:
            fields = [(name, _env_text(value)) for name, value in env.model_dump().items() if name != "packages"]
            found[key] = {"fields": fields, "packages": sorted(env.packages.items()), "sources": []}
        found[key]["sources"].append(source)
    shown = list(found.values())
    return shown[:1] + [_difference_from(shown[0], env) for env in shown[1:]]


def _difference_from(first: dict, env: dict) -> dict:
    """Another environment as the fields and packages in which it differs from the first: a second
    environment usually differs in one or two fields, and a second full table hid which (issue 18)."""
    fields, packages = dict(first["fields"]), dict(first["packages"])
    return {**env, "fields": [(n, v) for n, v in env["fields"] if fields.get(n) != v],
            "packages": [(n, v) for n, v in env["packages"] if packages.get(n) != v]
            + [(n, "not installed") for n in packages if n not in dict(env["packages"])]}


def _env_text(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return text_of(value)
