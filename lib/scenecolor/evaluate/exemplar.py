"""The standard protocol of exemplar video colorization, for the evaluation step and for real clips.

For every test shot the **first ground-truth colour frame is the only reference** and the shot's
remaining frames are scored. Every method gets the same reference and the ground truth's
lightness; frames keep **their own aspect ratio** (resized to ``width`` pixels wide, never
stretched to a square), so scores are at each clip's aspect ratio. Methods, measured in the same
run on the same frames: grey (ab = 0), the reference's mean ab (Reinhard on a grey target), the
reference's ab pasted in place (no motion), the reference's ab warped by OpenCV's Farneback
optical flow, the same warp with DIS flow at the settings of the network's own flow candidate, Welsh
et al., and ours. Measures: every image measure of :mod:`scenecolor.metrics` (PSNR, SSIM, ...) per
frame, and CDC / ab-change over the scored frames of the shot (one steady segment: a test shot has no
cut).

Every method is scored the same way: on the same frames at the same size, and - with an
``encoding`` - each method's output is written as a video file with that encoding (what
``scenecolor colorize`` writes) and the frames decoded from that file are scored, so the numbers
are those of the files written; the ground truth through the same encoding is listed beside them
(``TRUTH_ENCODED``), the ceiling the encoding leaves. Without one, the frames are scored before any
encoding.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.encoding import Encoding
from scenecolor.core.errors import DataError
from scenecolor.core.media import MediaWriter, iter_timed_frames, probe_media
from scenecolor.core.video import iter_frames, probe, read_frames, write_video
from scenecolor.data.test_videos import read_test_videos
from scenecolor.evaluate import metrics
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
    """The test-split shots of the data-prep step's test videos, each its steady part (transition frames left out)."""
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
            f"'{data_dir}' lists no test-split shot with >= 2 kept frames; the data-prep step needs n_test_videos >= 1"
        )
    return out


@dataclass
class ExemplarResult:
    """Per-clip rows (clip x method), per-frame PSNR, kept outputs, and ours' correspondence details."""

    rows: pd.DataFrame
    per_frame: pd.DataFrame  # clip_id, method, t (scored frame index, 1 = the frame after the reference), PSNR
    outputs: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (method, clip_id) -> uint8 frames
    details: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # clip_id -> ours' candidates etc.


TRUTH_ENCODED = "ground truth through the encoding"


def through_encoding(
    frames: np.ndarray, fps: float, encoding: Encoding, path: str | os.PathLike[str]
) -> tuple[np.ndarray, int]:
    """Write ``frames`` (uint8 (T, H, W, 3), even H and W) to ``path`` with ``encoding`` and decode them back.

    Returns (the decoded frames, uint8 (T, H, W, 3): what a player of the file shows; the file's size in bytes).
    """
    write_video(path, frames, fps, encoding=encoding)
    return read_frames(path), Path(path).stat().st_size


def output_name(clip_id: str, method: str, encoding: Encoding) -> str:
    """The file a method's output of a clip is written to: ``<clip>_<method key>.mp4`` (``.mkv`` for FFV1)."""
    return f"{clip_id}_{metric_key(method)}{'.mkv' if encoding.lossless == 'ffv1' else '.mp4'}"


