"""Time the batch cross-entropy: one call against the same loss built from built-in ops.

    python plugins/picograd-losses/bench_cross_entropy.py [--sizes 100,1000,10000]

Each way computes the mean softmax cross-entropy of a (batch, 10) Value of logits
against integer classes, forward and backward, and is timed on the same data (best of
--repeat rounds; the ways interleaved in each round). The logits reach each way as an
MLP hands them: the k columns of one (batch, k) Value (``column`` nodes), except for
"matrix", which takes the (batch, k) Value itself.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import picograd_losses

import picograd.ops as ops
from picograd import Value


def builtin(Z, t, onehot):
    """log sum_j e^z_j - z_target from built-in ops, as benchmarks/bench_batch.py has it."""
    z = [ops.column(Z, index=j) for j in range(Z.shape[1])]
    exps = [zj.exp() for zj in z]
    picked = sum((zj * onehot[:, j] for j, zj in enumerate(z[1:], 1)), z[0] * onehot[:, 0])
    return ops.mean(sum(exps[1:], exps[0]).log() - picked)


def per_class(Z, t, onehot):
    """The plugin before: softmax_cross_entropy(target=c) once per class, masked."""
    z = [ops.column(Z, index=j) for j in range(Z.shape[1])]
    parts = [ops.softmax_cross_entropy(*z, target=c) * onehot[:, c] for c in range(len(z))]
    return ops.mean(sum(parts[1:], parts[0]))


def columns(Z, t, onehot):
    return picograd_losses.cross_entropy([ops.column(Z, index=j) for j in range(Z.shape[1])], t)


def matrix(Z, t, onehot):
    return picograd_losses.cross_entropy(Z, t)


def floor(Z, t, onehot):
    """numpy by hand: the loss and its gradient, no graph."""
    z = Z.data
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - shifted[np.arange(len(t)), t])
    g = e / s
    g[np.arange(len(t)), t] -= 1.0
    return loss, g / len(t)


WAYS = {"built-in ops": builtin, "per class (before)": per_class,
        "cross_entropy(cols)": columns, "cross_entropy(Z)": matrix, "numpy floor": floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    k = args.classes
    print(f"mean softmax cross-entropy, forward + backward, logits (batch, {k}); "
          f"ms, best of {args.repeat}")
    print(f"{'batch':>6} " + " ".join(f"{name:>20}" for name in WAYS) +
          f"{'built-in/cols':>15}{'built-in/Z':>15}")
    for n in map(int, args.sizes.split(",")):
        rng = np.random.default_rng(0)
        logits, t = rng.normal(size=(n, k)) * 3.0, rng.integers(0, k, n)
        onehot = np.eye(k)[t]
        best = dict.fromkeys(WAYS, float("inf"))
        grads = {}
        for _ in range(args.repeat):
            for name, way in WAYS.items():
                Z = Value(logits)
                t0 = time.perf_counter()
                out = way(Z, t, onehot)
                if isinstance(out, Value):
                    out.backward()
                    grads[name] = Z.grad
                else:
                    grads[name] = out[1]
                best[name] = min(best[name], time.perf_counter() - t0)
        for name in WAYS:  # every way computes the same gradient
            assert np.allclose(grads[name], grads["numpy floor"], rtol=1e-9, atol=1e-12), name
        ratios = [best["built-in ops"] / best[name]
                  for name in ("cross_entropy(cols)", "cross_entropy(Z)")]
        print(f"{n:>6} " + " ".join(f"{best[name] * 1e3:>20.3f}" for name in WAYS) +
              "".join(f"{r:>14.1f}x" for r in ratios))


if __name__ == "__main__":
    main()
