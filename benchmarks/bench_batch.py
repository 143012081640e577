"""picograd's batch mode vs micrograd, HIPS autograd and PyTorch, side by side in one process.

    python benchmarks/bench_batch.py [--repeat 3] [--micrograd-steps 2] [--samples 100]
    python benchmarks/bench_batch.py --scale 100000 [--batch-size 1000] [--epochs 3]

The workload is micrograd's demo: make_moons(100 samples, noise 0.1), labels in
{-1, +1}, MLP(2, [16, 16, 1]) (relu, linear output), hinge loss + 1e-4 L2, 100 SGD
steps with the learning rate decaying from 1.0 to 0.1, float64. picograd runs it as
one graph per step over the whole batch (numpy-valued Values; each layer one ``dense``
node, a matrix product, with the scalar parameters as its inputs); micrograd and
picograd's per-sample path build one graph per sample and are timed for a few steps,
then extrapolated to 100 (said so in the output); autograd and PyTorch run batched
matrix code, as their users write it (torch on one thread, its fastest here). A peer
that is not installed is skipped.
Times are the best of ``--repeat`` runs (the machine is shared: run it twice).

``--sweep`` times one training step of each shape (demo 2-16-16-1 and wide 2-64-64-1
with hinge + L2 on moons, 784-128-10 with softmax cross-entropy on random pixels) at
batch sizes 1 to 10,000, for picograd, a hand-written numpy floor, torch and autograd.

``--scale N`` trains on N moons samples in minibatches instead and reports the time
and the peak memory: the graph holds one minibatch, so memory does not grow with N.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy on one thread, as torch here
import numpy as np  # noqa: E402

STEPS, ALPHA = 100, 1e-4


def moons(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=0.1, random_state=seed)
    return X, y * 2.0 - 1.0  # labels in {-1, +1}


def lr_at(k: int, steps: int = STEPS) -> float:
    return 1.0 - 0.9 * k / steps  # micrograd's demo schedule


def initial_weights(seed: int = 1) -> list[np.ndarray]:
    """One set of weights (uniform in [-1, 1], zero biases) for the matrix peers."""
    rng = np.random.default_rng(seed)
    sizes = [2, 16, 16, 1]
    out = []
    for nin, nout in zip(sizes[:-1], sizes[1:]):
        out += [rng.uniform(-1, 1, (nin, nout)), np.zeros(nout)]
    return out


# ---- the contestants: each trains `steps` steps and returns (seconds, final loss) -----

def picograd_batch(X, y, steps=STEPS):
    from picograd import losses
    from picograd.nn import MLP
    from picograd.optim import SGD

    model = MLP(2, [16, 16, 1], seed=1)
    opt = SGD(model.parameters(), lr=lr_at)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = losses.hinge(model(X), y) + ALPHA * losses.l2(model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, loss.data


def picograd_per_sample(X, y, steps):
    from picograd import losses
    from picograd.nn import MLP
    from picograd.optim import SGD

    model = MLP(2, [16, 16, 1], seed=1)
    opt = SGD(model.parameters(), lr=lr_at)
    rows = X.tolist()
    t0 = time.perf_counter()
    for _ in range(steps):
        scores = [model(row) for row in rows]
        loss = losses.hinge(scores, y.tolist()) + ALPHA * losses.l2(model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, loss.data


def micrograd(X, y, steps):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    random.seed(1)
    model = MLP(2, [16, 16, 1])
    rows, ys = X.tolist(), y.tolist()
    t0 = time.perf_counter()
    for k in range(steps):  # micrograd's demo loop, verbatim in substance
        scores = [model(list(map(Value, row))) for row in rows]
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        total = data_loss + ALPHA * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= lr_at(k) * p.grad
    return time.perf_counter() - t0, total.data


def autograd_batch(X, y, steps=STEPS):
    import autograd.numpy as anp
    from autograd import grad

    def loss(params):
        h = X
        for i in range(0, len(params), 2):
            h = anp.dot(h, params[i]) + params[i + 1]
            if i < len(params) - 2:
                h = anp.maximum(h, 0.0)
        data = anp.mean(anp.maximum(0.0, 1.0 - y * h[:, 0]))
        return data + ALPHA * sum(anp.sum(p * p) for p in params)

    dloss = grad(loss)
    params = initial_weights()
    t0 = time.perf_counter()
    for k in range(steps):
        params = [p - lr_at(k) * g for p, g in zip(params, dloss(params))]
    seconds = time.perf_counter() - t0
    return seconds, float(loss(params))


def torch_batch(X, y, steps=STEPS):
    import torch

    torch.set_num_threads(1)  # its fastest setting for matrices this small, and steady under load
    torch.manual_seed(1)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 1)).double()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    t0 = time.perf_counter()
    for k in range(steps):
        scores = model(Xt).squeeze(1)
        loss = torch.relu(1.0 - yt * scores).mean()
        loss = loss + ALPHA * sum((p * p).sum() for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr_at(k)
        opt.step()
    return time.perf_counter() - t0, loss.item()


def available(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def compare(args: argparse.Namespace) -> None:
    X, y = moons(args.samples)
    rows = []  # (name, seconds for 100 steps, final loss, note)
    best = min(picograd_batch(X, y) for _ in range(args.repeat))
    rows.append(("picograd batch", best[0], best[1], f"best of {args.repeat}"))

    few = args.micrograd_steps
    if few:
        t, loss = picograd_per_sample(X, y, few)
        rows.append(("picograd per-sample", t * STEPS / few, loss, f"{few} steps x {STEPS // few}"))
    if few and available("micrograd"):
        t, loss = micrograd(X, y, few)
        rows.append(("micrograd", t * STEPS / few, loss, f"{few} steps x {STEPS // few}"))
    elif few:
        print("micrograd is not installed (pip install micrograd): skipped")
    for name, module, fn in [("autograd (numpy)", "autograd", autograd_batch),
                             ("torch CPU", "torch", torch_batch)]:
        if available(module):
            best = min(fn(X, y) for _ in range(args.repeat))
            rows.append((name, best[0], best[1], f"best of {args.repeat}"))
        else:
            print(f"{module} is not installed (pip install {module}): skipped")

    ours = rows[0][1]
    print(f"moons({args.samples}), MLP(2, [16, 16, 1]), hinge + 1e-4 L2, {STEPS} SGD steps,"
          " float64")
    print(f"{'engine':<20} {'ms/100 steps':>13} {'final loss':>11}  {'vs picograd batch':>18}  how")
    for name, seconds, loss, note in rows:
        ratio = seconds / ours
        what = "1.0x" if name == rows[0][0] else (
            f"{ratio:.1f}x slower" if ratio >= 1 else f"{1 / ratio:.2f}x faster")
        print(f"{name:<20} {seconds * 1e3:>13.1f} {float(loss):>11.4f}  {what:>18}  {note}")
    print("(final losses differ between libraries: each starts from its own random weights)")


def scale(args: argparse.Namespace) -> None:
    from picograd import losses, no_grad
    from picograd.nn import MLP
    from picograd.optim import SGD, linear_decay

    X, y = moons(args.scale)
    size = args.batch_size or args.scale
    steps = args.epochs * -(-args.scale // size)
    model = MLP(2, [16, 16, 1], seed=1)
    opt = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, steps))
    order = np.random.default_rng(0)
    tracemalloc.start()
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = order.permutation(args.scale)
        for start in range(0, args.scale, size):
            take = perm[start:start + size]
            loss = losses.hinge(model(X[take]), y[take])
            loss = loss + ALPHA * losses.l2(model.parameters())
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with no_grad():  # evaluated a minibatch at a time too
        right = sum(int(np.sum((model(X[i:i + size]).data > 0) == (y[i:i + size] > 0)))
                    for i in range(0, args.scale, size))
    accuracy = right / args.scale
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"moons({args.scale}), minibatches of {size}, {args.epochs} epoch(s) = {steps} steps:"
          f" {seconds:.2f} s, accuracy {accuracy:.3f}")
    print(f"peak traced memory during training {peak / 2**20:.1f} MiB "
          f"(the data itself: {X.nbytes / 2**20:.1f} MiB); process peak RSS {rss:.0f} MiB")


# ---- the sweep: one training step, every shape, batch sizes 1..10,000 -----------------
#
# Each engine trains its own copy of a shape for one SGD step (forward, backward,
# update) per timing; the best of --repeat steps after one warm-up step is printed.

SHAPES = {"demo": [2, 16, 16, 1], "wide": [2, 64, 64, 1], "mnist": [784, 128, 10]}


def sweep_data(shape: list[int], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """moons with labels in {-1, +1} for one output; else random pixels and classes."""
    if shape[-1] == 1:
        return moons(max(n, 2), seed)[0][:n], moons(max(n, 2), seed)[1][:n]
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, (n, shape[0])), rng.integers(0, shape[-1], n)


def sweep_weights(shape: list[int], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for nin, nout in zip(shape[:-1], shape[1:]):
        out += [rng.uniform(-1, 1, (nin, nout)) / np.sqrt(nin), np.zeros(nout)]
    return out


def step_floor(shape, X, y):
    """numpy, forward and backward written by hand: the floor."""
    params = sweep_weights(shape)

    def step(lr=0.1):
        hs = [X]
        for i in range(0, len(params), 2):
            h = hs[-1] @ params[i] + params[i + 1]
            hs.append(np.maximum(h, 0.0) if i < len(params) - 2 else h)
        out, n = hs[-1], len(X)
        if shape[-1] == 1:  # hinge + L2
            margin = 1.0 - y * out[:, 0]
            g = np.where(margin > 0.0, -y / n, 0.0)[:, None]
        else:  # softmax cross-entropy
            e = np.exp(out - out.max(axis=1, keepdims=True))
            g = e / e.sum(axis=1, keepdims=True)
            g[np.arange(n), y] -= 1.0
            g /= n
        for i in range(len(params) - 2, -1, -2):
            gW, gb = hs[i // 2].T @ g, g.sum(axis=0)
            if i:
                g = (g @ params[i].T) * (hs[i // 2] > 0.0)
            if shape[-1] == 1:
                gW += 2 * ALPHA * params[i]
                gb += 2 * ALPHA * params[i + 1]
            params[i] -= lr * gW
            params[i + 1] -= lr * gb

    return step


def step_picograd(shape, X, y):
    from picograd import losses, ops
    from picograd.nn import MLP
    from picograd.optim import SGD

    model = MLP(shape[0], shape[1:], seed=1)
    for layer, nin in zip(model.layers, shape):  # weights in [-1, 1] / sqrt(nin), as the peers
        for neuron in layer.neurons:
            for w in neuron.w:
                w.data /= nin ** 0.5
    opt = SGD(model.parameters(), lr=0.1)
    onehot = None if shape[-1] == 1 else np.eye(shape[-1])[y]
    cross_entropy = _plugin_cross_entropy()

    def step():
        if onehot is None:
            loss = losses.hinge(model(X), y) + ALPHA * losses.l2(model.parameters())
        elif cross_entropy is not None:  # the plugin's: one node on the (batch, 10) matrix
            loss = cross_entropy(model.batch(X), y)
        else:  # softmax cross-entropy from built-in ops: log sum e^z - z_target
            out = model(X)
            exps = [z.exp() for z in out]
            picked = sum((z * onehot[:, j] for j, z in enumerate(out[1:], 1)),
                         out[0] * onehot[:, 0])
            loss = ops.mean(sum(exps[1:], exps[0]).log() - picked)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _plugin_cross_entropy():
    """picograd-losses' batch cross-entropy, if installed (pip install plugins/picograd-losses)."""
    try:
        from picograd_losses import cross_entropy
    except ImportError:
        return None
    return cross_entropy


