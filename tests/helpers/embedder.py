"""A small synthetic frame store (same layout as 00_data_prep's) for embedder and retrieval tests.

Each shot is a smooth random colour field seen through a slowly panning window, so frames of a
shot look alike and shots differ; videos hold two shots each and splits are assigned per video.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from scenecolor.data.frames import FrameStore, FrameStoreBuilder


def shot_canvas(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random RGB canvas twice the frame size."""
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    canvas = cv2.resize(small, (2 * size, 2 * size), interpolation=cv2.INTER_CUBIC)
    stripes = (np.sin(np.arange(2 * size) / rng.uniform(3, 12)) * 40).astype(np.int16)
    return np.clip(canvas.astype(np.int16) + stripes[None, :, None], 0, 255).astype(np.uint8)


def build_store(
    folder: str | Path,
    *,
    splits: dict[str, int] | None = None,
    shots_per_video: int = 2,
    frames_per_shot: int = 6,
    size: int = 32,
    seed: int = 0,
) -> FrameStore:
    """Write a store at ``folder`` with ``splits[name]`` videos per split; returns it opened."""
    splits = splits or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    with FrameStoreBuilder(folder, size) as builder:
        v = 0
        for split, n_videos in splits.items():
            for _ in range(n_videos):
                for s in range(shots_per_video):
                    canvas = shot_canvas(rng, size)
                    for f in range(frames_per_shot):
                        off = int(f * size / (2 * frames_per_shot))
                        frame = np.ascontiguousarray(canvas[off : off + size, off : off + size])
                        builder.add(
                            frame,
                            video_id=f"v{v}",
                            shot_id=f"v{v}_s{s}",
                            split=split,
                            source_frame=f,
                            source="synthetic",
                            synthetic_motion=True,
                        )
                v += 1
    return FrameStore.open(folder)
