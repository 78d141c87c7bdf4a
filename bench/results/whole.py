"""A study proves it is whole: every planned run present and listed, seeds that are what they say,
a manifest that agrees with itself, and no writer still at work.

``load_study`` runs these after reading every run file, so report, compare, reference and check all
get them. Each problem names the path; strict readers stop at the first, the report lists them all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from bench.data import OFFICIAL_SHA256, combined_digest
from bench.results.contradiction import EXACT_TOLERANCE, Contradiction
from bench.results.lockfile import LOCK_NAME, describe, holder, state
from bench.results.schema import Manifest, RunResult, Tuning

RUN_GLOB = "*-seed*.json"


def planned_runs(manifest: Manifest) -> list[str]:
    """Every (model, seed) file the study plans, in the runner's order: seed by seed, models in order."""
    return [f"{model}-seed{seed}.json" for seed in manifest.seeds for model in manifest.models]


def completeness(folder: Path, manifest: Manifest) -> list[str]:
    """The manifest's models x seeds against its ``runs`` list and against the files on disk."""
    planned, listed = planned_runs(manifest), manifest.runs
    on_disk = {p.name for p in folder.glob(RUN_GLOB)}
    found = [f"{folder / 'study.json'}: {name} lists {value} twice" for name, values in
             (("seeds", manifest.seeds), ("models", manifest.models), ("runs", listed))
             for value in sorted({v for v in values if values.count(v) > 1}, key=str)]
    if not planned:
        found.append(f"{folder / 'study.json'}: plans no run (models {manifest.models}, seeds {manifest.seeds})")
    missing = [name for name in planned if name not in on_disk]
    if missing:
        found.append(f"{folder}: the study is incomplete: {len(missing)} of {len(planned)} planned runs "
                     f"({len(manifest.models)} models x {len(manifest.seeds)} seeds) have no result file: "
                     f"{', '.join(missing)}")
    unlisted = [name for name in planned if name in on_disk and name not in listed]
    if unlisted:
        found.append(f"{folder / 'study.json'}: its runs list leaves out {', '.join(unlisted)}, on disk: the "
                     "manifest does not vouch for it, so it is left out")
    strays = sorted((set(listed) | on_disk) - set(planned))
    if strays:
        found.append(f"{folder}: {', '.join(strays)} not among the study's planned runs (models "
                     f"{', '.join(manifest.models)}; seeds {', '.join(map(str, manifest.seeds))}): left out")
    return found


def writer(folder: Path, n_runs: int, n_planned: int) -> list[str]:
    """A study whose lock is held is still being written, or was cut short."""
    path = folder / LOCK_NAME
    if not path.exists():
        return []
    found = holder(path)
    where = state(found)
    if where == "live":
        return [f"{folder}: the study is still being written by fmbench ({describe(found)}): {n_runs} of "
                f"{n_planned} runs so far"]
    if where == "elsewhere":
        return [f"{folder}: {path.name} says fmbench on {found.get('host')} holds this study ({describe(found)}); "
                "from here it cannot be told whether that run is still writing"]
    return [f"{folder}: {path.name} names a run that is gone ({describe(found) if found else 'unreadable'}): the "
            "study was cut short; finish it with its command and --resume"]


def split_owners(runs: list[tuple[RunResult, Path]]) -> list[Contradiction]:
    """Every model of a seed trains on that seed's split, and no two seeds share one: a run whose split
    belongs to another seed was relabelled."""
    seeds_of = defaultdict(lambda: defaultdict(list))  # split digest -> seed -> runs
    for run, path in runs:
        if run.split is not None:
            seeds_of[run.split.train_indices_sha256][run.seed].append(path)
    found = []
    for by_seed in seeds_of.values():
        if len(by_seed) < 2:
            continue
        owner = max(by_seed, key=lambda seed: len(by_seed[seed]))
        ties = [seed for seed in by_seed if len(by_seed[seed]) == len(by_seed[owner])]
        for seed, paths in by_seed.items():
            if seed != owner or len(ties) > 1:
                shown = ", ".join(p.name for s, ps in by_seed.items() if s != seed for p in ps)
                found += [Contradiction(path, "split.train_indices_sha256", f"the split of {shown}",
                                        f"a split of seed {seed} alone", "another seed's split")
                          for path in paths]
    return found


