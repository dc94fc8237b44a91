"""``scenecolor colorize`` on real-footage cases (issue 14): audio, SAR, rotation, VFR, odd sizes,
other containers, grey and 10-bit input; a kill mid-run; folders with a corrupt file, the skip
rule, ``--jobs 2`` and a Dask cluster of two workers. Small generated media, a tiny trained run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch

from helpers.media import count, cut_short, make_clip, with_edit_list
from scenecolor.cli import main
from scenecolor.core import media
from scenecolor.workbook import batch

LIB = Path(media.__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(colorize_run: Path) -> Path:
    """The session's tiny trained run folder (tests/conftest.py), read only."""
    return colorize_run


def _times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [round(float(f.pts * s.time_base), 4) for f in c.decode(s)]


CASES = {
    # input name, make_clip arguments, output name
    "aac-mp3": ("in.mp4", {"audio": ["aac", "libmp3lame"]}, "out.mp4"),
    "pal-sar": ("pal.mp4", {"size": (88, 72), "sar": Fraction(16, 11), "audio": ["aac"]}, "out.mp4"),
    "rotate90": ("phone.mov", {"rotation": 90, "audio": ["aac"]}, "out.mov"),
    "rotate-90": ("phone.mp4", {"rotation": -90, "size": (64, 36)}, "out.mp4"),
    "vfr-mkv": (
        "vfr.mkv",
        {
            "pts": [0, 40, 80, 200, 240, 400, 410, 420, 500, 640, 700, 800],
            "time_base": Fraction(1, 1000),
            "audio": ["vorbis"],
        },
        "out.mkv",
    ),
    "odd-webm": ("odd.webm", {"size": (63, 47), "audio": ["libopus"], "audio_rate": 48000}, "out.mp4"),
    "grey-mkv": ("grey.mkv", {"codec": "ffv1", "pix_fmt": "gray"}, "out.mp4"),
    "10bit-mkv": ("ten.mkv", {"pix_fmt": "yuv420p10le", "colorspace": 1}, "out.mp4"),
    "avi": ("old.avi", {"audio": ["libmp3lame"]}, "out.mp4"),
}


