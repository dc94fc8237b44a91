"""Peak memory of ``scenecolor colorize`` against video length (issue 14, ask 4).

:func:`bench_colorize_memory` writes a long generated video (default 1080p, 25 fps, a cut every
few seconds, an AAC track), colorizes it with a run's model while a thread samples this process's
resident set size (psutil) beside the number of frames written, and returns the curve. Memory is
flat when nothing grows with the frame count: the slope of RSS against frames over the second half
of the run is the number to watch (MB per 1000 frames), with the peak against the 2 GB target for a
10-minute 1080p video. ``scenecolor bench colorize-memory --seconds 600`` runs the full target.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from scenecolor.core.artifacts import atomic_path, atomic_write_json, atomic_write_text
from scenecolor.workbook.runs import colorize_with_run

TARGET_MB = 2048.0
TARGET_SECONDS = 600


def make_long_video(
    path: str | os.PathLike[str],
    seconds: float,
    size: tuple[int, int] = (1920, 1080),
    fps: int = 25,
    shot_seconds: float = 8.0,
    audio: bool = True,
    seed: int = 0,
) -> Path:
    """A grey-ish video of ``seconds``: shots of moving textured gradients with hard cuts, plus a tone.

    Streams one frame at a time (x264 ultrafast), so writing it needs no memory proportional to length.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    shot = max(1, int(shot_seconds * fps))
    small = (height // 8, width // 8)
    yy, xx = np.mgrid[0 : small[0], 0 : small[1]].astype(np.float32)
    out = Path(path)
    with atomic_path(out) as tmp, av.open(str(tmp), "w", format="mp4") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "28"}
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
        sample = 0
        params = rng.uniform(0.02, 0.2, size=4)
        for i in range(n):
            if i % shot == 0:
                params = rng.uniform(0.02, 0.2, size=4)
            t = i % shot
            base = 127 + 60 * np.sin(xx * params[0] + t * params[2]) + 60 * np.cos(yy * params[1] - t * params[3])
            img = np.clip(base, 0, 255).astype(np.uint8)
            big = np.repeat(np.repeat(img, 8, axis=0), 8, axis=1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(big), format="gray")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(p)
            if a is not None:
                until = int((i + 1) * 48000 / fps)
                while sample + 1024 <= until:
                    tone = (0.1 * np.sin(2 * np.pi * 440 * (sample + np.arange(1024)) / 48000)).astype(np.float32)
                    af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                    af.sample_rate, af.pts, af.time_base = 48000, sample, Fraction(1, 48000)
                    for p in a.encode(af):
                        c.mux(p)
                    sample += 1024
        for s in (v, a):
            if s is not None:
                for p in s.encode():
                    c.mux(p)
    return out


def rss_mb() -> float:
    """This process's resident set size in MB (psutil; /proc/self/status as a fallback)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def peak_rss_mb() -> float:
    """The process's high-water mark (VmHWM) in MB, or NaN where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover
        pass
    return float("nan")


class RssSampler(threading.Thread):
    """Samples (seconds, frames, RSS MB) every ``interval`` seconds while running; ``frames`` is set by the caller."""

    def __init__(self, interval: float = 0.25, live_csv: str | os.PathLike[str] | None = None) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.live_csv = Path(live_csv) if live_csv is not None else None  # the curve so far, for long runs watched live
        self.frames = 0
        self.samples: list[tuple[float, int, float]] = []
        self._stop_event = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        live = open(self.live_csv, "w", encoding="utf-8") if self.live_csv is not None else None  # noqa: SIM115
        try:
            if live is not None:
                live.write("seconds,frames,rss_mb\n")
            while not self._stop_event.is_set():
                sample = (round(time.perf_counter() - self._t0, 3), self.frames, round(rss_mb(), 1))
                self.samples.append(sample)
                if live is not None:
                    live.write(",".join(map(str, sample)) + "\n")
                    live.flush()
                self._stop_event.wait(self.interval)
        finally:
            if live is not None:
                live.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.samples.append((round(time.perf_counter() - self._t0, 3), self.frames, round(rss_mb(), 1)))


