"""The CLI starts at once: `scenecolor --help` and `scenecolor scenes` import neither torch nor torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from scenecolor.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "torchvision", "faiss", "onnxruntime", "papermill", "pandas") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code or 0)
"""


def _heavy_modules(*argv: str) -> tuple[int, set[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY="))
    return proc.returncode, {m for m in line[len("HEAVY=") :].split(",") if m}


@pytest.mark.parametrize(
    "argv", [["--help"], ["scenes", "--help"], ["colorize", "--help"], ["run", "--help"], ["bench", "--help"]]
)
def test_help_imports_no_heavy_package(argv: list[str]) -> None:
    code, heavy = _heavy_modules(*argv)
    assert code == 0
    assert not heavy, f"`scenecolor {' '.join(argv)}` imported {heavy}; defer them into the command's function"


def test_scenes_runs_without_torch(tmp_path) -> None:
    import numpy as np

    from scenecolor.core.video import write_video

    frames = [np.full((32, 48, 3), 40 if t < 6 else 200, np.uint8) for t in range(12)]
    write_video(tmp_path / "v.mp4", frames, fps=10)
    code, heavy = _heavy_modules("scenes", str(tmp_path / "v.mp4"), "--json")
    assert code == 0
    assert not heavy & {"torch", "torchvision", "pandas"}, heavy


def test_the_embedder_does_not_import_torchvision() -> None:
    """`colorize` and `gallery build` encode frames: torchvision would add seconds to their start (its ops load
    torch._dynamo); the embedder's ResNet is rebuilt in scenecolor.embed.resnet instead."""
    probe = "import sys, scenecolor.retrieval.gallery, scenecolor.colorize.refs; print('torchvision' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
