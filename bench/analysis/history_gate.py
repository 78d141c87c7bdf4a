"""The gate against history: ``fmbench check RESULTS_DIR --history LOCATION`` pools its reference from the store.

Per model, the reference is every seed of the last ``window`` (10) history entries that ran what the new study
ran: the same branch, machine fingerprint, software stack, profile, test data and that model's own settings
(``model_config_digests``: a change to another model keeps this one's history). Entries before the latest
change ``detect_changes`` finds in that model's series are left out, so a deliberate step (a retuned model)
starts a new pool instead of mixing two levels. The new study itself is never pooled (the same study digest).

The pool becomes a ``gate.Reference`` and goes through the very checks, budget and outputs a reference file
does (``gate.build_checks``), never paired: its seeds are many studies, not one run each. What it buys is
degrees of freedom: 10 commits x 2 seeds give the seed std 20 df where 2 + 2 seeds give 2, and the reference
mean 20 seeds; a 2-seed CI run then fails a 1-point drop (seed std 0.3 points) 91.8 % of the time where 2 + 2
seeds did 7.1 %, 0.5 point 26.1 % against 2.4 %, 3 points 100 % against 44.7 % (README, "Regression gate";
tests/test_analysis_history_gate.py simulates it through this code).

False alarms: the checks keep the gate's design (0.9 % on a fixed pool). The pool depends on the data only
through ``detect_changes``, whose false changes (0.01 per 100 unchanged commits by design: 0.1 % of a 10-commit
window) can only change which seeds are pooled, so the whole is at most about 1 %; simulated through this code
with the widest spread (3.6 points), 0.84 % of 100,000 runs, 95 % Clopper-Pearson bound 0.89 %. With
``--max-drop`` the mean checks' allowance is fixed, so neither that bound nor the t rule's power holds: the power
lines are then computed for the fixed allowance, and the outputs promise no false-alarm rate.

A model too unlikely to catch a 3-point drop is warned about as against a reference file (``gate.model_power``,
the advice counting the new run's seeds against the pool as it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.analysis import gate
from bench.analysis.changes import Change, Point, detect_changes
from bench.analysis.checks import FLOOR, Check, RunsSucceeded, SeedValues, conservative_std
from bench.analysis.significance import drop_power
from bench.errors import BenchError
from bench.format import percent, plural, points
from bench.results import Study
from bench.results.history import (
    ID_LENGTH,
    HistoryEntry,
    HistoryStore,
    Machine,
    Stack,
    digest,
    git_info,
    settings,
    study_digest,
)

WINDOW = 10  # history entries pooled per model, at most
POWER_DROPS = (0.005, 0.01, 0.03)  # drops whose chance of being caught the pool's power lines print
CI_SEEDS = 2  # the new run those lines are for: a CI run of 2 seeds
SETTINGS_DIGITS = 16  # as entry_from_study's config digests
SHORT = 7  # a commit as git abbreviates it
BOOTSTRAP_FIX = "run with --bootstrap to pass and start one"


@dataclass(frozen=True)
class Identity:
    """What an entry must share with the new study to be pooled (per model, its settings' digest too)."""

    branch: str
    machine_id: str
    stack_id: str
    profile: str
    data_digest: str
    n_test: int
    model_digests: dict[str, str]
    study_digest: str

    def describe(self) -> str:
        return (f"branch {self.branch}, machine {self.machine_id}, stack {self.stack_id}, profile {self.profile}, "
                f"data {self.data_digest[:12]}")


def _agreed(study: Study, what: str, values: list) -> object:
    distinct = list(dict.fromkeys(values))
    if len(distinct) != 1:
        raise BenchError(f"{study.folder}: its runs disagree on the {what}, so no one history matches it",
                         value=[str(v) for v in distinct], fix="check studies whose runs share it")
    return distinct[0]


def identity_of(study: Study, branch: str) -> Identity:
    """The new study's identity, computed as ``entry_from_study`` computes an entry's (a test holds them equal),
    from every run, failed ones too: a failed run fails the gate, it does not hide the history."""
    if not study.runs:
        raise BenchError(f"{study.folder}: the study has no runs to check")
    machine = _agreed(study, "machine", [Machine.of(r.environment).model_dump_json() for r in study.runs])
    stack = _agreed(study, "software stack", [Stack.of(r.environment).model_dump_json() for r in study.runs])
    data, n_test = _agreed(study, "test data", [(r.data.digest, r.data.n_test) for r in study.runs])
    return Identity(branch, digest(Machine.model_validate_json(machine).model_dump(mode="json"), ID_LENGTH),
                    digest(Stack.model_validate_json(stack).model_dump(mode="json"), ID_LENGTH),
                    study.manifest.profile, data, n_test,
                    {m: digest(settings(study, m), SETTINGS_DIGITS) for m in study.manifest.models},
                    study_digest(study))


def current_branch(flag: str | None) -> str:
    """``--branch``, else the branch of the checkout the command runs in (as ``fmbench history add`` finds it)."""
    if flag:
        return flag
    fix = "pass --branch NAME: the branch whose history to pool"
    try:
        branch = git_info(Path.cwd()).branch
    except BenchError as exc:
        raise BenchError(f"cannot tell which branch's history to pool: {exc.what}", fix=fix) from exc
    if branch is None:
        raise BenchError("cannot tell which branch's history to pool: HEAD is detached", fix=fix)
    return branch


def matches(entry: HistoryEntry, identity: Identity, model: str) -> bool:
    """Same branch, machine, stack, profile, test data and this model's settings; not the new study itself."""
    return (entry.branch == identity.branch and entry.machine_id == identity.machine_id
            and entry.stack_id == identity.stack_id and entry.profile == identity.profile
            and (entry.data_digest, entry.n_test) == (identity.data_digest, identity.n_test)
            and model in entry.models and entry.model_config_digests.get(model) == identity.model_digests.get(model)
            and entry.study_digest != identity.study_digest)


def series(entries: Sequence[HistoryEntry], model: str) -> list[Point]:
    """One model's test accuracy per entry, in the entries' order: what ``detect_changes`` reads (commits as
    short SHAs, so that a change reads "between abc1234 and def5678")."""
    return [Point(e.commit[:SHORT], tuple(r.test_accuracy for r in sorted(e.runs, key=lambda r: r.seed)
                                          if r.model == model), e.n_test) for e in entries]


def pooled_start(points: Sequence[Point], window: int = WINDOW) -> tuple[int, Change | None]:
    """Where the pool starts in a series: after its latest detected change, at most ``window`` points back."""
    changes = detect_changes(points)
    latest = changes[-1] if changes else None
    return max(latest.index if latest else 0, len(points) - window), latest


@dataclass(frozen=True)
class PooledModel:
    model: str
    entries: list[HistoryEntry]  # pooled, in commit order
    left_out: int  # matching entries before the pool
    change: Change | None  # the latest change found in the model's series
    reference: gate.ModelReference


@dataclass(frozen=True)
class Pool:
    identity: Identity
    location: str
    window: int
    models: dict[str, PooledModel]
    missing: list[str]  # the new study's models without any matching entry

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for p in self.models.values() for e in p.entries for r in e.runs})


