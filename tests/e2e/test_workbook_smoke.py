"""End to end: `scenecolor run --profile smoke` into a temporary reports folder, then a cached rerun."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from scenecolor.core.video import probe
from scenecolor.workbook.pipeline import STEPS

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _scenecolor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenecolor.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=1500
    )


def notebook_output_problems(path: Path) -> list[str]:
    """What a reader of an executed notebook would trip over: figure cells without their picture, a figure
    cell that also prints a value (a path), tqdm's "IProgress not found"."""
    problems = []
    nb = nbformat.read(str(path), as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        texts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
        texts += [str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs if o.output_type != "stream"]
        if any("IProgress not found" in t for t in texts):
            problems.append(f"{path.name} cell {i}: IProgress not found (ipywidgets missing)")
        if "save_figure(" in cell.source or "plt.show()" in cell.source:
            if not any("image/png" in o.get("data", {}) for o in cell.outputs):
                problems.append(f"{path.name} cell {i}: a figure cell without an image output")
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            if any("Path(" in str(o.get("data", {}).get("text/plain", "")) for o in results):
                problems.append(f"{path.name} cell {i}: a figure cell that also prints a path")
    return problems


def video_problems(run_dir: Path) -> list[str]:
    """Notebook 05 and index.html must show the colorized videos as HTML5 players (H.264 mp4 + poster)."""
    problems = []
    nb = nbformat.read(str(run_dir / "notebooks" / "05_evaluation.ipynb"), as_version=4)
    players = [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "text/html" in o.get("data", {}) and "<video" in str(o["data"]["text/html"])
    ]
    if not players or not all("data:video/mp4;base64," in p and 'poster="data:image/png' in p for p in players):
        problems.append("notebook 05 shows no embedded <video> player with a poster")
    index = (run_dir / "index.html").read_text()
    videos = re.findall(r'<video [^>]*poster="([^"]+)"[^>]*><source src="([^"]+)" type="video/mp4">', index)
    if not videos:
        problems.append("index.html shows no <video> with a poster")
    for poster, src in videos:
        if not (run_dir / poster).is_file() or not (run_dir / src).is_file():
            problems.append(f"index.html links a missing file: {poster} / {src}")
        elif probe(run_dir / src).codec != "h264":
            problems.append(f"{src} is {probe(run_dir / src).codec}, not H.264")
    if "ground truth" not in index.split("Colorized videos", 1)[-1][:3000]:
        problems.append("index.html's videos do not say where the ground truth is")
    return problems


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
    problems = [p for step in STEPS for p in notebook_output_problems(latest / "notebooks" / step.notebook)]
    assert not problems, "\n".join(problems)
    assert not video_problems(latest), video_problems(latest)

    second = _scenecolor("run", "--profile", "smoke", "--reports", str(reports), "--no-progress")
    assert second.returncode == 0, second.stderr[-3000:]
    rerun = json.loads(((reports / "latest").resolve() / "run.json").read_text())
    assert all(s["status"] == "reused" for s in rerun["steps"]), rerun["steps"]
    assert "reused:   00_data_prep" in second.stdout
