"""Run examples/demo.ipynb in a real Jupyter kernel and save it with its outputs.

    python tools/run_notebook.py              # regenerate examples/demo.ipynb in place
    python tools/run_notebook.py --out X.ipynb  # write the executed copy elsewhere

The committed notebook shows its results (text, the training curves, the decision
boundary, two Graphviz drawings) to people browsing the code; this is the one command
that regenerates it. It needs the test extras (`pip install -e ".[test]"`: nbclient,
ipykernel) and Graphviz's `dot`. The saved file is stable from run to run: no execution
timestamps, no object addresses, no interpreter version.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "demo.ipynb"
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """The notebook at ``path``, run top to bottom in its own folder; a failing cell raises."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return clean(nb)


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run or machine to machine."""
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:  # one stream output where the kernel sent several messages
            merged: list = []
            for output in cell.outputs:
                last = merged[-1] if merged else None
                if (output.output_type == "stream" and last is not None
                        and last.output_type == "stream" and last.name == output.name):
                    last.text += output.text
                else:
                    merged.append(output)
            cell.outputs = merged
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/plain" in data:
                data["text/plain"] = ADDRESS.sub("", data["text/plain"])
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` atomically: a failure leaves the old file as it was."""
    try:
        mode = path.stat().st_mode & 0o7777  # an existing file keeps its mode
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK)
    parser.add_argument("--out", type=Path, help="where to save the executed notebook "
                        "(default: in place)")
    args = parser.parse_args(argv)
    nb = execute(args.notebook.resolve())
    out = args.out or args.notebook
    write(nb, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
