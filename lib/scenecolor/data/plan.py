"""Planning the embedded data set: which shots it has and which split each source joins.

Cheap and deterministic: it reads the manifest and the video headers but decodes no frame, so
the splits are known before anything is written. A *source* (the unit of splitting) is a real
shot, or a photograph together with every clip rendered over it; splits are stratified so that
real and synthetic-motion sources both reach val and test, and no content crosses a split.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenecolor.core import video
from scenecolor.core.errors import ManifestError
from scenecolor.core.paths import checkout_root
from scenecolor.data import camera_motion
from scenecolor.data.manifests.format import Manifest, ManifestEntry

PHOTO_FPS = 25.0
MIN_CLIP_SIDE = 112  # tiny sources (the 14x25 GIF) are enlarged to at least this


@dataclass(frozen=True)
class BuildConfig:
    """Parameters of the build (the fields of ``DataPrepParams`` minus ``run_dir``)."""

    manifest: str = "embedded"
    seed: int = 0
    frame_step: int = 10
    size: int = 224
    mean_filter: int = 3
    resize_mode: str = "stretch"
    clip_max_side: int = 480
    clips_per_photo: int = 1
    clip_frames: int = 40
    render_width: int = 384
    n_test_videos: int = 3
    shots_per_test_video: int = 4
    segment_frames: int = 40
    transition_frames: int = 10
    gradual_fraction: float = 0.5
    val_fraction: float = 0.2
    test_fraction: float = 0.2

    @property
    def render_size(self) -> tuple[int, int]:
        """(width, height) of synthetic clips and test videos: 16:9, even."""
        return self.render_width, _even(self.render_width * 9 / 16)

    @property
    def min_segment(self) -> int:
        return max(2 * self.transition_frames + 1, (self.segment_frames * 3) // 5)


@dataclass
class ShotPlan:
    """One shot before it is built: where its frames come from and which split it joins."""

    shot_id: str
    video_id: str
    entry: ManifestEntry
    kind: str  # "real" | "photo"
    group: str  # the split unit: a real shot, or a photograph (all its clips)
    start: int
    end: int
    fps: float
    split: str = ""
    camera_path: camera_motion.CameraPath | None = None

    @property
    def n_frames(self) -> int:
        return self.end - self.start


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def resolve_manifest(name_or_path: str) -> Path:
    """``embedded`` -> <repo>/data_manifests/embedded.yaml; anything with a suffix or slash is a path."""
    p = Path(name_or_path).expanduser()
    if p.suffix or "/" in name_or_path or os.sep in name_or_path:
        return p
    root = checkout_root()
    if root is None:
        raise ManifestError(
            f"manifest '{name_or_path}': cannot find the workbook's data_manifests/ folder; pass a path to the .yaml"
        )
    return root / "data_manifests" / f"{name_or_path}.yaml"


def clip_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Even (width, height) with the longer side at most ``max_side`` and the shorter >= 112."""
    scale = min(1.0, max_side / max(width, height))
    if min(width, height) * scale < MIN_CLIP_SIDE:
        scale = MIN_CLIP_SIDE / min(width, height)
    return _even(width * scale), _even(height * scale)


def seeded_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends on the seed and stable names only (crc32, not Python's hash)."""
    return np.random.default_rng([seed, *[zlib.crc32(str(k).encode()) for k in keys]])


def plan_shots(manifest: Manifest, config: BuildConfig) -> list[ShotPlan]:
    """Every shot of the data set: the real shots of the manifest's cut lists, then the photo clips."""
    plans: list[ShotPlan] = []
    for entry in manifest.entries:
        path = manifest.resolve(entry)
        if entry.kind == "video":
            info = video.probe(path)
            n = video.count_frames(path)  # decoded: a header's count can include frames an edit list hides
            shots = entry.shots or []
            if not shots:
                plans.append(ShotPlan(f"{entry.id}_s0", entry.id, entry, "real", f"{entry.id}_s0", 0, n, info.fps))
                continue
            for shot in sorted(shots, key=lambda s: s.start):
                if shot.end > n:
                    raise ManifestError(
                        f"entry '{entry.id}': shot '{shot.shot_id}' ends at frame {shot.end} but '{path}' has {n} "
                        "frames; fix the cut list"
                    )
                plans.append(
                    ShotPlan(shot.shot_id, entry.id, entry, "real", shot.shot_id, shot.start, shot.end, info.fps)
                )
        elif entry.kind == "image":
            for k in range(config.clips_per_photo):
                path_k = camera_motion.random_path(seeded_rng(config.seed, entry.id, k))
                plans.append(
                    ShotPlan(
                        f"{entry.id}_c{k}",
                        entry.id,
                        entry,
                        "photo",
                        entry.id,
                        0,
                        config.clip_frames,
                        PHOTO_FPS,
                        camera_path=path_k,
                    )
                )
        else:
            raise ManifestError(
                f"entry '{entry.id}': kind '{entry.kind}' cannot be used by the embedded build (video or image only)"
            )
    return plans


def assign_splits(plans: list[ShotPlan], config: BuildConfig) -> dict[str, str]:
    """Split the sources (groups) into train/val/test, stratified by real vs photo.

    Within each stratum the groups are shuffled by the seed; test takes round(test_fraction * n)
    (at least one), preferring groups long enough for a test-video segment; val takes
    round(val_fraction * n) (at least one when the stratum has three groups or more); the rest
    train. A manifest entry with a fixed ``split`` keeps it.
    """
    groups: dict[str, tuple[str, int, str | None]] = {}
    for p in plans:
        kind, longest, fixed = groups.get(p.group, (p.kind, 0, p.entry.split))
        groups[p.group] = (kind, max(longest, p.n_frames), fixed)
    out = {g: fixed for g, (_, _, fixed) in groups.items() if fixed}
    for stratum in ("real", "photo"):
        ids = sorted(g for g, (kind, _, fixed) in groups.items() if kind == stratum and not fixed)
        if not ids:
            continue
        order = [ids[i] for i in seeded_rng(config.seed, "split", stratum).permutation(len(ids))]
        n = len(order)
        n_test = max(1, int(round(config.test_fraction * n))) if n >= 2 else 0
        n_val = max(1, int(round(config.val_fraction * n))) if n >= 3 and config.val_fraction > 0 else 0
        n_test = min(n_test, max(0, n - 1 - n_val))
        eligible = [g for g in order if groups[g][1] >= config.min_segment]
        test = (eligible + [g for g in order if g not in eligible])[:n_test]
        rest = [g for g in order if g not in test]
        for g in test:
            out[g] = "test"
        for i, g in enumerate(rest):
            out[g] = "val" if i < n_val else "train"
    return out
