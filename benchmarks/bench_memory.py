"""Memory at scale: bytes per graph node, peak memory of backward, and a training loop
that must not grow.

    python benchmarks/bench_memory.py                 # 1,000,000-node graphs + 1,000 steps
    python benchmarks/bench_memory.py --nodes 10000000  # a 10M-node graph, if it fits
    python benchmarks/bench_memory.py --steps 1000 --nodes 0   # only the training loop

Each graph size runs in a fresh interpreter, so its peak resident memory (ru_maxrss)
is its own. Before a size is tried, the bytes per node measured at the smallest size
predict its peak; a size predicted to need more than half of MemAvailable is skipped.
Timings are printed for orientation only: the machine is shared, run more than once.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
import tracemalloc

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident memory now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ---- one graph, in its own process ------------------------------------------------------

def build(shape: str, n: int):
    """A graph of n op nodes. chain: y = tanh(y * w + y), two leaves, a path n deep
    (the shape that recursion would break on). mlp-like: sums of products of reused
    leaves, many nodes per leaf."""
    from picograd import Value

    w, x = Value(0.5), Value(0.3)
    y = x
    if shape == "chain":
        for _ in range(n // 3):
            y = (y * w + y).tanh()  # 3 op nodes per round
    else:
        leaves = [Value(0.01 * i) for i in range(100)]
        for i in range(n // 2):
            y = y + leaves[i % 100] * leaves[(i * 7) % 100]  # 2 op nodes per round
    return y, w, x


def measure_one(shape: str, n: int) -> dict:
    from picograd import Value

    (Value(1.0) + 1.0).backward()  # load the op table before the baseline
    gc.collect()
    base = rss()
    t0 = time.perf_counter()
    y, w, x = build(shape, n)
    t1 = time.perf_counter()
    built = rss()
    y.backward()
    t2 = time.perf_counter()
    after = rss()
    peak = peak_rss()
    grads_ok = math.isfinite(w.grad) and math.isfinite(x.grad)
    del y
    gc.collect()
    freed = rss()
    return {
        "shape": shape, "nodes": n, "build_s": round(t1 - t0, 2),
        "backward_s": round(t2 - t1, 2),
        "graph_bytes_per_node": round((built - base) / n, 1),
        "peak_bytes_per_node": round((peak - base) / n, 1),
        "graph_MiB": round((built - base) / 2**20), "peak_MiB": round((peak - base) / 2**20),
        "after_backward_MiB": round((after - base) / 2**20),
        "after_free_MiB": round((freed - base) / 2**20), "grads_finite": grads_ok,
        "value_object_bytes": sys.getsizeof(x),
    }


def graph_sizes(sizes: list[int], shapes: list[str]) -> list[dict]:
    results = []
    per_node: dict[str, float] = {}
    for n in sizes:
        for shape in shapes:
            if shape in per_node:
                need = per_node[shape] * n
                if need > available() / 2:
                    print(f"skip {shape} {n:,}: predicted peak {need / 2**30:.1f} GiB is more "
                          f"than half of MemAvailable ({available() / 2**30:.1f} GiB)")
                    continue
            out = subprocess.run(
                [sys.executable, __file__, "--one", shape, str(n)],
                capture_output=True, text=True, check=True,
            )
            r = json.loads(out.stdout)
            per_node.setdefault(shape, r["peak_bytes_per_node"])
            results.append(r)
            print(json.dumps(r))
    return results


# ---- a training loop, watched for growth ---------------------------------------------

def training_loop(steps: int, every: int = 100) -> dict:
    import random

    from picograd import losses
    from picograd.nn import MLP
    from picograd.optim import SGD

    rng = random.Random(0)
    data = [([rng.uniform(-1, 1), rng.uniform(-1, 1)], rng.choice([-1.0, 1.0]))
            for _ in range(16)]
    model = MLP(2, [16, 16, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.05)
    tracemalloc.start()
    samples = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        scores = [model(x) for x, _ in data]
        loss = losses.hinge(scores, [t for _, t in data])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            gc.collect()
            current, _ = tracemalloc.get_traced_memory()
            samples.append((step, current, rss()))
    elapsed = time.perf_counter() - t0
    tracemalloc.stop()
    first, last = samples[0], samples[-1]
    return {
        "steps": steps, "seconds": round(elapsed, 1),
        "traced_KiB_by_step": {s: round(c / 1024, 1) for s, c, _ in samples},
        "traced_growth_bytes": last[1] - first[1],
        "rss_growth_KiB": (last[2] - first[2]) // 1024,
        "final_loss": round(loss.data, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--shapes", nargs="*", default=["chain", "mlp-like"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return
    sizes = [n for n in args.nodes if n > 0]
    if sizes:
        if min(sizes) > 1_000_000:
            sizes = [1_000_000, *sizes]  # measure small first, to predict the large
        graph_sizes(sorted(sizes), args.shapes)
    if args.steps:
        print(json.dumps({"training_loop": training_loop(args.steps)}))


if __name__ == "__main__":
    main()
