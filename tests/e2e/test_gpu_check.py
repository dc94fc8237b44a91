"""scripts/gpu_check.sh on a machine without a usable GPU: exit 1 with a message that says what is missing,
before installing or running anything (its GPU stages run only where a GPU is visible)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


def _run(tmp_path: Path, fake_smi: str | None, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.environ["PATH"]
    if fake_smi is not None:  # an nvidia-smi of our own, first on PATH
        (tmp_path / "bin").mkdir()
        smi = tmp_path / "bin" / "nvidia-smi"
        smi.write_text(f"#!/bin/sh\n{fake_smi}\n")
        smi.chmod(0o755)
        path = f"{tmp_path / 'bin'}{os.pathsep}{path}"
    full = {**os.environ, "PATH": path, "CUDA_VISIBLE_DEVICES": "", "SCENECOLOR_PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi")
def test_no_driver(tmp_path: Path) -> None:
    proc = _run(tmp_path, None)
    assert proc.returncode == 1
    assert "gpu_check: no NVIDIA driver on this machine (nvidia-smi is not installed)" in proc.stderr
    assert "pytest" not in proc.stdout and "install" not in proc.stdout


def test_driver_without_a_gpu(tmp_path: Path) -> None:
    proc = _run(tmp_path, 'echo "No devices were found"; exit 6')
    assert proc.returncode == 1 and "gpu_check: nvidia-smi lists no GPU" in proc.stderr


def test_a_gpu_torch_does_not_see(tmp_path: Path) -> None:
    """nvidia-smi lists a GPU but torch sees none (here: CUDA_VISIBLE_DEVICES hides every GPU)."""
    proc = _run(tmp_path, 'echo "GPU 0: NVIDIA Test (UUID: GPU-0)"')
    assert proc.returncode == 1
    assert f"gpu_check: torch in '{sys.executable}' sees no CUDA GPU although nvidia-smi lists one" in proc.stderr
    assert "install" not in proc.stdout  # nothing installed before the check


def test_no_python(tmp_path: Path) -> None:
    proc = _run(tmp_path, 'echo "GPU 0: NVIDIA Test (UUID: GPU-0)"', SCENECOLOR_PYTHON=str(tmp_path / "nope"))
    assert proc.returncode == 1 and "run 'make setup' first" in proc.stderr
