"""picograd vs micrograd, side by side in one process: ns per op node, forward and backward.

    python benchmarks/bench_engine.py [--nodes 200000] [--repeat 3]

Two graph shapes of about ``--nodes`` op nodes each: a long chain (y = y * a + b)
and a wide tree (products of leaf pairs, summed pairwise). The leaves are made
before the clock starts: forward time is op nodes only. Python's garbage
collector stays on, as users run it. micrograd comes from PyPI (``pip install
.[bench]``); without it, picograd's figures are printed alone.
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time


def chain_leaves(Value, n_ops):
    return Value(0.999), Value(0.001), Value(0.5)


def chain(leaves, n_ops):
    a, b, y = leaves
    for _ in range(n_ops // 2):
        y = y * a + b
    return y


def tree_leaves(Value, n_ops):
    n = n_ops // 2
    return [(Value(0.001 * i), Value(1.0 - 0.0001 * i)) for i in range(n)]


def tree(leaves, n_ops):
    layer = [x * w for x, w in leaves]
    while len(layer) > 1:
        pairs = [layer[i] + layer[i + 1] for i in range(0, len(layer) - 1, 2)]
        layer = pairs + ([layer[-1]] if len(layer) % 2 else [])
    return layer[0]


SHAPES = {"chain": (chain_leaves, chain), "tree": (tree_leaves, tree)}


def count_ops(n_ops, shape):
    return n_ops // 2 * 2 if shape == "chain" else (n_ops // 2) + (n_ops // 2 - 1)


def in_big_stack(fn, *args):
    """Run fn in a thread with a deep stack: micrograd's recursive sort needs one on a chain."""
    result = []
    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(10**7)
    threading.stack_size(1 << 30)
    try:
        worker = threading.Thread(target=lambda: result.append(fn(*args)))
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(old_limit)
        threading.stack_size(old_size)
    return result[0]


def measure(Value, shape, n_ops, repeat):
    """Best forward and backward seconds; the leaves (inputs) are made before the clock."""
    make_leaves, build = SHAPES[shape]
    best_f = best_b = float("inf")
    for _ in range(repeat):
        leaves = make_leaves(Value, n_ops)
        gc.collect()
        t0 = time.perf_counter()
        root = build(leaves, n_ops)
        t1 = time.perf_counter()
        root.backward()
        t2 = time.perf_counter()
        best_f, best_b = min(best_f, t1 - t0), min(best_b, t2 - t1)
        del root, leaves
    return best_f, best_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import picograd

    engines = {"picograd": picograd.Value}
    try:
        from micrograd.engine import Value as MicroValue

        engines["micrograd"] = MicroValue
    except ImportError:
        print("micrograd is not installed (pip install '.[bench]'): picograd alone")
    picograd.Value(1.0) + 1.0  # build the op table outside the timings

    print(f"gc enabled: {gc.isenabled()}, ~{args.nodes} op nodes per graph, best of {args.repeat}")
    print(f"{'shape':<6} {'engine':<10} {'fwd ns/node':>12} {'bwd ns/node':>12}")
    for shape in SHAPES:
        n = count_ops(args.nodes, shape)
        results = {}
        for name, Value in engines.items():
            f, b = in_big_stack(measure, Value, shape, args.nodes, args.repeat)
            results[name] = (f / n * 1e9, b / n * 1e9)
            print(f"{shape:<6} {name:<10} {results[name][0]:>12.0f} {results[name][1]:>12.0f}")
        if "micrograd" in results:
            (pf, pb), (mf, mb) = results["picograd"], results["micrograd"]
            print(f"{shape:<6} {'ratio':<10} {mf / pf:>11.1f}x {mb / pb:>11.1f}x"
                  "   (micrograd time / picograd time)")


if __name__ == "__main__":
    main()
