"""bench.models.family: the protocol asks a model's family, never its kind; a third family is one module."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench import data, models
from bench.models import FAMILIES, KERAS, SKLEARN, Family, Fitted, ModelSpec
from bench.results import SplitMetrics

ROOT = Path(__file__).resolve().parent.parent
BUILTIN_NAMES = {"baseline", "tuned", "cnn", "logreg", "hgb"}
FAMILY_NAMES = {"keras", "sklearn"}
# The one place user-facing defaults name built-in models, and the upgrade of files that predate the
# registry (schema 1 tuned one model, the reference's "tuned", and said so nowhere).
NAMES_ALLOWED_IN = {"bench/profiles.py", "bench/results/migrations.py"}


def _sources():
    for path in sorted((ROOT / "bench").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("bench/models/"):
            yield relative, ast.parse(path.read_text(encoding="utf-8"))


def _compares_a_kind(node: ast.AST) -> bool:
    """A comparison with a family's name ("keras" in ..., a kind equal to "sklearn") or with a run's
    ``model_kind``: a branch on a family."""
    if not isinstance(node, ast.Compare):
        return False
    sides = (node.left, *node.comparators)
    if any(isinstance(side, ast.Constant) and side.value in FAMILY_NAMES for side in sides):
        return True
    return any(getattr(side, "attr", None) == "model_kind" for side in sides)


def test_nothing_outside_bench_models_branches_on_a_models_kind_or_name():
    kinds, names = [], []
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if _compares_a_kind(node):
                kinds.append(f"{relative}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value in BUILTIN_NAMES and relative not in NAMES_ALLOWED_IN:
                names.append(f"{relative}:{node.lineno} {node.value!r}")
    assert kinds == [] and names == []


def test_each_family_fills_in_every_method_the_protocol_calls():
    required = [name for name, value in vars(Family).items()
                if callable(value) and not name.startswith("_") and _raises_not_implemented(value)]
    assert set(required) >= {"accepts", "features", "build", "fit", "probabilities", "evaluate", "search_estimator"}
    for family in FAMILIES:
        missing = [name for name in required if getattr(type(family), name) is getattr(Family, name)]
        assert missing == [], (family.name, missing)
    assert [f.name for f in FAMILIES] == ["keras", "sklearn"] and len({f.name for f in FAMILIES}) == 2


def _raises_not_implemented(function) -> bool:
    source = ast.parse(_dedent(function))
    return any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n) for n in ast.walk(source))


def _dedent(function) -> str:
    import inspect
    import textwrap

    return textwrap.dedent(inspect.getsource(function))


def test_the_keras_family_says_how_its_models_are_fed_searched_costed_and_recorded():
    baseline, cnn = models.builtins()["baseline"], models.builtins()["cnn"]
    assert (KERAS.name, KERAS.epochs, KERAS.perf_paths) == ("keras", True, True) and baseline.family is KERAS
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    assert KERAS.features(images, baseline) is images  # uint8, scaled inside the model: no copy
    assert KERAS.features(images, dataclasses.replace(baseline, input_shape=(784,))).shape == (3, 784)
    assert KERAS.fit_settings({"epochs": 7, "batch_size": 64}) == (7, 64)
    assert KERAS.compiles(baseline, {}) and not KERAS.compiles(baseline, {"dropout": 0.2})
    assert not KERAS.compiles(cnn, {})  # its convolutions run without XLA (bench.models.cnn)
    assert KERAS.search_param("epochs") == "epochs" and KERAS.search_param("dropout") == "model__dropout"
    assert KERAS.compile_record(models.FAST) == models.FAST.as_dict()
    assert not KERAS.accepts(object()) and SKLEARN.accepts(_Centroids())


class _Centroids:
    """A model of a third kind: the nearest class mean of the pixels, in NumPy."""

    def fit(self, x, y):
        self.means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
        return self

    def predict(self, x):
        return self.scores(x).argmax(axis=1)

    def scores(self, x):
        return -((x[:, None, :] - self.means[None]) ** 2).sum(axis=2)

    def get_params(self):
        return {}


class CentroidFamily(Family):
    """All a third family needs: one class, in one module, and a spec that names it."""

    name = "centroid"

    def accepts(self, built) -> bool:
        return isinstance(built, _Centroids)

    def features(self, x, spec):
        return x.reshape(len(x), -1).astype(np.float64) / 255

    def build(self, spec, params, seed, options):
        return spec.build(params)

    def fit(self, model, x, y, validation, params, clock) -> Fitted:
        model.fit(x, y)
        return Fitted()

    def probabilities(self, model, x):
        from bench.models.keras_family import softmax

        return softmax(model.scores(x))

    def evaluate(self, model, x, y) -> SplitMetrics:
        probs = self.probabilities(model, x)
        return SplitMetrics(accuracy=float(np.mean(probs.argmax(axis=1) == y)),
                            loss=float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))))

    def search_estimator(self, setup, params, seed, options, callbacks):
        raise NotImplementedError("a centroid has nothing to search")


@pytest.mark.slow
def test_a_third_family_runs_through_the_protocol_without_editing_it(data_dir):
    from bench.study.plan import fit_of
    from bench.train import training

    spec = ModelSpec(name="centroid", factory="tests:centroid", build=lambda params: _Centroids(),
                     defaults=lambda profile: {}, family=CentroidFamily())
    (setup,) = [models.ModelSetup(spec, {}, (), {})]
    split = data.make_split(data.load_dataset(data_dir), 0, 0.2, 1000, 500)
    model = spec.family.build(spec, {}, 0, None)
    outcome = training.fit(model, spec.family, split, spec, {}, None)
    test = training.predict_test(model, spec.family, split, spec)
    metrics = training.score_splits(model, spec.family, split, test.predictions, spec)
    assert outcome.fitted.history is None and 0.5 < metrics.test.accuracy < 0.9
    assert metrics.test.accuracy == pytest.approx(np.mean(np.array(test.predictions.predicted) == split.y_test))
    assert (sum(test.per_class.support), spec.kind) == (500, "centroid")
    assert fit_of(setup, {}, 800).epochs == 1 and not fit_of(setup, {}, 800).compiles
    assert (setup.record().kind, setup.record().tuned) == ("centroid", False)
