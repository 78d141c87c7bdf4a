"""The study as units: what can start at once, what waits, what a resumed study skips."""

from __future__ import annotations

from pathlib import Path

from bench import models, profiles
from bench.results import Tuning
from bench.study import resume
from bench.study.plan import StudyConfig, StudyGraph, plan
from bench.study.units import RunUnit, StageUnit


def _graph(tune_per_seed=False, done=None, workers=None) -> StudyGraph:
    profile = profiles.resolve("smoke")
    config = StudyConfig(profile=profile, seeds=[0, 1, 2], setups=models.resolve(["baseline", "tuned"], profile),
                         out=Path("unused"), tune_per_seed=tune_per_seed, workers=workers)
    return StudyGraph(config, plan(config).costs, done or resume.Done())


def test_a_search_starts_first_and_untuned_runs_start_at_once():
    first = _graph().first_units()
    assert isinstance(first[0], StageUnit) and (first[0].model, first[0].tune_seed, first[0].index) == ("tuned", 0, 0)
    assert [u.key for u in first[1:]] == ["run-baseline-seed0", "run-baseline-seed1", "run-baseline-seed2"]
    assert all(u.cost > 0 for u in first)


def test_a_finished_search_releases_every_seed_or_only_its_own():
    graph = _graph()
    assert [u.seed for u in graph.runs_after(("tuned", 0), {"epochs": 2})] == [0, 1, 2]
    per_seed = _graph(tune_per_seed=True)
    assert per_seed.searches() == [("tuned", 0), ("tuned", 1), ("tuned", 2)]
    assert [u.seed for u in per_seed.runs_after(("tuned", 1), {})] == [1]


def test_a_resumed_study_skips_finished_runs_and_stages():
    graph = _graph()
    stage = graph.next_stage(("tuned", 0), [])
    finished = _stage(index=1, best={"epochs": 2, "batch_size": 32})
    done = resume.Done(runs={"baseline-seed1.json"}, stages={("tuned", 0): [finished]})
    first = _graph(done=done).first_units()
    assert (first[0].index, first[0].fixed["epochs"]) == (1, 2) and stage.index == 0
    assert [u.key for u in first[1:]] == ["run-baseline-seed0", "run-baseline-seed2"]
    tuning = Tuning(model="tuned", seed=0, search="exhaustive", n_train=1, stages=[finished],
                    best_params={"epochs": 3}, wall_s=1.0)
    done = resume.Done(runs={"tuned-seed2.json"}, tunings={("tuned", 0): tuning})
    runs = [u for u in _graph(done=done).first_units() if u.model == "tuned"]
    assert [(type(u), u.seed, u.params) for u in runs] == [(RunUnit, 0, {"epochs": 3}), (RunUnit, 1, {"epochs": 3})]


def test_more_workers_shorten_the_estimate_down_to_the_longest_chain():
    one, two = plan(_graph().config), plan(_graph(workers=2).config)
    assert two.estimate_s < one.estimate_s
    many = plan(_graph(workers=1000).config)
    chain = sum(many.costs["tuned"].stage_s) / 1000 + many.costs["tuned"].run_s
    assert many.estimate_s > chain


def test_the_first_difference_is_named_by_its_dotted_path():
    ours = {"profile": "smoke", "config": {"n_train": 2000, "cv_folds": 3}, "seeds": [0, 1]}
    assert resume.first_difference(ours, ours) is None
    assert resume.first_difference(ours, {**ours, "config": {"n_train": 2000, "cv_folds": 5}}) == (
        "config.cv_folds", 3, 5)
    assert resume.first_difference(ours, {**ours, "seeds": [0]}) == ("seeds", [0, 1], [0])
    assert resume.first_difference({"a": 1}, {"a": 1, "b": 2}) == ("b", None, 2)


def _stage(index: int, best: dict):
    from bench.results import Stage

    return Stage(index=index, name="epochs & batch", param_grid={}, fixed={}, cv_results={}, best_params=best,
                 best_score=0.5, n_folds=3, wall_s=1.0)


def test_fewer_threads_than_cores_make_each_unit_slower():
    from bench.study.plan import thread_slowdown

    assert thread_slowdown(None, 2) == thread_slowdown(2, 2) == thread_slowdown(4, 2) == 1.0
    assert 1.0 < thread_slowdown(1, 2) < 2.0  # measured at 1 thread on 2 cores: runs 1.1-2.1x
    assert thread_slowdown(1, 8) > thread_slowdown(2, 8) > 1.0
