"""Shared pytest set-up: every test's artifacts go to temporary folders, never to reports/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """nbval runs notebooks 00..06 in order at their defaults; they share one temporary run folder.

    The variable must be set before nbval starts each notebook's kernel, hence here and not in a
    fixture. An explicitly set SCENECOLOR_RUN_DIR is respected.
    """
    if "SCENECOLOR_RUN_DIR" not in os.environ:
        os.environ["SCENECOLOR_RUN_DIR"] = tempfile.mkdtemp(prefix="scenecolor-nbval-")


@pytest.fixture(autouse=True)
def _isolated_run_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Library calls that fall back to the default run folder write into a per-test temp dir."""
    monkeypatch.setenv("SCENECOLOR_RUN_DIR", str(tmp_path_factory.mktemp("default-run")))


@pytest.fixture
def notebook_values():
    """``values(step_id, **changed)``: a notebook's variables at its parameters' defaults with some changed, as
    ``pipeline.open_step(step_id, globals())`` reads them."""
    from scenecolor.workbook.pipeline import get_step

    def values(step_id: str, **changed: object) -> dict[str, object]:
        return {**get_step(step_id).params_model().model_dump(), **changed}

    return values


@pytest.fixture
def repo_root() -> Path:
    return REPO
