"""examples/demo.ipynb runs end to end in a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "demo.ipynb"


@pytest.mark.requires_dot
def test_the_demo_notebook_executes_and_shows_its_results(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        "commit the notebook without outputs")
    # Any failing cell raises CellExecutionError naming it.
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert not [o for o in outputs if o.output_type == "error"]

    accuracy = re.search(r"final accuracy (\d+)%", text)
    assert accuracy and int(accuracy.group(1)) >= 97
    difference = re.search(r"largest gradient difference: (\S+)", text)
    assert difference and float(difference.group(1)) < 1e-12  # batch == per sample
    assert "same weights: True" in text

    data = [o.get("data", {}) for o in outputs]
    pngs = [base64.b64decode(d["image/png"]) for d in data if "image/png" in d]
    assert len(pngs) == 2  # the training curves and the decision boundary
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    svgs = [d["image/svg+xml"] for d in data if "image/svg+xml" in d]
    assert len(svgs) == 2  # the unfused and the fused neuron, drawn by Graphviz
    assert svgs[0].count(">mul<") == 2 and "weighted_sum" not in svgs[0]
    assert ">mul<" not in svgs[1] and "weighted_sum" in svgs[1]