@dataclass
class MemoryBench:
    """The RSS-against-frames curve of one colorize run and what it says."""

    seconds_of_video: float
    width: int
    height: int
    fps: int
    frames: int
    colorize_s: float
    baseline_mb: float  # before colorizing (model not loaded yet)
    peak_mb: float  # highest sample while colorizing
    hwm_mb: float  # the process's VmHWM at the end (includes making the video)
    mb_per_1000_frames: float  # slope over the second half of the frames
    projected_mb_at_target: float  # peak + slope * (frames of a 10-minute video - frames)
    curve: list[tuple[float, int, float]] = field(default_factory=list)  # (seconds, frames written, RSS MB)

    @property
    def meets_target(self) -> bool:
        return max(self.peak_mb, self.projected_mb_at_target) < TARGET_MB

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "meets_target": self.meets_target, "target_mb": TARGET_MB}

    def at_fractions(self) -> list[tuple[float, int, float]]:
        """(fraction of frames, frames, RSS MB) at 0, 10, 25, 50, 75, 100 % of the frames."""
        rows = []
        for q in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0):
            want = q * self.frames
            t, f, m = min(self.curve, key=lambda s: (abs(s[1] - want), s[0]))
            rows.append((q, f, m))
        return rows


def _slope(curve: list[tuple[float, int, float]], frames: int) -> float:
    pts = [(f, m) for _, f, m in curve if f >= frames / 2]
    if len({f for f, _ in pts}) < 2:
        return 0.0
    f, m = np.array(pts, dtype=np.float64).T
    return float(np.polyfit(f, m, 1)[0] * 1000)


def bench_colorize_memory(
    run_dir: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    seconds: float = 60,
    size: tuple[int, int] = (1920, 1080),
    fps: int = 25,
    references: int = 5,
    keep_video: bool = False,
    progress: bool = True,
    device: str = "cpu",
    interval: float = 0.25,
) -> MemoryBench:
    """Make the video, colorize it while sampling RSS, write ``curve.csv`` and ``memory.json`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    video = make_long_video(out / f"long-{size[0]}x{size[1]}-{seconds:g}s.mp4", seconds, size, fps)
    baseline = rss_mb()
    sampler = RssSampler(interval, live_csv=out / "curve.live.csv")
    sampler.start()

    def on_frames(n: int) -> None:
        sampler.frames = n

    t0 = time.perf_counter()
    try:
        summary = colorize_with_run(
            video,
            out / "colorized.mp4",
            run_dir=run_dir,
            references=references,
            progress=progress,
            on_frames=on_frames,
            device=device,
        )
    finally:
        sampler.stop()
    colorize_s = time.perf_counter() - t0
    curve = sampler.samples
    frames = summary.n_frames
    slope = _slope(curve, frames)
    peak = max(m for _, _, m in curve)
    result = MemoryBench(
        seconds,
        size[0],
        size[1],
        fps,
        frames,
        round(colorize_s, 1),
        round(baseline, 1),
        peak,
        round(peak_rss_mb(), 1),
        round(slope, 3),
        round(peak + max(slope, 0.0) * (TARGET_SECONDS * fps - frames) / 1000, 1),
        curve,
    )
    (out / "curve.live.csv").unlink(missing_ok=True)
    atomic_write_text(out / "curve.csv", "seconds,frames,rss_mb\n" + "".join(f"{t},{f},{m}\n" for t, f, m in curve))
    atomic_write_json(out / "memory.json", result.to_dict())
    _plot(result, out / "curve.png")
    if not keep_video:
        video.unlink(missing_ok=True)
        (out / "colorized.mp4").unlink(missing_ok=True)
    return result


def _plot(result: MemoryBench, path: Path) -> None:
    from matplotlib.figure import Figure  # a Figure renders without pyplot or a backend choice

    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    f = [s[1] for s in result.curve]
    m = [s[2] for s in result.curve]
    ax.plot(f, m, lw=1.2)
    ax.axhline(TARGET_MB, color="r", ls="--", lw=1, label=f"target {TARGET_MB:.0f} MB (10 min 1080p)")
    ax.set_xlabel("frames written")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(0, max(TARGET_MB * 1.1, max(m) * 1.1))
    ax.set_title(
        f"colorize {result.width}x{result.height}, {result.frames} frames: peak {result.peak_mb:.0f} MB, "
        f"{result.mb_per_1000_frames:+.1f} MB/1000 frames",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
