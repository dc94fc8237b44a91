"""``scenes.json``: the scene-analysis step's hand-off, its one writer and its one reader.

Format (docs/ARCHITECTURE.md): ``{video_id: {"cuts", "n_frames", "fps", "threshold",
"scenes": [{"start", "end", "keyframe"}]}}`` for every test video; ``end`` is exclusive and
``keyframe`` is the scene's middle frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from scenecolor.core.artifacts import atomic_write_json, read_json
from scenecolor.core.errors import DataError
from scenecolor.scenes.ssim_detector import Detection


class HasVideoId(Protocol):
    """A test video as the writer needs it: its id (the scene-analysis step passes its ``TestVideo``)."""

    @property
    def video_id(self) -> str: ...


def write_scenes_json(
    path: str | os.PathLike[str], videos: Sequence[HasVideoId], found: dict[tuple[str, str], Detection], name: str
) -> Path:
    """Write ``scenes.json`` (docs/ARCHITECTURE.md): each video's cuts, size, threshold and scenes."""
    missing = [v.video_id for v in videos if (v.video_id, name) not in found]
    if missing:
        raise DataError(f"no detection by '{name}' for videos {missing}; run the detector on every video first")
    return atomic_write_json(path, {v.video_id: found[(v.video_id, name)].scene_record() for v in videos})


def load_scenes(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the scene-analysis step's scenes.json; DataError when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"scene list '{p}' does not exist; run the scene-analysis step first (same run_dir)")
    scenes = read_json(p)
    if not isinstance(scenes, dict) or not scenes:
        raise DataError(f"scene list '{p}' holds no video; re-run the scene-analysis step")
    for vid, entry in scenes.items():
        if not isinstance(entry, dict) or not entry.get("scenes") or any("keyframe" not in s for s in entry["scenes"]):
            raise DataError(
                f"scene list '{p}': video '{vid}' has no scenes with keyframes; re-run the scene-analysis step"
            )
    return scenes
