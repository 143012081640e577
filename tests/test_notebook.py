"""examples/demo.ipynb: committed with its outputs, and they are what running it gives.

The notebook runs in a real Jupyter kernel (nbclient + ipykernel) through the one command
that regenerates it, ``python tools/run_notebook.py``, on a copy in a temporary folder.
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "demo.ipynb"
TOOL = ROOT / "tools" / "run_notebook.py"


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def texts(nb: nbformat.NotebookNode) -> list[str]:
    """Every text a reader sees, cell by cell: its streams (however the kernel split them
    into messages) and its plain-text results."""
    return ["".join(o.get("text") or o.get("data", {}).get("text/plain", "")
                    for o in cell.outputs)
            for cell in nb.cells if cell.cell_type == "code"]


def check_results(nb: nbformat.NotebookNode) -> None:
    """What the notebook must show: the numbers of the story and its four pictures."""
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert all(cell.outputs for cell in nb.cells if cell.cell_type == "code"), \
        "every code cell shows something"
    text = "".join(o.get("text", "") for o in outputs(nb) if o.output_type == "stream")
    accuracy = re.search(r"final accuracy (\d+)%", text)
    assert accuracy and int(accuracy.group(1)) >= 97
    difference = re.search(r"largest gradient difference: (\S+)", text)
    assert difference and float(difference.group(1)) < 1e-12  # batch == per sample
    assert "same weights: True" in text

    data = [o.get("data", {}) for o in outputs(nb)]
    pngs = [base64.b64decode(d["image/png"]) for d in data if "image/png" in d]
    assert len(pngs) == 2  # the training curves and the decision boundary
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 10_000 for p in pngs)
    svgs = [d["image/svg+xml"] for d in data if "image/svg+xml" in d]
    assert len(svgs) == 2  # the unfused and the fused neuron, drawn by Graphviz
    assert svgs[0].count(">mul<") == 2 and "weighted_sum" not in svgs[0]
    assert ">mul<" not in svgs[1] and "weighted_sum" in svgs[1]


def test_the_committed_notebook_shows_its_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    check_results(nb)
    for cell in nb.cells:
        assert "execution" not in cell.metadata, "run tools/run_notebook.py: no timings"
    assert all(" at 0x" not in t for t in texts(nb)), "no object addresses"


def test_the_committed_notebook_is_saved_as_the_tool_saves_it():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import run_notebook
    finally:
        sys.path.remove(str(TOOL.parent))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert run_notebook.clean(copy.deepcopy(nb)) == nb


@pytest.mark.requires_dot
def test_the_notebook_runs_clean_and_gives_the_committed_outputs(tmp_path):
    work = tmp_path / "demo.ipynb"
    shutil.copy(NOTEBOOK, work)
    # Any failing cell makes the tool exit non-zero, naming the cell.
    run = subprocess.run([sys.executable, str(TOOL), str(work)], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    fresh = nbformat.read(work, as_version=4)
    check_results(fresh)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert texts(fresh) == texts(committed), \
        "examples/demo.ipynb is stale: regenerate it with python tools/run_notebook.py"
    assert [sorted(o.get("data", {})) for o in outputs(fresh)] == \
        [sorted(o.get("data", {})) for o in outputs(committed)]
