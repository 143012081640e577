"""A layer's parameters as scalar Values and as two arrays: one set of numbers."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from picograd import Value, losses
from picograd.nn import MLP, Layer
from picograd.optim import SGD, Adam
from picograd.params import Parameters, Stale, grouped

rng = np.random.default_rng(3)
X = rng.normal(size=(12, 3))
Y = np.where(X[:, 0] - X[:, 2] > 0, 1.0, -1.0)


def batch_loss(model):
    return losses.hinge(model(X), Y) + 1e-2 * losses.l2(model.parameters())


def per_sample_loss(model):
    scores = [model(row) for row in X.tolist()]
    return losses.hinge(scores, Y) + 1e-2 * losses.l2(model.parameters())


def numbers(model):
    return [(p.data, p.grad) for p in model.parameters()]


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.3),
                                  lambda ps: SGD(ps, lr=0.3, momentum=0.9, weight_decay=1e-3),
                                  lambda ps: Adam(ps, lr=0.05, weight_decay=1e-3)],
                         ids=["sgd", "sgd-momentum", "adam"])
def test_batch_training_on_arrays_gives_the_per_sample_weights(registry, make):
    batch, single = MLP(3, [5, 4, 1], seed=2), MLP(3, [5, 4, 1], seed=2)
    opt_b, opt_s = make(batch.parameters()), make(single.parameters())
    for _ in range(5):
        for model, opt, loss in ((batch, opt_b, batch_loss), (single, opt_s, per_sample_loss)):
            total = loss(model)
            opt.zero_grad()
            total.backward()
            opt.step()
    assert batch.layers[0].W.data.shape == (5, 3) and batch.layers[0].b.data.shape == (5,)
    for (d1, g1), (d2, g2) in zip(numbers(batch), numbers(single), strict=True):
        assert d1 == pytest.approx(d2, rel=1e-12, abs=1e-14)
        assert g1 == pytest.approx(g2, rel=1e-10, abs=1e-12)


def test_a_batch_step_with_the_optimizer_leaves_the_scalars_alone(registry):
    model = MLP(3, [5, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        total = batch_loss(model)
        opt.zero_grad()
        total.backward()
        opt.step()
    layer = model.layers[0]._params
    # The numbers stayed in the arrays: every scalar is still waiting for them.
    assert layer.live == "arrays" and all(type(p) is Stale for p in layer.scalars())
    w00 = float(model.layers[0].W.data[0, 0])
    assert model.parameters()[0].data == w00  # reading one scalar brings them all back
    assert layer.live == "scalars" and all(type(p) is Value for p in layer.scalars())


def test_micrograd_s_own_update_loop_works_on_a_batch_model(registry):
    ours, theirs = MLP(3, [4, 1], seed=5), MLP(3, [4, 1], seed=5)
    opt = SGD(ours.parameters(), lr=0.2)
    for _ in range(3):
        for model in (ours, theirs):
            total = batch_loss(model)
            model.zero_grad()
            total.backward()
        opt.step()
        for p in theirs.parameters():  # micrograd's demo loop, one scalar at a time
            p.data -= 0.2 * p.grad
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]


def test_writes_on_either_side_reach_the_other(registry):
    model = MLP(3, [2, 1], seed=0)
    layer = model.layers[0]
    model(X)  # a batch: the arrays are live
    layer.neurons[1].w[2].data = 7.0
    layer.neurons[0].b.grad = 0.5
    assert layer.W.data[1, 2] == 7.0 and layer.b.grad[0] == 0.5
    layer.W.data[0, 1] = -3.0  # numpy, in place
    assert layer.neurons[0].w[1].data == -3.0
    row = X[0].tolist()
    assert model(row).data == pytest.approx(float(model(X[:1]).data[0]), rel=1e-14)


def test_zero_grad_clears_both_views(registry):
    model = MLP(3, [4, 1], seed=1)
    batch_loss(model).backward()
    assert np.any(model.layers[0].W.grad != 0.0)
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    batch_loss(model).backward()
    SGD(model.parameters(), lr=0.1).zero_grad()
    assert np.all(model.layers[0].W.grad == 0.0) and np.all(model.layers[1].b.grad == 0.0)


def test_save_and_load_after_batch_training(registry, tmp_path):
    model = MLP(3, [4, 1], seed=1)
    opt = SGD(model.parameters(), lr=0.5)
    total = batch_loss(model)
    opt.zero_grad()
    total.backward()
    opt.step()
    path = tmp_path / "model.json"
    model.save(path)
    loaded = MLP.load(path)
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    saved = json.loads(path.read_text())["layers"][0][2]["w"]
    assert saved == model.layers[0].W.data[2].tolist()


def test_a_graph_mixing_the_arrays_and_the_scalars_gets_every_gradient(registry):
    # micrograd's L2 habit, one scalar at a time, beside the batch's dense nodes
    a, b = MLP(3, [4, 1], seed=4), MLP(3, [4, 1], seed=4)
    mixed = losses.hinge(a(X), Y) + 1e-2 * sum(p * p for p in a.parameters())
    mixed.backward()
    batch_loss(b).backward()
    assert mixed.data == pytest.approx(batch_loss(b).data, rel=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-15)


def test_a_failed_backward_leaves_both_views_as_they_were(registry):
    model = MLP(3, [4, 1], seed=4)
    batch_loss(model).backward()
    before = [p.grad for p in model.parameters()]
    source = Value(X.copy())
    rows = Value(X, (source,), "boom")  # a micrograd-style node below the first layer

    def fail() -> None:
        raise RuntimeError("boom")

    rows._backward = fail
    broken = losses.hinge(model(rows), Y)  # arrays live again
    with pytest.raises(RuntimeError, match="boom"):
        broken.backward()  # fails after the dense nodes wrote into W.grad and b.grad
    assert [p.grad for p in model.parameters()] == before


def test_a_copied_model_has_its_own_arrays(registry):
    model = MLP(3, [4, 1], seed=4)
    model(X)
    twin = copy.deepcopy(model)
    twin.layers[0].W.data[:] = 0.0
    assert twin.parameters()[0].data == 0.0
    assert model.parameters()[0].data != 0.0


def test_parameters_is_micrograd_s_list_and_knows_its_layers(registry):
    model = MLP(3, [4, 2], seed=0)
    params = model.parameters()
    assert isinstance(params, list) and len(params) == 4 * 4 + 2 * 5
    assert params[:4] == [*model.layers[0].neurons[0].w, model.layers[0].neurons[0].b]
    assert isinstance(params, Parameters) and len(grouped(params)[0]) == 2
    params.append(Value(1.0))  # changed: a plain list of Values now, looked through
    layers, rest = grouped(params)
    assert len(layers) == 2 and len(rest) == 1
    half = model.parameters()[:10]  # part of a layer: those scalars, one by one
    layers, rest = grouped(half)
    assert layers == [] and len(rest) == 10


def test_a_partial_parameter_list_is_updated_one_scalar_at_a_time(registry):
    model = MLP(3, [4, 1], seed=0)
    chosen = model.parameters()[:4]  # neuron 0's weights, not the whole layer
    opt = SGD(chosen, lr=0.5)
    before = [p.data for p in model.parameters()]
    total = batch_loss(model)
    opt.zero_grad()
    total.backward()
    grads = [p.grad for p in model.parameters()]
    opt.step()
    after = [p.data for p in model.parameters()]
    assert after[:4] == [d - 0.5 * g for d, g in zip(before[:4], grads[:4])]
    assert after[4:] == before[4:]


def test_a_layer_whose_neurons_changed_shape_says_so(registry):
    model = MLP(3, [2, 1], seed=0)
    model.layers[0].neurons[1].w.append(Value(0.5))
    with pytest.raises(ValueError, match="must all have 3 weights and a bias"):
        model(X)


def test_an_array_leaf_s_gradient_survives_a_failed_backward(registry):
    w = Value(np.array([1.0, 2.0]))
    (w * w).sum().backward()
    before = w.grad.copy()
    source = Value(1.0)
    boom = Value(1.0, (source,), "boom")

    def fail() -> None:
        raise RuntimeError("boom")

    boom._backward = fail
    with pytest.raises(RuntimeError):
        ((w * w).sum() * boom).backward()  # w's step runs, then the closure fails
    assert np.array_equal(w.grad, before)


def test_mlp_batch_is_the_matrix_of_every_output(registry):
    model = MLP(3, [4, 2], seed=0)
    M = model.batch(X)
    assert M.shape == (12, 2) and M.op.name == "dense"
    columns = model(X)
    assert [c.data.tolist() for c in columns] == [M.data[:, j].tolist() for j in range(2)]
    with pytest.raises(ValueError, match=r"MLP takes 3 inputs, got a batch of shape \(12, 2\)"):
        model.batch(X[:, :2])


def test_two_leaves_never_share_one_gradient_array(registry):
    a, b = Value(np.ones(3)), Value(np.full(3, 2.0))
    (a + b).sum().backward()  # add hands the same g to both inputs
    assert a.grad is not b.grad
    a.grad *= 0.0  # in place, on one of them only
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_arrays_of_the_wrong_shape_are_a_clear_error(registry):
    model = MLP(3, [2, 1], seed=0)
    model(X)
    model.layers[0].W.data = np.ones((5, 5))
    with pytest.raises(TypeError, match=r"must hold float arrays of their shapes \(W \(2, 3\)"):
        float(model.parameters()[0].data)


def test_a_frozen_layer_stays_put_and_a_half_frozen_one_says_why(registry):
    model = MLP(3, [4, 1], seed=0)
    for p in model.layers[0].parameters():
        p.requires_grad = False
    before = [p.data for p in model.layers[0].parameters()]
    opt = SGD(model.parameters(), lr=0.5)
    total = batch_loss(model)
    opt.zero_grad()
    total.backward()
    opt.step()
    assert [p.data for p in model.layers[0].parameters()] == before
    assert model.layers[1].W.grad.any()  # the other layer trained
    model.layers[0].neurons[0].w[0].requires_grad = True
    with pytest.raises(ValueError, match="15 of this layer's 16 parameters have requires_grad"):
        model(X)
    assert model.layers[0].neurons[0].w[0].data == before[0]  # nothing changed


# ---- found in review: each of these went wrong once -----------------------------------

def test_freezing_after_the_optimizer_is_made_is_kept_and_so_is_unfreezing(registry):
    model = MLP(3, [4, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.1)  # (the arrays exist from here on)
    for p in model.layers[0].parameters():
        p.requires_grad = False
    frozen = model.layers[0].W.data.copy()
    for _ in range(2):
        total = batch_loss(model)
        opt.zero_grad()
        total.backward()
        opt.step()
    assert np.array_equal(model.layers[0].W.data, frozen)
    for p in model.layers[0].parameters():
        p.requires_grad = True
    total = batch_loss(model)
    opt.zero_grad()
    total.backward()
    opt.step()
    assert not np.array_equal(model.layers[0].W.data, frozen)


def test_a_half_frozen_model_still_trains_per_sample(registry):
    model = MLP(3, [4, 1], seed=0)
    for n in model.layers[0].neurons:
        n.b.requires_grad = False
    biases = [n.b.data for n in model.layers[0].neurons]
    opt = SGD(model.parameters(), lr=0.1)
    total = per_sample_loss(model)
    opt.zero_grad()
    total.backward()
    opt.step()
    assert [n.b.data for n in model.layers[0].neurons] == biases
    assert model.layers[0].neurons[0].w[0].grad != 0.0


def test_create_graph_gradients_are_never_turned_into_floats(registry):
    from picograd import grad

    model = MLP(3, [4, 1], seed=0)
    per_sample_loss(model).backward(create_graph=True)
    with pytest.raises(TypeError, match="float gradients to run on a batch"):
        model(X)
    assert isinstance(model.parameters()[0].grad, Value)
    twin = MLP(3, [4, 1], seed=1)
    mixed = losses.hinge(twin(X), Y) + sum(p * p for p in twin.parameters())
    with pytest.raises(ValueError, match="parameters .also. through its other side"):
        grad(mixed, twin.parameters(), create_graph=True)


def test_a_step_on_value_gradients_is_refused_before_anything_changes(registry):
    model = MLP(3, [4, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.1)
    batch_loss(model).backward(create_graph=True)
    before = model.layers[0].W.data.copy()
    with pytest.raises(TypeError, match="needs numbers in .grad"):
        opt.step()
    assert np.array_equal(model.layers[0].W.data, before)


def test_a_parameter_put_in_while_the_arrays_are_live_keeps_its_number(registry):
    model = MLP(3, [4, 1], seed=0)
    model(X)
    model.layers[0].neurons[0].b = Value(5.0)
    model(X[0].tolist())
    assert model.layers[0].neurons[0].b.data == 5.0
    assert model.layers[0].b.data[0] == 5.0  # and the next batch reads it


def test_replaced_neurons_are_the_layer_s_parameters(registry):
    from picograd.nn import Neuron

    model = MLP(3, [4, 1], seed=0)
    layer = model.layers[0]
    layer.neurons = layer.neurons[:3]
    model.layers[1].neurons[0].w.pop()
    assert len(model.parameters()) == 3 * 4 + 1 * 4
    assert model.layers[0].W.data.shape == (3, 3) and model(X).shape == (12,)
    layer.neurons.append(Neuron(3, seed=5))
    model.layers[1].neurons[0].w.append(Value(0.3))
    assert len(model.parameters()) == 4 * 4 + 5 and model(X).shape == (12,)


def test_grad_with_respect_to_w_after_a_per_sample_graph(registry):
    from picograd import grad

    model = MLP(3, [4, 1], seed=0)
    model(X)  # W exists
    loss = per_sample_loss(model)
    (gW,) = grad(loss, model.layers[0].W)
    loss.backward()
    assert gW.tolist() == [[n.w[i].grad for i in range(3)] for n in model.layers[0].neurons]


def test_a_layer_subclass_with_its_own_init(registry):
    from picograd.nn import Layer, Neuron

    class Pair(Layer):
        def __init__(self) -> None:  # no super().__init__()
            self.neurons = [Neuron(2, seed=1), Neuron(2, seed=2)]

    layer = Pair()
    assert len(layer([1.0, 2.0])) == 2 and len(layer.parameters()) == 6
    assert layer.W.data.shape == (2, 2)


def test_a_held_w_array_stays_the_layer_s(registry):
    model = MLP(3, [4, 1], seed=0)
    held = model.layers[0].W.data
    model(X[0].tolist())  # the numbers move to the scalars and back
    model(X)
    held[0, 0] = 9.0
    assert model.layers[0].neurons[0].w[0].data == 9.0


def test_a_weight_replaced_by_a_number_is_a_clear_error(registry):
    layer = Layer(2, 2, seed=1)
    layer.neurons[1].w[0] = 0.7  # micrograd code sets .data; a bare number is refused
    with pytest.raises(TypeError, match=r"weights and bias must be Values, got float 0.7"):
        layer([Value(1.0), Value(2.0)])
