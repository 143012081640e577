"""picograd against stored PyTorch values (tests/data/reference_values.json).

The file is written by ``tools/make_reference.py`` with torch, float64; this test
needs no torch. Expressions come from tests/reference_cases.py; MLPs are built with
picograd.nn, their weights set from the file, both as fused neurons (one
``weighted_sum`` node each) and micrograd's way (a node per multiply and add).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reference_cases import EXPRESSIONS, MLPS

from picograd import Value, grad, losses
from picograd import ops as F
from picograd.nn import MLP

DATA = json.loads((Path(__file__).parent / "data" / "reference_values.json").read_text())
REL, ABS = 1e-10, 1e-12  # float64 on both sides; only the order of sums differs


def test_the_file_covers_every_case():
    assert DATA["format"] == "picograd-reference" and "torch" in DATA["made_by"]
    assert set(DATA["expressions"]) == set(EXPRESSIONS)
    assert set(DATA["mlps"]) == set(MLPS)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_expression_matches_pytorch(registry, name):
    fn, inputs = EXPRESSIONS[name]
    ref = DATA["expressions"][name]
    assert ref["inputs"] == inputs  # the case has not changed since the file was made
    xs = [Value(x) for x in inputs]
    y = fn(F, *xs)
    y.backward()
    assert y.data == pytest.approx(ref["value"], rel=REL, abs=ABS)
    assert [x.grad for x in xs] == pytest.approx(ref["grads"], rel=REL, abs=ABS)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("name", sorted(MLPS))
def test_mlp_matches_pytorch(registry, name, fused):
    ref = DATA["mlps"][name]
    nin, nouts, activation, loss, samples, targets = MLPS[name]
    assert (ref["nin"], ref["nouts"], ref["activation"], ref["loss"]) == (
        nin, nouts, activation, loss)
    assert (ref["samples"], ref["targets"]) == (samples, targets)
    model = MLP(nin, nouts, activation=activation, fused=fused, seed=0)
    params = model.parameters()
    assert len(params) == len(ref["weights"])
    for p, w in zip(params, ref["weights"]):
        p.data = w
    scores = [model(x) for x in samples]
    value = getattr(losses, loss)(scores, targets)
    value.backward()
    assert [s.data for s in scores] == pytest.approx(ref["scores"], rel=REL, abs=ABS)
    assert value.data == pytest.approx(ref["value"], rel=REL, abs=ABS)
    assert [p.grad for p in params] == pytest.approx(ref["grads"], rel=REL, abs=ABS)


# ---- second derivatives: torch.autograd.grad(..., create_graph=True) -----------------

def test_the_file_covers_every_case_twice():
    assert set(DATA["second"]["expressions"]) == set(EXPRESSIONS)
    assert set(DATA["second"]["penalties"]) == set(MLPS)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_hessian_matches_pytorch(registry, name):
    fn, inputs = EXPRESSIONS[name]
    ref = DATA["second"]["expressions"][name]
    assert ref["inputs"] == inputs
    xs = [Value(x) for x in inputs]
    first = grad(fn(F, *xs), xs, create_graph=True)
    assert [g.data for g in first] == pytest.approx(ref["grads"], rel=REL, abs=ABS)
    for g, row in zip(first, ref["hessian"]):
        assert list(grad(g, xs)) == pytest.approx(row, rel=REL, abs=ABS)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("name", sorted(MLPS))
def test_gradient_penalty_matches_pytorch(registry, name, fused):
    # the gradient of ||d loss / d inputs||^2 (every sample's features) w.r.t. the weights
    ref, case = DATA["second"]["penalties"][name], DATA["mlps"][name]
    nin, nouts, activation, loss, samples, targets = MLPS[name]
    model = MLP(nin, nouts, activation=activation, fused=fused, seed=0)
    params = model.parameters()
    for p, w in zip(params, case["weights"]):
        p.data = w
    rows = [[Value(x) for x in sample] for sample in samples]
    value = getattr(losses, loss)([model(row) for row in rows], targets)
    inputs = [x for row in rows for x in row]
    penalty = sum((g * g for g in grad(value, inputs, create_graph=True)), Value(0.0))
    assert penalty.data == pytest.approx(ref["value"], rel=REL, abs=ABS)
    assert list(grad(penalty, params)) == pytest.approx(ref["grads"], rel=REL, abs=ABS)


@pytest.mark.parametrize("fused", [True, False], ids=["dense", "unfused"])
@pytest.mark.parametrize("name", sorted(MLPS))
def test_gradient_penalty_on_a_batch_matches_pytorch(registry, name, fused):
    # the same penalty with the samples as one (batch, nin) matrix Value
    import numpy as np

    ref, case = DATA["second"]["penalties"][name], DATA["mlps"][name]
    nin, nouts, activation, loss, samples, targets = MLPS[name]
    model = MLP(nin, nouts, activation=activation, fused=fused, seed=0)
    params = model.parameters()
    for p, w in zip(params, case["weights"]):
        p.data = w
    X = Value(np.array(samples))
    value = getattr(losses, loss)(model(X), np.array(targets))
    (gX,) = grad(value, X, create_graph=True)
    penalty = (gX * gX).sum()
    assert penalty.data == pytest.approx(ref["value"], rel=REL, abs=ABS)
    assert list(grad(penalty, params)) == pytest.approx(ref["grads"], rel=REL, abs=ABS)
