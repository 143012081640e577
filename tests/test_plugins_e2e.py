"""End to end with real installs: a fresh virtual environment (no system site-packages),
picograd and the plugins under plugins/ pip-installed into it, every check in a new
process of that environment.

The environment is made once for the module. Its third-party dependencies (pluggy,
numpy, graphviz, pytest, setuptools) are installed once; picograd and every plugin are
then installed from copies of their source with ``--no-deps --no-build-isolation``, so
nothing is downloaded per package. (scikit-learn and matplotlib are left out: only the
demo and plots need them.)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("picograd-activations", "picograd-losses", "picograd-trig")
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache")


class Venv:
    def __init__(self, path: Path, work: Path) -> None:
        self.path, self.work = path, work
        self.bin = path / "bin"
        self.python = str(self.bin / "python")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PICOGRAD_", "PYTHON")) and k != "VIRTUAL_ENV"}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        env.update(extra)
        return env

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """Run a command of the venv (``python``, ``picograd``, ...) in a fresh process."""
        exe = str(self.bin / args[0])
        out = subprocess.run([exe, *args[1:]], env=self.env(**env), capture_output=True,
                             text=True, timeout=300, cwd=self.work)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {out.returncode}:\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def py(self, code: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        return self.run("python", "-c", textwrap.dedent(code), check=check, **env)

    def install(self, source: Path) -> None:
        """pip install a copy of ``source`` (the checkout stays free of build output)."""
        copy = self.work / "src" / f"{source.name}-{time.monotonic_ns()}"
        shutil.copytree(source, copy, ignore=IGNORE)
        self.run("python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                 str(copy))

    def uninstall(self, *dists: str) -> None:
        self.run("python", "-m", "pip", "uninstall", "-q", "-y", *dists)

    def plugins(self, **env: str) -> dict[str, dict]:
        out = self.run("picograd", "plugins", "--json", **env)
        return {p["distribution"]: p for p in json.loads(out.stdout)}

    def ops(self, **env: str) -> dict[str, dict]:
        return {o["name"]: o for o in json.loads(self.run("picograd", "ops", "--json",
                                                           **env).stdout)}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    work = tmp_path_factory.mktemp("e2e")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True,
                   timeout=300)
    v = Venv(work / "venv", work)
    v.run("python", "-m", "pip", "install", "-q", "setuptools>=77", "pluggy>=1.3",
          "numpy>=1.24", "graphviz>=0.20", "pytest")
    picograd_src = work / "picograd-src"
    picograd_src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, picograd_src)
    for package in ("picograd", "picograd_ops"):
        shutil.copytree(ROOT / package, picograd_src / package, ignore=IGNORE)
    v.install(picograd_src)
    for name in PLUGINS:
        v.install(ROOT / "plugins" / name)
    print(f"\n[e2e] venv with picograd and {len(PLUGINS)} plugins ready in "
          f"{time.perf_counter() - started:.1f} s")
    return v


def make_plugin(root: Path, dist: str, body: str, version: str = "0.2.0") -> Path:
    """A throwaway plugin package: pyproject with an entry point, and one module."""
    module = dist.replace("-", "_")
    path = root / dist
    path.mkdir()
    (path / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=77"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "{version}"

        [project.entry-points.picograd]
        {module} = "{module}"

        [tool.setuptools]
        py-modules = ["{module}"]
        """))
    (path / f"{module}.py").write_text(textwrap.dedent(body))
    return path


# ---- the plugins are there, in a new process ------------------------------------------

def test_installed_plugins_are_listed(venv):
    plugins = venv.plugins()
    for dist, ep, some in [("picograd-activations", "activations", "gelu"),
                           ("picograd-losses", "losses", "huber"),
                           ("picograd-trig", "trig", "sin")]:
        info = plugins[dist]
        assert (info["name"], info["version"], info["status"]) == (ep, "0.1.0", "loaded")
        assert info["entry_point"] == dist.replace("-", "_") and some in info["ops"]
    ops = venv.ops()
    assert ops["gelu"]["provider"] == "picograd-activations 0.1.0"
    assert ops["leaky_relu"]["attrs"] == {"slope": 0.01}
    assert ops["softmax_cross_entropy"]["arity"] is None
    assert ops["tan"]["provider"] == "picograd-trig 0.1.0"
    table = venv.run("picograd", "ops", "--kind", "activation").stdout
    assert "mish" in table and "huber" not in table


def test_plugin_ops_work_on_values_and_in_an_mlp(venv):
    out = venv.py("""
        import math
        import picograd.ops as ops
        from picograd import Value
        from picograd.nn import MLP

        x = Value(0.5)
        y = ops.gelu(x) + ops.huber(x, 2.0, delta=1.0) + x.sin()
        y.backward()
        assert abs(x.grad - (0.8674 - 1.0 + math.cos(0.5))) < 1e-3, x.grad
        model = MLP(2, [4, 1], activation="gelu")
        loss = (model([0.5, -1.0]) - 1.0) ** 2
        loss.backward()
        assert model.activation == "gelu"
        assert any(p.grad != 0.0 for p in model.parameters())
        print(Value(0.5).gelu().data)
    """)
    assert float(out.stdout) == pytest.approx(0.5 * 0.5 * (1 + math.erf(0.5 / math.sqrt(2))))


def test_plugins_are_imported_only_when_the_op_table_is_first_used(venv):
    venv.py("""
        import sys
        import picograd
        from picograd import Value
        x = Value(1.0)
        assert not {"picograd_activations", "picograd_losses", "picograd_trig"} & set(sys.modules)
        x.tanh()  # the first op builds the table: now every plugin is loaded
        assert {"picograd_activations", "picograd_losses", "picograd_trig"} <= set(sys.modules)
    """)


