"""The driver of a study: plan it as units, hand them to an executor, write each result as it arrives.

The driver writes every result file: each run's file (atomically) as it finishes, each finished tuning
stage to ``checkpoints/``, and ``study.json`` after every unit, so a study killed at any moment keeps all
it finished and ``--resume`` picks up from there (a unit writes only its saved model, with --save-models).
Tuning runs once per study (seeded by the first seed) unless ``tune_per_seed``. A run that fails is
recorded with status "failed" and its error; a search that fails marks its model's runs failed; the
study goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from dataclasses import dataclass, field

from bench import data as data_mod
from bench import environment
from bench.format import plural
from bench.progress import Progress, StudyBar, format_duration
from bench.results import ImageSet, Manifest, RunResult, Session, Stage, Tuning, save
from bench.study import resume, speed
from bench.study.executors import Outcome, make_executor
from bench.study.lock import StudyLock
from bench.study.plan import Plan, StudyConfig, StudyGraph, plan
from bench.study.units import RunUnit, UnitEnv, failed_run
from bench.study.work import now, split_for


def _samples(x, y, count: int = 25) -> ImageSet:
    return ImageSet.from_arrays(x[:count], y[:count], range(min(count, len(y))))


def new_manifest(config: StudyConfig, dataset: data_mod.Dataset, estimate_s: float) -> Manifest:
    p, started = config.profile, now()
    first_split = split_for(p, dataset, config.seeds[0])
    return Manifest(
        study=config.name, profile=p.name, seeds=config.seeds, models=config.models, config=p.as_dict(),
        search=p.search, tuning=[], runs=[], dataset=data_mod.summarize(dataset),
        train_samples=_samples(dataset.x_train, dataset.y_train),
        test_samples=_samples(first_split.x_test, first_split.y_test),
        environment=environment.collect(), started=started, finished=started, estimate_s=estimate_s,
        wall_s=0.0, command=config.command, data_load_s=dataset.load_seconds,
        test_labels_sha256=data_mod.labels_digest(first_split.y_test),
        model_specs={setup.name: setup.record() for setup in config.setups},
        threads_per_run=config.threads_per_run, tune_per_seed=config.tune_per_seed,
    )


def unit_env(config: StudyConfig, dataset: data_mod.Dataset) -> UnitEnv:
    return UnitEnv(token=uuid.uuid4().hex[:12], study=config.name, profile=config.profile,
                   requests={name: config.request(name) for name in config.models}, data_dir=dataset.location,
                   data_digest=dataset.digest, threads=config.threads_per_run, options=config.options,
                   out=config.out, save_models=config.save_models)


def run_study(config: StudyConfig, progress: Progress, dataset: data_mod.Dataset | None = None,
              lock: StudyLock | None = None) -> tuple[Manifest, list[str]]:
    """Run every unit not already done; returns the manifest and the file names of failed runs.

    Wall time counts from ``config.started_at`` (the process's start, so start-up is in it) when
    given. ``dataset``: the data if the caller loaded it. ``lock``: the folder's lock if the caller holds it
    (the CLI takes it, and checks the folder, before TensorFlow's import); else both are done here.
    """
    with contextlib.nullcontext(lock) if lock else _claim(config, progress):
        return Driver(config, progress, dataset or data_mod.load_dataset(config.data_dir)).run()


def _claim(config: StudyConfig, progress: Progress) -> StudyLock:
    held = StudyLock.acquire(config.out, warn=progress.say)
    try:
        resume.check_out_folder(config.out, config.resume)
    except BaseException:
        held.release()
        raise
    return held


@dataclass
class Driver:
    config: StudyConfig
    progress: Progress
    dataset: data_mod.Dataset
    failed: list[str] = field(default_factory=list)
    stages: dict[tuple[str, int], list[Stage]] = field(default_factory=dict)
    n_train: dict[int, int] = field(default_factory=dict)  # training images of each tuning seed's split
    slowdown: float | None = None  # the units' time against the cost model's, from the load at the start

    def run(self) -> tuple[Manifest, list[str]]:
        self.start = self.config.started_at or time.perf_counter()
        # Before the plan: a user model's own training step on this machine sets its cost (about 2 s).
        self.config = speed.with_measured_costs(self.config)
        config, progress = self.config, self.progress
        the_plan = plan(config, len(self.dataset.y_train))
        self.graph = StudyGraph(config, the_plan.costs, resume.Done())
        self.manifest, done = self._open(the_plan.estimate_s)
        # Estimated once the manifest is open: its data summary alone took 1.7 s (2 cores, load 4.6).
        the_plan = self._on_this_machine(the_plan)
        self.graph.costs, self.manifest.estimate_s = the_plan.costs, the_plan.estimate_s
        progress.say(the_plan.describe(config))
        self.graph.done, self.stages = done, {k: list(v) for k, v in done.stages.items()}
        first = self.graph.first_units()
        env = unit_env(config, self.dataset)
        with make_executor(config, env, self.dataset, config.setups, progress) as executor:
            self._estimate_for(executor.workers)
            self.session = Session(executor=executor.name, started=now(), finished=now(), wall_s=0.0,
                                   units_run=0, units_skipped=done.count)
            self.manifest.sessions.append(self.session)
            self._save_manifest()
            try:
                self._drive(executor, env, first)
            except KeyboardInterrupt:  # Ctrl-C can fall between a run's file and the manifest listing it:
                self._save_manifest()  # list every run file written, so the kept results are vouched for
                raise
        progress.say(f"done in {format_duration(self.session.wall_s)} ({self._estimated()}); results in {config.out}")
        return self.manifest, self.failed

    def _on_this_machine(self, the_plan: Plan) -> Plan:
        """The plan with the start-up as it went and the units slowed by what else runs here now (counted once,
        for a second). A remote cluster's load is not this machine's: there the cost model stands."""
        if self.slowdown is None:
            self.slowdown = 1.0 if self.config.scheduler else speed.slowdown(speed.others_running())
        started_s = time.perf_counter() - self.start
        # A local cluster's workers start TensorFlow and load the data as this process did, side by side: smoke
        # on --workers 2 was estimated 28 % low without them (41 s; took 57 s, its first unit done at 19 s).
        return the_plan.at_speed(self.slowdown, 2 * started_s if self.config.workers else started_s)

    def _estimated(self) -> str:
        """What the wall time is compared with: the estimate printed at start, and the last one printed later."""
        text = f"estimated {format_duration(self.manifest.estimate_s)} at start"
        if self.bar.refreshed:
            total, units = self.bar.refreshed[-1]
            text += f", {format_duration(total)} after {units} of {self.bar.count} units"
        return text

    def _estimate_for(self, workers: int) -> None:
        """An existing cluster's size is known once connected: the estimate is redone for it."""
        if workers != self.config.parallel_workers:
            config = dataclasses.replace(self.config, workers=workers)
            self.manifest.estimate_s = self._on_this_machine(plan(config, len(self.dataset.y_train))).estimate_s
            self.progress.say(f"estimated {format_duration(self.manifest.estimate_s)} on {workers} workers")

    def _open(self, estimate_s: float) -> tuple[Manifest, resume.Done]:
        """A new manifest, or the one on disk and what it already holds (--resume)."""
        config = self.config
        existing = resume.existing_study(config, self.dataset.digest) if config.resume else None
        if existing is None:
            return new_manifest(config, self.dataset, estimate_s), resume.Done()
        for path in resume.remove_temp_files(config.out):
            self.progress.say(f"removed {path.name}, a write cut short")
        done = resume.find_done(config.out, existing, self.graph.searches())
        stages = sum(map(len, done.stages.values()))
        self.progress.say(f"resuming {config.out}: skipping {plural(len(done.runs), 'finished run')}, "
                          f"{plural(len(done.tunings), 'finished search', 'finished searches')} and "
                          f"{plural(stages, 'stage')} of unfinished ones")
        existing.estimate_s = estimate_s
        return existing, done

    def _drive(self, executor, env: UnitEnv, first: list) -> None:
        remaining, count = self._remaining(first)
        self.bar = StudyBar(self.progress, remaining, count, before_s=time.perf_counter() - self.start,
                            estimate_s=self.manifest.estimate_s)
        for unit in first:
            executor.submit(unit)
        try:
            for outcome in executor.results():
                for unit in self._record(outcome, env):
                    executor.submit(unit)
                self.bar.advance(outcome.unit.cost)
            self.bar.finish()
        finally:
            self.bar.close()

    def _remaining(self, first: list) -> tuple[float, int]:
        """Estimated seconds and number of units left: the ready ones, later stages, runs waiting for a search."""
        total, count = sum(unit.cost for unit in first), len(first)
        for key in self.graph.searches():
            if key not in self.graph.done.tunings:
                later = self.graph.costs[key[0]].stage_s[len(self.stages.get(key, [])) + 1:]
                runs = self.graph.runs_after(key, {})
                total, count = total + sum(later) + sum(u.cost for u in runs), count + len(later) + len(runs)
        return total, count

    def _record(self, outcome: Outcome, env: UnitEnv) -> list:
        """Write what a finished unit returned; the units it made ready."""
        self.session.units_run += 1
        unit = outcome.unit
        if isinstance(unit, RunUnit):
            result = outcome.value or failed_run(env, unit, f"no result: {outcome.error}")
            self._save_run(result)
            return []
        if outcome.error:
            self.progress.say(f"  {unit.describe()} FAILED ({outcome.error}); its runs are recorded failed")
            for run in self.graph.runs_after((unit.model, unit.tune_seed), None):
                self._save_run(failed_run(env, run, f"tuning failed: {outcome.error}"))
            return []
        return self._stage_done(unit, outcome.value)

    def _stage_done(self, unit, stage: Stage) -> list:
        key = (unit.model, unit.tune_seed)
        stages = self.stages.setdefault(key, [])
        stages.append(stage)
        setup = self.graph.setups[unit.model]
        fixed = {**setup.params, **{k: v for s in stages for k, v in s.best_params.items()}}
        tuning = Tuning(model=unit.model, seed=unit.tune_seed, search=self.config.profile.search,
                        n_train=self._n_train(unit.tune_seed), stages=stages, best_params=fixed,
                        wall_s=sum(s.wall_s for s in stages))
        if len(stages) < len(setup.stages):
            resume.write_checkpoint(self.config.out, tuning)
            self._save_manifest()
            return [self.graph.next_stage(key, stages)]
        self.manifest.tuning = [t for t in self.manifest.tuning if (t.model, t.seed) != key] + [tuning]
        self._save_manifest()
        resume.drop_checkpoint(self.config.out, *key)
        return self.graph.runs_after(key, fixed)

    def _n_train(self, seed: int) -> int:
        """Counted once per seed: drawing a split of the full set takes about 0.14 s, and a search has six stages."""
        if seed not in self.n_train:
            self.n_train[seed] = len(split_for(self.config.profile, self.dataset, seed).y_train)
        return self.n_train[seed]

    def _save_run(self, result: RunResult) -> None:
        save(result, self.config.out)
        self.graph.done.runs.add(result.file_name)
        if result.status == "failed":
            self.failed.append(result.file_name)
        _report_run(self.progress, result)
        self._save_manifest()

    def _save_manifest(self) -> None:
        manifest, session = self.manifest, self.session
        # The runs this driver wrote or found complete (--resume): kept in memory, the folder is not re-read.
        manifest.runs = [name for name in self.graph.run_order() if name in self.graph.done.runs]
        earlier = sum(s.wall_s for s in manifest.sessions if s is not session)
        session.finished, session.wall_s = now(), time.perf_counter() - self.start
        manifest.finished, manifest.wall_s = session.finished, earlier + session.wall_s
        save(manifest, self.config.out)


def _report_run(progress: Progress, result: RunResult) -> None:
    if result.status == "ok" and result.metrics:
        m = result.metrics
        progress.say(f"  {result.model} seed {result.seed}: train {m.train.accuracy:.4f} "
                     f"val {m.validation.accuracy:.4f} test {m.test.accuracy:.4f} ({result.worker})")
    else:
        progress.say(f"  {result.model} seed {result.seed}: FAILED ({result.error})")
