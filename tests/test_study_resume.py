"""bench.study.resume: --resume is compared with the study on disk before TensorFlow, and again after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import models, profiles
from bench.errors import BenchError
from bench.study.plan import StudyConfig
from bench.study.resume import existing_study

TINY = Path(__file__).resolve().parent / "data" / "tiny.toml"
ESTIMATOR = "def build(params):\n    from sklearn.linear_model import LogisticRegression\n\n" \
            "    return LogisticRegression()\n"


def test_before_users_models_are_built_their_kind_is_left_to_the_second_comparison(smoke_study, tmp_path):
    """The CLI's check compares before any factory has run, when a user's model is 'keras' by default; an
    estimator recorded as 'sklearn' must pass there, and the runner's comparison (kinds known) still sees it."""
    folder = tmp_path / "study"
    shutil.copytree(smoke_study, folder)
    (tmp_path / "est.py").write_text(ESTIMATOR)
    profile = profiles.resolve("smoke", TINY)
    setups = models.resolve(["baseline", "tuned", f"lr={tmp_path / 'est.py'}:build"], profile)
    manifest = json.loads((folder / "study.json").read_text())
    manifest["models"].append("lr")
    manifest["model_specs"]["lr"] = {**setups[2].record().model_dump(mode="json"), "kind": "sklearn"}
    (folder / "study.json").write_text(json.dumps(manifest))
    config = StudyConfig(profile=profile, seeds=manifest["seeds"], setups=setups, out=folder,
                         threads_per_run=manifest["threads_per_run"])
    digest = manifest["dataset"]["digest"]
    assert existing_study(config, digest, kinds_settled=False).models == ["baseline", "tuned", "lr"]
    with pytest.raises(BenchError, match=r'holds a different study: model_specs\.lr\.kind is "sklearn" there, '
                                         r'"keras" here'):
        existing_study(config, digest)
    config.seeds = [0, 1]
    with pytest.raises(BenchError, match=r"seeds is \[0, 1, 2\] there, \[0, 1\] here"):
        existing_study(config, digest, kinds_settled=False)
