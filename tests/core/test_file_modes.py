"""Outputs get the umask's modes (0644 files, 0755 folders under umask 022), not mkstemp's private 0600: every
atomic writer, the frame store's staging folder, the colorized video (O_TMPFILE and named temporary), a run
folder's results, meta.json and index.html, and a file the ``scenecolor`` command writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.media import make_clip
from scenecolor.core import artifacts as A
from scenecolor.core import media, video
from scenecolor.data.frames import FrameStoreBuilder
from scenecolor.workbook import pipeline, report

LIB = Path(A.__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=["umask022", "umask002", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _writers(out: Path, src: Path) -> list[Path]:
    """One output of each atomic writer under ``out``."""
    paths = [
        A.atomic_write_bytes(out / "a.bin", b"x"),
        A.atomic_write_text(out / "a.txt", "x"),
        A.atomic_write_json(out / "a.json", {"a": 1}),
        A.atomic_save_npy(out / "a.npy", np.zeros(3)),
        A.atomic_torch_save(out / "a.pt", {"w": np.zeros(2)}),
        video.write_video(out / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2, 25),
        A.temp_file(out, prefix="t", suffix=".tmp"),
    ]
    with A.atomic_path(out / "a.csv") as tmp:
        pd.DataFrame({"x": [1]}).to_csv(tmp, index=False)
    paths.append(out / "a.csv")
    with media.MediaWriter(out / "m.mp4", media.probe_media(src)) as writer:  # O_TMPFILE, linked into place
        for _, timed in media.iter_timed_frames(src):
            writer.write(timed.rgb, timed.pts)
    paths.append(out / "m.mp4")
    with FrameStoreBuilder(out / "frames", 8) as store:
        store.add(
            np.zeros((8, 8, 3), np.uint8),
            video_id="v",
            shot_id="s",
            split="train",
            source_frame=0,
            source="x",
            synthetic_motion=False,
        )
    paths += sorted(p for p in (out / "frames").iterdir())
    return paths


def test_every_atomic_writer_gives_the_umask_mode(tmp_path: Path, umask: int) -> None:
    src = make_clip(tmp_path / "src.mp4", n=3, size=(32, 24))
    out = tmp_path / "out"
    paths = _writers(out, src)
    assert len(paths) >= 12
    for path in paths:
        assert _mode(path) == 0o666 & ~umask, f"{path.name}: {oct(_mode(path))}"
    assert [p for p in out.iterdir() if ".tmp" in p.name] == [paths[6]]  # no other temporary left over
    for folder in (out, out / "frames", A.temp_dir(tmp_path, prefix="d")):
        assert _mode(folder) == 0o777 & ~umask, f"{folder.name}: {oct(_mode(folder))}"


def test_the_named_temporary_of_media_output_gets_the_umask_mode_too(
    tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where O_TMPFILE is missing, the colorized video goes through a named temporary file."""
    src = make_clip(tmp_path / "src.mp4", n=3, size=(32, 24))
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    with media.atomic_output(tmp_path / "o.mp4") as fh:
        fh.write(src.read_bytes())
    assert _mode(tmp_path / "o.mp4") == 0o666 & ~umask


def test_a_run_folder_is_readable_by_others(tmp_path: Path, notebook_values) -> None:
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        ctx = pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(run)))
        ctx.record_metric("psnr", 31.2, unit="dB")
        ctx.finish()
        A.atomic_write_json(run / "run.json", {"run_id": "r", "profile": "smoke", "steps": [], "params": {}})
        report.write_index(run)
    finally:
        os.umask(old)
    files = [run / "index.html", run / "run.json", *(run / "artifacts" / "00_data_prep").iterdir()]
    assert {p.name for p in files} >= {"index.html", "run.json", "results.json", "meta.json"}
    for path in [*files, run, run / "artifacts", run / "artifacts" / "00_data_prep"]:
        assert _mode(path) & stat.S_IROTH, f"{path} is {oct(_mode(path))}: others cannot read it"
        assert _mode(path) & stat.S_IWOTH == 0


def test_a_file_the_scenecolor_command_writes_is_readable_by_others(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", n=3, size=(32, 24))
    scores = tmp_path / "run" / "scores.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIB), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "scenecolor.cli", "metrics", str(clip), str(clip), "--json", str(scores)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    assert _mode(scores) == 0o644 and _mode(scores.parent) == 0o755
