"""Every ```python block of README.md, docs/*.md and the plugins' READMEs runs, on its own.

Each block is one test: executed in a fresh namespace, in an empty working directory, with
an isolated registry holding the built-in ops (a plugin's README block also gets its
plugin, registered in-process). A block that renders a graph needs Graphviz's ``dot`` and
follows the ``requires_dot`` rule of conftest.py.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import graphviz
import pytest

import picograd

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         *sorted((ROOT / "plugins").glob("*/README.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# running Graphviz: rendering, piping, Jupyter's display of a graph, the explorer page
NEEDS_DOT = re.compile(r"\.(render|pipe|view)\(|_repr_\w+_\(|\bexplore\(|\bdisplay\(")


def blocks() -> list:
    params = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2  # the block's first line of code
            name = f"{page.relative_to(ROOT)}:{line}"
            code = "\n" * (line - 1) + match.group(1)  # tracebacks show the page's lines
            params.append(pytest.param(page, code, id=name))
    return params


def test_the_pages_have_blocks():
    pages = {param.values[0].name for param in blocks()}
    assert {"README.md", "ops.md", "plugins.md", "batch.md", "nn.md"} <= pages


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_pages_link_to_files_that_exist():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page, code", blocks())
def test_block_runs_on_its_own(page, code, registry, tmp_path, monkeypatch, request):
    if NEEDS_DOT.search(code):
        request.getfixturevalue("requires_dot")
    if page.parent.parent.name == "plugins":  # plugins/picograd-NAME/README.md
        monkeypatch.syspath_prepend(str(page.parent))
        module = importlib.import_module(page.parent.name.replace("-", "_"))
        picograd.register_plugin(module, name=page.parent.name)
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, str(page), "exec"), {"__name__": "__doc_block__"})
    except graphviz.ExecutableNotFound:
        pytest.fail("this block runs Graphviz's dot: teach NEEDS_DOT in tests/test_docs.py "
                    "to recognise it")
