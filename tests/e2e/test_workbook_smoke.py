"""End to end: `scenecolor run --profile smoke` into a temporary reports folder, then a cached rerun."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scenecolor.workbook.pipeline import STEPS

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _scenecolor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenecolor.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=1500
    )


def test_smoke_profile_end_to_end_and_cached_rerun(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = _scenecolor("run", "--profile", "smoke", "--reports", str(reports), "--no-progress")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    latest = (reports / "latest").resolve()
    run = json.loads((latest / "run.json").read_text())
    assert [s["step"] for s in run["steps"]] == [s.id for s in STEPS]
    assert all(s["status"] == "executed" for s in run["steps"])

    index = (latest / "index.html").read_text()
    for step in STEPS:
        assert (latest / "html" / f"{step.id}.html").is_file()
        assert (latest / "html" / f"{step.id}.reviewer.html").is_file()
        assert f"html/{step.id}.html" in index
        meta = json.loads((latest / "artifacts" / step.id / "meta.json").read_text())
        assert meta["params"]["seed"] == run["params"][step.id]["seed"]
        results = json.loads((latest / "artifacts" / step.id / "results.json").read_text())
        assert results["metrics"] or results["tables"], f"{step.id} recorded no results"
        for m in results["metrics"]:
            assert m["source"] in ("measured", "quoted")
            assert html.escape(m["name"]) in index
    for fig in (latest / "artifacts").rglob("figures/*.png"):
        assert fig.stat().st_size > 1000

    second = _scenecolor("run", "--profile", "smoke", "--reports", str(reports), "--no-progress")
    assert second.returncode == 0, second.stderr[-3000:]
    rerun = json.loads(((reports / "latest").resolve() / "run.json").read_text())
    assert all(s["status"] == "reused" for s in rerun["steps"]), rerun["steps"]
    assert "reused:   00_data_prep" in second.stdout
