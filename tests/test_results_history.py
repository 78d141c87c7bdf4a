"""bench.results.history and `fmbench history`: entries built from the committed real studies, an append-only
store on disk and on fsspec's memory file system, filters, git details from a real temporary repository,
and one-line errors naming the file. Fast tier: nothing is trained."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pytest
from conftest import STUDIES

from bench import results
from bench.cli import main
from bench.errors import BenchError
from bench.results.history import (
    HISTORY_SCHEMA_VERSION,
    GitInfo,
    HistoryEntry,
    HistoryStore,
    Machine,
    digest,
    entry_from_study,
    git_info,
    resolve_location,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"
TINY_A, TINY_B = STUDIES / "tiny-a", STUDIES / "tiny-b"
REMAKE = "the file is damaged; delete it and re-add its study with 'fmbench history add RESULTS_DIR'"


@pytest.fixture(scope="module")
def study_a():
    return results.load_study(TINY_A, strict=True)


@pytest.fixture(scope="module")
def study_b():
    return results.load_study(TINY_B, strict=True)


@pytest.fixture
def no_git(tmp_path, monkeypatch):
    """A working folder that is no git checkout, whatever holds the temporary folder."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git(repo, *args, date="2026-01-02T03:04:05+00:00"):
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def test_an_entry_holds_the_figures_its_run_files_recorded(study_a):
    entry = entry_from_study(study_a, GitInfo(SHA, branch="main"))
    raw = json.loads((TINY_A / "tuned-seed1.json").read_text())
    figures = next(r for r in entry.runs if (r.model, r.seed) == ("tuned", 1))
    assert (figures.test_accuracy, figures.validation_loss, figures.train_accuracy) == (
        raw["metrics"]["test"]["accuracy"], raw["metrics"]["validation"]["loss"], raw["metrics"]["train"]["accuracy"])
    assert figures.test_accuracy == 0.706 and figures.gap_train_test == raw["gaps"]["train_minus_test"]
    assert figures.f1 == raw["per_class"]["f1"] and len(figures.f1) == len(entry.class_names) == 10
    assert figures.epoch_s == raw["history"]["epoch_seconds"][1]  # 2 epochs: the steady state is the second
    assert (figures.images_per_s, figures.total_params, figures.flops_per_image) == (
        raw["timings"]["images_per_s"], 55050, 109824)
    assert [(r.model, r.seed) for r in entry.runs] == [(m, s) for m in ("baseline", "tuned") for s in (0, 1, 2)]
    recorded = study_a.manifest.environment  # whichever machine wrote the committed study
    assert entry.machine == Machine(cpu_model=recorded.cpu_model, cpu_cores=recorded.cpu_cores,
                                    memory_gib=round(recorded.memory_gib), gpus=recorded.gpus)
    assert entry.stack.model_dump() == {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1",
                                        "keras_backend": "tensorflow", "scikit_learn": "1.9.1", "fmbench": "0.1.0"}
    assert entry.machine_id == digest(entry.machine.model_dump(mode="json"), 8) and len(entry.stack_id) == 8
    assert (entry.profile, entry.n_test, entry.threads_per_run, entry.seeds, entry.study) == (
        "smoke", 1000, None, [0, 1, 2], "tiny-a")
    assert entry.data_digest == study_a.manifest.dataset.digest
    assert (entry.commit, entry.branch, entry.commit_time, entry.kind) == (SHA, "main", None, "history-entry")
    assert entry.file_name == f"0123456789ab-{entry.machine_id}-{entry.stack_id}-{entry.study_digest[:12]}.json"


def test_settings_digests_tell_apart_exactly_what_changed(study_a, study_b):
    """tiny-b changed the baseline's epochs only: the study's and the baseline's digests move, the tuned model's
    does not (adding or changing one model changes no other model's)."""
    a, b = entry_from_study(study_a, GitInfo(SHA)), entry_from_study(study_b, GitInfo(SHA))
    assert a.config_digest != b.config_digest
    assert a.model_config_digests["baseline"] != b.model_config_digests["baseline"]
    assert a.model_config_digests["tuned"] == b.model_config_digests["tuned"]
    assert (a.machine_id, a.stack_id, a.data_digest) == (b.machine_id, b.stack_id, b.data_digest)
    assert a.study_digest != b.study_digest


def test_without_git_details_the_study_own_commit_is_recorded(study_a):
    entry = entry_from_study(study_a)
    assert entry.commit == study_a.manifest.environment.git_commit
    assert re.fullmatch("[0-9a-f]{40}", entry.commit), entry.commit  # the commit that wrote tests/data's studies
    assert entry.parent is None and entry.branch is None


