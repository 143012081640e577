"""``picograd demo``: it trains to the bar, on every dataset, reproducibly, and draws PNGs."""

from __future__ import annotations

import importlib
import io
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from picograd import Op, hookimpl
from picograd.cli import main
from picograd.cli.demo import ProgressBar
from picograd.datasets import make_dataset
from picograd.nn import MLP, load
from picograd.train import accuracy, loss_and_accuracy, train

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's header, after checking it is one."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    assert data.endswith(b"IEND\xaeB`\x82")  # the file is complete
    return struct.unpack(">II", data[16:24])


def run_demo(capsys, *argv) -> tuple[int, str, str]:
    code = main(["demo", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_seed_demo_reaches_the_accuracy_bar_per_sample(registry, tmp_path, capsys):
    # The configuration, as a learner runs it: the default, per-sample graphs.
    model_path = tmp_path / "model.json"
    code, out, err = run_demo(capsys, "--out", str(tmp_path / "out"), "--save", str(model_path))
    assert code == 0, err
    X, y = make_dataset("moons", 100, 1337)
    assert accuracy(load(model_path), X, y) >= 0.97
    assert "one graph per sample" in out and "train [" in err and "100/100" in err
    for name in ("moons-relu-hinge-sgd-boundary.png", "moons-relu-hinge-sgd-curves.png"):
        assert str(tmp_path / "out" / name) in out  # the paths are printed
        width, height = png_size(tmp_path / "out" / name)
        assert width >= 500 and height >= 400
        assert (tmp_path / "out" / name).stat().st_size > 20_000  # a picture, not a blank
    mask = os.umask(0)
    os.umask(mask)
    for written in (model_path, *(tmp_path / "out").iterdir()):
        assert written.stat().st_mode & 0o777 == 0o666 & ~mask  # as any new file, not 0o600


@pytest.mark.parametrize("dataset", ["moons", "circles", "blobs"])
def test_each_dataset_trains_and_beats_the_trivial_baseline(registry, dataset):
    X, y = make_dataset(dataset, 100, seed=5)
    assert X.shape == (100, 2) and set(np.unique(y)) == {-1.0, 1.0}
    baseline = max(np.mean(y > 0), np.mean(y < 0))  # always guess the larger class
    model = MLP(2, [16, 16, 1], seed=5)
    history = train(model, X, y, steps=100, batch=True)
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert accuracy(model, X, y) >= min(0.9, baseline + 0.3)


@pytest.mark.parametrize("argv", [
    ["--optimizer", "adam"], ["--loss", "logistic"], ["--loss", "mse"], ["--loss", "bce"],
    ["--activation", "tanh", "--dataset", "circles"],
])
def test_the_options_train_too(registry, tmp_path, capsys, argv):
    model_path = tmp_path / "m.json"
    code, out, err = run_demo(capsys, "--batch", "--out", str(tmp_path), "--save",
                              str(model_path), *argv)
    assert code == 0, err
    dataset = argv[argv.index("--dataset") + 1] if "--dataset" in argv else "moons"
    X, y = make_dataset(dataset, 100, 1337)
    assert accuracy(load(model_path), X, y) >= 0.85


def test_batch_and_per_sample_give_the_same_gradients_and_training(registry):
    X, y = make_dataset("moons", 30, seed=2)
    a, b = MLP(2, [16, 16, 1], seed=2), MLP(2, [16, 16, 1], seed=2)
    (la, acc_a), (lb, acc_b) = (loss_and_accuracy(a, X, y, batch=False),
                                loss_and_accuracy(b, X, y, batch=True))
    assert acc_a == acc_b and lb.data == pytest.approx(la.data, rel=1e-12)
    la.backward()
    lb.backward()
    for p, q in zip(a.parameters(), b.parameters()):
        assert q.grad == pytest.approx(p.grad, rel=1e-10, abs=1e-14)
    ha = train(a, X, y, steps=5, batch=False)
    hb = train(b, X, y, steps=5, batch=True)
    assert hb.loss == pytest.approx(ha.loss, rel=1e-9)


def test_same_seed_same_result_and_another_seed_differs(registry, tmp_path, capsys):
    def weights(seed: str) -> list[float]:
        path = tmp_path / f"{seed}-{len(list(tmp_path.iterdir()))}.json"
        code, _, err = run_demo(capsys, "--batch", "--steps", "20", "--seed", seed,
                                "--out", str(tmp_path / "o"), "--save", str(path))
        assert code == 0, err
        return [p.data for p in load(path).parameters()]

    assert weights("3") == weights("3")
    assert weights("3") != weights("4")


def test_a_plugin_activation_works_in_the_demo(registry, tmp_path, capsys):
    class Softsign:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("softsign", lambda x: x / (1.0 + abs(x)),
                        lambda g, y, x: (g / (1.0 + abs(x)) ** 2,), kind="activation"))

    with registry.register_plugin(Softsign(), name="softsign-plugin"):
        code, out, err = run_demo(capsys, "--batch", "--steps", "10", "--activation", "softsign",
                                  "--out", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "moons-softsign-hinge-sgd-boundary.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "spirals"], "argument --dataset: invalid choice: 'spirals'"),
    (["--samples", "0"], "argument --samples: must be at least 4, got 0"),
    (["--samples", "many"], "argument --samples: expected an integer, got 'many'"),
    (["--steps", "-1"], "argument --steps: must be at least 1"),
    (["--activation", "nope"], "argument --activation: unknown activation 'nope'; available"),
    (["--activation", "exp"], "argument --activation: unknown activation 'exp'"),
    (["--loss", "nope"], "argument --loss: unknown loss 'nope'; available losses: bce, hinge"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
    (["--lr", "nan"], "argument --lr: must be a positive number"),
    (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (["--seed", "-2"], "argument --seed: must be at least 0"),
    (["--seed", "4294967296"], "argument --seed: must be at most 4294967295, got 4294967296"),
    (["--batch=yes"], "argument --batch"),
])
def test_misused_options_are_usage_errors(registry, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "usage: picograd demo" in err and f"picograd: error: {message}" in err
    assert "Traceback" not in err


def test_the_largest_seed_trains(registry, tmp_path, capsys):
    code, out, err = run_demo(capsys, "--batch", "--steps", "2", "--samples", "8", "--seed",
                              "4294967295", "--out", str(tmp_path))
    assert code == 0, err


def test_an_unknown_option_is_a_usage_error(registry, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_bad_paths_are_usage_errors(registry, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for argv, message in [
        (["--out", str(a_file)], "exists and is not a directory"),
        (["--save", str(tmp_path / "missing" / "m.json")], "does not exist"),
        (["--save", str(tmp_path)], "is a directory"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["demo", "--out", str(tmp_path / "o"), *argv])  # the last --out wins
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing made


@pytest.mark.parametrize("option", ["--out", "--save"])
def test_an_over_long_path_is_a_usage_error_before_training(registry, tmp_path, capsys, option):
    long = str(tmp_path / ("m" * 300 + ".json"))
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "o"), option, long])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""  # refused before training
    assert f"picograd: error: argument {option}: the name mmmm" in err
    assert "bytes long; file systems allow at most 255" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_place_is_a_usage_error_before_training(registry, tmp_path, capsys):
    # /proc refuses new files even to root, for whom permission bits mean nothing
    for option, path in (("--out", "/proc/picograd-out"), ("--save", "/proc/m.json")):
        with pytest.raises(SystemExit) as exit_info:
            main(["demo", "--out", str(tmp_path / "o"), option, path])
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2 and out == ""
        assert f"picograd: error: argument {option}: cannot write into /proc (" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("error::RuntimeWarning")  # inf and NaN are IEEE results, no noise
def test_a_diverging_run_says_so_and_fails(registry, tmp_path, capsys):
    code, out, err = run_demo(capsys, "--batch", "--loss", "mse", "--lr", "50", "--out",
                              str(tmp_path))
    assert code == 1 and "diverged" in err and "smaller learning rate" in err


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("mode", [["--batch"], []])
def test_an_op_failing_on_diverged_weights_is_a_clear_error(registry, tmp_path, capsys,
                                                              monkeypatch, mode):
    # squared_hinge = hinge ** 2 (picograd-losses): huge scores make pow overflow
    monkeypatch.syspath_prepend(str(PLUGINS / "picograd-losses"))
    plugin = importlib.import_module("picograd_losses")
    with registry.register_plugin(plugin, name="picograd-losses"):
        code, out, err = run_demo(capsys, *mode, "--loss", "squared_hinge", "--lr", "1e6",
                                  "--steps", "5", "--samples", "20", "--out", str(tmp_path))
    assert code == 1
    assert "picograd: error: training failed at step" in err and "OverflowError" in err
    assert "op 'pow'" in err and "smaller learning rate (--lr)" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []  # no pictures


def test_the_progress_bar_redraws_on_a_terminal_and_writes_once_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term, log = Terminal(), io.StringIO()
    for stream in (term, log):
        bar = ProgressBar(4, stream=stream, width=8)
        for k in range(1, 5):
            bar.update(k, f"loss {1.0 / k:.2f}")
        bar.close()
    assert term.getvalue().count("\r") == 5
    assert "\rtrain [##------] 1/4 loss 1.00" in term.getvalue()
    assert log.getvalue() == "train [########] 4/4 loss 0.25\n"


def test_a_failing_dot_costs_neither_the_model_nor_the_plots(registry, tmp_path, capsys,
                                                            failing_dot):
    model_path = tmp_path / "m.json"
    code, out, err = run_demo(capsys, "--batch", "--steps", "3", "--samples", "8", "--graph",
                              "--save", str(model_path), "--out", str(tmp_path / "o"))
    assert code == 1
    assert err.endswith("picograd: error: Graphviz's dot failed to draw the PNG: "
                        "Error: dot: out of memory\n")
    assert "Traceback" not in err
    assert f"model saved:         {model_path}" in out
    X, y = make_dataset("moons", 8, 1337)
    assert 0.0 <= accuracy(load(model_path), X, y) <= 1.0  # the model is there, whole
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert written == ["moons-relu-hinge-sgd-boundary.png", "moons-relu-hinge-sgd-curves.png"]


def test_ctrl_c_during_training_stops_with_one_line_and_writes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICOGRAD_")}
    out, model = tmp_path / "out", tmp_path / "m.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "picograd", "demo", "--steps", "1000000", "--samples", "8",
         "--out", str(out), "--save", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while not any(line.startswith("training") for line in lines):
            line = proc.stdout.readline()
            assert line, f"the demo ended before training: {proc.communicate()}"
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.startswith("picograd: error: interrupted") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []  # no model, no pictures, not even the --out directory


def test_without_the_demo_extra_it_says_what_to_install(registry, tmp_path, capsys,
                                                        monkeypatch):
    for module in ("sklearn", "matplotlib"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import fails
        code, out, err = run_demo(capsys, "--out", str(tmp_path))
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("picograd: error: picograd demo needs ")
        assert err.endswith('pip install "picogradlib[demo]"\n')
    assert "scikit-learn and matplotlib" in err
    assert list(tmp_path.iterdir()) == []
