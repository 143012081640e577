"""Write tests/data/reference_values.json: forward values and gradients from PyTorch.

    pip install torch          # CPU is enough
    python tools/make_reference.py

For every expression and MLP in tests/reference_cases.py, PyTorch (float64) computes
the output and the gradient of every input or weight, and second derivatives with
``torch.autograd.grad(..., create_graph=True)``: each expression's Hessian, and for each
MLP the gradient penalty ||d loss / d inputs||^2 and its gradient with respect to every
weight (inputs: every sample's features); tests/test_reference.py then
checks picograd against the file on every run, with no torch needed. The losses
and the fused neuron are written here from their formulas in torch's own functions,
so nothing of picograd's is reused. Rerun this only when the cases change.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "reference_values.json"
sys.path.insert(0, str(ROOT / "tests"))

from reference_cases import EXPRESSIONS, MLPS  # noqa: E402

torch.set_default_dtype(torch.float64)
nnf = torch.nn.functional


class TorchOps:
    """The ``F`` the cases call, in torch."""

    @staticmethod
    def hinge(s, t):
        return torch.clamp(1.0 - t * s, min=0.0)

    @staticmethod
    def logistic(s, t):
        return nnf.softplus(-t * s)

    @staticmethod
    def bce(p, t):
        return -(t * torch.log(p) + (1.0 - t) * torch.log1p(-p))

    @staticmethod
    def mse(s, t):
        return (s - t) ** 2

    @staticmethod
    def weighted_sum(b, *wx):
        n = len(wx) // 2
        return b + sum(w * x for w, x in zip(wx[:n], wx[n:]))


def expression(fn, inputs: list[float]) -> dict:
    xs = [torch.tensor(x, requires_grad=True) for x in inputs]
    y = fn(TorchOps, *xs)
    y.backward()
    return {"inputs": inputs, "value": y.item(), "grads": [x.grad.item() for x in xs]}


def mlp(nin, nouts, activation, loss, samples, targets, seed: int) -> dict:
    rng = random.Random(seed)
    sizes = [nin, *nouts]
    weights = []  # picograd's parameters() order: layer by layer, neuron by neuron, w then b
    layers = []
    for i in range(len(nouts)):
        w = [[rng.uniform(-1, 1) for _ in range(sizes[i])] for _ in range(nouts[i])]
        b = [rng.uniform(-0.5, 0.5) for _ in range(nouts[i])]
        for row, bias in zip(w, b):
            weights += [*row, bias]
        layers.append((torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)))
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    h = torch.tensor(samples)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = act(h)
    scores = h[:, 0]
    t = torch.tensor(targets)
    value = getattr(TorchOps, loss)(scores, t).mean()
    value.backward()
    grads = []
    for w, b in layers:
        for row, bias in zip(w.grad, b.grad):
            grads += [*row.tolist(), bias.item()]
    return {"nin": nin, "nouts": nouts, "activation": activation, "loss": loss,
            "samples": samples, "targets": targets, "weights": weights,
            "scores": scores.tolist(), "value": value.item(), "grads": grads}


def hessian(fn, inputs: list[float]) -> dict:
    xs = [torch.tensor(x, requires_grad=True) for x in inputs]
    first = torch.autograd.grad(fn(TorchOps, *xs), xs, create_graph=True)
    rows = []
    for g in first:
        if not g.requires_grad:  # linear in every input: its derivatives are 0
            rows.append([0.0] * len(xs))
            continue
        row = torch.autograd.grad(g, xs, allow_unused=True, retain_graph=True)
        rows.append([0.0 if h is None else h.item() for h in row])
    return {"inputs": inputs, "grads": [g.item() for g in first], "hessian": rows}


def penalty(nin, nouts, activation, loss, samples, targets, weights: list[float]) -> dict:
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    sizes, flat, layers = [nin, *nouts], torch.tensor(weights, requires_grad=True), []
    k = 0
    for i, nout in enumerate(nouts):  # the weights in parameters() order, as in mlp()
        block = flat[k:k + nout * (sizes[i] + 1)].reshape(nout, sizes[i] + 1)
        layers.append((block[:, :-1], block[:, -1]))
        k += nout * (sizes[i] + 1)
    X = torch.tensor(samples, requires_grad=True)
    h = X
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = act(h)
    value = getattr(TorchOps, loss)(h[:, 0], torch.tensor(targets)).mean()
    (gx,) = torch.autograd.grad(value, X, create_graph=True)
    pen = (gx * gx).sum()
    (gw,) = torch.autograd.grad(pen, flat)
    return {"value": pen.item(), "grads": gw.tolist()}


def main() -> None:
    data = {
        "format": "picograd-reference",
        "version": 1,
        "made_by": f"tools/make_reference.py with torch {torch.__version__}, float64",
        "expressions": {name: expression(fn, inputs)
                        for name, (fn, inputs) in EXPRESSIONS.items()},
        "mlps": {name: mlp(*spec, seed=k) for k, (name, spec) in enumerate(MLPS.items())},
    }
    data["second"] = {
        "expressions": {name: hessian(fn, inputs) for name, (fn, inputs) in EXPRESSIONS.items()},
        "penalties": {name: penalty(*MLPS[name], weights=case["weights"])
                      for name, case in data["mlps"].items()},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(OUT)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['expressions'])} expressions, "
          f"{len(data['mlps'])} MLPs")


if __name__ == "__main__":
    main()