def test_failed_runs_and_mixed_machines_are_refused(study_a):
    failed = results.Study(study_a.folder, study_a.manifest, list(study_a.runs))
    failed.runs[0] = failed.runs[0].model_copy(update={"status": "failed", "error": "boom"})
    with pytest.raises(BenchError) as caught:
        entry_from_study(failed, GitInfo(SHA))
    assert caught.value.message() == (f"{TINY_A}: cannot record a study with failed runs in the history; got "
                                      "['baseline seed 0']; re-run the study until every run succeeds")
    mixed = results.Study(study_a.folder, study_a.manifest, list(study_a.runs))
    run = mixed.runs[1]
    mixed.runs[1] = run.model_copy(update={"environment": run.environment.model_copy(update={"cpu_cores": 64})})
    with pytest.raises(BenchError, match=r"tiny-a: its runs disagree on the machine, and a history entry holds "
                                         r"one; got \[.*\]; record studies whose runs share it$"):
        entry_from_study(mixed, GitInfo(SHA))


def test_readding_a_study_changes_no_byte(study_a, no_git):
    store = HistoryStore(str(no_git / "history"))
    path, created = store.add(entry_from_study(study_a, GitInfo(SHA)))
    assert created and path == str(no_git / "history" / entry_from_study(study_a, GitInfo(SHA)).file_name)
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)
    assert store.add(entry_from_study(results.load_study(TINY_A), GitInfo(SHA))) == (path, False)
    assert (Path(path).read_bytes(), os.stat(path).st_mtime_ns) == before
    assert os.listdir(no_git / "history") == [os.path.basename(path)]  # no temporary file left behind
    assert store.entries() == [entry_from_study(study_a, GitInfo(SHA))]


def test_history_add_through_the_cli_says_added_then_unchanged(no_git, capsys):
    argv = ["history", "add", str(TINY_A), "--commit", SHA, "--history", "store"]
    assert main(argv) == 0
    (name,) = os.listdir(no_git / "store")
    assert capsys.readouterr().out == f"added {no_git / 'store' / name}\n"
    first = (no_git / "store" / name).read_bytes()
    assert main(argv) == 0
    assert capsys.readouterr().out == f"unchanged {no_git / 'store' / name} (already recorded)\n"
    assert (no_git / "store" / name).read_bytes() == first and json.loads(first)["kind"] == "history-entry"


def test_a_different_entry_under_a_taken_name_is_refused(study_a, tmp_path):
    store = HistoryStore(str(tmp_path))
    path, _ = store.add(entry_from_study(study_a, GitInfo(SHA)))
    with pytest.raises(BenchError) as caught:
        store.add(entry_from_study(study_a, GitInfo(SHA, branch="feature")))
    assert caught.value.message() == (
        f"{path} already records this study with other details (commit, branch or figures differ); history "
        "entries are never rewritten; delete that file first if it is wrong, or record under another --commit")
    with pytest.raises(BenchError) as caught:  # the same study under another commit: its seeds would count twice
        store.add(entry_from_study(study_a, GitInfo(OTHER_SHA)))
    assert caught.value.message() == (
        f"study tiny-a is already recorded as {path}; one study is one entry, so its seeds are never counted "
        "twice; delete that file first if it names the wrong commit")
    assert len(store.entries()) == 1


def test_an_fsspec_memory_store_works(study_a, study_b):
    location = f"memory://fmbench-{uuid.uuid4().hex}/history"
    store = HistoryStore(location)
    try:
        entry = entry_from_study(study_a, GitInfo(SHA))
        path, created = store.add(entry)
        assert created and path == f"{location}/{entry.file_name}" and not store.local
        assert store.add(entry) == (path, False)
        store.add(entry_from_study(study_b, GitInfo(OTHER_SHA)))
        assert [e.study for e in HistoryStore(location).entries()] == ["tiny-a", "tiny-b"]
        assert [e.study for e in store.entries(machine_id=entry.machine_id, since="2026-11-30")] == ["tiny-a", "tiny-b"]
        fs = fsspec.filesystem("memory")
        assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(store.root, detail=False)) == sorted(
            [entry.file_name, entry_from_study(study_b, GitInfo(OTHER_SHA)).file_name])  # no temporary left
    finally:
        fsspec.filesystem("memory").rm(location.split("/history")[0], recursive=True)


def _on_machine(entry: HistoryEntry, cores: int) -> HistoryEntry:
    machine = entry.machine.model_copy(update={"cpu_cores": cores})
    return entry.model_copy(update={"machine": machine, "machine_id": digest(machine.model_dump(mode="json"), 8)})


