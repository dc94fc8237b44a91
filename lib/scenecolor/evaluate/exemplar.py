"""The standard protocol of exemplar video colorization, for notebook 05 and for real clips.

For every test shot the **first ground-truth colour frame is the only reference** and the shot's
remaining frames are scored. Every method gets the same reference and the ground truth's
lightness; frames keep **their own aspect ratio** (resized to ``width`` pixels wide, never
stretched to a square), so scores are at each clip's aspect ratio. Methods, measured in the same
run on the same frames: grey (ab = 0), the reference's mean ab (Reinhard on a grey target), the
reference's ab pasted in place (no motion), the reference's ab warped by OpenCV's Farneback
optical flow, Welsh et al., and ours. Measures: every image measure of
:mod:`scenecolor.metrics` (PSNR, SSIM, ...) per frame, and CDC / ab-change over the scored frames
of the shot (one steady segment: a test shot has no cut).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError
from scenecolor.core.video import iter_frames, probe
from scenecolor.data.test_videos import read_test_videos
from scenecolor.evaluate import metrics as M
from scenecolor.evaluate.data import EvalVideo, steady_segments
from scenecolor.evaluate.protocol import render, score_video


@dataclass
class ExemplarClip:
    """One shot under the exemplar protocol: ``frames[0]`` is the reference, ``frames[1:]`` are scored."""

    clip_id: str
    frames: np.ndarray  # uint8 (T, H, W, 3) at the clip's aspect ratio
    fps: float
    source_frames: np.ndarray  # frame numbers in the source video
    source: str = ""

    @property
    def reference_lab(self) -> np.ndarray:
        return rgb_to_lab(self.frames[0]).astype(np.float32)

    def scored(self) -> EvalVideo:
        """The scored frames as an :class:`EvalVideo` (one scene, one steady segment)."""
        n = len(self.frames) - 1
        return EvalVideo(
            self.clip_id,
            self.frames[1:],
            self.fps,
            [(0, n)],
            [(0, n)],
            self.source_frames[1:],
            display_aspect=self.frames.shape[2] / self.frames.shape[1],
        )


def _prep(frame: np.ndarray, width: int, mean_filter: int) -> np.ndarray:
    h, w = frame.shape[:2]
    height = max(2, int(round(h * width / w / 2)) * 2)
    out = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_CUBIC)
    if mean_filter > 1:
        out = cv2.blur(out, (mean_filter, mean_filter), borderType=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out)


def read_clip(
    path: str | os.PathLike[str],
    *,
    clip_id: str | None = None,
    start: int = 0,
    end: int = 0,
    width: int = 224,
    frame_step: int = 1,
    max_frames: int = 0,
    mean_filter: int = 1,
    fps: float | None = None,
    source: str = "",
) -> ExemplarClip:
    """Frames [start, end) of a colour video (end 0 = to its end), one in ``frame_step``, at most ``max_frames``
    (0 = all)."""
    frames, numbers = [], []
    rate = fps
    if rate is None:
        rate = probe(path).fps
    for i, frame in enumerate(iter_frames(path)):
        if end and i >= end:
            break
        if i < start or (i - start) % frame_step:
            continue
        frames.append(_prep(frame, width, mean_filter))
        numbers.append(i)
        if max_frames and len(frames) >= max_frames:
            break
    if len(frames) < 2:
        raise DataError(
            f"'{path}' frames [{start}, {end or 'end'}) give {len(frames)} frame(s); the exemplar protocol needs >= 2"
        )
    return ExemplarClip(
        clip_id or Path(path).stem, np.stack(frames), float(rate), np.asarray(numbers), source or str(path)
    )


def load_test_shots(
    data_dir: str | os.PathLike[str],
    *,
    width: int = 224,
    frame_step: int = 1,
    max_frames: int = 0,
    max_shots: int = 0,
    mean_filter: int = 3,
) -> list[ExemplarClip]:
    """The test-split shots of notebook 00's test videos, each its steady part (transition frames left out)."""
    out: list[ExemplarClip] = []
    for entry in read_test_videos(data_dir):
        transitions = [(int(t["start"]), int(t["end"])) for t in entry.get("transitions", [])]
        steady = steady_segments(int(entry["n_frames"]), entry["cuts"], transitions)
        for shot in entry.get("shots", []):
            if str(shot.get("split", "test")) != "test":
                continue
            s, e = int(shot["start"]), int(shot["end"])
            seg = max(((max(a, s), min(b, e)) for a, b in steady), key=lambda r: r[1] - r[0], default=(s, e))
            if seg[1] - seg[0] < 2 * frame_step:
                continue
            out.append(
                read_clip(
                    Path(data_dir) / entry["path"],
                    clip_id=f"{entry['video_id']}-{shot['shot_id']}",  # a shot can appear in several test videos
                    start=seg[0],
                    end=seg[1],
                    width=width,
                    frame_step=frame_step,
                    max_frames=max_frames,
                    mean_filter=mean_filter,
                    fps=float(entry["fps"]),
                    source=f"{entry['video_id']} frames {seg[0]}-{seg[1] - 1}",
                )
            )
            if max_shots and len(out) >= max_shots:
                return out
    if not out:
        raise DataError(
            f"'{data_dir}' lists no test-split shot with >= 2 kept frames; notebook 00 needs n_test_videos >= 1"
        )
    return out


