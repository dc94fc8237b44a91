"""Where the workbook checkout is: the one place that finds ``pyproject.toml`` from a path."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def repo_root(start: Path | None = None) -> Path | None:
    """The workbook checkout containing ``start`` (default: cwd), found by its pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and 'name = "scenecolor"' in candidate.read_text(encoding="utf-8"):
            return folder
    return None


def checkout_root() -> Path | None:
    """The checkout of the working directory, else the one this package is installed from (editable)."""
    return repo_root() or repo_root(PACKAGE_DIR)
