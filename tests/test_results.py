"""bench.results: validated loads with errors naming file and field, atomic writes, versions."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import results
from bench.errors import BenchError


@pytest.fixture
def study_copy(smoke_study, tmp_path):
    return shutil.copytree(smoke_study, tmp_path / "copy")


def _edit(path, change):
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def test_smoke_study_round_trips(smoke_study, tmp_path):
    study = results.load_study(smoke_study)
    assert {r.file_name for r in study.runs} == set(study.manifest.runs)
    run = study.runs[0]
    results.save(run, tmp_path)
    assert results.read_record(tmp_path / run.file_name, results.RunResult) == run
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_wrong_schema_version_is_one_line(study_copy):
    _edit(study_copy / "baseline-seed0.json", lambda p: p.update(schema_version=99))
    with pytest.raises(BenchError, match=r"baseline-seed0.json: schema_version 99 is not supported \(this fmbench "
                                         r"reads run files of version 4\); re-run the study, or use the fmbench "
                                         r"version that wrote it$"):
        results.load_study(study_copy)
    _edit(study_copy / "baseline-seed0.json", lambda p: p.update(schema_version=0))  # older than any migration
    with pytest.raises(BenchError, match=r"baseline-seed0.json: schema_version 0 is not supported"):
        results.read_record(study_copy / "baseline-seed0.json", results.RunResult)


def test_a_file_of_another_kind_is_named_as_such(study_copy):
    with pytest.raises(BenchError) as caught:
        results.read_record(study_copy / "study.json", results.RunResult)
    assert caught.value.message() == (f"{study_copy / 'study.json'}: not an fmbench run file (field 'kind' is not "
                                      "'run'); got 'manifest'; pass a run file, or re-run the study")


def test_invalid_field_names_file_and_field(study_copy):
    _edit(study_copy / "tuned-seed1.json", lambda p: p["metrics"]["test"].update(accuracy="high"))
    with pytest.raises(BenchError, match=r"tuned-seed1.json: invalid RunResult, field 'metrics.test.accuracy'"):
        results.load_study(study_copy)


def test_non_strict_load_lists_problems_and_keeps_the_rest(study_copy):
    (study_copy / "tuned-seed1.json").write_text("{not json")
    study = results.load_study(study_copy, strict=False)
    assert len(study.runs) == 5
    assert study.problems == [f"{study_copy / 'tuned-seed1.json'}: not valid JSON "
                              "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); "
                              "the file is damaged; re-run the study"]


def test_status_must_match_content(study_copy):
    _edit(study_copy / "baseline-seed0.json", lambda p: p.update(metrics=None))
    with pytest.raises(BenchError, match=r"an ok run lacks metrics"):
        results.load_study(study_copy)
    _edit(study_copy / "baseline-seed1.json", lambda p: p.update(status="failed", error=None))
    with pytest.raises(BenchError, match=r"a failed run must say why"):
        results.read_record(study_copy / "baseline-seed1.json", results.RunResult)


def test_a_schema_2_run_takes_its_host_from_its_environment(study_copy):
    def to_schema_2(run):  # schema 2 named the host only in the environment, and no worker
        run.update(schema_version=2, environment={**run["environment"], "hostname": "old-host"})
        del run["host"], run["worker"]

    path = study_copy / "baseline-seed0.json"
    _edit(path, to_schema_2)
    run = results.read_record(path, results.RunResult)
    assert (run.schema_version, run.host, run.worker) == (4, "old-host", None)


def test_a_schema_2_manifest_takes_tuning_per_seed_from_its_command(study_copy):
    def to_schema_2(manifest):
        manifest.update(schema_version=2, command=[*manifest["command"], "--tune-per-seed"])
        for name in ("threads_per_run", "tune_per_seed", "sessions"):
            del manifest[name]

    _edit(study_copy / "study.json", to_schema_2)
    manifest = results.read_record(study_copy / "study.json", results.Manifest)
    assert (manifest.schema_version, manifest.tune_per_seed, manifest.threads_per_run) == (4, True, None)
    assert manifest.sessions == []


def test_a_schema_3_run_keeps_its_one_inference_timing_as_its_only_repeat(study_copy):
    path = study_copy / "baseline-seed0.json"
    _edit(path, lambda run: (run.update(schema_version=3), run["timings"].pop("inference_repeats_s", None)))
    stored = json.loads(path.read_text())["timings"]
    run = results.read_record(path, results.RunResult)
    assert run.schema_version == results.SCHEMA_VERSION == 4
    assert run.timings.inference_repeats_s == [stored["inference_s"]]
    assert (run.timings.inference_s, run.timings.images_per_s) == (stored["inference_s"], stored["images_per_s"])


def test_a_schema_3_manifest_is_read_unchanged_but_for_its_version(study_copy):
    path = study_copy / "study.json"
    _edit(path, lambda manifest: manifest.update(schema_version=3))
    before = json.loads(path.read_text())
    manifest = results.read_record(path, results.Manifest)
    assert manifest == results.Manifest.model_validate({**before, "schema_version": 4})


def test_a_run_written_now_records_every_inference_pass_and_their_median():
    timings = results.Timings(fit_s=1.0, epoch_s_mean=0.2, inference_s=0.2, images_per_s=50_000.0,
                              inference_repeats_s=[0.3, 0.2, 0.1])
    assert results.Timings.model_validate(timings.model_dump()).inference_repeats_s == [0.3, 0.2, 0.1]
    with pytest.raises(ValueError, match="inference_repeats_s"):  # schema 4 requires them
        results.Timings(fit_s=1.0, epoch_s_mean=0.2, inference_s=0.2, images_per_s=50_000.0)


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "r.json"
    results.write_json_atomic(target, {"a": 1})
    with pytest.raises(ValueError):
        results.write_json_atomic(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_missing_manifest_and_folder(tmp_path):
    with pytest.raises(BenchError, match=r"no study.json in .*; pass a folder written by 'fmbench run'"):
        results.load_study(tmp_path)
    with pytest.raises(BenchError, match=r"results folder does not exist"):
        results.load_study(tmp_path / "nope")


def test_data_loading_time_is_the_manifests_not_copied_into_runs(smoke_study):
    study = results.load_study(smoke_study)
    assert study.manifest.data_load_s is not None and study.manifest.data_load_s > 0
    for run in study.runs:
        assert "data_load_s" not in run.timings.model_dump()