@dataclass
class ExemplarResult:
    """Per-clip rows (clip x method), per-frame PSNR, kept outputs, and ours' correspondence details."""

    rows: pd.DataFrame
    per_frame: pd.DataFrame  # clip_id, method, t (scored frame index, 1 = the frame after the reference), PSNR
    outputs: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (method, clip_id) -> uint8 frames
    details: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # clip_id -> ours' candidates etc.


def evaluate_exemplar(
    clips: Sequence[ExemplarClip], methods: Sequence[object], *, keep_outputs: bool = True, progress: bool = True
) -> ExemplarResult:
    """Run every method on every clip with its first frame as the only reference; score the other frames."""
    rows, per_frame, outputs, details = [], [], {}, {}
    bar = tqdm(total=len(clips) * len(methods), desc="exemplar protocol", leave=False, disable=not progress)
    for clip in clips:
        video = clip.scored()
        ref = clip.reference_lab[None]
        for method in methods:
            bar.update(1)
            t0 = time.perf_counter()
            ab = method(video.lab[..., 0], ref)  # type: ignore[operator]
            seconds = time.perf_counter() - t0
            rgb = render(video, ab)
            row = {
                "clip_id": clip.clip_id,
                "method": method.name,
                "n_frames": video.n_frames,  # type: ignore[attr-defined]
                "height": int(rgb.shape[1]),
                "width": int(rgb.shape[2]),
            }
            row.update(score_video(video, rgb))
            row["sec_per_frame"] = seconds / video.n_frames
            rows.append(row)
            psnr = M.per_frame_metrics(video.frames, rgb)["PSNR"]
            per_frame += [
                {"clip_id": clip.clip_id, "method": method.name, "t": t + 1, "PSNR": float(p)}
                for t, p in enumerate(psnr)
            ]  # type: ignore[attr-defined]
            if keep_outputs:
                outputs[(method.name, clip.clip_id)] = rgb  # type: ignore[attr-defined]
            if getattr(method, "last_details", None):
                details[clip.clip_id] = method.last_details  # type: ignore[attr-defined]
    bar.close()
    return ExemplarResult(pd.DataFrame(rows), pd.DataFrame(per_frame), outputs, details)


MEASURES = ("PSNR", "SSIM", "CDC", "dAB_err", "colorfulness")
FLOW_WARP = "flow warp (Farneback)"  # the baseline of issue 12's targets
PASTE = "paste (reference ab in place)"
_KEYS = {"ours": "ours", "flow warp (farneback)": "flow_farneback", "flow warp (dis)": "flow_dis", "paste": "paste"}


def metric_key(method: str) -> str:
    """A short metric name for a method: ours, flow_farneback, flow_dis, paste, welsh, reinhard, gray."""
    low = method.lower()
    for prefix, key in _KEYS.items():
        if low.startswith(prefix):
            return key
    return low.split(" ")[0]


def summary_table(rows: pd.DataFrame, measures: Sequence[str] = MEASURES) -> pd.DataFrame:
    """Frame-weighted means per method over all clips (best PSNR first)."""
    cols = [m for m in measures if m in rows.columns]
    out = []
    for method, grp in rows.groupby("method", sort=False):
        w = grp["n_frames"].to_numpy(dtype=float)
        rec = {"method": method, "clips": len(grp), "frames": int(w.sum())}
        for m in cols:
            v = grp[m].to_numpy(dtype=float)
            ok = np.isfinite(v)
            rec[m] = float(np.average(v[ok], weights=w[ok])) if ok.any() else float("nan")
        out.append(rec)
    return pd.DataFrame(out).sort_values("PSNR", ascending=False).reset_index(drop=True)


def target_check(table: pd.DataFrame, ours: str, flow: str, paste: str) -> pd.DataFrame:
    """Issue 12's exemplar targets, computed from ``table``."""
    t = table.set_index("method")
    o, f, p = t.loc[ours], t.loc[flow], t.loc[paste]
    return pd.DataFrame(
        [
            {
                "target": "PSNR >= flow warp + 1.0 dB",
                "ours": o["PSNR"],
                "against": f["PSNR"] + 1.0,
                "met": bool(o["PSNR"] >= f["PSNR"] + 1.0),
            },
            {"target": "PSNR above paste", "ours": o["PSNR"], "against": p["PSNR"], "met": bool(o["PSNR"] > p["PSNR"])},
            {
                "target": "SSIM >= flow warp",
                "ours": o["SSIM"],
                "against": f["SSIM"],
                "met": bool(o["SSIM"] >= f["SSIM"]),
            },
            {"target": "CDC <= flow warp", "ours": o["CDC"], "against": f["CDC"], "met": bool(o["CDC"] <= f["CDC"])},
        ]
    )
