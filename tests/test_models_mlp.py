"""bench.models.mlp: the reference baseline and the tunable MLP, built for real."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.models import PLAIN, mlp
from bench.models.keras_base import describe_architecture


def test_baseline_matches_the_reference_architecture():
    model = mlp.build_baseline(PLAIN)
    rows, flops = describe_architecture(model)
    dense = [r for r in rows if r["type"] == "Dense"]
    assert [(r["units"], r["activation"]) for r in dense] == [(128, "relu"), (10, "linear")]
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert model.loss.from_logits and type(model.optimizer).__name__ == "Adam"
    assert model.input.dtype == "uint8"  # scaling happens inside the model, per batch
    assert flops == 2 * (784 * 128 + 128 * 10)  # multiply-adds of the two dense layers, per image
    assert [r["output_shape"] for r in rows][-2:] == [[128], [10]]


def test_tunable_model_exposes_every_knob():
    model = mlp.build_tunable(neurons1=64, neurons2=32, dropout=0.2, activation="tanh",
                                 kernel_initializer="he_normal", optimizer="rmsprop", learning_rate=0.01)
    rows = {r["name"]: r for r in describe_architecture(model)[0]}
    assert rows["hidden1"]["units"] == 64 and rows["hidden2"]["units"] == 32
    assert rows["hidden1"]["activation"] == "tanh" and rows["dropout1"]["rate"] == 0.2
    assert type(model.optimizer).__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_no_dropout_layers_when_rate_is_zero():
    names = [layer.name for layer in mlp.build_tunable(dropout=0.0).layers]
    assert not any(name.startswith("dropout") for name in names)


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(BenchError, match=r"unknown optimizer 'adamw2'; choose one of sgd, rmsprop"):
        mlp.build_tunable(optimizer="adamw2")