def model_reference(entries: Sequence[HistoryEntry], model: str) -> gate.ModelReference:
    """Every pooled seed's test accuracy, gap and per-class F1 (seeds repeat across commits: never paired)."""
    runs = [(r, e) for e in entries for r in sorted(e.runs, key=lambda r: r.seed) if r.model == model]
    seeds = [r.seed for r, _ in runs]
    per_class = {name: SeedValues.of(seeds, [r.f1[e.class_names.index(name)] for r, e in runs])
                 for name in entries[-1].class_names}
    return gate.ModelReference(test_accuracy=SeedValues.of(seeds, [r.test_accuracy for r, _ in runs]),
                               gap_train_test=SeedValues.of(seeds, [r.gap_train_test for r, _ in runs]),
                               per_class_f1=per_class)


def pool_history(entries: Sequence[HistoryEntry], identity: Identity, models: Sequence[str],
                 window: int = WINDOW, location: str = "") -> Pool:
    """Per model: its matching entries (in the store's commit order), those after the latest change, the last
    ``window`` of them."""
    if window < 1:
        raise BenchError("--window must be at least 1 history entry", value=window)
    pooled, missing = {}, []
    for model in models:
        found = [e for e in entries if matches(e, identity, model)]
        if not found:
            missing.append(model)
            continue
        start, change = pooled_start(series(found, model), window)
        pooled[model] = PooledModel(model, found[start:], start, change, model_reference(found[start:], model))
    return Pool(identity, location, window, pooled, missing)


def pooled_reference(pool: Pool, study: Study) -> gate.Reference | None:
    """The pool as a reference the gate reads; None when no model has history. Its environment is the new
    study's: every pooled entry shares its machine and stack ids."""
    if not pool.models:
        return None
    return gate.Reference(profile=pool.identity.profile, study=f"history of {pool.identity.branch}",
                          source=pool.location, created=datetime.now(UTC).isoformat(timespec="seconds"),
                          seeds=pool.seeds, data_digest=pool.identity.data_digest, n_test=pool.identity.n_test,
                          environment=study.manifest.environment,
                          models={m: p.reference for m, p in pool.models.items()})


@dataclass(frozen=True)
class PowerRow:
    """One model's chance of catching each of ``POWER_DROPS`` with a 2-seed run: against the pool, and against
    a 2-seed reference, both at the pool's conservative std and the gate's alpha for the mean check."""

    model: str
    n_reference: int
    pooled: tuple[float, ...]
    two_and_two: tuple[float, ...]


