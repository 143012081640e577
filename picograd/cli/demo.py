"""``picograd demo``: train micrograd's moons classifier and draw what it learned.

The library parts are ``picograd.datasets``, ``picograd.train`` and ``picograd.plots``;
this module holds the options, the progress bar and the order of things: check every
path first, train, then write the model before the pictures (a picture failing must
not cost the model).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import INTERRUPTED, CommandError, output_problem, render, warn, write_file, writing

DEMO_EXTRA = 'pip install "picogradlib[demo]"'
NEEDS = {"sklearn": "scikit-learn", "matplotlib": "matplotlib"}  # module -> distribution


# ---- the progress bar ------------------------------------------------------------------

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
        """Leave the final bar on its own line."""
        self.stream.write(("\r" if self.live else "") + self.line + "\n")
        self.stream.flush()

    def abort(self) -> None:
        """End a half-drawn bar's line, so a message can follow; elsewhere write nothing."""
        if self.live and self.line:
            self.stream.write("\n")
            self.stream.flush()


# ---- option types: a bad value is a usage error naming the option ----------------------

def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
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
    from ..nn import check_activation

    try:
        return check_activation(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _loss(text: str) -> str:
    from .. import losses

    try:
        losses.get(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


# ---- the command -----------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options."""
    from ..datasets import DATASETS, MAX_SEED
    from ..train import OPTIMIZERS

    parser.add_argument("--dataset", choices=DATASETS, default="moons",
                        help="the scikit-learn dataset (default: moons)")
    parser.add_argument("--samples", type=_int_in(4), default=100,
                        help="number of samples (default: 100)")
    parser.add_argument("--steps", type=_int_in(1), default=100,
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
    parser.add_argument("--seed", type=_int_in(0, MAX_SEED), default=1337,
                        help=f"seed for the data and the initial weights, 0 to {MAX_SEED} "
                             "(default: 1337)")
    parser.add_argument("--out", metavar="DIR", default="picograd-out",
                        help="directory for the pictures, made if missing "
                             "(default: ./picograd-out)")
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
                    "does, then write its decision boundary and training curves as PNGs. "
                    f"Needs scikit-learn and matplotlib ({DEMO_EXTRA}).")
    add_arguments(parser)
    parser.set_defaults(func=run, demo_parser=parser)


def _check_extras() -> None:
    missing = [dist for module, dist in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise CommandError(f"picograd demo needs {' and '.join(missing)}: {DEMO_EXTRA}")


def _check_paths(args: argparse.Namespace, files: list[str]) -> None:
    """Usage errors, before any training, for an --out or --save that cannot be written.

    ``files`` are the names the demo writes into --out (made if missing).
    """
    for name in files:
        problem = output_problem(Path(args.out, name), make_dirs=True)
        if problem:
            args.demo_parser.error(f"argument --out: {problem}")
    if args.save is not None:
        problem = output_problem(args.save)
        if problem:
            args.demo_parser.error(f"argument --save: {problem}")


def run(args: argparse.Namespace) -> int:
    """``picograd demo``: train, print a summary, save the model, write the pictures."""
    from ..datasets import make_dataset
    from ..errors import OpError, describe, op_failure
    from ..nn import MLP
    from ..train import History, accuracy, train

    _check_extras()
    name = f"{args.dataset}-{args.activation}-{args.loss}-{args.optimizer}"
    files = {"boundary": f"{name}-boundary.png", "curves": f"{name}-curves.png",
             "neuron": f"{name}-neuron.png", "explorer": f"{name}-neuron.html"}
    _check_paths(args, list(files.values()))

    X, y = make_dataset(args.dataset, args.samples, args.seed)
    model = MLP(2, [16, 16, 1], activation=args.activation, seed=args.seed)
    mode = "one graph per step (batch)" if args.batch else "one graph per sample"
    print(f"picograd demo: {args.dataset}, {args.samples} samples, MLP(2, [16, 16, 1]) "
          f"{args.activation}, {len(model.parameters())} parameters")
    print(f"training {args.steps} steps: {args.optimizer}, {args.loss} loss + 1e-4 L2, {mode}",
          flush=True)  # before the progress bar, which goes to stderr

    bar = ProgressBar(args.steps)
    done = 0  # steps finished, for the message if training stops

    def show(k: int, history: History) -> None:
        nonlocal done
        done = k + 1
        bar.update(k + 1, f"loss {history.loss[-1]:.4f} acc {100 * history.accuracy[-1]:.1f}%")

    try:
        history = train(model, X, y, steps=args.steps, loss=args.loss, optimizer=args.optimizer,
                        lr=args.lr, batch=args.batch, callback=show)
    except KeyboardInterrupt:
        bar.abort()
        raise CommandError(f"interrupted at step {done} of {args.steps}; nothing was written",
                           INTERRUPTED) from None
    except FloatingPointError as e:  # train's own check: the loss is inf or NaN
        bar.close()
        raise CommandError(str(e)) from None
    except (ArithmeticError, ValueError, OpError) as e:
        if isinstance(e, ValueError) and op_failure(e) is None:
            raise  # not an op failing on the numbers: a bug, keep the traceback
        bar.close()  # an op failed (OverflowError, ZeroDivisionError...): the weights blew up
        raise CommandError(f"training failed at step {done}: {describe(e)}; "
                           "the weights probably diverged: try a smaller learning rate (--lr)"
                           ) from None
    bar.close()

    final = accuracy(model, X, y)
    print(f"done in {history.seconds:.2f} s: final loss {history.loss[-1]:.4f}, "
          f"accuracy {100 * final:.1f}% ({round(final * len(y))}/{len(y)})")
    if args.save is not None:  # first: the model is what took the time
        from ..nn import ModelFileError, save

        try:
            save(model, args.save)
        except ModelFileError as e:
            raise CommandError(str(e)) from None
        print(f"model saved:         {args.save}")
    _write_pictures(args, model, X, y, history, final, files)
    return 0


def _write_pictures(args: argparse.Namespace, model: Any, X: Any, y: Any, history: Any,
                    final: float, files: dict[str, str]) -> None:
    from ..plots import neuron_graph, neuron_root, plot_boundary, plot_curves

    out = Path(args.out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    title = f"{args.dataset}: {args.activation} MLP, {args.loss} loss, {args.optimizer}"
    boundary, curves = out / files["boundary"], out / files["curves"]
    with writing(boundary):
        plot_boundary(model, X, y, boundary, title=f"{title}, accuracy {100 * final:.1f}%")
    with writing(curves):
        plot_curves(history, curves, title=title)
    print(f"decision boundary:   {boundary}")
    print(f"loss/accuracy curve: {curves}")
    if args.graph:
        from ..draw import INSTALL_HINT, DotNotFoundError

        graph, path = neuron_graph(model, X[0], format="png"), out / files["neuron"]
        try:
            write_file(path, render(graph, "png"))
        except DotNotFoundError:
            path = path.with_suffix(".gv")
            write_file(path, graph.source)
            warn(f"Graphviz's `dot` program is not on PATH, so the neuron's graph is the DOT "
                 f"source {path}; {INSTALL_HINT}")
        print(f"one neuron's graph:  {path}")
        from ..explore import explore

        page = out / files["explorer"]
        try:
            write_file(page, explore(neuron_root(model, X[0])).html)
            print(f"step by step:        {page}")
        except DotNotFoundError:
            warn(f"no step-by-step page without Graphviz's `dot`; {INSTALL_HINT}")
