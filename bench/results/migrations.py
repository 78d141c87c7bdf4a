"""Upgrades of older result files, applied on load: version N to N+1, one function each.

A migration never invents a measurement: what an old file did not record becomes None
(and readers say it is unknown), never a guessed value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError
from bench.results.schema import SCHEMA_VERSION


def _v1_to_v2(payload: dict) -> dict:
    """Schema 1 copied the study's data-loading time into every run; it belongs to the manifest."""
    payload = dict(payload, schema_version=2)
    if payload.get("kind") == "run" and isinstance(payload.get("timings"), dict):
        payload["timings"] = {k: v for k, v in payload["timings"].items() if k != "data_load_s"}
    if payload.get("kind") == "manifest" and isinstance(payload.get("tuning"), list):
        # Schema 1 tuned one model only, the reference's tunable MLP.
        payload["tuning"] = [{**t, "model": "tuned"} if isinstance(t, dict) else t for t in payload["tuning"]]
        if "tuned" in payload.get("models", []):  # and reported its gain over the baseline
            payload["model_specs"] = {"tuned": {"kind": "keras", "factory": "bench.models.mlp:build_tunable",
                                                "tuned": True, "compare_with": "baseline"}}
    return payload


def _v2_to_v3(payload: dict) -> dict:
    """Schema 3 names each run's host; a schema-2 run recorded it in its environment. Its worker and
    the study's thread count were not recorded: they stay unknown (None)."""
    payload = dict(payload, schema_version=3)
    environment = payload.get("environment")
    if payload.get("kind") == "run" and isinstance(environment, dict) and "host" not in payload:
        payload["host"] = environment.get("hostname")
    if payload.get("kind") == "manifest" and "--tune-per-seed" in (payload.get("command") or []):
        payload["tune_per_seed"] = True
    return payload


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3}


def migrate(payload: dict, path: Path) -> dict:
    version = payload.get("schema_version")
    if not isinstance(version, int):
        raise BenchError(f"{path}: field 'schema_version' is missing or not an integer", value=version,
                         fix="this is not an fmbench result file")
    if version > SCHEMA_VERSION or (version < SCHEMA_VERSION and version not in MIGRATIONS):
        raise BenchError(f"{path}: schema_version {version} is not supported (this fmbench reads "
                         f"{SCHEMA_VERSION})", fix="re-run the study or use a matching fmbench version")
    while version < SCHEMA_VERSION:
        payload = MIGRATIONS[version](payload)
        version = payload["schema_version"]
    return payload
