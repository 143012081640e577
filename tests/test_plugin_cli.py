"""``picograd plugins``, ``ops``, ``check`` and ``new-plugin``, run in-process on an
isolated registry (the real-install versions are in test_plugins_e2e.py)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from sites import BROKEN, twin

import picograd
from picograd import Op, PluginWarning, use_registry
from picograd.cli import main
from picograd.scaffold import new_plugin
from picograd.testing import check_op

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _quiet:
    """An isolated registry over ``env``, its plugin warnings silenced."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.catch = warnings.catch_warnings()
        self.catch.__enter__()
        warnings.simplefilter("ignore", PluginWarning)
        self.use = use_registry(picograd.Registry(environ=self.env))
        return self.use.__enter__()

    def __exit__(self, *exc):
        self.use.__exit__(*exc)
        self.catch.__exit__(*exc)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("plugins", "ops", "check", "new-plugin"):
        assert command in out


def test_plugins_shows_loaded_blocked_and_failed_plugins(site, capsys):
    site.add("good-ops", twin(), version="1.2")
    site.add("broken-ops", BROKEN["import"][0], version="0.0.1")
    site.add("blocked-ops", twin(3.0, "other"))
    env = {"PICOGRAD_PLUGINS": "good-ops,broken-ops,blocked-ops",
           "PICOGRAD_DISABLE_PLUGINS": "blocked-ops"}
    with _quiet(env):
        code, out, err = run(capsys, "plugins", "--json")
    assert code == 0
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["good-ops"]["status"] == "loaded"
    assert plugins["good-ops"]["version"] == "1.2"
    assert plugins["good-ops"]["ops"] == ["twin", "bump"]
    assert plugins["good-ops"]["entry_point"].startswith("pgtest_good_ops")
    assert plugins["broken-ops"]["status"] == "failed"
    assert "boom at import" in plugins["broken-ops"]["error"]
    assert plugins["blocked-ops"]["status"] == "blocked"
    assert plugins["blocked-ops"]["error"] == "in PICOGRAD_DISABLE_PLUGINS"
    assert plugins["picograd_ops"]["status"] == "loaded"

    with _quiet(env):
        code, out, err = run(capsys, "plugins")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "loaded" in lines["good-ops"] and "twin, bump" in lines["good-ops"]
    assert "failed" in lines["broken-ops"] and "boom at import" in lines["broken-ops"]


