"""``test_videos.json``: notebook 00's multi-scene test videos and their ground-truth cuts.

Written once by :func:`scenecolor.data.build.build_embedded_dataset`; every later reader
(scene evaluation, reference queries, evaluation, figures) goes through :func:`read_test_videos`,
so the format is checked in one place. Format (docs/ARCHITECTURE.md)::

    {"convention": "...", "videos": [{"video_id", "path" (relative to the file), "n_frames", "fps",
      "cuts": [first frame of each new scene], "transitions": [{"kind", "start", "end", "cut"}],
      "shots": [{"shot_id", "start", "end", "split", ...}], "real": bool}]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scenecolor.core.artifacts import atomic_write_json, read_json
from scenecolor.core.errors import DataError

TEST_VIDEOS_FILE = "test_videos.json"
REQUIRED = ("video_id", "path", "n_frames", "fps", "cuts")


def test_videos_file(data_dir: str | os.PathLike[str]) -> Path:
    """``test_videos.json`` in notebook 00's artifact folder (or the file itself)."""
    p = Path(data_dir)
    return p if p.suffix == ".json" else p / TEST_VIDEOS_FILE


def write_test_videos(data_dir: str | os.PathLike[str], videos: list[dict[str, Any]], convention: str) -> Path:
    """Write the list atomically; each record's ``path`` must be relative to ``data_dir``."""
    bad = [v.get("video_id") for v in videos if any(k not in v for k in REQUIRED) or Path(v["path"]).is_absolute()]
    if bad:
        raise DataError(f"test video records {bad} lack one of {REQUIRED} or have an absolute path")
    return atomic_write_json(test_videos_file(data_dir), {"convention": convention, "videos": videos})


def read_test_videos(data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The test video records, each ``path`` made absolute; DataError naming notebook 00 when missing or malformed."""
    path = test_videos_file(data_dir)
    if not path.is_file():
        raise DataError(
            f"test video list '{path}' does not exist; run notebooks/00_data_prep.ipynb first (same run_dir)"
        )
    try:
        videos = read_json(path)["videos"]
        records = []
        for v in videos:
            missing = [k for k in REQUIRED if k not in v]
            if missing:
                raise KeyError(f"video {v.get('video_id')!r} lacks {missing}")
            records.append({**v, "video_id": str(v["video_id"]), "path": str(path.parent / v["path"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"test video list '{path}' is malformed ({exc}); re-run notebooks/00_data_prep.ipynb") from exc
    return records
