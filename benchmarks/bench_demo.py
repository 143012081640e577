"""The seed demo's training, picograd vs micrograd, side by side in one process.

    python benchmarks/bench_demo.py [--steps 10] [--repeat 3] [--micrograd-repeat 1]

The workload is micrograd's demo.ipynb: make_moons(100, noise=0.1), MLP(2, [16, 16, 1])
with the same initial weights in both, hinge loss + 1e-4 L2, SGD with lr = 1.0 - 0.9 k/100,
one scalar graph per sample. Python's garbage collector stays on, as users run it;
picograd's `train` and the minimal engine hold it off during each step (docs/speed.md).
Each row is the best of its repeats (micrograd, at seconds per step, runs once by default).
Before timing, the gradients of both engines at the same weights are compared.

Rows: micrograd; picograd (fused neurons: one weighted_sum node each, the default);
picograd unfused (a node per multiply and add, like micrograd's graph); picograd in
batch mode (one graph over all samples, numpy-valued Values) for reference; and, for
scale, a minimal graph engine written here (slots nodes, a node per neuron, a tape,
no plugins or checks) and the floor: the MLP's forward and backward written by hand.
micrograd comes from PyPI (``pip install .[bench]``).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from contextlib import contextmanager
from operator import mul

SEED = 1337


def moons():
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=100, noise=0.1, random_state=SEED)
    return X, y * 2 - 1.0


# ---- micrograd, exactly as its demo.ipynb trains --------------------------------------

def micrograd_model():
    from micrograd.nn import MLP

    random.seed(SEED)
    return MLP(2, [16, 16, 1])


def micrograd_loss(model, X, y):
    from micrograd.engine import Value

    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def micrograd_train(model, X, y, steps):
    for k in range(steps):
        total = micrograd_loss(model, X, y)
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
    return total.data


# ---- picograd: the demo's own training function ------------------------------------------

def picograd_model(fused=True):
    from picograd.nn import MLP

    return MLP(2, [16, 16, 1], seed=SEED, fused=fused)  # the same weights as random.seed


def picograd_train(model, X, y, steps, batch=False):
    from picograd.optim import SGD, linear_decay
    from picograd.train import train

    opt = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, 100))
    history = train(model, X, y, steps=steps, optimizer=opt, batch=batch)
    return history.loss[-1]


# ---- a minimal graph engine (no plugins, no checks), for scale --------------------------
#
# What an engine needs at the least: slots nodes, one node per neuron that saves its
# partial derivatives, and a tape (the nodes in creation order) that backward runs in
# reverse instead of sorting. No op table, no plugins, no error handling, not thread-safe.

class MiniNode:
    __slots__ = ("data", "grad", "inputs", "partials")

    def __init__(self, data, inputs=(), partials=()):
        self.data, self.grad, self.inputs, self.partials = data, 0.0, inputs, partials


class MiniEngine:
    def __init__(self):
        self.tape = []

    def node(self, data, inputs, partials):
        out = MiniNode(data, inputs, partials)
        self.tape.append(out)
        return out

    def neuron(self, w, b, x, relu):  # b + w . x, then relu: one node
        wd, xd = [p.data for p in w], [p.data for p in x]
        s = sum(map(mul, wd, xd), b.data)
        if relu and s <= 0.0:
            return self.node(0.0, (), ())  # a dead relu: no gradient flows
        return self.node(s, (b, *x, *w), (1.0, *wd, *xd))  # d/dx_i = w_i, d/dw_i = x_i

    def backward(self, root):
        root.grad = 1.0
        for v in reversed(self.tape):
            g = v.grad
            for p, d in zip(v.inputs, v.partials):
                p.grad += g * d
        self.tape = []


def mini_model():
    """micrograd's initial weights (random.seed(SEED)), as MiniNodes: (w, b) per neuron."""
    random.seed(SEED)
    layers, sizes = [], [2, 16, 16, 1]
    for nin, nout in zip(sizes[:-1], sizes[1:]):
        layers.append([([MiniNode(random.uniform(-1, 1)) for _ in range(nin)], MiniNode(0.0))
                       for _ in range(nout)])
    return layers


