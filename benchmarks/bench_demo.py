"""The seed demo's training, picograd vs micrograd, side by side in one process.

    python benchmarks/bench_demo.py [--steps 10] [--repeat 3] [--micrograd-repeat 1]

The workload is micrograd's demo.ipynb: make_moons(100, noise=0.1), MLP(2, [16, 16, 1])
with the same initial weights in both, hinge loss + 1e-4 L2, SGD with lr = 1.0 - 0.9 k/100,
one scalar graph per sample. Python's garbage collector stays on, as users run it.
Each row is the best of its repeats (micrograd, at seconds per step, runs once by default).
Before timing, the gradients of both engines at the same weights are compared.

Rows: micrograd; picograd (fused neurons: one weighted_sum node each, the default);
picograd unfused (a node per multiply and add, like micrograd's graph); and picograd in
batch mode (one graph over all samples, numpy-valued Values) for reference.
micrograd comes from PyPI (``pip install .[bench]``).
"""

from __future__ import annotations

import argparse
import gc
import random
import time

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

    print(f"{'engine':<18} {'seconds':>9} {'ms/step':>9} {'vs micrograd':>13}")
    for name, seconds in rows.items():
        ratio = f"{rows['micrograd'] / seconds:.1f}x" if "micrograd" in rows else "-"
        print(f"{name:<18} {seconds:>9.3f} {1000 * seconds / args.steps:>9.1f} {ratio:>13}")


if __name__ == "__main__":
    main()
