"""bench.results.whole: a study proves it is whole when read (planned runs present and listed, seeds that
are what they say, a self-consistent manifest, no writer still at work), through every reader.

Each test edits a copy of the real study committed under tests/data/studies/tiny-a (baseline and tuned,
seeds 0-2).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest

from bench import results
from bench.errors import BenchError
from bench.report.build import build_report
from bench.results.lockfile import LOCK_NAME


def copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit(path: Path, change) -> None:
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def kill_after(folder: Path, kept: int) -> list[str]:
    """As a study killed after ``kept`` runs leaves it: the later files never written, nor listed."""
    manifest = json.loads((folder / "study.json").read_text())
    lost = manifest["runs"][kept:]
    for name in lost:
        (folder / name).unlink()
    edit(folder / "study.json", lambda m: m.update(runs=m["runs"][:kept]))
    return lost


def test_the_committed_studies_are_whole(smoke_study, other_study):
    for folder in (smoke_study, other_study):
        study = results.load_study(folder)
        assert study.problems == [] and len(study.runs) == 6


def test_a_study_killed_after_some_runs_names_every_missing_run(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    lost = kill_after(folder, 5)
    assert lost == ["tuned-seed2.json"]
    study = results.load_study(folder, strict=False)
    assert len(study.runs) == 5
    assert study.problems == [f"{folder}: the study is incomplete: 1 of 6 planned runs (2 models x 3 seeds) have "
                              "no result file: tuned-seed2.json"]
    with pytest.raises(BenchError, match=re.escape("the study is incomplete: 1 of 6 planned runs")):
        results.load_study(folder)


@pytest.mark.parametrize("command", ["check", "reference"])
def test_check_and_reference_refuse_a_killed_study_with_exit_2_naming_the_missing_run(smoke_study, tmp_path,
                                                                                      cli, command):
    """A study killed after 3 of 4 runs (baseline and tuned, seeds 0 and 1)."""
    folder = copy(smoke_study, tmp_path / "study")
    for name in ("baseline-seed2.json", "tuned-seed2.json"):
        (folder / name).unlink()
    edit(folder / "study.json", lambda m: m.update(seeds=[0, 1], runs=m["runs"][:4]))
    assert results.load_study(folder).problems == []  # four of four: whole
    reference = tmp_path / "reference.json"
    assert cli("--quiet", "reference", str(folder), "--out", str(reference)).returncode == 0
    kill_after(folder, 3)
    args = ("check", str(folder), "--reference", str(reference)) if command == "check" else \
        ("reference", str(folder), "--out", str(tmp_path / "again.json"))
    done = cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the study is incomplete: 1 of 4 planned runs" in lines[0]
    assert "tuned-seed1.json" in lines[0] and "--resume" in lines[0]
    assert not (tmp_path / "again.json").exists()


def test_a_run_left_out_of_the_runs_list_is_named(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    edit(folder / "study.json", lambda m: m["runs"].remove("tuned-seed1.json"))
    study = results.load_study(folder, strict=False)
    assert len(study.runs) == 5
    assert study.problems == [f"{folder / 'study.json'}: its runs list leaves out tuned-seed1.json, on disk: the "
                              "manifest does not vouch for it, so it is left out"]
    report = build_report([folder], strict=False)
    assert any("leaves out tuned-seed1.json" in p for p in report.problems)
    with pytest.raises(BenchError, match=re.escape("leaves out tuned-seed1.json")):
        build_report([folder], strict=True)


def test_a_file_outside_the_plan_is_named(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    shutil.copy(folder / "tuned-seed2.json", folder / "tuned-seed7.json")
    (problem,) = results.load_study(folder, strict=False).problems
    assert problem == (f"{folder}: tuned-seed7.json not among the study's planned runs (models baseline, tuned; "
                       "seeds 0, 1, 2): left out")


def test_changed_manifest_seeds_are_caught(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    edit(folder / "study.json", lambda m: m.update(seeds=[0, 1, 5]))
    problems = results.load_study(folder, strict=False).problems
    assert any("have no result file: baseline-seed5.json, tuned-seed5.json" in p for p in problems)
    assert any("baseline-seed2.json, tuned-seed2.json not among the study's planned runs" in p for p in problems)


def test_seed_laundering_is_caught_however_far_it_goes(smoke_study, tmp_path):
    """Seed 0's tuned run saved as seed 1's: renamed, then its seed, then its split's seed changed too."""
    folder = copy(smoke_study, tmp_path / "study")
    shutil.copy(folder / "tuned-seed0.json", folder / "tuned-seed1.json")
    laundered = folder / "tuned-seed1.json"
    (first, *_) = results.load_study(folder, strict=False).problems
    assert first.startswith(f"{laundered}: field 'seed' stores 0 but its file name gives 1")
    edit(laundered, lambda r: r.update(seed=1))
    (first, *_) = results.load_study(folder, strict=False).problems
    assert first.startswith(f"{laundered}: field 'split.seed' stores 0 but the run's seed gives 1")
    edit(laundered, lambda r: r["split"].update(seed=1))
    study = results.load_study(folder, strict=False)
    assert laundered.name not in {r.file_name for r in study.runs} and len(study.runs) == 5
    assert study.problems == [
        f"{laundered}: field 'split.train_indices_sha256' stores the split of baseline-seed0.json, tuned-seed0.json "
        "but another seed's split gives a split of seed 1 alone; the file contradicts itself, so this run is left "
        "out (re-run this seed)"]
    with pytest.raises(BenchError, match=re.escape(f"{laundered}: field 'split.train_indices_sha256'")):
        results.load_study(folder)


def test_a_study_still_being_written_is_said_to_be_so(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-11-30T09:00:00+00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(me))
    (problem,) = results.load_study(folder, strict=False).problems
    assert problem == (f"{folder}: the study is still being written by fmbench (pid {os.getpid()} on "
                       f"{socket.gethostname()} since 2026-11-30T09:00:00+00:00): 6 of 6 runs so far")
    with pytest.raises(BenchError, match="still being written"):
        results.load_study(folder)


def test_a_lock_left_by_a_dead_run_says_the_study_was_cut_short(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    (folder / LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(), "started": "x"}))
    (problem,) = results.load_study(folder, strict=False).problems
    assert "names a run that is gone" in problem and "--resume" in problem


def test_edited_tuning_records_are_named(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    edit(folder / "study.json", lambda m: m["tuning"][0]["stages"][2]["best_params"].update(learning_rate=0.001))
    problems = results.load_study(folder, strict=False).problems
    assert any("stage 'learning rate + dropout' stores best" in p and "rank" in p for p in problems)
    assert any("best_params.learning_rate stores 0.003 but its stages' winners give 0.001" in p for p in problems)


def test_an_edited_dataset_record_is_named(smoke_study, tmp_path):
    folder = copy(smoke_study, tmp_path / "study")
    edit(folder / "study.json", lambda m: m["dataset"].update(official=False))
    (problem,) = results.load_study(folder, strict=False).problems
    assert problem == (f"{folder / 'study.json'}: field 'dataset.official' stores False but its file_sha256 are "
                       "the official Fashion-MNIST's")
    edit(folder / "study.json", lambda m: m.update(wall_s=1.0))
    assert any("field 'wall_s' stores 1 but its sessions' wall_s sum to" in p
               for p in results.load_study(folder, strict=False).problems)
