"""Upgrades of older result files, applied on load: per kind of file (its ``kind`` field), version N to
N+1, one function each. Each kind numbers its versions on its own: a record class declares its kind and
current version as the defaults of its ``kind`` and ``schema_version`` fields (``RunResult``, ``Manifest``,
``PerfResult``, the gate's ``Reference``), and ``bench.results.read_record`` reads every one of them here.

A migration never invents a measurement: what an old file did not record becomes None
(and readers say it is unknown), never a guessed value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError


def _run_v1_to_v2(payload: dict) -> dict:
    """Schema 1 copied the study's data-loading time into every run; it belongs to the manifest."""
    payload = dict(payload, schema_version=2)
    if isinstance(payload.get("timings"), dict):
        payload["timings"] = {k: v for k, v in payload["timings"].items() if k != "data_load_s"}
    return payload


def _manifest_v1_to_v2(payload: dict) -> dict:
    """Schema 1 tuned one model only, the reference's tunable MLP."""
    payload = dict(payload, schema_version=2)
    if isinstance(payload.get("tuning"), list):
        payload["tuning"] = [{**t, "model": "tuned"} if isinstance(t, dict) else t for t in payload["tuning"]]
        if "tuned" in payload.get("models", []):  # and reported its gain over the baseline
            payload["model_specs"] = {"tuned": {"kind": "keras", "factory": "bench.models.mlp:build_tunable",
                                                "tuned": True, "compare_with": "baseline"}}
    return payload


def _run_v2_to_v3(payload: dict) -> dict:
    """Schema 3 names each run's host; a schema-2 run recorded it in its environment. Its worker was not
    recorded: it stays unknown (None)."""
    payload = dict(payload, schema_version=3)
    environment = payload.get("environment")
    if isinstance(environment, dict) and "host" not in payload:
        payload["host"] = environment.get("hostname")
    return payload


def _manifest_v2_to_v3(payload: dict) -> dict:
    """Schema 3 records whether tuning ran per seed (schema 2 said so only in its command); the study's
    thread count was not recorded: it stays unknown (None)."""
    payload = dict(payload, schema_version=3)
    if "--tune-per-seed" in (payload.get("command") or []):
        payload["tune_per_seed"] = True
    return payload


def _run_v3_to_v4(payload: dict) -> dict:
    """Schema 4 keeps every timed inference pass; a schema-3 run timed one, its inference_s, so that one
    is its only repeat (the report calls it one timing, not a repeated measurement)."""
    payload = dict(payload, schema_version=4)
    timings = payload.get("timings")
    if isinstance(timings, dict) and "inference_repeats_s" not in timings and "inference_s" in timings:
        payload["timings"] = {**timings, "inference_repeats_s": [timings["inference_s"]]}
    return payload


def _manifest_v3_to_v4(payload: dict) -> dict:
    """Schema 4 changed run files only; the manifest shares their number, its content unchanged."""
    return dict(payload, schema_version=4)


def _renumbered(payload: dict) -> dict:
    """perf.json's versions 1 and 2 were the run files' numbers, which it shared: its content did not change."""
    return dict(payload, schema_version=payload["schema_version"] + 1)


MIGRATIONS: dict[str, dict[int, Callable[[dict], dict]]] = {
    "run": {1: _run_v1_to_v2, 2: _run_v2_to_v3, 3: _run_v3_to_v4},
    "manifest": {1: _manifest_v1_to_v2, 2: _manifest_v2_to_v3, 3: _manifest_v3_to_v4},
    "perf": {1: _renumbered, 2: _renumbered},
    "reference": {},
    "history-entry": {},  # bench.results.history; version 1 is its first
}
# How to get a readable file of each kind: the fix of every error about one.
REMAKE = {"run": "re-run the study", "manifest": "re-run the study", "perf": "re-run 'fmbench perf'",
          "reference": "make one with 'fmbench reference RESULTS_DIR --out FILE.json'",
          "history-entry": "re-add its study with 'fmbench history add RESULTS_DIR'"}


def migrate(payload: dict, path: Path, kind: str, version: int) -> dict:
    """``payload`` of a ``kind`` file upgraded to ``version``; a file of another kind, or of a version
    without a way here, is a BenchError naming the file."""
    if payload.get("kind") != kind:
        raise BenchError(f"{path}: not an fmbench {kind} file (field 'kind' is not '{kind}')",
                         value=payload.get("kind"), fix=f"pass a {kind} file, or {REMAKE[kind]}")
    found = payload.get("schema_version")
    if not isinstance(found, int):
        raise BenchError(f"{path}: field 'schema_version' is missing or not an integer", value=found,
                         fix=f"pass a {kind} file, or {REMAKE[kind]}")
    steps = MIGRATIONS[kind]
    if found > version or any(step not in steps for step in range(found, version)):
        raise BenchError(f"{path}: schema_version {found} is not supported (this fmbench reads {kind} files of "
                         f"version {version})", fix=f"{REMAKE[kind]}, or use the fmbench version that wrote it")
    while found < version:
        payload = steps[found](payload)
        found = payload["schema_version"]
    return payload
