"""bench.models.params: the declarative constraints every model's parameters and grids are checked by."""

from __future__ import annotations

import pytest

from bench import models, profiles
from bench.errors import BenchError
from bench.models.params import Choice, Interval, PositiveInt, check_grids, check_params

CONSTRAINTS = {"units": PositiveInt(), "rate": Interval(0, open_low=True), "dropout": Interval(0, 1),
               "optimizer": Choice(("adam", "rmsprop"))}


@pytest.mark.parametrize(("constraint", "good", "bad", "problem"), [
    (PositiveInt(), [1, 512], [0, -3, 2.0, True, "4", None], "must be a positive integer"),
    (Interval(0), [0, 0.0, 3, 1e9], [-1e-9, -1], "must be at least 0"),
    (Interval(0, open_low=True), [1e-12, 2], [0, 0.0, -1], "must be a number above 0"),
    (Interval(0, 1), [0, 0.5, 0.999], [1, 1.5, -0.1], "must be in [0, 1)"),
    (Interval(0, 1, open_low=True), [0.5], [0, 1], "must be in (0, 1)"),
    (Interval(0), [], [True, "0.5", None, [1]], "must be a number"),
    (Choice(("adam", "rmsprop")), ["adam", "rmsprop"], ["sgd", "Adam", None], "must be one of adam, rmsprop"),
])
def test_each_constraint_accepts_what_it_says_and_names_the_rest(constraint, good, bad, problem):
    assert [constraint.check(value) for value in good] == [None] * len(good)
    assert [constraint.check(value) for value in bad] == [problem] * len(bad)


def test_check_params_names_the_parameter_the_value_and_the_fix():
    check_params("model 'm'", {"units": 8, "rate": 0.1, "dropout": 0.0, "optimizer": "adam"}, CONSTRAINTS)
    cases = [({"units": 0}, "model 'm': units must be a positive integer; got 0"),
             ({"rate": 0}, "model 'm': rate must be a number above 0; got 0"),
             ({"dropout": 1}, "model 'm': dropout must be in [0, 1); got 1"),
             ({"optimizer": "sgd"}, "model 'm': unknown optimizer 'sgd'; choose one of adam, rmsprop"),
             ({"unit": 8}, "model 'm': unknown parameter 'unit'; known: units, rate, dropout, optimizer")]
    for params, message in cases:
        with pytest.raises(BenchError) as refused:
            check_params("model 'm'", params, CONSTRAINTS)
        assert refused.value.message() == message and refused.value.exit_code == 2
    check_params("model 'm'", {"unit": 8, "units": 2}, CONSTRAINTS, strict=False)  # a user's model: own names pass
    with pytest.raises(BenchError, match="units must be a positive integer; got -2"):
        check_params("model 'm'", {"unit": 8, "units": -2}, CONSTRAINTS, strict=False)  # known names still checked
    with pytest.raises(BenchError, match="unknown parameter 'x'; known: none"):
        check_params("model 'u'", {"x": 1}, {})


def test_check_grids_checks_every_value_of_every_grid():
    check_grids("model 'm'", {"units": [8, 16], "optimizer": ["adam", "rmsprop"]}, CONSTRAINTS)
    cases = [({"units": [8, 0]}, "model 'm': grid 'units': units must be a positive integer; got 0"),
             ({"optimizer": ["adam", "sgd"]}, "model 'm': grid 'optimizer': unknown optimizer 'sgd'; "
                                               "choose one of adam, rmsprop"),
             ({"units": []}, "model 'm': grid 'units' is empty; got []; give at least one value"),
             ({"width": [8]}, "model 'm': unknown grids entry 'width'; known: units, rate, dropout, optimizer")]
    for grids, message in cases:
        with pytest.raises(BenchError) as refused:
            check_grids("model 'm'", grids, CONSTRAINTS)
        assert refused.value.message() == message
    with pytest.raises(BenchError) as refused:
        check_grids("model 'm'", {"rate": 0.1}, CONSTRAINTS)  # a single value, not a list
    assert refused.value.message() == "model 'm': grid 'rate' must be a list of values; got 0.1; write it as a list, " \
                                      "e.g. rate = [0.1]"
    check_grids("model 'u'", {"width": [8]}, CONSTRAINTS, strict=False)


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_every_built_in_models_defaults_and_grids_meet_its_own_constraints(profile):
    resolved = profiles.resolve(profile)
    for spec in models.builtins().values():
        check_params(f"{spec.name} defaults", spec.defaults(resolved), spec.constraints)
        check_grids(f"{spec.name} grids", spec.grids(resolved), spec.constraints)
        for stage, names in spec.stages(resolved):
            assert set(names) <= set(spec.grids(resolved)), (spec.name, stage)


def test_a_boolean_choice_refuses_numbers():
    """Python's 1 == True: cnn's cosine = 1 was accepted and recorded as 1."""
    assert Choice((True, False)).check(1) == "must be one of True, False"
    assert Choice((True, False)).check(True) is None and Choice((1, 2)).check(True) is not None


def test_an_unbounded_interval_refuses_infinity_and_nan():
    """TOML writes inf and nan: C = inf or learning_rate = nan in a config was accepted."""
    assert Interval(0, open_low=True).check(float("inf")) == "must be a finite number"
    assert Interval(0, 1).check(float("nan")) == "must be a finite number"