def test_picograd_check_passes_on_every_installed_op(venv):
    out = venv.run("picograd", "check", "-v")
    for name in ("gelu", "mish", "softmax_cross_entropy", "squared_hinge", "cosh", "relu"):
        assert f"\n{name} " in out.stdout
    assert "FAIL" not in out.stdout


@pytest.mark.parametrize("dist", PLUGINS)
def test_each_plugins_own_tests_pass_once_installed(venv, dist):
    tests = venv.work / "tests-of" / dist
    shutil.copytree(ROOT / "plugins" / dist / "tests", tests, ignore=IGNORE)
    out = venv.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests),
                   check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "passed" in out.stdout and "failed" not in out.stdout


def test_demo_without_its_extra_says_what_to_install(venv):
    # this environment has neither scikit-learn nor matplotlib, as after a plain install
    out = venv.run("picograd", "demo", "--out", str(venv.work / "demo-out"), check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == ("picograd: error: picograd demo needs scikit-learn and matplotlib: "
                          'pip install "picogradlib[demo]"\n')
    assert not (venv.work / "demo-out").exists()


# ---- conflicts, broken plugins, the environment switches -----------------------------

GELU2 = """
    from picograd import Op, hookimpl

    @hookimpl
    def picograd_register_ops(register):
        register(Op("gelu", lambda x: 3.0 * x, lambda g, y, x: (3.0 * g,), kind="activation"))
"""

CONFLICT = ("op 'gelu' is provided by both picograd-activations 0.1.0 and picograd-gelu2 "
            "0.2.0; choose one with PICOGRAD_PREFER=gelu=<distribution>")


def test_a_conflict_is_the_same_clear_error_whatever_the_install_order(venv, tmp_path):
    gelu2 = make_plugin(tmp_path, "picograd-gelu2", GELU2)
    use_gelu = "from picograd import Value; print(Value(0.5).gelu().data)"
    messages = []
    for order in ([gelu2], [gelu2, ROOT / "plugins" / "picograd-activations"]):
        if len(order) == 2:  # reinstall both, the other way round
            venv.uninstall("picograd-gelu2", "picograd-activations")
        for source in order:
            venv.install(source)
        out = venv.py(use_gelu, check=False)
        assert out.returncode == 1 and "OpConflictError" in out.stderr
        messages.append(out.stderr.strip().splitlines()[-1])
        assert "warning" in venv.run("picograd", "ops").stderr
        chosen = venv.py(use_gelu, PICOGRAD_PREFER="gelu=picograd-gelu2")
        assert float(chosen.stdout) == 1.5
    assert messages[0] == messages[1]
    assert CONFLICT in messages[0]
    venv.uninstall("picograd-gelu2")
    assert venv.ops()["gelu"]["provider"] == "picograd-activations 0.1.0"


def test_a_broken_plugin_is_reported_and_the_others_work(venv, tmp_path):
    marker = tmp_path / "broken-was-imported"
    broken = make_plugin(tmp_path, "picograd-broken", f"""
        import pathlib
        pathlib.Path({str(marker)!r}).touch()
        raise ImportError("this plugin is broken on purpose")
    """)
    venv.install(broken)
    try:
        out = venv.run("picograd", "plugins", "--json")
        info = {p["distribution"]: p for p in json.loads(out.stdout)}["picograd-broken"]
        assert info["status"] == "failed" and "broken on purpose" in info["error"]
        assert "warning: picograd plugin 'picograd_broken' (picograd-broken 0.2.0) failed" \
            in out.stderr
        assert marker.exists()
        out = venv.py("from picograd import Value; print(Value(0.5).tan().data)")
        assert float(out.stdout) == pytest.approx(math.tan(0.5))
        assert "broken on purpose" in out.stderr  # the warning, as a PluginWarning

        strict = venv.run("picograd", "ops", check=False, PICOGRAD_STRICT="1")
        assert strict.returncode == 1 and "broken on purpose" in strict.stderr

        for blocked in ("picograd-broken", "picograd_broken"):  # by distribution, entry point
            marker.unlink(missing_ok=True)
            plugins = venv.plugins(PICOGRAD_DISABLE_PLUGINS=blocked)
            assert plugins["picograd-broken"]["status"] == "blocked"
            assert plugins["picograd-trig"]["status"] == "loaded"
            assert not marker.exists(), "a blocked plugin was imported"
        plugins = venv.plugins(PICOGRAD_PLUGINS="picograd-trig")
        assert plugins["picograd-trig"]["status"] == "loaded"
        assert plugins["picograd-activations"]["status"] == "blocked"
        assert not marker.exists()
    finally:
        venv.uninstall("picograd-broken")


def test_new_plugin_scaffold_installs_and_passes_its_own_tests(venv):
    venv.run("picograd", "new-plugin", "picograd-fresh", "--dir", str(venv.work))
    venv.install(venv.work / "picograd-fresh")
    try:
        out = venv.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       str(venv.work / "picograd-fresh" / "tests"), check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        assert venv.ops()["fresh_cube"]["provider"] == "picograd-fresh 0.1.0"
    finally:
        venv.uninstall("picograd-fresh")


def test_uninstalling_a_plugin_removes_its_ops(venv):
    assert "sin" in venv.ops()
    venv.uninstall("picograd-trig")
    try:
        ops, plugins = venv.ops(), venv.plugins()
        assert not {"sin", "cos", "tan", "atan", "sinh", "cosh"} & set(ops)
        assert "picograd-trig" not in plugins and "gelu" in ops
        out = venv.py("from picograd import Value; Value(0.5).sin()", check=False)
        assert "AttributeError" in out.stderr and "sin" in out.stderr
    finally:
        venv.install(ROOT / "plugins" / "picograd-trig")

