"""Packaging: picograd installs as ``picogradlib``, the core is light, plugins depend on it,
and CI runs the README's commands.

``picograd`` on PyPI is an unrelated project: a plugin depending on that name would replace
picograd with it. The last test resolves a real plugin install with pip against the index,
in a fresh virtual environment where picogradlib is installed from this source tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import picograd
from picograd import plugins as plugins_module

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PLUGINS = sorted((ROOT / "plugins").glob("*/pyproject.toml"))
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".*")


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_the_distribution_is_picogradlib_and_the_import_name_picograd():
    assert PYPROJECT["project"]["name"] == "picogradlib"
    packages = PYPROJECT["tool"]["setuptools"]["packages"]
    assert packages == ["picograd", "picograd.cli", "picograd_ops"]
    assert plugins_module.ENTRY_POINT_GROUP == "picograd"
    installed = metadata.distribution("picogradlib")
    assert installed.version == picograd.__version__
    assert "picograd" in (installed.read_text("top_level.txt") or "picograd").split()


def test_the_core_is_light_and_the_demo_is_an_extra():
    assert names(PYPROJECT["project"]["dependencies"]) == {"pluggy", "numpy", "graphviz"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert names(extras["demo"]) == {"scikit-learn", "matplotlib"}
    assert "picogradlib[demo]" in extras["test"] and "picogradlib[demo]" in extras["notebook"]
    # what pip installed says the same: scikit-learn and matplotlib only with an extra
    for line in metadata.requires("picogradlib") or []:
        requirement = Requirement(line)
        if requirement.name in ("scikit-learn", "matplotlib"):
            assert requirement.marker is not None and "extra" in str(requirement.marker)


def test_the_builtins_are_provided_by_picogradlib(registry):
    info = registry.plugins[plugins_module.BUILTIN_MODULE]
    assert info.provider == f"picogradlib {picograd.__version__}"
    with pytest.raises(ValueError, match=r"\[op 'log' from picogradlib \d"):
        picograd.Value(-1.0).log()


@pytest.mark.parametrize("pyproject", PLUGINS, ids=lambda p: p.parent.name)
def test_every_plugin_depends_on_picogradlib_never_on_picograd(pyproject):
    project = tomllib.loads(pyproject.read_text())["project"]
    assert project["name"].startswith("picograd-")
    required = names(project["dependencies"])
    assert "picogradlib" in required and "picograd" not in required
    assert "picograd" in tomllib.loads(pyproject.read_text())["project"]["entry-points"]


def test_ci_runs_the_readme_test_command_verbatim():
    demo, test = readme_commands()[:2]
    assert "pip install -e \".[demo]\"" in demo and demo.endswith("picograd demo")
    assert "pip install -e \".[test]\"" in test and "python -m pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in [line.strip() for line in ci], ".ci/run must run the README's test command"
    assert "export PICOGRAD_REQUIRE_TOOLS=1" in ci


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with picogradlib's dependencies and picogradlib from this source."""
    work = tmp_path_factory.mktemp("packaging")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    python = str(work / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "setuptools>=77", *PYPROJECT["project"]["dependencies"]],
                   check=True, timeout=600, capture_output=True)
    source = work / "picogradlib-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    for package in ("picograd", "picograd_ops"):
        shutil.copytree(ROOT / package, source / package, ignore=IGNORE)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(source)], check=True,
                   timeout=600, capture_output=True)
    return work / "venv"


@pytest.mark.parametrize("plugin", [p.parent for p in PLUGINS], ids=lambda p: p.name)
def test_installing_a_plugin_cannot_pull_the_unrelated_picograd(venv, plugin, tmp_path):
    copy = tmp_path / f"{plugin.name}-{time.monotonic_ns()}"
    shutil.copytree(plugin, copy, ignore=IGNORE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # --upgrade with the eager strategy: pip may look up every dependency on the index
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet",
         "--report", "-", "--no-build-isolation", "--upgrade", "--upgrade-strategy", "eager",
         "--disable-pip-version-check", str(copy)],
        capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    planned = {canonicalize_name(item["metadata"]["name"]): item for item in report["install"]}
    assert "picograd" not in planned, "the plugin would install PyPI's unrelated 'picograd'"
    assert "picogradlib" not in planned, "picogradlib from source must satisfy the plugin"
    requires = planned[canonicalize_name(plugin.name)]["metadata"]["requires_dist"]
    assert "picogradlib" in names(requires) and "picograd" not in names(requires)
