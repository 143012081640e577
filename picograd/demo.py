"""``picograd demo``: train micrograd's moons classifier and draw what it learned.

The seed configuration (micrograd's demo.ipynb): scikit-learn's make_moons with 100
samples, labels in {-1, +1}, MLP(2, [16, 16, 1]), hinge loss plus 1e-4 L2, 100 steps
of SGD with the learning rate decaying linearly from 1.0 to 0.1. The functions here
(``make_dataset``, ``train``, ``plot_boundary``, ``plot_curves``) are what the
command and ``examples/demo.ipynb`` are made of.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import losses
from ._files import write_atomically
from .engine import OpError, Value, no_grad
from .nn import MLP, check_activation
from .optim import SGD, Adam, Optimizer, linear_decay

DATASETS = ("moons", "circles", "blobs")
OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 1.0, "adam": 0.05}  # sgd with mse: 0.1 (its gradients are larger)


def default_lr(optimizer: str, loss: str) -> float:
    """The demo's starting learning rate for an optimizer and a loss."""
    return 0.1 if (optimizer, loss) == ("sgd", "mse") else DEFAULT_LR[optimizer]


# ---------------------------------------------------------------------------------------
# Data, loss, training
# ---------------------------------------------------------------------------------------

def make_dataset(name: str = "moons", samples: int = 100, seed: int = 1337) -> tuple[Any, Any]:
    """``(X, y)``: a 2-D two-class scikit-learn dataset with labels in {-1.0, +1.0}."""
    import numpy as np
    from sklearn import datasets

    if name == "moons":
        X, y = datasets.make_moons(n_samples=samples, noise=0.1, random_state=seed)
    elif name == "circles":
        X, y = datasets.make_circles(n_samples=samples, noise=0.1, factor=0.4,
                                     random_state=seed)
    elif name == "blobs":
        X, y = datasets.make_blobs(n_samples=samples, centers=[(-1.0, -0.5), (1.0, 0.5)],
                                   cluster_std=0.6, random_state=seed)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return np.asarray(X, dtype=float), np.where(y > 0, 1.0, -1.0)


def scores_of(model: MLP, X: Any, batch: bool) -> Value | list[Value]:
    """The model's scores for every row of X: one batch Value, or one Value per sample."""
    return model(X) if batch else [model(row) for row in X.tolist()]


def data_loss(name: str, scores: Value | list[Value], y: Any) -> Value:
    """The mean loss ``name`` of scores against labels y in {-1, +1}.

    bce works on probabilities, so it gets sigmoid(score) and targets in {0, 1};
    every other loss (plugins included) gets the raw scores and the +-1 labels.
    """
    if name == "bce":
        probs = scores.sigmoid() if isinstance(scores, Value) else [s.sigmoid() for s in scores]
        return losses.bce(probs, (y + 1.0) / 2.0)
    return losses.get(name)(scores, y)


def loss_and_accuracy(model: MLP, X: Any, y: Any, *, loss: str = "hinge",
                      alpha: float = 1e-4, batch: bool = False) -> tuple[Value, float]:
    """micrograd's ``loss()``: the total loss (data + alpha * L2) and the accuracy."""
    import numpy as np

    scores = scores_of(model, X, batch)
    predictions = scores.data if batch else np.array([s.data for s in scores])
    total = data_loss(loss, scores, y) + alpha * losses.l2(model.parameters())
    return total, float(np.mean((predictions > 0) == (y > 0)))


def make_optimizer(name: str, params: list[Value], lr: float | None, steps: int,
                   loss: str = "hinge") -> Optimizer:
    """SGD with the demo's linear decay to a tenth of ``lr``, or Adam at a constant ``lr``."""
    lr = default_lr(name, loss) if lr is None else lr
    if name == "sgd":
        return SGD(params, lr=linear_decay(lr, lr / 10, steps))
    if name == "adam":
        return Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


@dataclass
class History:
    """Per step, before that step's update: the total loss, the accuracy and the lr."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train(model: MLP, X: Any, y: Any, *, steps: int = 100, loss: str = "hinge",
          optimizer: str | Optimizer = "sgd", lr: float | None = None, alpha: float = 1e-4,
          batch: bool = False, callback: Callable[[int, History], None] | None = None,
          ) -> History:
    """Full-batch training, micrograd's loop: loss, zero_grad, backward, update."""
    opt = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(
        optimizer, model.parameters(), lr, steps, loss)
    history = History()
    start = time.perf_counter()
    for k in range(steps):
        total, acc = loss_and_accuracy(model, X, y, loss=loss, alpha=alpha, batch=batch)
        opt.zero_grad()
        total.backward()
        history.loss.append(float(total.data))
        history.accuracy.append(acc)
        history.lr.append(opt.current_lr())
        opt.step()
        if not math.isfinite(history.loss[-1]):
            raise FloatingPointError(f"the loss diverged at step {k} ({history.loss[-1]}); "
                                     "try a smaller learning rate")
        if callback is not None:
            callback(k, history)
    history.seconds = time.perf_counter() - start
    return history