def test_filters_and_commit_time_order(study_a, study_b, tmp_path):
    store = HistoryStore(str(tmp_path))
    late = entry_from_study(study_a, GitInfo(SHA, branch="main", commit_time="2026-03-01T12:00:00+02:00"))
    early = entry_from_study(study_b, GitInfo(OTHER_SHA, branch="feature", commit_time="2026-03-01T11:00:00+00:00"))
    store.add(late)
    store.add(early)
    big = _on_machine(entry_from_study(study_a, GitInfo("ab" * 20, commit_time="2026-02-01T00:00:00+00:00")), 64)
    big = big.model_copy(update={"study_digest": "0" * 64})  # stands for another study of tiny-a's settings
    store.add(big)
    # 10:00 UTC (late, +02:00) comes before 11:00 UTC (early): the order is by time, not by text or name.
    assert [e.commit for e in store.entries()] == ["ab" * 20, SHA, OTHER_SHA]
    assert [e.commit for e in store.entries(branch="main")] == [SHA]
    assert [e.commit for e in store.entries(machine_id=big.machine_id)] == ["ab" * 20]
    assert [e.commit for e in store.entries(since="2026-03-01")] == [SHA, OTHER_SHA]
    assert [e.commit for e in store.entries(since="2026-03-01T10:30:00+00:00")] == [OTHER_SHA]
    assert len(store.entries(model="tuned")) == 3 and store.entries(model="cnn") == []
    assert store.entries(branch="main", since="2026-03-02") == []
    with pytest.raises(BenchError, match=r"^--since must be an ISO date such as 2026-11-30 or 2026-11-30T09:00:00"
                                         r"\+00:00; got 'March'$"):
        store.entries(since="March")