def mini_params(layers):
    return [p for layer in layers for w, b in layer for p in (*w, b)]


def mini_loss(engine, layers, X, y):
    n = len(X)
    losses = []
    for row, target in zip(X.tolist(), y.tolist()):
        x = [MiniNode(v) for v in row]
        for i, layer in enumerate(layers):
            x = [engine.neuron(w, b, x, relu=i < len(layers) - 1) for w, b in layer]
        s = x[0]
        margin = 1.0 - target * s.data  # hinge: max(0, 1 - t s)
        if margin > 0.0:
            losses.append(engine.node(margin, (s,), (-target,)))
    data = sum(v.data for v in losses) * (1.0 / n)
    params = mini_params(layers)
    reg = sum(p.data * p.data for p in params)
    partials = [1.0 / n] * len(losses) + [2e-4 * p.data for p in params]
    return engine.node(data + 1e-4 * reg, (*losses, *params), partials)


@contextmanager
def collector_held_off():
    """A step with Python's cyclic collector off, as picograd.train.train runs its steps:
    the minimal engine's steps get the same, so its ratio compares like with like (the
    floor makes no graph, and micrograd runs as its users run it)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def mini_train(layers, X, y, steps):
    engine, params = MiniEngine(), mini_params(layers)
    for k in range(steps):
        with collector_held_off():
            total = mini_loss(engine, layers, X, y)
            for p in params:
                p.grad = 0.0
            engine.backward(total)
            lr = 1.0 - 0.9 * k / 100
            for p in params:
                p.data -= lr * p.grad
            loss = total.data
            del total
    return loss


# ---- the floor: the MLP's forward and backward written out by hand, no graph ------------

def floor_train(layers, X, y, steps):
    """layers: [(W, B)] with W[j] neuron j's weights; trains them in place (lists)."""
    n = len(X)
    rows, targets = X.tolist(), y.tolist()
    for k in range(steps):
        grads = [([[0.0] * len(w) for w in W], [0.0] * len(B)) for W, B in layers]
        data = 0.0
        for row, t in zip(rows, targets):
            acts = [row]  # each layer's input
            for i, (W, B) in enumerate(layers):
                h = [sum(map(mul, w, acts[-1]), b) for w, b in zip(W, B)]
                acts.append([v if v > 0.0 else 0.0 for v in h] if i < len(layers) - 1 else h)
            margin = 1.0 - t * acts[-1][0]
            if margin <= 0.0:
                continue  # this sample's loss is 0, and so is its gradient
            data += margin
            g = [-t / n]  # d loss / d score
            for i in range(len(layers) - 1, -1, -1):
                (W, B), (GW, GB), x = layers[i], grads[i], acts[i]
                back = [0.0] * len(x)
                for j, gj in enumerate(g):
                    if gj == 0.0:
                        continue
                    GB[j] += gj
                    row_w, row_g = W[j], GW[j]
                    for m, xm in enumerate(x):
                        row_g[m] += gj * xm
                        back[m] += gj * row_w[m]
                if i:
                    g = [gm if xm > 0.0 else 0.0 for gm, xm in zip(back, x)]  # relu
        lr = 1.0 - 0.9 * k / 100
        for (W, B), (GW, GB) in zip(layers, grads):
            for w, gw in zip(W, GW):
                for m in range(len(w)):
                    w[m] -= lr * (gw[m] + 2e-4 * w[m])
            for j in range(len(B)):
                B[j] -= lr * (GB[j] + 2e-4 * B[j])
    return data / n


def floor_model():
    return [([[p.data for p in w] for w, b in layer], [b.data for w, b in layer])
            for layer in mini_model()]