def accuracy(model: MLP, X: Any, y: Any) -> float:
    """The fraction of samples whose score has the label's sign."""
    import numpy as np

    with no_grad():
        return float(np.mean((model(X).data > 0) == (y > 0)))


# ---------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------

def plot_boundary(model: MLP, X: Any, y: Any, path: str | os.PathLike | None = None,
                  title: str = "") -> Any:
    """The model's decision boundary over the data; saved to ``path`` if given."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    pad = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    with no_grad():  # one batch forward over the whole grid
        zz = model(np.column_stack([xx.ravel(), yy.ravel()])).data.reshape(xx.shape)
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    limit = max(float(np.abs(zz).max()), 1e-9)
    ax.contourf(xx, yy, zz, levels=np.linspace(-limit, limit, 21), cmap="RdBu", alpha=0.55)
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=1.5)
    for label, shade in ((-1.0, 0.15), (1.0, 0.85)):
        mine = y == label
        ax.scatter(X[mine, 0], X[mine, 1], color=colormaps["RdBu"](shade), s=28,
                   edgecolors="k", linewidths=0.6, label=f"label {label:+.0f}")
    ax.legend(loc="upper right", framealpha=0.9)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x1", ylabel="x2",
           title=title or "decision boundary (score = 0)")
    if path is not None:
        _save_figure(fig, path)
    return fig


def plot_curves(history: History, path: str | os.PathLike | None = None, title: str = "") -> Any:
    """Loss and accuracy per step; saved to ``path`` if given."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    steps = range(len(history.loss))
    top.plot(steps, history.loss, color="tab:red")
    top.set(ylabel="total loss", yscale="log", title=title or "training")
    top.grid(True, alpha=0.3)
    bottom.plot(steps, [100 * a for a in history.accuracy], color="tab:blue")
    bottom.set(xlabel="step", ylabel="accuracy (%)", ylim=(0, 101))
    bottom.grid(True, alpha=0.3)
    if path is not None:
        _save_figure(fig, path)
    return fig


def _save_figure(fig: Any, path: str | os.PathLike) -> None:
    """Write a PNG next to ``path`` and rename it into place: never a half-written file."""
    import io

    picture = io.BytesIO()
    fig.savefig(picture, format="png", dpi=110)
    write_atomically(path, picture.getvalue())


# ---------------------------------------------------------------------------------------
# The progress bar
# ---------------------------------------------------------------------------------------

