"""Each subpackage has a public API (``__all__``, lazily re-exported), and the stage packages speak the library's
language: no notebook numbers and no command-line flags in their source.

Importing a subpackage loads none of the heavy stacks (its names load their modules on first use), so the CLI's
start-up stays what tests/e2e/test_cli_startup.py measures. Flags are the CLI's words: a stage raises a typed
error carrying the parameter (``ParameterError.parameter``) and ``scenecolor.cli.worded`` names the flag.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scenecolor.cli import worded
from scenecolor.core.errors import ParameterError

PKG = Path(__file__).resolve().parents[1] / "lib" / "scenecolor"
SUBPACKAGES = sorted(
    ".".join(("scenecolor", *p.parent.relative_to(PKG).parts)) for p in PKG.rglob("__init__.py") if p.parent != PKG
)
HEAVY = ("torch", "torchvision", "faiss", "matplotlib", "onnx", "onnxruntime", "av", "cv2", "pandas", "skimage")

#: packages whose source may not word notebooks or flags (workbook and cli may)
PLAIN = ("core", "scenes", "embed", "retrieval", "colorize", "evaluate", "export")
NOTEBOOK = re.compile(r"[Nn]otebooks?[ /]0\d")
FLAG = re.compile(r"(?<![\w-])--[a-zA-Z][\w-]*")
#: functions that build a subprocess's command line: their flags are argv, not words to a user
COMMAND_BUILDERS = {
    "core/training.py": {"config_argv", "torchrun_command"},
    "colorize/train.py": {"train_colorizer_torchrun"},
}


def test_every_subpackage_is_found() -> None:
    assert {"scenecolor.core", "scenecolor.colorize", "scenecolor.cli", "scenecolor.data.manifests"} <= set(SUBPACKAGES)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_name_of_all_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} declares no __all__"
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it cannot give: {missing}"
    assert set(names) <= set(dir(module)), f"dir({package}) misses public names"
    foreign = {n: m for n, m in getattr(module, "EXPORTS", {}).items() if not m.startswith(f"{package}.")}
    assert not foreign, f"{package} re-exports names of other packages (import them from their owner): {foreign}"
    submodules = {p.stem for p in (PKG / Path(*package.split(".")[1:])).iterdir()}
    shadowed = sorted(set(names) & submodules)
    assert not shadowed, f"{package} exports names its submodules also have (import order would decide): {shadowed}"
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        module.not_a_public_name  # noqa: B018


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_importing_a_subpackage_loads_no_heavy_stack(package: str) -> None:
    probe = f"import sys, {package}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"`import {package}` loaded {proc.stdout.strip()}; re-export it lazily"


def _allowed_lines(tree: ast.Module, names: set[str]) -> set[int]:
    found = {
        node.name: range(node.lineno, (node.end_lineno or node.lineno) + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in names
    }
    assert set(found) == names, f"command builders not found: {names - set(found)}"
    return {line for lines in found.values() for line in lines}


def worded_mentions(path: Path, allowed: set[str] = frozenset(), root: Path = PKG) -> list[str]:
    """``file:line: text`` for every notebook number or flag in ``path`` (comments and docstrings included),
    outside the ``allowed`` functions."""
    text = path.read_text()
    skip = _allowed_lines(ast.parse(text), set(allowed)) if allowed else set()
    return [
        f"{path.relative_to(root)}:{i}: {line.strip()}"
        for i, line in enumerate(text.splitlines(), start=1)
        if i not in skip and (NOTEBOOK.search(line) or FLAG.search(line))
    ]


@pytest.mark.parametrize("package", PLAIN)
def test_stage_packages_word_no_notebook_and_no_flag(package: str) -> None:
    bad = [
        hit
        for path in sorted((PKG / package).rglob("*.py"))
        for hit in worded_mentions(path, COMMAND_BUILDERS.get(str(path.relative_to(PKG)), set()))
    ]
    assert not bad, (
        "a stage names a notebook or a command-line flag; name the step or function instead, and raise a typed "
        "error carrying the parameter (ParameterError(..., parameter)) for the CLI to word:\n" + "\n".join(bad)
    )


def test_the_wording_checker_sees_both(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        '"""Notebook 05\'s driver."""\n'
        "def f():\n"
        '    raise ValueError("give --reference PATH")\n'
        "def g():\n"
        '    return ["--store", "x"]  # see notebooks/03_reference_selection.ipynb\n'
        "# -- a section rule, not a flag --\n"
    )
    lines = lambda hits: [int(h.split(":")[1]) for h in hits]  # noqa: E731
    assert lines(worded_mentions(path, root=tmp_path)) == [1, 3, 5]
    assert lines(worded_mentions(path, {"g"}, root=tmp_path)) == [1, 3]
    with pytest.raises(AssertionError, match="not found"):
        worded_mentions(path, {"h"}, root=tmp_path)


def test_the_cli_words_the_parameter_as_its_flag() -> None:
    assert worded(ParameterError("crf 60 is out of range", "crf")) == "--crf 60 is out of range"
    assert (
        worded(ParameterError("verify_threshold must be ...", "verify_threshold")) == "--verify-threshold must be ..."
    )
    assert worded(ParameterError("reference_files: give 1 to 5", "reference_files")) == "--reference: give 1 to 5"
    assert worded(ParameterError("no parameter named here")) == "no parameter named here"


@pytest.mark.parametrize(
    "module", ["scenecolor.core.color", "scenecolor.evaluate.metrics", "scenecolor.colorize.backend"]
)
def test_docstring_examples_run(module: str) -> None:
    import doctest

    import numpy as np
    import torch

    result = doctest.testmod(importlib.import_module(module), extraglobs={"np": np, "torch": torch})
    assert result.attempted > 0 and result.failed == 0, result