def power_rows(reference: gate.Reference, per_class: bool = False, max_drop: float | None = None) -> list[PowerRow]:
    """Per model, as ``PowerRow`` says; with ``max_drop`` for that fixed allowance, as the mean check then uses."""
    alpha, floor = (gate.check_alpha(reference, per_class), FLOOR) if max_drop is None else (None, max_drop)
    rows = []
    for model, ref in reference.models.items():
        values = ref.test_accuracy.values
        std = conservative_std(values)
        if std is None:
            continue
        rows.append(PowerRow(model, len(values),
                             tuple(drop_power(d, std, len(values), CI_SEEDS, alpha, floor) for d in POWER_DROPS),
                             tuple(drop_power(d, std, 2, 2, alpha, floor) for d in POWER_DROPS)))
    return rows


def _commits(pooled: PooledModel) -> str:
    seeds = len(pooled.reference.test_accuracy.values)
    text = (f"{pooled.model}: {plural(len(pooled.entries), 'commit')}, {plural(seeds, 'seed')}: "
            + " ".join(e.commit[:SHORT] for e in pooled.entries))
    if pooled.change is not None and pooled.left_out and pooled.change.index == pooled.left_out:
        return text + (f"; {plural(pooled.left_out, 'earlier commit')} left out, before the change "
                       f"{pooled.change.describe()}")
    return text + (f"; {plural(pooled.left_out, 'older commit')} beyond the window" if pooled.left_out else "")


def pooled_lines(pool: Pool) -> list[str]:
    """Which commits each model pooled (short SHAs), and why earlier ones were left out."""
    lines = [f"pooled from {pool.location} ({pool.identity.describe()}; window {pool.window}):"]
    return lines + [f"  {_commits(p)}" for p in pool.models.values()]


def power_lines(rows: Sequence[PowerRow]) -> list[str]:
    """Per model: the 2-seed run's power against the pool, beside what 2 + 2 seeds give, and the gain."""
    drops = " / ".join(points(d, signed=False).replace(" points", "") for d in POWER_DROPS)
    lines = [f"power of a {CI_SEEDS}-seed run, mean test accuracy, drops of {drops} points (at the top of the "
             "seed std's 80 % interval):"]
    for row in rows:
        pooled = " / ".join(percent(p, digits=0) for p in row.pooled)
        two = " / ".join(percent(p, digits=0) for p in row.two_and_two)
        gain = " / ".join(f"{(p - q) * 100:+.0f}" for p, q in zip(row.pooled, row.two_and_two, strict=True))
        lines.append(f"  {row.model}: {pooled} against {row.n_reference} pooled seeds; {two} at 2 + 2 seeds; "
                     f"{gain} points better")
    return lines


def no_history(pool: Pool) -> str:
    """The one line for a machine, stack or settings without history yet."""
    has = list(pool.models)
    return (f"no history for this machine and software stack in {pool.location}: no entry with "
            f"{pool.identity.describe()} and the settings of {', '.join(pool.missing)}"
            + (f" (only {', '.join(has)} {'has' if len(has) == 1 else 'have'} history)" if has else ""))


@dataclass(frozen=True)
class HistoryGate:
    """What ``fmbench check --history`` runs and prints: the checks, lines to print before the table, how the
    reference is named in the Markdown summary and JUnit suite, and each model's power to catch a 3-point drop
    (``gate.model_power``: the outputs warn below 50 %)."""

    checks: list[Check]
    lines: list[str]
    label: str
    power: list[gate.ModelPower] = field(default_factory=list)


def bootstrap_line(pool: Pool, results: str) -> str:
    return (f"{no_history(pool)}: passed with --bootstrap, nothing to compare against. This check records "
            f"nothing: 'fmbench history add {results} --history {pool.location}' adds this study and starts one")


def gate_against_history(store: HistoryStore, study: Study, branch: str, window: int = WINDOW,
                         max_drop: float | None = None, per_class: bool = False, bootstrap: bool = False
                         ) -> HistoryGate:
    """The checks of ``study`` against its pooled history; a model without history is an error (exit 2)
    unless ``bootstrap``, when it is only checked for failed runs."""
    identity = identity_of(study, branch)
    pool = pool_history(store.entries(branch=branch, machine_id=identity.machine_id), identity, study.models,
                        window, store.location)
    if pool.missing and not bootstrap:
        raise BenchError(no_history(pool), fix=BOOTSTRAP_FIX)
    reference = pooled_reference(pool, study)
    checks = gate.build_checks(reference, study, max_drop, per_class, setup=False) if reference else []
    checks += [RunsSucceeded(m, [r for r in study.runs if r.model == m]) for m in pool.missing]
    lines = (pooled_lines(pool) + power_lines(power_rows(reference, per_class, max_drop))) if reference else []
    lines += [bootstrap_line(pool, str(study.folder))] if pool.missing else []
    return HistoryGate(checks, lines, f"history {store.location} (branch {branch}, last {window} commits)",
                       gate.model_power(checks, pooled=True))
