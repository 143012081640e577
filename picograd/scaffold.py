"""``new_plugin(name, directory)``: write a plugin package that installs and passes its tests.

The files come from ``picograd/templates``: a pyproject declaring the entry point (with
a ``test`` extra), one module registering an example op, a README and a test file.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import string
import sys
from importlib import resources
from pathlib import Path

from .plugins import MAX_NAME

TEMPLATES = {  # file in the new package -> template in picograd/templates
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "{module}.py": "module.py.tmpl",
    "tests/test_{module}.py": "test_module.py.tmpl",
}
RESERVED_MODULES = {"picograd", "picograd_ops"}  # a plugin module of this name hides ours
EXAMPLE_OP = "{short}_cube"  # the example op the package registers

__all__ = ["new_plugin"]


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the plugin package ``directory/name``; return its root.

    ``name`` is the distribution name (e.g. ``picograd-swish``). A ValueError, before
    anything is written, if the name gives an unusable module or op name; a
    FileExistsError if ``directory/name`` exists and is not empty.
    """
    from ._version import __version__

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*", name):
        raise ValueError(f"{name!r} is not a valid distribution name (e.g. picograd-swish)")
    module = re.sub(r"[-]+", "_", name).lower()
    short = module.removeprefix("picograd_") or module
    fields = {"dist": name, "module": module, "ep": short, "op": EXAMPLE_OP.format(short=short),
              "picograd_version": __version__}
    root = Path(directory) / name
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty")
    _check_names(name, module, fields["op"])
    templates = resources.files("picograd") / "templates"
    for target, source in TEMPLATES.items():
        path = root / target.format(**fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template((templates / source).read_text(encoding="utf-8"))
        path.write_text(text.substitute(fields), encoding="utf-8")
    return root


def _check_names(name: str, module: str, op: str) -> None:
    """A ValueError unless the package's module and example op get usable names."""
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ValueError(f"{name!r} gives the module name {module!r}, which Python cannot "
                         "import (a keyword, or not an identifier); choose another name "
                         "(e.g. picograd-swish)")
    if not op.isidentifier():
        raise ValueError(f"{name!r} gives the example op name {op!r}, which is not a valid "
                         "op name; the part after 'picograd-' must start with a letter")
    if len(op) > MAX_NAME:
        raise ValueError(f"{name!r} gives the example op name {op!r} ({len(op)} characters), "
                         f"but op names are at most {MAX_NAME} characters; choose a shorter "
                         "name")
    if module in RESERVED_MODULES or module in sys.stdlib_module_names:
        raise ValueError(f"{name!r} would write {module}.py, which shadows the module "
                         f"{module!r}; choose another name (e.g. picograd-swish)")
    try:
        taken = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        taken = True
    if taken:
        raise ValueError(f"{name!r} would write {module}.py, but a module {module!r} is "
                         "already importable here and one would shadow the other; choose "
                         "another name")
