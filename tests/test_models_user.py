"""bench.models.user: the user's own models through run, report and check; bad models are one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import models, profiles
from bench.errors import BenchError

KERAS_MODEL = '''
import keras


def build(params):
    """A small convolutional model fmbench does not ship: uint8 28x28x1 in, 10 logits out."""
    inputs = keras.Input(shape=(28, 28, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(params.get("filters", 4), 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(4)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))
'''
ESTIMATOR_MODULE = '''
from sklearn.linear_model import LogisticRegression


def build(params):
    return LogisticRegression(C=params.get("C", 0.5), max_iter=params.get("max_iter", 50))
'''
# Names Keras builds with and TensorFlow refuses in the first training step (bench.models.keras_family.NAME).
NAMED = '''
import keras


def build(params):
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(16, name={layer!r})(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name={model!r})
'''


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    if full_env.get("FMBENCH_DATA_DIR"):
        full_env["FMBENCH_DATA_DIR"] = os.path.abspath(full_env["FMBENCH_DATA_DIR"])
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=1800, check=False)


@pytest.fixture(scope="module")
def user_study(tmp_path_factory, data_dir) -> Path:
    """A smoke study of a Keras model from a file and an estimator from a module path, both the user's."""
    work = tmp_path_factory.mktemp("user")
    (work / "small.py").write_text(KERAS_MODEL)
    (work / "userpkg").mkdir()
    (work / "userpkg" / "__init__.py").write_text("")
    (work / "userpkg" / "estimators.py").write_text(ESTIMATOR_MODULE)
    (work / "config.toml").write_text('[models.mine]\nfactory = "small.py:build"\nparams = {filters = 6}\n')
    done = run_cli("--quiet", "run", "--profile", "smoke", "--seeds", "0", "1", "--config", "config.toml",
                   "--models", "baseline", "mine", "lr=userpkg.estimators:build", "--out", "study",
                   cwd=work, env={"PYTHONPATH": str(work), "FMBENCH_DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr
    return work


def test_user_models_run_and_record_what_ran(user_study):
    manifest = json.loads((user_study / "study" / "study.json").read_text())
    assert manifest["models"] == ["baseline", "mine", "lr"]
    mine = json.loads((user_study / "study" / "mine-seed0.json").read_text())
    source = (user_study / "small.py").read_bytes()
    assert mine["status"] == "ok" and mine["model_kind"] == "keras"
    assert mine["factory"] == f"{user_study / 'small.py'}:build"
    import hashlib

    assert mine["source_sha256"] == hashlib.sha256(source).hexdigest()
    assert mine["hyperparameters"]["filters"] == 6
    conv = [layer for layer in mine["architecture"] if layer["type"] == "Conv2D"]
    assert conv[0]["filters"] == 6 and conv[0]["kernel"] == "3x3" and conv[0]["output_shape"] == [26, 26, 6]
    assert mine["flops_per_image"] > 2 * 26 * 26 * 6 * 9
    # Uncompiled by its factory, it trains as the baseline does: Adam at 0.001, read from the model it trained.
    assert (mine["compile_options"]["optimizer"], mine["compile_options"]["learning_rate"]) == ("adam", 0.001)
    lr = json.loads((user_study / "study" / "lr-seed1.json").read_text())
    assert lr["status"] == "ok" and lr["model_kind"] == "sklearn" and lr["history"] is None
    assert lr["factory"] == "userpkg.estimators:build" and "LogisticRegression(C=0.5" in lr["estimator"]
    assert lr["compile_options"] == {}
    assert lr["metrics"]["test"]["accuracy"] > 0.6


def test_user_models_report_and_gate(user_study):
    done = run_cli("report", "study", "--out", "report", "--html", cwd=user_study)
    assert done.returncode == 0, done.stderr
    html = (user_study / "report" / "report.html").read_text()
    for label in ("baseline", "mine", "lr"):
        assert f'data-model="{label}"' in html
    assert "Conv2D" in html and "LogisticRegression(C=0.5" in html
    # The models table: 'mine' trains with Adam at 0.001 as the baseline does (it showed '—'); lr has neither.
    rows = dict(re.findall(r'<th scope="row">(\w+)</th>\s*((?:<td>[^<]*</td>)+)</tr>', html))
    assert rows["optimizer"] == "<td>adam</td><td>adam</td><td>—</td>", rows
    assert rows["learning_rate"] == "<td>0.001</td><td>0.001</td><td>—</td>", rows
    assert run_cli("reference", "study", "--out", "ref.json", cwd=user_study).returncode == 0
    done = run_cli("check", "study", "--reference", "ref.json", cwd=user_study)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = json.loads((user_study / "ref.json").read_text())["models"]
    cells = {row[0]: row for row in (re.split(r"\s{2,}", line.strip()) for line in done.stdout.splitlines())}
    for model in ("baseline", "mine", "lr"):  # the study against its own reference: every mean unchanged
        accuracies = [json.loads((user_study / "study" / f"{model}-seed{seed}.json").read_text())["metrics"]["test"][
            "accuracy"] for seed in (0, 1)]
        assert reference[model]["test_accuracy"]["values"] == accuracies
        mean = sum(accuracies) / 2
        _, before, after, change, *_, result = cells[f"{model}.test_accuracy"]
        assert before == after and before in (f"{mean:.4f}", f"{100 * mean:.2f} %"), done.stdout  # 0.xxxx or xx.xx %
        assert change.startswith("+0.00 ") and result == "ok", done.stdout
    assert done.stdout.strip().splitlines()[-1] == "fmbench check: all 12 checks passed", done.stdout


def test_an_own_model_study_records_op_determinism_on_in_every_run_and_its_manifest(user_study):
    """Every fit runs with op determinism on; with no search first, the runs and the manifest recorded False."""
    folder = user_study / "study"
    assert json.loads((folder / "study.json").read_text())["environment"]["op_determinism"] is True
    recorded = {path.name: json.loads(path.read_text())["environment"]["op_determinism"]
                for path in sorted(folder.glob("*-seed*.json"))}
    assert recorded == {f"{model}-seed{seed}.json": True for model in ("baseline", "lr", "mine") for seed in (0, 1)}


# (files to write, --models entry or config, message); each stops before any training with exit 2.
BAD = {
    "file not found": ({}, ["mine=missing.py:build"], "--models: model file not found: "),
    "module not found": ({}, ["mine=nosuchpkg.models:build"], "model module 'nosuchpkg.models' not found"),
    "no such function": ({"m.py": "def other(params):\n    return None\n"}, ["mine=m.py:build"],
                         "has no function 'build'"),
    "import error": ({"m.py": "import nosuchmodule_xyz\n"}, ["mine=m.py:build"],
                     "m.py failed: ModuleNotFoundError: No module named 'nosuchmodule_xyz'"),
    "neither keras nor estimator": ({"m.py": "def build(params):\n    return 42\n"}, ["mine=m.py:build"],
                                    "the factory returned an int, neither a Keras model nor a scikit-learn estimator"),
    "factory raises": ({"m.py": "def build(params):\n    raise ValueError('no such width')\n"}, ["mine=m.py:build"],
                       "m.py:build raised ValueError: no such width; check the factory and its params"),
    "seven outputs": ({"m.py": "import keras\ndef build(params):\n    i = keras.Input((28, 28))\n"
                       "    x = keras.layers.Flatten()(i)\n"
                       "    return keras.Model(i, [keras.layers.Dense(10)(x) for _ in range(7)])\n"},
                      ["mine=m.py:build"], "the model has 7 outputs; fmbench needs one, of 10 classes"),
    "layer name with <": ({"m.py": NAMED.format(layer="dense<1>", model="mine")}, ["mine=m.py:build"],
                          "layer name 'dense<1>' has '<>', which TensorFlow refuses in training; name it with "
                          "letters, digits, '_', '.' and '-' only"),
    'layer name with "': ({"m.py": NAMED.format(layer='a"b', model="mine")}, ["mine=m.py:build"],
                          "layer name 'a\"b' has '\"', which TensorFlow refuses in training"),
    "model name with a space": ({"m.py": NAMED.format(layer="hidden", model="my model")}, ["mine=m.py:build"],
                                "model name 'my model' has ' ', which TensorFlow refuses in training; name it "
                                "with letters, digits, '_', '.' and '-' only, starting with a letter or digit"),
    "not 10 classes": ({"m.py": "import keras\ndef build(params):\n    i = keras.Input((28, 28))\n"
                        "    return keras.Model(i, keras.layers.Dense(7)(keras.layers.Flatten()(i)))\n"},
                       ["mine=m.py:build"], "the model's output has shape (None, 7), not 10 classes"),
    "name clashes": ({"m.py": "def build(params):\n    return 42\n"}, ["baseline=m.py:build"],
                     "model name 'baseline' clashes with a built-in model"),
    "unknown grid parameter": ({"c.toml": "[models.tuned.grids]\nneurons3 = [5]\n"}, ["tuned", "--config", "c.toml"],
                               "unknown grids entry 'neurons3'"),
    "bad factory text": ({}, ["mine=build"], "model factory 'build' is not FILE.py:FUNCTION or MODULE:FUNCTION"),
}


@pytest.mark.slow  # trains nothing, but most cases start TensorFlow in a fresh process (about 20 s each)
@pytest.mark.parametrize("case", BAD)
def test_a_bad_model_is_one_line_and_exit_2_before_training(case, tmp_path):
    files, models_args, message = BAD[case]
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    done = run_cli("run", "--profile", "smoke", "--out", "out", "--models", *models_args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fmbench run: error: ") and message in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_builtins_are_registered_by_module():
    assert set(models.builtins()) >= {"baseline", "tuned", "logreg", "hgb"}
    profile = profiles.resolve("smoke")
    setups = models.resolve(["baseline", "tuned", "logreg"], profile)
    assert [s.spec.kind for s in setups] == ["keras", "keras", "sklearn"]
    assert setups[1].tuned and not setups[0].tuned
    with pytest.raises(BenchError, match=r"--models names a model twice"):
        models.resolve(["baseline", "baseline"], profile)
    with pytest.raises(BenchError, match=r"unknown model 'resnet'; choose from baseline, tuned"):
        models.resolve(["resnet"], profile)


def test_model_tables_set_params_stages_and_grids(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[models.logreg]\nparams = {C = 0.1}\nstages = [["regularisation", ["C"]]]\n'
                      '[models.logreg.grids]\nC = [0.1, 1.0]\n')
    (setup,) = models.resolve(["logreg"], profiles.resolve("smoke", config))
    assert setup.params["C"] == 0.1 and setup.stages == (("regularisation", ("C",)),)
    assert setup.grids == {"C": [0.1, 1.0]}
    config.write_text('[models.logreg]\nparams = {C = -1}\n')
    with pytest.raises(BenchError, match=r"model 'logreg': params: C must be a number above 0; got -1"):
        models.resolve(["logreg"], profiles.resolve("smoke", config))


COMPILED_MODEL = '''
import keras


def build(params):
    """Compiled by the factory: Adam at 0.001 (or on a cosine schedule), whatever params['learning_rate'] says."""
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    rate = keras.optimizers.schedules.CosineDecay(0.01, 100) if params.get("schedule") else 1e-3
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    return model
'''


def test_a_user_models_optimizer_and_learning_rate_are_read_from_the_model_it_trains(tmp_path):
    """The report's models table showed '—' for a user model's optimizer and learning rate: its params did not
    name them. A run records them among its compile options, read from the model as built for training
    (bench.study.work.train; built here, nothing trained)."""
    from bench.models.user import finalize

    compiled, plain = tmp_path / "compiled.py", tmp_path / "plain.py"
    compiled.write_text(COMPILED_MODEL)
    plain.write_text(KERAS_MODEL)
    config = tmp_path / "c.toml"
    config.write_text(f'[models.ignored]\nfactory = "{compiled}:build"\nparams = {{learning_rate = 0.01}}\n'
                      f'[models.scheduled]\nfactory = "{compiled}:build"\nparams = {{schedule = true}}\n'
                      f'[models.sgd]\nfactory = "{plain}:build"\n'
                      'params = {optimizer = "sgd", learning_rate = 0.05}\n')
    names = [f"compiled={compiled}:build", f"plain={plain}:build", "ignored", "scheduled", "sgd"]
    read = {}
    for setup in map(finalize, models.resolve(names, profiles.resolve("smoke", config))):
        family = setup.spec.family
        read[setup.name] = family.compiled_with(family.build(setup.spec, setup.params, 0, setup.spec.options))
    adam = {"optimizer": "adam", "learning_rate": 0.001}  # 0.001, not the float32 0.0010000000474974513
    # 'ignored' asks for 0.01, but its factory compiles at 0.001: the record says what it trains with.
    assert read == {"compiled": adam, "plain": adam, "ignored": adam,
                    "scheduled": {"optimizer": "adam", "learning_rate_schedule": "CosineDecay"},
                    "sgd": {"optimizer": "sgd", "learning_rate": 0.05}}


def test_the_models_table_shows_a_compiled_user_models_optimizer_in_the_hyperparameter_rows(smoke_study):
    from types import SimpleNamespace

    from bench.report.sections import models as models_table
    from bench.results import RunResult, read_record

    baseline = read_record(smoke_study / "baseline-seed0.json", RunResult)
    mine = baseline.model_copy(update={"model": "mine", "hyperparameters": {"epochs": 2, "batch_size": 32},
                                       "compile_options": {**baseline.compile_options, "optimizer": "adam",
                                                           "learning_rate": 0.001}})
    groups = [SimpleNamespace(label=run.model, runs=[run], ok_runs=[run]) for run in (baseline, mine)]
    rows = {(row["name"], row["source"]): row["cells"] for row in models_table(groups)["rows"]}
    assert rows[("optimizer", "hyperparameters")] == ["adam", "adam"]  # it was ["adam", "—"]
    assert rows[("learning_rate", "hyperparameters")] == ["0.001", "0.001"]
    assert rows[("units", "hyperparameters")] == ["128", "—"]
    assert rows[("epoch_loop", "compile options")] == ["True", "True"]
    assert ("optimizer", "compile options") not in rows  # shown once, in its hyperparameter row


def test_a_package_can_register_models_through_entry_points(monkeypatch, tmp_path):
    from bench.models import user

    module = tmp_path / "plugin_models.py"
    module.write_text(ESTIMATOR_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    class EntryPoint:
        name, value, group = "plugged", "plugin_models:build", user.ENTRY_POINT_GROUP

        def load(self):
            import plugin_models

            return plugin_models.build

    monkeypatch.setattr(user.importlib.metadata, "entry_points", lambda group: [EntryPoint()])
    (setup,) = models.resolve(["plugged"], profiles.resolve("smoke"))
    assert setup.spec.factory == "plugin_models:build"
    assert type(setup.spec.build({})).__name__ == "LogisticRegression"



def test_a_user_model_with_convolutions_or_pooling_trains_without_xla(tmp_path):
    """The README's own small CNN failed every quick-profile run: XLA has no deterministic max-pool gradient
    (fits under JIT_MIN_STEPS never compile, so smoke studies did not show it). Built here, nothing trained."""
    from bench.models.keras_base import FAST
    from bench.models.user import finalize

    (tmp_path / "cnn.py").write_text(KERAS_MODEL)
    (tmp_path / "mlp.py").write_text(COMPILED_MODEL)
    names = [f"small={tmp_path / 'cnn.py'}:build", f"dense={tmp_path / 'mlp.py'}:build"]
    cnn, mlp = map(finalize, models.resolve(names, profiles.resolve("smoke")))
    assert cnn.spec.options.jit_compile is False and cnn.spec.options.epoch_loop == FAST.epoch_loop
    assert mlp.spec.options == FAST


@pytest.mark.slow
def test_a_user_model_trained_without_xla_is_timed_on_this_machine_and_one_with_xla_is_not(tmp_path):
    """The study's estimate costs a user's model by its own training step (bench.study.speed): the README's
    small CNN was estimated at 83 s by the default cost and took 5.2 min."""
    from bench.models.user import finalize

    (tmp_path / "cnn.py").write_text(KERAS_MODEL)
    (tmp_path / "mlp.py").write_text(COMPILED_MODEL)
    names = [f"small={tmp_path / 'cnn.py'}:build", f"dense={tmp_path / 'mlp.py'}:build"]
    cnn, mlp = map(finalize, models.resolve(names, profiles.resolve("smoke")))
    seconds = cnn.spec.family.seconds_per_image(cnn.spec, cnn.params)
    assert 0 < seconds < 1, seconds  # per image: a sanity bound, not a speed limit
    assert mlp.spec.family.seconds_per_image(mlp.spec, mlp.params) is None