def test_plugin_warnings_are_printed_plainly(site):
    site.add("broken-ops", BROKEN["import"][0], version="0.0.1")
    env = {"PYTHONPATH": str(site.root / "site"), "PICOGRAD_PLUGINS": "broken-ops",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "picograd", "plugins"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(
        "warning: picograd plugin 'broken-ops' (broken-ops 0.0.1) failed and was skipped: "
        "boom at import"), out.stderr
    assert "failed" in out.stdout


def test_ops_lists_every_op_with_provider_kind_arity_and_attributes(repo_plugins, capsys):
    code, out, _ = run(capsys, "ops", "--json")
    ops = {o["name"]: o for o in json.loads(out)}
    assert ops["tanh"]["provider"] == f"picogradlib {picograd.__version__}"
    assert ops["leaky_relu"] == {
        "name": "leaky_relu", "kind": "activation", "arity": 1, "attrs": {"slope": 0.01},
        "provider": "in-process plugin 'picograd-activations'", "composite": False,
        "batch": "numpy", "doc": "x if x > 0 else slope * x", "conflict": []}
    assert ops["softmax_cross_entropy"]["arity"] is None
    assert ops["gelu"]["batch"] == "elementwise"
    assert ops["squared_hinge"]["composite"] is True
    assert set(ops) == set(repo_plugins.ops)

    code, out, _ = run(capsys, "ops", "--json", "--kind", "loss")
    assert {o["kind"] for o in json.loads(out)} == {"loss"}
    assert {"huber", "hinge", "softmax_cross_entropy"} <= {o["name"] for o in json.loads(out)}

    code, out, _ = run(capsys, "ops", "--kind", "activation")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["elu"][:4] == ["elu", "activation", "1", "alpha=1.0"]
    assert "sin" not in rows and "relu" in rows


def test_ops_shows_a_conflict_with_both_providers(site, capsys):
    site.add("alpha-ops", twin(2.0, "alpha_own"))
    site.add("beta-ops", twin(3.0, "beta_own"), version="2.0")
    with _quiet({"PICOGRAD_PLUGINS": "alpha-ops,beta-ops"}):
        code, out, _ = run(capsys, "ops", "--json")
        assert code == 0
        ops = {o["name"]: o for o in json.loads(out)}
        assert ops["twin"]["provider"] is None
        assert ops["twin"]["conflict"] == ["alpha-ops 1.0", "beta-ops 2.0"]
        code, out, err = run(capsys, "check", "twin")
    assert code == 1
    assert "op 'twin' is provided by both alpha-ops 1.0 and beta-ops 2.0" in out
    assert err == "picograd: error: 1 of 1 checks failed (1 of 1 op(s))\n"


def test_check_passes_on_every_op_of_the_repo_plugins(repo_plugins, capsys):
    code, out, err = run(capsys, "check")
    assert code == 0, err
    n = len(repo_plugins.ops)
    checks = len(json.loads(run(capsys, "check", "--json")[1]))
    assert out == f"{n} op(s), {checks} checks passed\n" and err == ""  # quiet when all pass

    code, out, err = run(capsys, "check", "-v")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["OP", "PROVIDER", "CHECK", "RESULT", "DETAIL"]
    assert len(lines) == 1 + checks + 1 and lines[-1] == f"{n} op(s), {checks} checks passed"
    checked = {line.split()[0] for line in lines[1:-1]}
    assert {"gelu", "huber", "softmax_cross_entropy", "tan", "relu"} <= checked
    assert checked == set(repo_plugins.ops) and "FAIL" not in out


def test_check_prints_the_failures_and_a_summary(registry, capsys):
    wrong = Op("wrong", lambda x: x * x, lambda g, y, x: (g * x,), samples=[(1.5,)])  # not 2x
    with picograd.register_op(wrong):
        code, out, err = run(capsys, "check", "wrong", "tanh")
        assert code == 1
        assert out.startswith("FAIL op 'wrong' from in-process plugin 'wrong' failed "
                              "'gradients': wrong at (1.5,): d/dx0 is 1.5 by backward but 2.99999")
        assert len(out.splitlines()) == 1 and "tanh" not in out  # only the failure
        assert err.startswith("picograd: error: 1 of ") and "checks failed (1 of 2 op(s))" in err

        code, out, err = run(capsys, "check", "-v", "wrong", "tanh")
        assert code == 1 and "tanh" in out and "FAIL" in out and "ok" in out

        code, out, err = run(capsys, "check", "--json", "wrong", "tanh")
    assert code == 1
    rows = json.loads(out)  # stdout stays valid JSON; the error line is on stderr
    assert {r["op"] for r in rows} == {"wrong", "tanh"}
    assert set(rows[0]) == {"op", "provider", "check", "ok", "detail"}
    failed = [r for r in rows if not r["ok"]]
    assert [(r["op"], r["check"], r["provider"]) for r in failed] == [
        ("wrong", "gradients", "in-process plugin 'wrong'")]
    assert err.startswith("picograd: error: 1 of ")

    code, out, err = run(capsys, "check", "no_such_op")
    assert code == 2 and err == "picograd: error: no op named no_such_op (see `picograd ops`)\n"


def test_new_plugin_scaffolds_a_package(tmp_path, registry, capsys, monkeypatch):
    code, out, _ = run(capsys, "new-plugin", "picograd-swirl", "--dir", str(tmp_path))
    assert code == 0
    root = tmp_path / "picograd-swirl"
    assert out.startswith(f"created {root}")
    # next steps that work in a fresh environment: the test extra brings pytest
    assert f'  pip install -e "{root}[test]"\n  python -m pytest {root / "tests"}\n' in out
    pyproject = (root / "pyproject.toml").read_text()
    assert f'dependencies = ["picogradlib>={picograd.__version__}"]' in pyproject
    assert 'test = ["pytest' in pyproject
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "picograd_swirl.py", "pyproject.toml",
                     "tests/test_picograd_swirl.py"]
    assert 'swirl = "picograd_swirl"' in (root / "pyproject.toml").read_text()
    assert "[project.entry-points.picograd]" in (root / "pyproject.toml").read_text()
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("picograd_swirl")
    try:
        with picograd.register_plugin(module, name="swirl"):
            check_op("swirl_cube")
    finally:
        sys.modules.pop("picograd_swirl", None)

    code, _, err = run(capsys, "new-plugin", "picograd-swirl", "--dir", str(tmp_path))
    assert code == 2 and err.startswith("picograd: error: ") and "already exists" in err
    code, _, err = run(capsys, "new-plugin", "bad name!", "--dir", str(tmp_path))
    assert code == 2 and "not a valid distribution name" in err


