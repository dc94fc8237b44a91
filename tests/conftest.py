"""Shared pytest set-up: every test's artifacts go to temporary folders, never to reports/."""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-table",
        metavar="FILE",
        help="append one line per test to FILE: test file, test id, CPU seconds (user + sys of this process and its "
        "reaped children): a load-independent cost per test, where wall time depends on what else runs",
    )


def _cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _CpuTable:
    """With --cpu-table: the CPU seconds of each test (notebook cells included), its fixtures' set-up and
    tear-down included. A plugin object, not a conftest hook, so that it sees the notebooks outside tests/."""

    def __init__(self, path: str) -> None:
        self.path = path

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        start = _cpu_s()
        try:
            return (yield)
        finally:
            with open(self.path, "a", encoding="utf-8") as out:  # one short appended line: workers do not interleave
                out.write(f"{item.nodeid.split('::', 1)[0]}\t{item.nodeid}\t{_cpu_s() - start:.3f}\n")


def pytest_configure(config: pytest.Config) -> None:
    """nbval runs notebooks 00..06 in order at their defaults; they share one temporary run folder.

    The variable must be set before nbval starts each notebook's kernel, hence here and not in a
    fixture. An explicitly set SCENECOLOR_RUN_DIR is respected.
    """
    if config.getoption("cpu_table"):
        config.pluginmanager.register(_CpuTable(config.getoption("cpu_table")), "cpu-table")
    if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
        _one_thread_per_worker()
    if "SCENECOLOR_RUN_DIR" not in os.environ:
        os.environ["SCENECOLOR_RUN_DIR"] = tempfile.mkdtemp(prefix="scenecolor-nbval-")


def _one_thread_per_worker() -> None:
    """Each pytest-xdist worker (and every process it starts: CLI runs, notebook kernels) computes on one thread.

    `make test` runs two workers on two cores; a torch/OpenMP pool of one thread per core in each would put two
    threads on each core, which spin while waiting for each other (on a loaded 2-core machine a 12-frame
    ``scenecolor colorize`` took 5.8 CPU s on two threads, 2.3 on one; 20 colorizer training steps 84.9 and 2.6).
    Set before torch is imported; an explicit OMP_NUM_THREADS is respected. Tests of thread handling ask for
    :func:`two_torch_threads`."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if "torch" in sys.modules:  # a plugin imported it already
        sys.modules["torch"].set_num_threads(1)


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    """torch computes on two threads during the test (a test that a function restores the thread count it
    changed must not start from the one thread that the function would set)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _work_unit(nodeid: str) -> str:
    """What one pytest-xdist worker takes whole: all notebooks together (in order 00 .. 06, since they share
    one run folder), else one test file (so a module's fixtures are built once)."""
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.endswith(".ipynb") else path


def _start_order(item: pytest.Item) -> int:
    """Longest units first, so two workers finish together: the notebooks, the slow CLI and end-to-end tests, the
    rest. Any folder works: a new test file lands in the last group, or the one before if it has slow tests in
    tests/cli or tests/e2e."""
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


def _shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """``build(folder)`` once per test session, even with pytest-xdist workers: the first worker that asks builds
    it under a file lock in the session's temporary root, the others wait and reuse it. A half-built folder (a
    worker killed while building) is removed and built again."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def colorize_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of ``helpers.colorizer.build_colorize_run`` (defaults), built once per session: what
    ``scenecolor colorize``, ``gallery`` and ``bench transfer`` read. Shared: copy it before changing anything."""
    from helpers.colorizer import build_colorize_run

    return _shared_folder(tmp_path_factory, "colorize-run", build_colorize_run)