# Keep every retrieved reference: the pool holds the photographs the clips pan over, but a rotated clip's
# upright view is a rotated photograph, which verification rightly drops; these tests are about the container.
KEEP = ("--verify-threshold", "0")


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_colorize_keeps_what_a_player_needs(run: Path, tmp_path: Path, capsys, case: str) -> None:
    name, kwargs, out_name = CASES[case]
    src = make_clip(tmp_path / name, n=12, **kwargs)
    out = tmp_path / out_name
    quiet = [] if case == "aac-mp3" else ["--quiet"]  # one case shows its progress bar
    assert (
        main(
            [
                *("colorize", str(src), "--out", str(out), "--run", str(run), "--references", "2"),
                *KEEP,
                "--json",
                *quiet,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    if not quiet:  # frames per second and time left, whatever the speed
        assert "frame/s" in captured.err and " left" in captured.err and "12/12 frames" in captured.err
    a, b = media.probe_media(src), media.probe_media(out)
    assert summary["n_frames"] == 12 and (b.width, b.height) == (a.width, a.height)
    assert _times(out) == _times(src)  # every frame at its own time
    assert b.sample_aspect_ratio == a.sample_aspect_ratio
    assert b.rotation == a.rotation and b.display_matrix == a.display_matrix
    assert len(b.audio) == len(a.audio)
    assert b.colorspace == a.colorspace
    with av.open(str(out)) as c:
        assert c.format.name.startswith({".mp4": "mov", ".mov": "mov", ".mkv": "matroska"}[out.suffix])
    rgb = np.stack([f.rgb for _, f in media.iter_timed_frames(out)]).astype(np.float32)
    assert rgb.std(axis=-1).mean() > 0.5  # colour was added (grey input included)


def _writer_open(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` holds an output file open in ``folder`` (the unnamed O_TMPFILE or a temp name)."""
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(
        link.startswith(str(folder))
        and ("(deleted)" in link or ".tmp" in link or link.rsplit("/", 1)[-1].startswith("#"))
        for link in links
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_kill_during_colorize_leaves_no_partial_output(run: Path, tmp_path: Path, sig: str) -> None:
    src = make_clip(tmp_path / "long.mp4", n=600, size=(128, 72), audio=["aac"])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.mp4"
    out.write_bytes(b"an earlier result")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LIB), os.environ.get("PYTHONPATH", "")])}
    cmd = [
        sys.executable,
        "-m",
        "scenecolor.cli",
        "colorize",
        str(src),
        "--out",
        str(out),
        "--run",
        str(run),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        while not _writer_open(proc.pid, out_dir):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the colorizer never started writing"
            time.sleep(0.05)
        time.sleep(0.5)  # frames are being written
        assert proc.poll() is None, "the run finished before it could be killed; make the input longer"
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == (130 if sig == "SIGTERM" else -signal.SIGKILL)
    assert out.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.mp4"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    make_clip(d / "a.mp4", n=8, audio=["aac"])
    make_clip(d / "sub" / "b.mkv", n=8, size=(63, 47), codec="ffv1", pix_fmt="yuv444p")
    (d / "broken.mp4").write_bytes(b"\x00\x01 not a video at all" * 64)
    (d / "notes.txt").write_text("not a video")
    return d


@pytest.mark.slow
def test_folder_reports_the_corrupt_file_goes_on_and_skips_done_files(
    run: Path, folder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    base = ["colorize", str(folder), "--out-dir", str(out), "--run", str(run), "--quiet"]
    args = base + ["--references", "2"]
    assert main(args) == 1  # one file failed
    text = capsys.readouterr().out
    assert "failed: " in text and "broken.mp4" in text and "corrupt video" in text
    assert "3 file(s): 2 done, 0 skipped, 1 failed" in text
    assert (out / "a.mp4").is_file() and (out / "sub" / "b.mp4").is_file() and not (out / "broken.mp4").exists()
    assert media.probe_media(out / "sub" / "b.mp4").width == 63
    side = json.loads((out / "a.mp4.scenecolor.json").read_text())
    assert side["frames"] == 8 and len(side["input_sha256"]) == 64

    assert main(args + ["--json"]) == 1  # again: the done files are skipped, the broken one fails again
    results = {Path(r["video"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert results["a.mp4"]["status"] == results["b.mkv"]["status"] == "skipped"
    assert results["broken.mp4"]["status"] == "failed" and "corrupt video" in results["broken.mp4"]["reason"]

    make_clip(folder / "a.mp4", n=9)  # a changed input and changed options are done again
    assert main(args + ["--json"]) == 1
    results = {Path(r["video"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert (
        results["a.mp4"]["status"] == "done"
        and results["a.mp4"]["frames"] == 9
        and results["b.mkv"]["status"] == "skipped"
    )
    assert main(base + ["--references", "1", "--json"]) == 1
    results = {Path(r["video"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert results["b.mkv"]["status"] == "done"


@pytest.mark.slow
def test_glob_with_two_jobs(run: Path, folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(folder / "**" / "[ab].*"),
                "--out-dir",
                str(out),
                "--run",
                str(run),
                "--jobs",
                "2",
                "--quiet",
                "--json",
            ]
        )
        == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["out"]).relative_to(out).as_posix() for r in results) == ["a.mp4", "sub/b.mp4"]
    assert all(r["status"] == "done" for r in results)


@pytest.mark.slow
def test_the_same_tasks_run_on_a_dask_cluster_of_two_workers(run: Path, folder: Path, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    tasks = batch.plan(folder, tmp_path / "out", run, references=2)
    assert len(tasks) == 3
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda p: sys.path.insert(0, p) if p not in sys.path else None, str(LIB))
        results = batch.colorize_many(tasks, dask=client, progress=False)
        workers = {w for w in client.scheduler_info()["workers"]}
    assert len(workers) == 2
    by_name = {Path(r.video).name: r for r in results}
    assert by_name["a.mp4"].status == by_name["b.mkv"].status == "done"
    assert by_name["broken.mp4"].status == "failed" and "corrupt video" in by_name["broken.mp4"].reason
    assert (tmp_path / "out" / "a.mp4").is_file() and (tmp_path / "out" / "a.mp4.scenecolor.json").is_file()


@pytest.mark.slow
def test_bench_colorize_memory_records_the_rss_curve(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "colorize-memory",
                "--seconds",
                "2",
                "--size",
                "96x64",
                "--run",
                str(run),
                "--out-dir",
                str(out),
                "--references",
                "2",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 50 and result["peak_mb"] > result["baseline_mb"] * 0.5 and result["meets_target"]
    lines = (out / "curve.csv").read_text().splitlines()
    assert lines[0] == "seconds,frames,rss_mb" and len(lines) >= 3 and lines[-1].split(",")[1] == "50"
    assert (out / "curve.png").is_file() and not list(out.glob("*.mp4"))  # the videos are not kept unless asked


# -- header frame counts are hints (edit lists, B-frames); a file cut short or damaged exits 2 with its count ---
@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    """(clip, frames that decode): an x264 B-frame phone clip (rotated, with audio), its ``ffmpeg -ss`` style
    stream copy with an edit list (the header declares 30 frames, 28 decode), and a faststart copy cut short
    after 20 frames."""
    d = tmp_path_factory.mktemp("phone")
    src = make_clip(d / "bframes.mp4", n=30, bframes=3, rotation=90, audio=["aac"])
    edit = with_edit_list(src, d / "edit.mp4", 2)
    fs = make_clip(d / "fs.mp4", n=30, bframes=3, faststart=True)
    cut = cut_short(fs, d / "cut.mp4", keep_packets=20, mid_packet=False)
    assert count(src) == (30, 30, 30) and count(edit) == (30, 30, 28) and count(cut) == (30, 20, 20)
    return {"bframes": (src, 30), "edit": (edit, 28), "cut": (cut, 20)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["edit", "bframes"])
def test_scenes_colorize_and_gallery_count_the_decoded_frames(run: Path, phone, tmp_path: Path, capsys, name) -> None:
    src, decoded = phone[name]
    assert main(["scenes", str(src), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_frames"] == decoded
    warned = f"header declares 30 frames and {decoded} decode" in captured.err
    assert warned == (name == "edit") and "error" not in captured.err

    out = tmp_path / "out.mp4"
    device = "cuda" if name == "edit" else "cpu"  # cuda on a machine without one: the CPU, with a warning
    args = ["colorize", str(src), "--out", str(out), "--run", str(run), "--references", "2", "--json", "--quiet"]
    assert main([*args, "--device", device]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_frames"] == decoded
    assert (f"header declares 30 frames and {decoded} decode" in captured.err) == (name == "edit")
    fallback = device == "cuda" and not torch.cuda.is_available()
    assert ("torch sees no CUDA GPU on this machine; running on the CPU" in captured.err) == fallback
    assert count(out) == (decoded, decoded, decoded)  # the output's own header agrees with its frames
    a, b = media.probe_media(src), media.probe_media(out)
    assert b.rotation == a.rotation == 90 and len(b.audio) == len(a.audio) == 1
    assert _times(out) == _times(src)

    gallery = tmp_path / "gallery"
    assert (
        main(["gallery", "build", str(src), "--out", str(gallery), "--run", str(run), "--json", "--device", "cpu"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["files_encoded"] == 1 and report["files_skipped"] == [] and report["vectors"] >= 1
    frames = pd.read_csv(gallery / "table.csv")["frame"]
    assert frames.between(0, decoded - 1).all()


@pytest.mark.slow
def test_a_clip_cut_short_exits_2_and_says_how_many_frames_decoded(run: Path, phone, tmp_path: Path, capsys) -> None:
    cut, _ = phone["cut"]
    message = "(20 frames decoded of 30 declared)"
    assert main(["scenes", str(cut), "--json"]) == 2
    assert message in capsys.readouterr().err
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    assert main(["colorize", str(cut), "--out", str(out), "--run", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "truncated video" in err and message in err
    assert out.read_bytes() == b"an earlier result"
    assert main(["gallery", "build", str(cut), "--out", str(tmp_path / "g"), "--run", str(run), "--json"]) == 2
    assert message in capsys.readouterr().err  # the only source is unreadable: nothing to index


@pytest.mark.slow
def test_an_unknown_device_exits_2_before_anything_is_written(run: Path, phone, tmp_path: Path, capsys) -> None:
    src, _ = phone["bframes"]
    out = tmp_path / "out.mp4"
    assert main(["colorize", str(src), "--out", str(out), "--run", str(run), "--device", "gpu", "--quiet"]) == 2
    assert "device 'gpu' is not one of auto, cpu, cuda" in capsys.readouterr().err and not out.exists()
    assert main(["gallery", "build", str(src), "--out", str(tmp_path / "g"), "--run", str(run), "--device", "tpu"]) == 2
    assert "device 'tpu'" in capsys.readouterr().err and not (tmp_path / "g").exists()