def test_new_plugin_refuses_a_name_whose_op_name_is_too_long(tmp_path, registry, capsys,
                                                             monkeypatch):
    from picograd.plugins import MAX_NAME

    longest = "picograd-" + "a" * (MAX_NAME - len("_cube"))  # its op name: MAX_NAME chars
    code, out, err = run(capsys, "new-plugin", longest + "a", "--dir", str(tmp_path))
    assert code == 2 and out == "" and list(tmp_path.iterdir()) == []
    assert f"({MAX_NAME + 1} characters), but op names are at most {MAX_NAME}" in err

    root = new_plugin(longest, tmp_path)  # one shorter: the op registers
    module_name = longest.replace("-", "_")
    monkeypatch.syspath_prepend(str(root))
    try:
        module = importlib.import_module(module_name)
        with picograd.register_plugin(module, name="longest"):
            assert len(module.OPS[0].name) == MAX_NAME
            assert module.OPS[0].name in registry.ops
    finally:
        sys.modules.pop(module_name, None)


@pytest.mark.parametrize("name, message", [
    ("picograd-1x", "example op name '1x_cube', which is not a valid op name"),
    ("picograd-ops", "would write picograd_ops.py, which shadows the module 'picograd_ops'"),
    ("Picograd_Ops", "would write picograd_ops.py, which shadows the module 'picograd_ops'"),
    ("picograd", "would write picograd.py, which shadows the module 'picograd'"),
    ("json", "would write json.py, which shadows the module 'json'"),
    ("import", "module name 'import', which Python cannot import"),
])
def test_new_plugin_refuses_names_that_would_not_work(tmp_path, capsys, name, message):
    code, out, err = run(capsys, "new-plugin", name, "--dir", str(tmp_path))
    assert code == 2 and message in err and out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_new_plugin_refuses_a_module_name_already_importable(tmp_path, capsys, monkeypatch):
    (tmp_path / "picograd_taken.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "new-plugin", "picograd-taken", "--dir", str(tmp_path / "new"))
    assert code == 2 and "'picograd_taken' is already importable" in err
    assert not (tmp_path / "new").exists()


def test_new_plugin_default_name_mapping(tmp_path):
    root = new_plugin("Fancy_Ops", tmp_path)
    assert (root / "fancy_ops.py").exists()
    assert "fancy_ops_cube" in (root / "fancy_ops.py").read_text()


# ---- the manners every command shares --------------------------------------------------

COMMANDS = ["demo", "graph", "plugins", "ops", "check", "new-plugin"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: picograd {command}")
    assert len(description.split()) >= 8 and not description.startswith(("positional", "options"))


@pytest.mark.parametrize("argv", [
    ["demo", "--steps", "0"], ["graph", "x +", "x=1"], ["graph"], ["ops", "--kind", "nope"],
    ["check", "no_such_op"], ["new-plugin", "bad name!"], ["no-such-command"], ["plugins", "-x"],
])
def test_every_usage_error_is_one_line_in_one_format_and_exit_2(registry, capsys, argv,
                                                               tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own checks
        code = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("picograd: error: "), err
    assert list(tmp_path.iterdir()) == []


def _run_into_a_closed_pipe(*argv: str) -> subprocess.CompletedProcess:
    """Run picograd with stdout a pipe whose reader is gone, as after `| head`."""
    read, write = os.pipe()
    os.close(read)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PICOGRAD_")}
        return subprocess.run([sys.executable, "-m", "picograd", *argv], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [["ops"], ["plugins", "--json"], ["check", "-v"]])
def test_a_closed_pipe_ends_quietly(argv):
    done = _run_into_a_closed_pipe(*argv)
    assert done.stderr == "" and done.returncode == 1


def test_a_path_the_locale_cannot_encode_is_printed_not_a_traceback(tmp_path):
    # a directory named with the byte 0xff (not UTF-8), with stdout strictly UTF-8
    where = os.path.join(os.fsencode(tmp_path), b"dir-\xff")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICOGRAD_")}
    done = subprocess.run([sys.executable, "-m", "picograd", "new-plugin", "picograd-bytes",
                           "--dir", where], capture_output=True, timeout=120,
                          env={**env, "PYTHONIOENCODING": "utf-8:strict"})
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert done.stdout.startswith(b"created " + where.replace(b"\xff", b"\\udcff"))
    assert os.path.isfile(os.path.join(where, b"picograd-bytes", b"pyproject.toml"))