def test_history_list_prints_a_compact_table(study_a, study_b, tmp_path, capsys):
    store = HistoryStore(str(tmp_path / "h"))
    a = entry_from_study(study_a, GitInfo(SHA, branch="main", commit_time="2026-03-01T12:00:00+00:00"))
    b = entry_from_study(study_b, GitInfo(OTHER_SHA))
    store.add(a)
    store.add(b)
    assert main(["history", "list", "--history", str(tmp_path / "h")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "commit        committed         branch  machine   stack     profile  seeds  mean test accuracy",
        f"0123456789ab  2026-03-01 12:00  main    {a.machine_id}  {a.stack_id}  smoke    3      baseline 75.43 %, "
        "tuned 74.93 %",  # b has no commit time: it takes its study's end, 2026-11-30
        f"fedcba987654  —                 —       {b.machine_id}  {b.stack_id}  smoke    3      baseline 77.20 %, "
        "tuned 74.93 %"]
    assert main(["history", "list", "--history", str(tmp_path / "h"), "--branch", "nope"]) == 0
    assert capsys.readouterr().out == f"no history entries in {tmp_path / 'h'}\n"


def test_git_details_come_from_a_real_repository(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first", date="2026-01-01T00:00:00+00:00")
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "Lower the learning rate")
    head = git(repo, "rev-parse", "HEAD")
    assert git_info(repo) == GitInfo(head, first, "main", "2026-01-02T03:04:05+00:00", "Lower the learning rate")
    assert git_info(repo, first[:10]) == GitInfo(first, None, None, "2026-01-01T00:00:00+00:00", "first")
    assert git_info(repo, OTHER_SHA) == GitInfo(OTHER_SHA)  # not in this checkout (a shallow clone): SHA alone
    git(repo, "checkout", "-q", "--detach")
    assert git_info(repo).branch is None and git_info(repo, branch="main").branch == "main"
    git(repo, "checkout", "-q", "main")
    monkeypatch.chdir(repo)
    assert main(["history", "add", str(TINY_A), "--history", str(tmp_path / "h")]) == 0
    (entry,) = HistoryStore(str(tmp_path / "h")).entries()
    assert (entry.commit, entry.parent, entry.branch, entry.subject) == (head, first, "main", "Lower the learning rate")
    assert capsys.readouterr().out == f"added {tmp_path / 'h' / entry.file_name}\n"


def test_history_add_outside_a_checkout_without_commit_is_one_line(no_git, capsys):
    assert main(["history", "add", str(TINY_A)]) == 2
    assert capsys.readouterr().err == (f"fmbench history: error: {no_git} is not inside a git checkout, so the commit "
                                       "to record is unknown; pass --commit SHA or run inside the git checkout\n")
    assert main(["history", "add", str(TINY_A), "--commit", "HEAD~1"]) == 2
    assert capsys.readouterr().err == ("fmbench history: error: --commit must be a git commit SHA (7 to 40 hex "
                                       "digits); got 'HEAD~1'; pass --commit SHA or run inside the git checkout\n")
    assert not (no_git / ".fmbench").exists()


def test_an_incomplete_study_is_refused_in_one_line(no_git, capsys):
    folder = shutil.copytree(TINY_A, no_git / "study")
    (folder / "tuned-seed2.json").unlink()
    assert main(["history", "add", str(folder), "--commit", SHA]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fmbench history: error: {folder}: the study is incomplete: 1 of 6 planned runs") and \
        err.count("\n") == 1
    assert not (no_git / ".fmbench").exists()


def _store_with_one(study, tmp_path) -> tuple[HistoryStore, Path]:
    store = HistoryStore(str(tmp_path / "h"))
    path, _ = store.add(entry_from_study(study, GitInfo(SHA)))
    return store, Path(path)


def test_a_damaged_entry_file_is_named_by_its_path(study_a, tmp_path):
    store, path = _store_with_one(study_a, tmp_path)
    broken = tmp_path / "h" / "0000000000000-broken.json"
    broken.write_text("{")
    with pytest.raises(BenchError) as caught:
        store.entries()
    assert caught.value.message() == (f"{broken}: not valid JSON (Expecting property name enclosed in double quotes: "
                                      f"line 1 column 2 (char 1)); {REMAKE}")
    payload = json.loads(path.read_text())
    del payload["profile"]
    broken.write_text(json.dumps(payload))
    with pytest.raises(BenchError) as caught:
        store.entries()
    assert caught.value.message() == f"{broken}: invalid HistoryEntry, field 'profile': Field required; {REMAKE}"
    payload = json.loads(path.read_text())
    broken.write_text(json.dumps({**payload, "machine_id": "12345678"}))  # edited by hand
    with pytest.raises(BenchError, match=r"0000000000000-broken.json: invalid HistoryEntry, field '\(top level\)': "
                                         r"Value error, machine_id 12345678 is not the digest of its machine; "):
        store.entries()
    broken.write_text(json.dumps(payload))  # valid, under a name that is not its own
    with pytest.raises(BenchError) as caught:
        store.entries()
    assert caught.value.message() == (f"{broken}: the file's name does not match its content, which names "
                                      f"{os.path.basename(path)}; rename it to {os.path.basename(path)}")


def test_an_entry_of_a_future_version_is_refused_in_one_line(study_a, tmp_path, no_git, capsys):
    store, path = _store_with_one(study_a, tmp_path)
    payload = json.loads(path.read_text())
    path.write_text(json.dumps({**payload, "schema_version": HISTORY_SCHEMA_VERSION + 1}))
    with pytest.raises(BenchError) as caught:
        store.entries()
    assert caught.value.message() == (
        f"{path}: schema_version 2 is not supported (this fmbench reads history-entry files of version 1); re-add its "
        "study with 'fmbench history add RESULTS_DIR', or use the fmbench version that wrote it")
    assert main(["history", "list", "--history", str(tmp_path / "h")]) == 2
    assert capsys.readouterr().err == f"fmbench history: error: {caught.value.message()}\n"


def test_an_older_entry_is_read_through_its_kinds_migrations(study_a, tmp_path, monkeypatch):
    """Version 1 is the first; when a second comes, entries of the first are upgraded on read as result files are
    (here a made-up version 0 that called the profile 'protocol')."""
    def from_zero(payload):
        renamed = {("profile" if k == "protocol" else k): v for k, v in payload.items()}
        return {**renamed, "schema_version": 1}

    monkeypatch.setitem(results.MIGRATIONS["history-entry"], 0, from_zero)
    store, path = _store_with_one(study_a, tmp_path)
    current = store.entries()
    payload = json.loads(path.read_text())
    payload.update(schema_version=0, protocol=payload.pop("profile"))
    path.write_text(json.dumps(payload))
    assert store.entries() == current


def test_where_the_store_is(monkeypatch):
    monkeypatch.delenv("FMBENCH_HISTORY", raising=False)
    assert resolve_location(None) == ".fmbench/history"
    monkeypatch.setenv("FMBENCH_HISTORY", "memory://shared/history")
    assert resolve_location(None) == "memory://shared/history" and resolve_location("here") == "here"
    with pytest.raises(BenchError, match=r"^history location nosuch://x cannot be opened: .*; install the fsspec "
                                         r"package for that protocol \(e.g. s3fs, gcsfs\), or pass a folder$"):
        HistoryStore("nosuch://x")


def test_history_commands_import_no_machine_learning_library(tmp_path):
    code = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted({m.split('.')[0] for m in sys.modules})); sys.exit(rc)")
    for args in (["history", "add", str(TINY_A), "--commit", SHA], ["history", "list"]):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        modules = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
        assert not modules & {"tensorflow", "keras", "scikeras", "sklearn"}, sorted(modules)
