"""data_manifests/transfer_clips.yaml: every file is the pinned upstream file, decodes in colour,
and the tune / measure split is by source (no repository in both)."""

from __future__ import annotations

import shutil
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from scenecolor.core.errors import ChecksumMismatchError, ManifestError
from scenecolor.core.video import FrameCountWarning, iter_frames
from scenecolor.data.manifests.format import Manifest, ManifestEntry, verify_or_raise

FOLDER = Path(__file__).resolve().parents[2] / "data_manifests"
TRANSFER_CLIPS = FOLDER / "transfer_clips.yaml"
CLIP_KEYS = {
    "id", "file", "split", "repository", "commit", "path", "licence", "sha256",
    "size", "width", "height", "fps", "frames", "content",
}  # fmt: skip
SPLITS = ("tune", "measure")
MIN_CHROMA = 8.0  # mean (max - min) over R, G, B in 8-bit levels; a grey video scores ~0


def load_transfer_clips(path: Path) -> tuple[list[dict], Manifest]:
    """The clips of a transfer-clip manifest, and the same files as a project Manifest to verify.

    Raises ManifestError for a missing or unknown key, a split other than tune/measure, or a
    repository whose clips span both splits (a source that was tuned on is not measure-only).
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or set(data) != {"name", "description", "clips"} or not data["clips"]:
        raise ManifestError(f"'{path}': needs exactly name, description and a non-empty clips list")
    splits_of: dict[str, set[str]] = defaultdict(set)
    for clip in data["clips"]:
        if set(clip) != CLIP_KEYS:
            raise ManifestError(
                f"'{path}': clip {clip.get('id')!r} has keys missing {sorted(CLIP_KEYS - set(clip))} "
                f"and unknown {sorted(set(clip) - CLIP_KEYS)}"
            )
        if clip["split"] not in SPLITS:
            raise ManifestError(f"'{path}': clip {clip['id']!r} has split {clip['split']!r}, not tune or measure")
        splits_of[clip["repository"]].add(clip["split"])
    mixed = sorted(repo for repo, splits in splits_of.items() if len(splits) > 1)
    if mixed:
        raise ManifestError(f"'{path}': repositories in both splits (put each source in one): {mixed}")
    manifest = Manifest(
        name=data["name"],
        description=data["description"],
        entries=[
            ManifestEntry(
                id=c["id"],
                path=str(path.parent.resolve() / c["file"]),
                sha256=c["sha256"],
                source=f"{c['repository']}@{c['commit']}:{c['path']}",
                licence=c["licence"],
                notes=c["content"],
            )
            for c in data["clips"]
        ],
    )
    return data["clips"], manifest


def test_transfer_clips_are_pinned_colour_videos_split_by_source() -> None:
    clips, manifest = load_transfer_clips(TRANSFER_CLIPS)
    assert [r.status for r in verify_or_raise(manifest)] == ["ok"] * len(clips)  # every sha256
    assert 8 <= len(clips) <= 15
    assert len({c["id"] for c in clips}) == len(clips)
    measure = [c for c in clips if c["split"] == "measure"]
    assert 0.3 <= len(measure) / len(clips) <= 0.6
    total = 0
    for clip in clips:
        file = FOLDER / clip["file"]
        assert file.stat().st_size == clip["size"], clip["id"]
        total += clip["size"]
        chroma = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FrameCountWarning)
            for n, frame in enumerate(iter_frames(file, size=(64, 36))):
                if n % 30 == 0:
                    f = frame.astype(np.int16)
                    chroma.append(float((f.max(axis=2) - f.min(axis=2)).mean()))
        assert n + 1 == clip["frames"], clip["id"]
        assert np.mean(chroma) > MIN_CHROMA, (clip["id"], chroma)
    assert total <= 25 * 2**20


def _copy(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(TRANSFER_CLIPS.read_text(encoding="utf-8"))
    clip = data["clips"][0]
    (tmp_path / Path(clip["file"]).parent).mkdir(parents=True)
    shutil.copyfile(FOLDER / clip["file"], tmp_path / clip["file"])
    data["clips"] = [clip, {**data["clips"][-1], "id": "other"}]
    edit(data["clips"])
    out = tmp_path / "transfer_clips.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def test_bad_transfer_manifests_are_refused(tmp_path: Path) -> None:
    def both_splits(clips):
        clips[1].update(repository=clips[0]["repository"], split="tune")

    def bad_split(clips):
        clips[0]["split"] = "test"

    def extra_key(clips):
        clips[0]["cuts"] = []

    for edit, match in ((both_splits, "both splits"), (bad_split, "not tune or measure"), (extra_key, "unknown")):
        with pytest.raises(ManifestError, match=match):
            load_transfer_clips(_copy(tmp_path / edit.__name__, edit))

    def wrong_hash(clips):
        clips[0]["sha256"] = "0" * 64
        clips.pop()

    with pytest.raises(ChecksumMismatchError, match="mismatch"):
        verify_or_raise(load_transfer_clips(_copy(tmp_path / "hash", wrong_hash))[1])
    with pytest.raises(ManifestError, match="does not exist"):  # the second clip's file was not copied
        verify_or_raise(load_transfer_clips(_copy(tmp_path / "missing", lambda clips: None))[1])