class ProgressBar:
    """``train [########------------] 40/100 loss 0.3121 acc 88.0%``, redrawn in place.

    On a terminal it is redrawn every step; elsewhere (a log, a pipe) it is written
    once, at the end, so the output stays readable.
    """

    def __init__(self, total: int, stream: Any = None, width: int = 30) -> None:
        self.total, self.width = total, width
        self.stream = sys.stderr if stream is None else stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.line = ""

    def update(self, done: int, text: str = "") -> None:
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        self.line = f"train [{bar}] {done}/{self.total} {text}"
        if self.live:
            self.stream.write("\r" + self.line)
            self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line + "\n")
        self.stream.flush()


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _activation(text: str) -> str:
    try:
        return check_activation(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _loss(text: str) -> str:
    try:
        losses.get(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options (other modules may add more to the same parser)."""
    parser.add_argument("--dataset", choices=DATASETS, default="moons",
                        help="the scikit-learn dataset (default: moons)")
    parser.add_argument("--samples", type=_int_at_least(4), default=100,
                        help="number of samples (default: 100)")
    parser.add_argument("--steps", type=_int_at_least(1), default=100,
                        help="training steps (default: 100)")
    parser.add_argument("--activation", type=_activation, default="relu",
                        help="any registered activation, e.g. relu, tanh (default: relu)")
    parser.add_argument("--loss", type=_loss, default="hinge",
                        help="any registered loss: hinge, logistic, mse, bce (default: hinge)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="sgd (lr decays to a tenth) or adam (default: sgd)")
    parser.add_argument("--lr", type=_positive_float, default=None,
                        help="learning rate (default: 1.0 for sgd, 0.1 for sgd with mse, "
                             "0.05 for adam)")
    parser.add_argument("--seed", type=_int_at_least(0), default=1337,
                        help="seed for the data and the initial weights (default: 1337)")
    parser.add_argument("--out", metavar="DIR", default="picograd-out",
                        help="directory for the pictures (default: ./picograd-out)")
    parser.add_argument("--save", metavar="MODEL.json", default=None,
                        help="also save the trained model to this JSON file")
    parser.add_argument("--graph", action="store_true",
                        help="also draw the computation graph of one neuron on the first "
                             "sample (PNG next to the plots; needs Graphviz's dot)")
    parser.add_argument("--batch", action=argparse.BooleanOptionalAction, default=False,
                        help="one graph over the whole batch per step (numpy-valued Values) "
                             "instead of micrograd's one graph per sample (default: per sample)")


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="train micrograd's moons classifier and plot it",
        description="Train an MLP(2, [16, 16, 1]) on a 2-D dataset as micrograd's demo "
                    "does, then write its decision boundary and training curves as PNGs.")
    add_arguments(parser)
    parser.set_defaults(func=run, demo_parser=parser)


def _check_paths(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {out} exists and is not a directory")
    if args.save is not None:
        save = Path(args.save)
        if save.is_dir():
            parser.error(f"argument --save: {save} is a directory, expected a file name")
        if not save.parent.is_dir():
            parser.error(f"argument --save: the directory {save.parent} does not exist")
        if not os.access(save.parent, os.W_OK):
            parser.error(f"argument --save: cannot write into {save.parent}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"argument --out: cannot create {out} ({e.strerror or e})")
    if not os.access(out, os.W_OK):
        parser.error(f"argument --out: cannot write into {out}")
    return out


def run(args: argparse.Namespace) -> int:
    """``picograd demo``: train, print a summary, write the pictures."""
    out = _check_paths(args, args.demo_parser)
    X, y = make_dataset(args.dataset, args.samples, args.seed)
    model = MLP(2, [16, 16, 1], activation=args.activation, seed=args.seed)
    mode = "one graph per step (batch)" if args.batch else "one graph per sample"
    print(f"picograd demo: {args.dataset}, {args.samples} samples, MLP(2, [16, 16, 1]) "
          f"{args.activation}, {len(model.parameters())} parameters")
    print(f"training {args.steps} steps: {args.optimizer}, {args.loss} loss + 1e-4 L2, {mode}",
          flush=True)  # before the progress bar, which goes to stderr

    bar = ProgressBar(args.steps)
    done = 0  # steps finished, for the message if training fails

    def show(k: int, history: History) -> None:
        nonlocal done
        done = k + 1
        bar.update(k + 1, f"loss {history.loss[-1]:.4f} acc {100 * history.accuracy[-1]:.1f}%")

    try:
        history = train(model, X, y, steps=args.steps, loss=args.loss, optimizer=args.optimizer,
                        lr=args.lr, batch=args.batch, callback=show)
    except FloatingPointError as e:  # train's own check: the loss is inf or NaN
        bar.close()
        print(f"picograd demo: {e}", file=sys.stderr)
        return 1
    except (ArithmeticError, ValueError, OpError) as e:
        if isinstance(e, ValueError) and not hasattr(e, "op"):
            raise  # not an op failing on the numbers: a bug, keep the traceback
        bar.close()  # an op failed (OverflowError, ZeroDivisionError...): the weights blew up
        print(f"picograd demo: training failed at step {done}: {type(e).__name__}: {e}\n"
              "the weights probably diverged; try a smaller learning rate (--lr)",
              file=sys.stderr)
        return 1
    bar.close()

    final = accuracy(model, X, y)
    name = f"{args.dataset}-{args.activation}-{args.loss}-{args.optimizer}"
    boundary, curves = out / f"{name}-boundary.png", out / f"{name}-curves.png"
    title = f"{args.dataset}: {args.activation} MLP, {args.loss} loss, {args.optimizer}"
    plot_boundary(model, X, y, boundary, title=f"{title}, accuracy {100 * final:.1f}%")
    plot_curves(history, curves, title=title)
    print(f"done in {history.seconds:.2f} s: final loss {history.loss[-1]:.4f}, "
          f"accuracy {100 * final:.1f}% ({round(final * len(y))}/{len(y)})")
    print(f"decision boundary:   {boundary}")
    print(f"loss/accuracy curve: {curves}")
    if args.graph:
        from .draw import DotNotFoundError, _neuron_on, write_neuron_graph
        from .explore import explore

        print(f"one neuron's graph:  {write_neuron_graph(model, X[0], out / f'{name}-neuron.png')}")
        neurons = model.layers[0].neurons  # the neuron drawn: the first live one, else the first
        neuron = next((n for n in neurons if _neuron_on(n, X[0])[1]), neurons[0])
        try:
            page = explore(_neuron_on(neuron, X[0])[0]).save(out / f"{name}-neuron.html")
            print(f"step by step:        {page}")
        except DotNotFoundError as e:
            print(f"picograd: no step-by-step page: {e}", file=sys.stderr)
    if args.save is not None:
        from .nn import save

        save(model, args.save)
        print(f"model saved:         {args.save}")
    return 0


__all__ = ["History", "ProgressBar", "accuracy", "add_arguments", "add_commands",
           "loss_and_accuracy", "make_dataset", "plot_boundary", "plot_curves", "run", "train"]
