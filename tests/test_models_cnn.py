"""bench.models.cnn: the built-in convolutional network, built and (slow tier) trained for real."""

from __future__ import annotations

import math

import pytest

from bench import models, profiles
from bench.models import cnn
from bench.models.keras_base import describe_architecture


def quick_params() -> dict:
    return {k: v for k, v in cnn.PROFILE_PARAMS["quick"].items() if k not in ("epochs", "batch_size")}


def test_architecture_shapes_parameters_and_flops():
    model = cnn.build_cnn(quick_params())
    rows, flops = describe_architecture(model)
    convs = [r for r in rows if r["type"] == "Conv2D"]
    assert [(r["filters"], r["kernel"], r["output_shape"]) for r in convs] == [
        (32, "3x3", [28, 28, 32]), (64, "3x3", [14, 14, 64]), (128, "3x3", [7, 7, 128])]
    assert [r["output_shape"] for r in rows if r["type"] == "MaxPooling2D"] == [[14, 14, 32], [7, 7, 64], [3, 3, 128]]
    assert model.count_params() == 242_602
    macs = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 9 * 32 + 7 * 7 * 128 * 9 * 64 + 3 * 3 * 128 * 128 + 128 * 10
    assert flops == 2 * macs
    assert all(layer.momentum == cnn.BN_MOMENTUM for layer in model.layers if type(layer).__name__ ==
               "BatchNormalization")
    assert model.loop_jit is False and model.epoch_loop  # the epoch loop, without XLA


def test_cosine_schedule_runs_from_the_start_rate_towards_zero():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="mse")
    schedule = cnn.cosine_schedule(0.001)
    schedule.set_model(model)
    schedule.set_params({"epochs": 4})
    rates = []
    for epoch in range(4):
        schedule.on_epoch_begin(epoch)
        rates.append(float(model.optimizer.learning_rate.numpy()))
    assert rates == pytest.approx([0.001 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)], rel=1e-6)


def test_registered_per_profile_and_tuned_only_where_it_has_grids():
    assert "cnn" in models.builtins()
    smoke, quick = (models.resolve(["cnn"], profiles.resolve(p))[0] for p in ("smoke", "quick"))
    assert smoke.tuned and not quick.tuned
    assert quick.params["epochs"] == 7 and models.resolve(["cnn"], profiles.resolve("reference"))[0].params[
        "epochs"] == 20


@pytest.mark.slow
def test_a_smoke_cnn_trains_past_chance_and_repeats_exactly(data_dir, local_units):
    from pathlib import Path

    from bench import data
    from bench.study.plan import StudyConfig

    profile = profiles.resolve("smoke")
    (setup,) = models.resolve(["cnn"], profile)
    config = StudyConfig(profile=profile, seeds=[0], setups=[setup], out=Path("unused"))
    context = local_units(config, data.load_dataset(data_dir))
    first = context.train_unit(setup, 0, setup.params)
    second = context.train_unit(setup, 0, setup.params)
    assert first.status == "ok", first.error
    assert first.metrics.test.accuracy > 0.6  # batch norm momentum 0.99 gave 10 % here
    assert first.metrics == second.metrics and first.predictions == second.predictions