def tuning_record(folder: Path, manifest: Manifest) -> list[str]:
    """Each search's winners are its stages' winners over the model's parameters; each stage's winner is
    its own cv_results' best (exhaustive search); its time is its stages' time."""
    path, found = folder / "study.json", []
    for index, tuning in enumerate(manifest.tuning):
        where = f"{path}: tuning[{index}] ({tuning.model} seed {tuning.seed})"
        spec = manifest.model_specs.get(tuning.model)
        if tuning.model not in manifest.models or tuning.seed not in manifest.seeds:
            found.append(f"{where}: not a model and seed of this study")
            continue
        if spec is not None and spec.params is not None:
            expected = {**spec.params, **{k: v for s in tuning.stages for k, v in s.best_params.items()}}
            differs = [k for k in {**expected, **tuning.best_params} if expected.get(k) != tuning.best_params.get(k)]
            if differs:
                found.append(f"{where}: best_params.{differs[0]} stores {tuning.best_params.get(differs[0])!r} but "
                             f"its stages' winners give {expected.get(differs[0])!r}")
        found += stage_winners(where, tuning)
        if not math.isclose(tuning.wall_s, sum(s.wall_s for s in tuning.stages), rel_tol=1e-9, abs_tol=1e-9):
            found.append(f"{where}: wall_s stores {tuning.wall_s:.6g} but its stages' wall_s sum to "
                         f"{sum(s.wall_s for s in tuning.stages):.6g}")
    return found


def stage_winners(where: str, tuning: Tuning) -> list[str]:
    if tuning.search != "exhaustive":
        return []  # successive halving picks its winner among the last round's candidates only
    found = []
    for stage in tuning.stages:
        ranks, scores = stage.cv_results.get("rank_test_score"), stage.cv_results.get("mean_test_score")
        params = stage.cv_results.get("params")
        if not ranks or not scores or not params or len(ranks) != len(params):
            continue
        try:
            best = ranks.index(min(ranks))
        except TypeError:  # an edited rank that is not a number
            found.append(f"{where}: stage '{stage.name}' has a cv_results rank_test_score that is not all numbers")
            continue
        if params[best] != stage.best_params or abs(scores[best] - stage.best_score) > EXACT_TOLERANCE:
            found.append(f"{where}: stage '{stage.name}' stores best {stage.best_params} ({stage.best_score:.6g}) "
                         f"but its cv_results rank {params[best]} ({scores[best]:.6g}) first")
    return found


def dataset_record(folder: Path, manifest: Manifest) -> list[str]:
    dataset, path = manifest.dataset, folder / "study.json"
    files = dataset.file_sha256
    if not files:
        return []  # migrated from schema 1, which did not record per-file digests
    if set(files) != set(OFFICIAL_SHA256):
        return [f"{path}: field 'dataset.file_sha256' names {', '.join(sorted(files))}, not the four files "
                f"{', '.join(sorted(OFFICIAL_SHA256))}"]
    found = []
    if dataset.digest != combined_digest(files):
        found.append(f"{path}: field 'dataset.digest' stores {dataset.digest} but its file_sha256 give "
                     f"{combined_digest(files)}")
    official = files == OFFICIAL_SHA256
    if dataset.official is not None and dataset.official != official:
        found.append(f"{path}: field 'dataset.official' stores {dataset.official} but its file_sha256 "
                     f"{'are' if official else 'are not'} the official Fashion-MNIST's")
    return found


def sessions_record(folder: Path, manifest: Manifest) -> list[str]:
    total = sum(s.wall_s for s in manifest.sessions)
    if manifest.sessions and not math.isclose(manifest.wall_s, total, rel_tol=1e-9, abs_tol=1e-6):
        return [f"{folder / 'study.json'}: field 'wall_s' stores {manifest.wall_s:.6g} but its sessions' wall_s "
                f"sum to {total:.6g}"]
    return []


def study_problems(folder: Path, manifest: Manifest, n_runs: int) -> list[str]:
    """Everything wrong with the study as a whole (run files are verified one by one elsewhere)."""
    return (completeness(folder, manifest) + writer(folder, n_runs, len(planned_runs(manifest)))
            + tuning_record(folder, manifest) + dataset_record(folder, manifest) + sessions_record(folder, manifest))
