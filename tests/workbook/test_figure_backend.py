"""No library module chooses the matplotlib backend: the notebook's (inline) backend must draw the figures."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "lib" / "scenecolor"


def test_no_module_calls_matplotlib_use() -> None:
    offenders = []
    for path in sorted(LIB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("use", "switch_backend") and ast.unparse(node.func.value) in (
                    "matplotlib",
                    "mpl",
                    "plt",
                    "matplotlib.pyplot",
                ):
                    offenders.append(f"{path.relative_to(LIB)}:{node.lineno}")
    assert not offenders, f"modules that change the matplotlib backend at import: {offenders}"


def test_importing_every_figures_module_keeps_the_backend() -> None:
    modules = sorted(".".join(p.relative_to(LIB.parent).with_suffix("").parts) for p in LIB.rglob("figures.py"))
    code = (
        "import importlib, matplotlib\n"
        "before = matplotlib.get_backend()\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())\n"
        "print(before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "svg"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "svg"
