"""Shared pytest set-up: every test's artifacts go to temporary folders, never to reports/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """nbval runs notebooks 00..06 in order at their defaults; they share one temporary run folder.

    The variable must be set before nbval starts each notebook's kernel, hence here and not in a
    fixture. An explicitly set SCENECOLOR_RUN_DIR is respected.
    """
    if "SCENECOLOR_RUN_DIR" not in os.environ:
        os.environ["SCENECOLOR_RUN_DIR"] = tempfile.mkdtemp(prefix="scenecolor-nbval-")


def _work_unit(nodeid: str) -> str:
    """What one pytest-xdist worker takes whole: all notebooks together (in order 00 .. 06, since they share
    one run folder), else one test file (so a module's fixtures are built once)."""
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.endswith(".ipynb") else path


def _start_order(item: pytest.Item) -> int:
    """Longest units first, so two workers finish together: the notebooks, the slow CLI and end-to-end tests, the
    rest."""
    if Path(str(item.path)).suffix == ".ipynb":
        return 0
    return 1 if item.get_closest_marker("slow") and {"cli", "e2e"} & set(Path(str(item.path)).parts) else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start with the longest work (a stable sort: the order inside a file or notebook is kept)."""
    items.sort(key=_start_order)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs two pytest-xdist workers; each takes a whole work unit (:func:`_work_unit`) in
    collection order (run it with ``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return WorkUnitScheduling(config, log)


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
