"""Tests that need a system program skip without it, and fail under PICOGRAD_REQUIRE_TOOLS=1.

Each case runs pytest in a new process whose PATH lacks the program: a copy of every
directory on PATH made of links to its programs, all but the one taken away.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent("""\
    import pytest

    @pytest.mark.requires_{tool}
    def test_by_mark():
        pass

    def test_by_fixture(requires_{tool}):
        assert requires_{tool}.endswith("{tool}")
    """)


def path_without(program: str, where: Path) -> str:
    """A PATH with every program of the current one except ``program``."""
    where.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = where / entry.name
            if entry.name != program and not target.exists() and not target.is_symlink():
                target.symlink_to(entry.path)
    assert shutil.which(program, path=str(where)) is None
    return str(where)


def run_pytest(args: list[str], cwd: Path, path: str, require: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PICOGRAD_REQUIRE_TOOLS"}
    env["PATH"] = path
    if require:
        env["PICOGRAD_REQUIRE_TOOLS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider",
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def probe(tmp_path):
    def make(tool: str) -> Path:
        shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
        (tmp_path / "test_probe.py").write_text(PROBE.format(tool=tool))
        return tmp_path
    return make


@pytest.mark.parametrize("tool, install", [
    ("dot", "apt-get install graphviz"),
    ("chromium", "apt-get install chromium chromium-driver"),
])
def test_a_missing_tool_skips_with_the_install_command_or_fails_when_required(
        probe, tmp_path, tool, install):
    where = probe(tool)
    path = path_without(tool, tmp_path / "bin")

    skipped = run_pytest([str(where)], where, path, require=False)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "2 skipped" in skipped.stdout
    reasons = [line for line in skipped.stdout.splitlines() if line.startswith("SKIPPED")]
    assert reasons and all(install in line for line in reasons), skipped.stdout

    failed = run_pytest([str(where)], where, path, require=True)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "2 errors" in failed.stdout and "skipped" not in failed.stdout
    assert "PICOGRAD_REQUIRE_TOOLS=1" in failed.stdout and install in failed.stdout


def test_a_present_tool_runs_the_test(probe, requires_dot):
    where = probe("dot")
    ran = run_pytest([str(where)], where, os.environ["PATH"], require=True)
    assert ran.returncode == 0 and "2 passed" in ran.stdout, ran.stdout + ran.stderr


def test_every_test_that_draws_skips_without_dot(tmp_path):
    """Run the drawing, notebook and docs tests with no dot: nothing fails, and some skip."""
    path = path_without("dot", tmp_path / "bin")
    files = ["tests/test_draw.py", "tests/test_notebook.py", "tests/test_docs.py"]
    out = run_pytest(files, ROOT, path, require=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " skipped" in out.stdout.splitlines()[-1]
    required = run_pytest(files, ROOT, path, require=True)
    assert required.returncode == 1 and " skipped" not in required.stdout.splitlines()[-1]
