"""History entries for the trend tests: real ones from the committed studies at fake commits, and synthetic
ones (the real tiny-a entry with its accuracies redrawn) for steps, several machines and 1,000 commits.

Accuracies are drawn per seed around a level with a 0.3-point spread and rounded to whole test images (the
tiny studies test on 1,000), as a real series is; a step moves every seed of every commit from ``step_at`` on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from conftest import STUDIES

from bench import results
from bench.results.history import GitInfo, HistoryEntry, Machine, digest, entry_from_study

START = datetime(2026, 1, 1, tzinfo=UTC)


def sha(i: int) -> str:
    """A 40-hex commit id whose first 7 digits differ for every i (so short commits are unique)."""
    return f"{i:07x}" + digest(i)[:33]


def real_entry(name: str, i: int, subject: str | None = None, branch: str | None = "main") -> HistoryEntry:
    """The committed study ``name`` recorded at fake commit ``i`` (one commit an hour)."""
    git = GitInfo(sha(i), None, branch, (START + timedelta(hours=i)).isoformat(), subject or f"commit {i}")
    return entry_from_study(results.load_study(STUDIES / name, strict=True), git)


def on_machine(entry: HistoryEntry, cpu_model: str) -> HistoryEntry:
    """The same entry as if run on another machine (its fingerprint and id made consistent)."""
    machine = Machine(cpu_model=cpu_model, cpu_cores=entry.machine.cpu_cores, memory_gib=entry.machine.memory_gib,
                      gpus=list(entry.machine.gpus))
    return entry.model_copy(update={"machine": machine, "machine_id": digest(machine.model_dump(mode="json"), 8)})


def shifted(entry: HistoryEntry, shift: float) -> HistoryEntry:
    """The entry with every seed's test accuracy moved by ``shift`` (a share), still whole test images."""
    runs = [r.model_copy(update={"test_accuracy": round(r.test_accuracy + shift, 3)}) for r in entry.runs]
    return entry.model_copy(update={"runs": runs})


def real_step(shift: float = -0.08) -> list[HistoryEntry]:
    """tiny-a at commits 0-5, then the same study with every accuracy moved by ``shift`` at commits 6-11. The
    real seeds spread 2-4 points, so 8 points stands far above them."""
    return [real_entry("tiny-a", i) for i in range(6)] + [shifted(real_entry("tiny-a", i), shift) for i in range(6, 12)]


def synthetic(base: HistoryEntry, n: int, *, step_at: int | None = None, step: float = -0.03, level: float = 0.80,
              std: float = 0.003, seed: int = 0, salt: str = "", start: int = 0, subjects: dict | None = None,
              epoch_s: float = 0.1) -> list[HistoryEntry]:
    """``n`` entries at commits start..start+n-1: every model of ``base`` at ``level`` (a share) with a step of
    ``step`` from commit ``step_at`` on; speed drawn around ``epoch_s`` and 20,000 images/s."""
    rng = np.random.default_rng(seed)
    n_test = base.n_test
    made = []
    for i in range(start, start + n):
        shift = step if step_at is not None and i >= step_at else 0.0
        runs = []
        for r in base.runs:
            accuracy = float(np.clip(np.round((level + shift + std * rng.standard_normal()) * n_test) / n_test, 0, 1))
            runs.append(r.model_copy(update={"test_accuracy": accuracy,
                                             "epoch_s": epoch_s * (1 + 0.05 * rng.standard_normal()),
                                             "images_per_s": 20_000 * (1 + 0.05 * rng.standard_normal())}))
        when = (START + timedelta(hours=i)).isoformat()
        made.append(base.model_copy(update={
            "commit": sha(i), "commit_time": when, "subject": (subjects or {}).get(i, f"commit {i}"),
            "runs": runs, "study_digest": digest([salt, i]), "study": f"study-{i}"}))
    return made
