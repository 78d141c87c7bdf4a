"""Finishing a study that stopped: what is already done, and whether it is the same study.

A study folder records what it is (profile, configuration, seeds, models, data digest, threads)
in ``study.json`` from the moment it starts. ``--resume`` compares that with the command's own
study, field by field, and refuses at the first difference; then it keeps every run file that
loads, validates and agrees with its own evidence, every finished search, and each finished stage of
an unfinished search (``checkpoints/``); everything else runs again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results import MANIFEST_NAME, Manifest, RunResult, Stage, Tuning, read_record, to_jsonable, verify_run
from bench.results.schema import CONFIG_IN_MODEL_SPECS
from bench.results.store import write_json_atomic

CHECKPOINTS = "checkpoints"


def check_out_folder(out: Path, resume: bool = False) -> None:
    """Never overwrite a study already on disk; with ``resume`` there is nothing to check here."""
    if not resume and ((out / MANIFEST_NAME).exists() or any(out.glob("*-seed*.json"))):
        raise BenchError(f"results folder {out} already holds a study",
                         fix="add --resume to finish it (same command), choose another --out, "
                             "or move the old results away first")


def _sizes(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in CONFIG_IN_MODEL_SPECS}


def identity(config, data_digest: str) -> dict[str, Any]:
    """What makes two commands the same study (the executor is not part of it: results do not depend on it)."""
    return _plain({"profile": config.profile.name, "config": _sizes(config.profile.as_dict()), "seeds": config.seeds,
                   "models": config.models,
                   "model_specs": {s.name: s.record().model_dump(mode="json") for s in config.setups},
                   "data digest": data_digest, "threads_per_run": config.threads_per_run,
                   "tune_per_seed": config.tune_per_seed})


def recorded_identity(manifest: Manifest) -> dict[str, Any]:
    return _plain({"profile": manifest.profile, "config": _sizes(manifest.config), "seeds": manifest.seeds,
                   "models": manifest.models,
                   "model_specs": {name: spec.model_dump(mode="json") for name, spec in manifest.model_specs.items()},
                   "data digest": manifest.dataset.digest, "threads_per_run": manifest.threads_per_run,
                   "tune_per_seed": manifest.tune_per_seed})


def _plain(value):
    return json.loads(json.dumps(to_jsonable(value)))


def first_difference(ours, theirs, path: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted path) where two JSON-like values differ, with both values."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            found = first_difference(ours.get(key), theirs.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if ours == theirs else (path, ours, theirs)


def existing_study(config, data_digest: str, kinds_settled: bool = True) -> Manifest | None:
    """The study on disk that ``--resume`` continues (None if the folder holds none); a different one
    is refused, naming the first field that differs. ``kinds_settled`` False: the users' models are not
    built yet (the CLI's check, before TensorFlow), so their kinds are not compared."""
    path = config.out / MANIFEST_NAME
    if not path.exists():
        return None
    manifest = read_record(path, Manifest)
    ours, theirs = identity(config, data_digest), recorded_identity(manifest)
    if not kinds_settled:
        _take_recorded_kinds(ours, theirs, config.setups)
    found = first_difference(ours, theirs)
    if found:
        name, ours, theirs = found
        raise BenchError(f"--resume: {config.out} holds a different study: {name} is {_short(theirs)} there, "
                         f"{_short(ours)} here", fix=f"resume with the study's own command (study.json 'command': "
                         f"{' '.join(manifest.command)}), or choose another --out")
    return manifest


def _take_recorded_kinds(ours: dict, theirs: dict, setups) -> None:
    """A user model is 'keras' until its factory has run (a guess): compare it with the recorded kind instead."""
    recorded = theirs.get("model_specs")
    for setup in setups:
        if setup.spec.user and isinstance(recorded, dict) and isinstance(recorded.get(setup.name), dict):
            ours["model_specs"][setup.name]["kind"] = recorded[setup.name].get("kind")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def remove_temp_files(out: Path) -> list[Path]:
    """Temporary files of atomic writes cut short by a kill (``.NAME.*.tmp``): never results."""
    found = [p for folder in (out, out / CHECKPOINTS) if folder.is_dir() for p in folder.glob(".*.tmp")]
    for path in found:
        path.unlink(missing_ok=True)
    return found


def completed_runs(out: Path, manifest: Manifest) -> set[str]:
    """Run files that load, validate, finished ok and agree with their own evidence."""
    done = set()
    for path in out.glob("*-seed*.json"):
        try:
            run = read_record(path, RunResult)
        except BenchError:
            continue
        if run.status == "ok" and run.file_name == path.name and not verify_run(run, manifest, path):
            done.add(path.name)
    return done


def checkpoint_path(out: Path, model: str, seed: int) -> Path:
    return out / CHECKPOINTS / f"tuning-{model}-seed{seed}.json"


def write_checkpoint(out: Path, tuning: Tuning) -> None:
    path = checkpoint_path(out, tuning.model, tuning.seed)
    path.parent.mkdir(exist_ok=True)
    write_json_atomic(path, tuning.model_dump(mode="json"))


def drop_checkpoint(out: Path, model: str, seed: int) -> None:
    path = checkpoint_path(out, model, seed)
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def finished_stages(out: Path, model: str, seed: int) -> list[Stage]:
    """Stages of an unfinished search, in order (an unreadable checkpoint: none, the search starts over)."""
    path = checkpoint_path(out, model, seed)
    if not path.exists():
        return []
    try:  # a checkpoint is a bare Tuning record (no schema_version: it lives only until the search ends)
        return Tuning.model_validate_json(path.read_text(encoding="utf-8")).stages
    except (OSError, ValueError):
        return []


@dataclass
class Done:
    """What a session finds finished: run files, whole searches, stages of unfinished searches."""

    runs: set[str] = field(default_factory=set)
    tunings: dict[tuple[str, int], Tuning] = field(default_factory=dict)
    stages: dict[tuple[str, int], list[Stage]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.runs) + sum(len(t.stages) for t in self.tunings.values()) + sum(map(len, self.stages.values()))


def find_done(out: Path, manifest: Manifest, searches: list[tuple[str, int]]) -> Done:
    done = Done(runs=completed_runs(out, manifest))
    done.tunings = {(t.model, t.seed): t for t in manifest.tuning if (t.model, t.seed) in searches}
    done.stages = {key: finished_stages(out, *key) for key in searches if key not in done.tunings}
    return done