def compare_gradients(X, y):
    """Max |difference| of every parameter's gradient, picograd (fused and batch) vs micrograd."""
    from picograd.train import loss_and_accuracy

    mg = micrograd_model()
    micrograd_loss(mg, X, y).backward()
    reference = [p.grad for p in mg.parameters()]
    scale = max(abs(g) for g in reference)
    result = {}
    for name, fused, batch in (("fused", True, False), ("unfused", False, False),
                               ("batch", True, True)):
        pg = picograd_model(fused)
        assert [p.data for p in pg.parameters()] == [p.data for p in mg.parameters()]
        total, _ = loss_and_accuracy(pg, X, y, batch=batch)
        total.backward()
        diff = max(abs(p.grad - g) for p, g in zip(pg.parameters(), reference))
        result[name] = (diff, diff / scale)
    layers = mini_model()
    assert [p.data for p in mini_params(layers)] == [p.data for p in mg.parameters()]
    engine = MiniEngine()
    engine.backward(mini_loss(engine, layers, X, y))
    diff = max(abs(p.grad - g) for p, g in zip(mini_params(layers), reference))
    result["minimal engine"] = (diff, diff / scale)
    # the floor keeps no gradients: compare its weights after one step with micrograd's
    micrograd_train(mg := micrograd_model(), X, y, 1)
    floor = floor_model()
    floor_train(floor, X, y, 1)
    mine = [v for W, B in floor for w, b in zip(W, B) for v in (*w, b)]
    diff = max(abs(a - p.data) for a, p in zip(mine, mg.parameters()))
    result["floor (weights after a step)"] = (diff, diff / max(abs(a) for a in mine))
    return result


def timed(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="picograd runs per row (best)")
    parser.add_argument("--micrograd-repeat", type=int, default=1)
    parser.add_argument("--skip-micrograd", action="store_true")
    args = parser.parse_args()

    X, y = moons()
    import picograd

    picograd.Value(1.0) + 1.0  # build the op table outside the timings
    have_micrograd = not args.skip_micrograd
    try:
        import micrograd  # noqa: F401
    except ImportError:
        have_micrograd = False
        print("micrograd is not installed (pip install '.[bench]'): picograd alone")

    print(f"seed demo workload: moons 100, MLP(2, [16, 16, 1]), hinge + 1e-4 L2, SGD; "
          f"{args.steps} steps, gc enabled: {gc.isenabled()}, best of {args.repeat} "
          f"(micrograd: {args.micrograd_repeat})")
    if have_micrograd:
        for name, (diff, rel) in compare_gradients(X, y).items():
            print(f"gradients vs micrograd ({name}): max |diff| {diff:.2e} "
                  f"({rel:.2e} of the largest gradient)")

    rows = {}
    if have_micrograd:
        rows["micrograd"] = timed(lambda: micrograd_train(micrograd_model(), X, y, args.steps),
                                  args.micrograd_repeat)
    rows["picograd"] = timed(lambda: picograd_train(picograd_model(), X, y, args.steps),
                             args.repeat)
    rows["picograd unfused"] = timed(
        lambda: picograd_train(picograd_model(fused=False), X, y, args.steps), args.repeat)
    rows["picograd batch"] = timed(
        lambda: picograd_train(picograd_model(), X, y, args.steps, batch=True), args.repeat)
    rows["minimal engine"] = timed(lambda: mini_train(mini_model(), X, y, args.steps),
                                   args.repeat)
    rows["hand-written floor"] = timed(lambda: floor_train(floor_model(), X, y, args.steps),
                                       args.repeat)

    print(f"{'engine':<20} {'seconds':>9} {'ms/step':>9} {'vs micrograd':>13} "
          f"{'vs picograd':>12}")
    for name, seconds in rows.items():
        ratio = f"{rows['micrograd'] / seconds:.1f}x" if "micrograd" in rows else "-"
        ours = rows["picograd"] / seconds
        mine = f"{ours:.2f}x" if ours >= 1 else f"1/{1 / ours:.2f}"
        print(f"{name:<20} {seconds:>9.3f} {1000 * seconds / args.steps:>9.1f} {ratio:>13} "
              f"{mine:>12}")
    print("(vs picograd: how many times faster than picograd's per-sample step, the default)")
    for name in ("picograd", "picograd unfused"):
        print(f"{name}: {rows[name] / rows['minimal engine']:.2f}x the minimal engine's time, "
              f"{rows[name] / rows['hand-written floor']:.1f}x the floor's")


if __name__ == "__main__":
    main()
