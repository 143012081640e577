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

``--scale N`` trains on N moons samples in minibatches instead and reports the time
and the peak memory: the graph holds one minibatch, so memory does not grow with N.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc

import numpy as np

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
    args = parser.parse_args()
    if args.scale:
        scale(args)
    else:
        compare(args)


if __name__ == "__main__":
    sys.exit(main())