def step_torch(shape, X, y):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(1)
    layers: list = []
    for i, (nin, nout) in enumerate(zip(shape[:-1], shape[1:])):
        layers += [torch.nn.Linear(nin, nout)] + ([torch.nn.ReLU()] if i < len(shape) - 2 else [])
    model = torch.nn.Sequential(*layers).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def step():
        out = model(Xt)
        if shape[-1] == 1:
            loss = torch.relu(1.0 - yt * out[:, 0]).mean()
            loss = loss + ALPHA * sum((p * p).sum() for p in model.parameters())
        else:
            loss = torch.nn.functional.cross_entropy(out, yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def step_autograd(shape, X, y):
    import autograd.numpy as anp
    from autograd import grad

    onehot = None if shape[-1] == 1 else np.eye(shape[-1])[y]

    def loss(params):
        h = X
        for i in range(0, len(params), 2):
            h = anp.dot(h, params[i]) + params[i + 1]
            if i < len(params) - 2:
                h = anp.maximum(h, 0.0)
        if onehot is None:
            return anp.mean(anp.maximum(0.0, 1.0 - y * h[:, 0])) + \
                ALPHA * sum(anp.sum(p * p) for p in params)
        m = anp.max(h, axis=1, keepdims=True)
        lse = anp.log(anp.sum(anp.exp(h - m), axis=1)) + m[:, 0]
        return anp.mean(lse - anp.sum(h * onehot, axis=1))

    dloss = grad(loss)
    state = [sweep_weights(shape)]

    def step():
        state[0] = [p - 0.1 * g for p, g in zip(state[0], dloss(state[0]))]

    return step


def _blocks(repeat: int, size: int = 5) -> list[int]:
    """``repeat`` timed steps as blocks of at most ``size``."""
    return [size] * (repeat // size) + ([repeat % size] if repeat % size else [])


def sweep(args: argparse.Namespace) -> None:
    engines = [("picograd", step_picograd, None), ("numpy floor", step_floor, None),
               ("torch 1 thread", step_torch, "torch"), ("autograd", step_autograd, "autograd")]
    engines = [e for e in engines if e[2] is None or available(e[2])]
    sizes = [int(n) for n in args.sizes.split(",")]
    print(f"one SGD step (forward, backward, update), ms, best of {args.repeat}; float64")
    if "mnist" in args.shapes:
        print("mnist loss: " + ("picograd-losses' cross_entropy (one node)"
                                if _plugin_cross_entropy() else
                                "built from built-in ops (pip install plugins/picograd-losses "
                                "for the plugin's one-node cross_entropy)"))
    print(f"{'shape':<6} {'batch':>6} " + " ".join(f"{name:>15}" for name, _, _ in engines) +
          "  picograd/floor  picograd/torch")
    for shape_name in args.shapes.split(","):
        shape = SHAPES[shape_name]
        for n in sizes:
            X, y = sweep_data(shape, n)
            steps = {name: make(shape, X, y) for name, make, _ in engines}
            best = dict.fromkeys(steps, float("inf"))
            # The engines take turns, so the machine's load drifts alike for all, each
            # running a block of steps after one untimed step: its caches warm, as in
            # a training loop.
            for block in _blocks(args.repeat):
                for name, step in steps.items():
                    step()
                    for _ in range(block):
                        t0 = time.perf_counter()
                        step()
                        best[name] = min(best[name], time.perf_counter() - t0)
            times = {name: t * 1e3 for name, t in best.items()}
            ratios = f"{times['picograd'] / times['numpy floor']:>15.1f}x"
            if "torch 1 thread" in times:
                ratios += f" {times['picograd'] / times['torch 1 thread']:>14.2f}x"
            print(f"{shape_name:<6} {n:>6} " +
                  " ".join(f"{times[name]:>15.3f}" for name, _, _ in engines) + ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--micrograd-steps", type=int, default=2,
                        help="steps to time for the per-sample engines, then extrapolated"
                        " (0: skip them)")
    parser.add_argument("--samples", type=int, default=100, help="moons samples (one batch)")
    parser.add_argument("--scale", type=int, default=0, help="train on this many samples")
    parser.add_argument("--batch-size", type=int, default=1000, help="0: the whole data set")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sweep", action="store_true",
                        help="one step per shape and batch size, beside the numpy floor, "
                        "torch and autograd")
    parser.add_argument("--shapes", default="demo,wide,mnist", help="for --sweep: "
                        + ", ".join(f"{k} {'-'.join(map(str, v))}" for k, v in SHAPES.items()))
    parser.add_argument("--sizes", default="1,10,100,1000,10000", help="for --sweep")
    args = parser.parse_args()
    if args.sweep:
        sweep(args)
    elif args.scale:
        scale(args)
    else:
        compare(args)


if __name__ == "__main__":
    sys.exit(main())