def evaluate_exemplar(
    clips: Sequence[ExemplarClip],
    methods: Sequence[object],
    *,
    keep_outputs: bool = True,
    progress: bool = True,
    encoding: Encoding | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> ExemplarResult:
    """Run every method on every clip with its first frame as the only reference; score the other frames.

    With ``encoding``, each method's output (and the ground truth, as the row :data:`TRUTH_ENCODED`) is written
    with it to ``out_dir`` (a temporary folder when None; :func:`output_name` names the files) and the frames
    decoded from the file are scored and kept; rows then carry ``bytes`` (the file's size) and ``encoding``.
    Without it, the rendered frames are scored as they are.
    """
    rows, per_frame, outputs, details = [], [], {}, {}
    if encoding is not None and any(c.frames.shape[1] % 2 or c.frames.shape[2] % 2 for c in clips):
        raise DataError("clips written through an encoding need even frame sides (4:2:0); choose an even width")
    scratch = tempfile.TemporaryDirectory(prefix="scenecolor-exemplar-") if out_dir is None else None
    folder = Path(scratch.name if scratch is not None else out_dir)  # type: ignore[arg-type]
    entries = list(methods) + ([_Truth()] if encoding is not None else [])
    bar = tqdm(total=len(clips) * len(entries), desc="exemplar protocol", leave=False, disable=not progress)
    try:
        for clip in clips:
            video = clip.scored()
            ref = clip.reference_lab[None]
            for method in entries:
                bar.update(1)
                t0 = time.perf_counter()
                ab = method(video.lab[..., 0], ref)  # type: ignore[operator]
                seconds = time.perf_counter() - t0
                rgb = video.frames if isinstance(method, _Truth) else render(video, ab)
                row = {
                    "clip_id": clip.clip_id,
                    "method": method.name,  # type: ignore[attr-defined]
                    "n_frames": video.n_frames,
                    "height": int(rgb.shape[1]),
                    "width": int(rgb.shape[2]),
                }
                if encoding is not None:
                    path = folder / output_name(clip.clip_id, method.name, encoding)  # type: ignore[attr-defined]
                    rgb, size = through_encoding(rgb, clip.fps, encoding, path)
                    row.update({"encoding": encoding.describe(), "bytes": size})
                row.update(score_video(video, rgb))
                row["sec_per_frame"] = seconds / video.n_frames
                rows.append(row)
                psnr = metrics.per_frame_metrics(video.frames, rgb)["PSNR"]
                per_frame += [
                    {"clip_id": clip.clip_id, "method": method.name, "t": t + 1, "PSNR": float(p)}  # type: ignore[attr-defined]
                    for t, p in enumerate(psnr)
                ]
                if keep_outputs:
                    outputs[(method.name, clip.clip_id)] = rgb  # type: ignore[attr-defined]
                if getattr(method, "last_details", None):
                    details[clip.clip_id] = method.last_details  # type: ignore[attr-defined]
    finally:
        bar.close()
        if scratch is not None:
            scratch.cleanup()
    return ExemplarResult(pd.DataFrame(rows), pd.DataFrame(per_frame), outputs, details)


@dataclass(frozen=True)
class _Truth:
    """The ground truth itself as a row (its ab; only written through the encoding, as the ceiling)."""

    name: str = TRUTH_ENCODED

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        return np.zeros((*L.shape, 2), dtype=np.float32)  # unused: the row scores the true frames


MEASURES = ("PSNR", "SSIM", "CDC", "dAB_err", "colorfulness")
FLOW_WARP = "flow warp (Farneback)"  # the baseline of issue 12's targets
PASTE = "paste (reference ab in place)"
_KEYS = {
    "ours": "ours",
    "flow warp (farneback)": "flow_farneback",
    "flow warp (dis": "flow_dis",
    "paste": "paste",
    TRUTH_ENCODED: "truth_encoded",
}


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


def encoding_ceiling(
    paths: Sequence[str | os.PathLike[str]],
    encodings: Sequence[Encoding],
    *,
    max_frames: int = 48,
    folder: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """What an output encoding alone costs: each clip's own first ``max_frames`` frames (the ground truth, at
    full size) written as ``scenecolor colorize`` writes them (:class:`scenecolor.core.media.MediaWriter`, the
    clip's own colour description and timestamps, no audio) with each encoding, decoded back and compared with
    the decoded original. No colorizer can score above this against the original.

    Returns one row per (clip, encoding): clip, encoding, crf, lossless, frames, width, height, PSNR (frame
    mean, dB; inf when every frame is exact), max_abs_diff (levels), bytes, kbit_per_s (at the clip's fps).
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="scenecolor-encoding-") as scratch:
        out_dir = Path(folder or scratch)
        for path in paths:
            info = probe_media(path)
            truth = [t for _, t in itertools.islice(iter_timed_frames(path), max_frames or None)]
            for enc in encodings:
                out = out_dir / f"{Path(path).stem}_{enc.lossless or f'crf{enc.crf}'}{'.mkv' if enc.rgb else '.mp4'}"
                with MediaWriter(out, info, encoding=enc, audio=False) as writer:
                    for t in truth:
                        writer.write(t.rgb, t.pts)
                back = [t.rgb for _, t in iter_timed_frames(out)]
                psnr = [float(metrics.psnr(a.rgb, b)[0]) for a, b in zip(truth, back)]
                diff = max(int(np.abs(a.rgb.astype(np.int16) - b).max()) for a, b in zip(truth, back))
                size = out.stat().st_size
                rows.append(
                    {
                        "clip": Path(path).name,
                        "encoding": enc.describe(),
                        "crf": enc.crf,
                        "lossless": enc.lossless,
                        "frames": len(back),
                        "width": info.width,
                        "height": info.height,
                        "PSNR": float(np.mean(psnr)),
                        "max_abs_diff": diff,
                        "bytes": size,
                        "kbit_per_s": size * 8 / 1000 / (len(back) / (info.fps or 25.0)),
                    }
                )
    return pd.DataFrame(rows)
