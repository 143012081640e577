"""picograd.nn: micrograd's Neuron/Layer/MLP, activations by name, seeds, batches, save/load."""

from __future__ import annotations

import json
import math
import os
import random

import micrograd.nn as micrograd_nn  # a test extra: the reference picograd.nn must match
import numpy as np
import pytest

import picograd
from picograd import Op, Value, hookimpl
from picograd.nn import MLP, Layer, ModelFileError, Module, Neuron, load, save
from picograd.testing import gradcheck


def count_nodes(root: Value) -> int:
    seen, stack = {root}, [root]
    while stack:
        for p in stack.pop()._prev:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return len(seen)


# ---- micrograd compatibility -------------------------------------------------------------

def test_the_names_are_reexported():
    assert picograd.MLP is MLP and picograd.Neuron is Neuron and picograd.Layer is Layer
    assert picograd.Module is Module
    assert {"MLP", "Neuron", "Layer", "Module"} <= set(picograd.__all__)


@pytest.mark.parametrize("fused", [True, False])
def test_same_weights_outputs_and_gradients_as_micrograd(registry, fused):
    random.seed(7)
    ours = MLP(3, [4, 4, 1], fused=fused)
    random.seed(7)
    theirs = micrograd_nn.MLP(3, [4, 4, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    assert str(ours) == str(theirs)

    rows = [[0.5, -1.2, 2.0], [-0.3, 0.8, 0.1], [1.5, 1.5, -2.5]]
    out_ours = sum((ours(r) * ours(r) for r in rows), Value(0.0))
    out_theirs = sum((theirs(r) * theirs(r) for r in rows), micrograd_nn.Value(0.0))
    assert out_ours.data == pytest.approx(out_theirs.data, rel=1e-14)
    out_ours.backward()
    out_theirs.backward()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert a.grad == pytest.approx(b.grad, rel=1e-12, abs=1e-14)


def test_micrograd_training_code_runs_with_only_the_import_changed(registry):
    # micrograd's README/demo style, verbatim apart from the import line.
    from picograd.engine import Value
    from picograd.nn import MLP

    random.seed(1337)
    model = MLP(2, [8, 1])
    xs = [[2.0, 3.0], [3.0, -1.0], [0.5, 1.0], [1.0, 1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    first = None
    for _ in range(30):
        inputs = [list(map(Value, xrow)) for xrow in xs]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(ys, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        first = total_loss.data if first is None else first
        model.zero_grad()
        total_loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    assert total_loss.data < first


def test_reprs_and_parameter_counts(registry):
    assert repr(Neuron(3)) == "ReLUNeuron(3)"
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert repr(Neuron(2, activation="tanh")) == "TanhNeuron(2)"
    assert repr(Layer(2, 2, nonlin=False)) == "Layer of [LinearNeuron(2), LinearNeuron(2)]"
    model = MLP(2, [3, 1])
    assert repr(model) == ("MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], "
                           "Layer of [LinearNeuron(3)]]")
    assert len(model.parameters()) == 3 * (2 + 1) + (3 + 1)
    assert Module().parameters() == []


def test_zero_grad_clears_every_parameter(registry):
    model = MLP(2, [3, 1], seed=0)
    model([1.0, 2.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_a_single_output_is_bare_and_several_are_a_list(registry):
    assert isinstance(MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    outs = MLP(2, [3, 2], seed=0)([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2


def test_wrong_input_length_is_a_clear_error(registry):
    with pytest.raises(ValueError, match=r"ReLUNeuron\(2\) takes 2 inputs, got 3"):
        MLP(2, [3, 1])([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="positive ints"):
        MLP(2, [3, 0])


# ---- activations and seeds ---------------------------------------------------------------

def test_activation_by_name_is_applied(registry):
    n = Neuron(2, activation="tanh", seed=1)
    x = [0.3, -0.7]
    pre = n.b.data + sum(w.data * xi for w, xi in zip(n.w, x))
    assert n(x).data == pytest.approx(math.tanh(pre), rel=1e-15)
    assert Neuron(2, nonlin=False, activation="tanh", seed=1)(x).data == pytest.approx(pre)


def test_plugin_activations_work_by_name(registry):
    def softsign_bwd(g, y, x):
        return (g / (1.0 + abs(x)) ** 2,)  # d/dx x / (1 + |x|)

    class Softsign:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("softsign", lambda x: x / (1.0 + abs(x)), softsign_bwd,
                        kind="activation"))

    with registry.register_plugin(Softsign(), name="softsign-plugin"):
        model = MLP(2, [3, 1], activation="softsign", seed=0)
        assert "SoftsignNeuron(2)" in repr(model)
        hidden = model.layers[0].neurons[0]([0.5, 2.0])
        assert hidden.op.name == "softsign"
        model([0.5, 2.0]).backward()


def test_unknown_activation_lists_the_available_ones(registry):
    with pytest.raises(ValueError, match=r"unknown activation 'nope'.*relu, sigmoid, tanh"):
        MLP(2, [3, 1], activation="nope")
    with pytest.raises(ValueError, match="unknown activation 'exp'"):  # an op, not an activation
        Neuron(2, activation="exp")


def test_seeded_initialisation_is_reproducible(registry):
    def weights(**kw):
        return [p.data for p in MLP(2, [4, 1], **kw).parameters()]

    assert weights(seed=3) == weights(seed=3) == weights(rng=random.Random(3))
    assert weights(seed=3) != weights(seed=4)
    layer = Layer(2, 3, seed=5)
    assert len({tuple(w.data for w in n.w) for n in layer.neurons}) == 3  # neurons differ
    assert all(-1.0 <= p.data <= 1.0 for p in MLP(2, [4, 1], seed=9).parameters())
    with pytest.raises(TypeError, match="seed= or rng="):
        MLP(2, [1], seed=1, rng=random.Random(1))


# ---- the fused neuron ------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 3])
def test_weighted_sum_gradients(registry, n):
    from picograd import ops

    xs = [0.3 * (i + 1) * (-1) ** i for i in range(2 * n + 1)]
    gradcheck(lambda *vs: ops.weighted_sum(*vs), xs, name=f"weighted_sum/{n}")


def test_weighted_sum_needs_an_odd_number_of_inputs(registry):
    from picograd import ops

    with pytest.raises(ValueError, match=r"odd number of inputs\), got 4"):
        ops.weighted_sum(1.0, 2.0, 3.0, 4.0)


def test_fused_and_unfused_neurons_agree_and_fused_is_one_node(registry):
    fused = Neuron(5, activation="tanh", seed=2)
    unfused = Neuron(5, activation="tanh", seed=2, fused=False)
    x = [Value(v) for v in (0.1, -0.2, 0.3, 0.9, -1.4)]
    x2 = [Value(v.data) for v in x]
    a, b = fused(x), unfused(x2)
    assert a.data == b.data  # the same float operations in the same order
    a.backward()
    b.backward()
    for p, q in zip(fused.parameters() + x, unfused.parameters() + x2):
        assert p.grad == pytest.approx(q.grad, rel=1e-15) and p.grad != 0.0
    assert count_nodes(a) == 1 + 1 + 5 + 1 + 5  # tanh, weighted_sum, w, b, x
    assert count_nodes(b) == count_nodes(a) - 1 + 2 * 5  # a mul and an add per input


# ---- batches ---------------------------------------------------------------------------

def test_a_batch_gives_the_per_sample_outputs_and_gradients(registry):
    from picograd import losses

    X = np.random.default_rng(0).normal(size=(12, 3))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    per_sample, batched = MLP(3, [5, 4, 1], seed=1), MLP(3, [5, 4, 1], seed=1)
    scores = [per_sample(list(row)) for row in X]
    batch_scores = batched(X)
    assert batch_scores.data.shape == (12,)
    np.testing.assert_allclose(batch_scores.data, [s.data for s in scores], rtol=1e-13)
    losses.hinge(scores, y).backward()
    losses.hinge(batch_scores, y).backward()
    for p, q in zip(per_sample.parameters(), batched.parameters()):
        assert isinstance(q.grad, float)
        assert q.grad == pytest.approx(p.grad, rel=1e-11, abs=1e-14)


def test_a_batch_with_the_wrong_width_is_an_error(registry):
    with pytest.raises(ValueError, match=r"takes 2 inputs, got a batch of shape \(4, 3\)"):
        MLP(2, [1])(np.zeros((4, 3)))



class _LeakyRelu:
    """An in-process plugin replacing relu by a leaky one: x for x > 0, else 0.1 x."""

    @hookimpl
    def picograd_register_ops(self, register):
        register(Op("relu", lambda x: x if x > 0.0 else 0.1 * x,
                    lambda g, y, x: (g if x > 0.0 else 0.1 * g,), kind="activation",
                    array_forward=lambda x: np.where(x > 0.0, x, 0.1 * x),
                    array_backward=lambda g, y, x: (np.where(x > 0.0, g, 0.1 * g),)),
                 override=True)


def test_an_overridden_relu_is_used_by_fused_unfused_and_batch_models(registry):
    X = np.random.default_rng(3).normal(size=(6, 2))
    fused, unfused = MLP(2, [4, 4, 1], seed=5), MLP(2, [4, 4, 1], seed=5, fused=False)
    layer, neuron = Layer(2, 3, seed=5), Neuron(2, seed=5)
    neuron.w[0].data = neuron.w[1].data = 1.0  # its sum on (-3, -3) is -6
    builtin = [fused(list(X[0])).data, fused(X).data[0], unfused(list(X[0])).data]
    assert neuron([-3.0, -3.0]).data == 0.0
    with picograd.register_plugin(_LeakyRelu(), name="leaky"):
        assert Value(-1.0).relu().data == pytest.approx(-0.1)
        leaky = [fused(list(X[0])).data, fused(X).data[0], unfused(list(X[0])).data]
        assert neuron([-3.0, -3.0]).data == pytest.approx(-0.6)
        Z = X @ np.array([[n.w[0].data, n.w[1].data] for n in layer.neurons]).T
        np.testing.assert_allclose(layer.batch(X).data, np.where(Z > 0, Z, 0.1 * Z), rtol=1e-12)
        # the same network by hand, with the leaky relu on both hidden layers
        h = list(X[0])
        for lay in fused.layers:
            z = [sum((w.data * x for w, x in zip(n.w, h)), n.b.data) for n in lay.neurons]
            h = [v if v > 0 or not lay.neurons[0].nonlin else 0.1 * v for v in z]
        assert leaky == pytest.approx([h[0]] * 3, rel=1e-12)
    # and with the built-in relu back, the fused nodes fold it in again
    assert [fused(list(X[0])).data, fused(X).data[0]] == pytest.approx(builtin[:2])


def test_a_batch_valued_value_is_an_input_whose_gradient_flows(registry):
    from picograd import losses

    X = np.random.default_rng(4).normal(size=(5, 3))
    y = np.where(X[:, 1] > 0, 1.0, -1.0)
    for fused in (True, False):
        model = MLP(3, [4, 1], seed=2, fused=fused)
        Xv = Value(X)
        scores = model(Xv)
        np.testing.assert_allclose(scores.data, model(X).data, rtol=1e-13)
        losses.mse(scores, y).backward()
        assert Xv.grad.shape == X.shape
        # row 0's gradient, against the per-sample graph of that row alone
        row = [Value(x) for x in X[0]]
        ((model(row) - y[0]) ** 2 * (1.0 / len(X))).backward()
        np.testing.assert_allclose(Xv.grad[0], [v.grad for v in row], rtol=1e-11)


# ---- save and load ---------------------------------------------------------------------

def test_save_load_round_trips_exactly(registry, tmp_path):
    model = MLP(2, [5, 3, 1], activation="tanh", seed=11)
    for p in model.parameters():
        p.data += 1e-3 * math.pi  # weights that are not short decimals
    path = tmp_path / "model.json"
    model.save(path)
    loaded = MLP.load(path)
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    assert repr(loaded) == repr(model) and loaded.activation == "tanh"
    assert loaded([0.3, -0.4]).data == model([0.3, -0.4]).data
    doc = json.loads(path.read_text())
    assert doc["format"] == "picograd-mlp" and doc["version"] == 1
    assert sorted(os.listdir(tmp_path)) == ["model.json"]  # no temporary file left


def test_a_saved_model_is_readable_by_others_as_any_new_file(registry, tmp_path):
    old_umask = os.umask(0o022)
    try:
        save(MLP(2, [1], seed=0), tmp_path / "model.json")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "model.json").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old_file(registry, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "model.json"
    old = MLP(2, [2, 1], seed=1)
    save(old, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ModelFileError, match="disk on fire.*previous file is unchanged"):
        save(MLP(2, [2, 1], seed=2), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.json"]

    broken = MLP(2, [2, 1], seed=3)
    broken.parameters()[0].data = math.nan
    with pytest.raises(ModelFileError, match="finite"):
        save(broken, path)
    assert path.read_bytes() == before

    with pytest.raises(ModelFileError, match="cannot write the model file.*No such file"):
        save(old, tmp_path / "missing" / "model.json")
    save(MLP(2, [2, 1], seed=4), path)  # a good save replaces the file
    assert [p.data for p in load(path).parameters()] == [
        p.data for p in MLP(2, [2, 1], seed=4).parameters()]


def _good_doc():
    model = MLP(2, [2, 1], seed=0)
    return {"format": "picograd-mlp", "version": 1, "nin": 2, "nouts": [2, 1],
            "activation": "relu",
            "layers": [[{"w": [n.w[0].data, n.w[1].data], "b": 0.0} for n in layer.neurons]
                       if i == 0 else [{"w": [0.5, -0.5], "b": 0.1}]
                       for i, layer in enumerate(model.layers)]}


def _edit(doc, path, value):
    *keys, last = path
    target = doc
    for k in keys:
        target = target[k]
    target[last] = value
    return doc


BAD_DOCS = {
    "wrong format": (lambda d: _edit(d, ["format"], "keras"), "not a picograd model file"),
    "newer version": (lambda d: _edit(d, ["version"], 2), "newer than this picograd reads"),
    "bad version": (lambda d: _edit(d, ["version"], "1"), "bad format version"),
    "bad nin": (lambda d: _edit(d, ["nin"], 0), "'nin' must be a positive int"),
    "bad nouts": (lambda d: _edit(d, ["nouts"], [2, True]), "'nouts' must be"),
    "unknown activation": (lambda d: _edit(d, ["activation"], "gelu9"), "unknown activation"),
    "missing layer": (lambda d: _edit(d, ["layers"], d["layers"][:1]), "must list 2 layers"),
    "extra neuron": (lambda d: _edit(d, ["layers", 1], d["layers"][1] * 2),
                     "layer 1 must have 1 neurons"),
    "short weights": (lambda d: _edit(d, ["layers", 1, 0, "w"], [0.5]),
                      r"layer 1, neuron 0: 'w' must be a list of 2 numbers"),
    "string weight": (lambda d: _edit(d, ["layers", 0, 1, "w", 0], "0.5"),
                      r"layer 0, neuron 1: '0.5' is not a finite number"),
    "bool bias": (lambda d: _edit(d, ["layers", 0, 0, "b"], True), "not a finite number"),
    "huge int": (lambda d: _edit(d, ["layers", 0, 0, "b"], 10**400), "not a finite number"),
    "extra key": (lambda d: _edit(d, ["layers", 0, 0, "x"], 1), "exactly 'w' and 'b'"),
    "top-level list": (lambda d: [d], "not a picograd model file"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCS))
def test_load_rejects_mismatched_files(registry, tmp_path, case):
    change, message = BAD_DOCS[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(change(_good_doc())))
    with pytest.raises(ModelFileError, match=message) as err:
        load(path)
    assert str(path) in str(err.value) and err.value.path == str(path)


@pytest.mark.parametrize("text, message", [
    ("", "not valid JSON"),
    ("{\"format\": \"picograd-mlp\", \"version\": 1, \"nin\": 2, \"nou", "truncated"),
    ("NaN", "not valid JSON"),
    ("[" * 100000, "not valid JSON"),
])
def test_load_rejects_malformed_files(registry, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_load_rejects_a_truncated_save_and_binary_and_missing_files(registry, tmp_path):
    path = tmp_path / "m.json"
    save(MLP(2, [3, 1], seed=0), path)
    full = path.read_bytes()
    for cut in (1, len(full) // 2, len(full) - 3):
        path.write_bytes(full[:cut])
        with pytest.raises(ModelFileError, match=str(path)):
            load(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="cannot read"):
        load(path)
    with pytest.raises(ModelFileError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_the_good_doc_loads(registry, tmp_path):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_good_doc()))
    assert load(path).layers[1].neurons[0].b.data == 0.1


def test_the_readme_example_runs(registry, tmp_path, monkeypatch):
    from pathlib import Path

    from picograd.datasets import make_dataset

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Neural nets and the demo", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    X, y = make_dataset("moons", 20, seed=0)
    monkeypatch.chdir(tmp_path)
    namespace = {"X": X, "y": y}
    exec(compile(code, "README.md", "exec"), namespace)
    assert isinstance(namespace["model"], MLP) and (tmp_path / "model.json").exists()
    assert namespace["loss"].data > 0.0
