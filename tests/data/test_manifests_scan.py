"""`scan`: a manifest for a user's own folder of videos, with stable deterministic splits."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from scenecolor.core.artifacts import sha256_file
from scenecolor.core.errors import CorruptVideoError, ManifestError
from scenecolor.core.video import write_video
from scenecolor.data.manifests.format import Manifest, verify_or_raise
from scenecolor.data.manifests.scan import scan, split_of


def _video(path: Path, seed: int, n_frames: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(n_frames)]
    return write_video(path, frames, fps=10)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    (root / "trip").mkdir(parents=True)
    _video(root / "a.mp4", 0)
    _video(root / "b.MOV", 1)
    _video(root / "trip" / "c.mp4", 2, n_frames=6)
    (root / "notes.txt").write_text("not a video")
    return root


def test_scan_lists_every_video_with_hash_probe_and_split(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "manifests" / "mine.yaml"
    manifest = scan(folder, out=out)
    assert [e.id for e in manifest.entries] == ["a", "b", "trip__c"]
    by_id = {e.id: e for e in manifest.entries}
    assert by_id["trip__c"].path == "../videos/trip/c.mp4"  # relative to the manifest's folder
    for entry, rel in zip(manifest.entries, ["a.mp4", "b.MOV", "trip/c.mp4"]):
        assert entry.sha256 == sha256_file(folder / rel)
        assert entry.split in ("train", "val", "test") and entry.kind == "video"
        assert entry.media is not None and (entry.media.width, entry.media.height) == (48, 32)
    assert by_id["trip__c"].media.n_frames == 6
    loaded = Manifest.load(out)
    assert loaded.model_dump() == manifest.model_dump()
    assert [r.status for r in verify_or_raise(loaded)] == ["ok"] * 3
    assert "3 videos" in loaded.description and "seed=0" in loaded.description


def test_scan_without_out_writes_absolute_paths_and_no_file(folder: Path, tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    manifest = scan(folder)
    assert all(Path(e.path).is_absolute() for e in manifest.entries)
    assert manifest.path is None and sorted(tmp_path.rglob("*")) == before


def test_scan_is_deterministic_and_stable_when_a_file_is_added(folder: Path, tmp_path: Path) -> None:
    first = scan(folder, out=tmp_path / "m1.yaml", seed=3)
    again = scan(folder, out=tmp_path / "m1b.yaml", seed=3)
    assert first.model_dump() == again.model_dump()
    _video(folder / "trip" / "d.mp4", 9)
    _video(folder / "0_first.mp4", 10)  # sorts before every other file
    grown = scan(folder, out=tmp_path / "m2.yaml", seed=3)
    old = {e.id: (e.split, e.sha256) for e in first.entries}
    new = {e.id: (e.split, e.sha256) for e in grown.entries}
    assert set(new) == set(old) | {"trip__d", "0_first"}
    assert all(new[k] == v for k, v in old.items())


def test_split_hash_follows_the_fractions_and_the_seed() -> None:
    keys = [f"clip_{i:05d}.mp4" for i in range(6000)]
    counts = Counter(split_of(k, (0.7, 0.15, 0.15), seed=0) for k in keys)
    assert abs(counts["train"] / 6000 - 0.7) < 0.03 and abs(counts["test"] / 6000 - 0.15) < 0.03
    other_seed = [split_of(k, (0.7, 0.15, 0.15), seed=1) for k in keys[:200]]
    assert other_seed != [split_of(k, (0.7, 0.15, 0.15), seed=0) for k in keys[:200]]
    assert {split_of(k, (1.0, 0.0, 0.0)) for k in keys[:500]} == {"train"}
    assert {split_of(k, (0.0, 0.0, 1.0)) for k in keys[:500]} == {"test"}


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)])
def test_bad_split_fractions(folder: Path, fractions) -> None:
    with pytest.raises(ManifestError, match="split fractions must be three non-negative numbers"):
        scan(folder, split_fractions=fractions)


def test_group_by_folder_keeps_a_source_in_one_split(tmp_path: Path) -> None:
    root = tmp_path / "v"
    for i in range(4):
        _video(root / "film" / f"shot{i}.mp4", i, n_frames=2)
    _video(root / "other.mp4", 7, n_frames=2)
    manifest = scan(root, group_by="folder", seed=5)
    assert len({e.split for e in manifest.entries if e.id.startswith("film__")}) == 1


def test_ids_stay_unique_when_names_collide(tmp_path: Path) -> None:
    root = tmp_path / "v"
    _video(root / "a" / "b.mp4", 0, n_frames=2)
    _video(root / "a__b.mp4", 1, n_frames=2)
    _video(root / "my clip!.mp4", 2, n_frames=2)
    ids = [e.id for e in scan(root).entries]
    assert len(set(ids)) == 3 and "my_clip" in ids and "a__b" in ids
    assert any(i.startswith("a__b-") for i in ids)


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "m.yaml"
    with pytest.raises(ManifestError, match="cannot scan .*empty.*the folder is empty"):
        scan(tmp_path / "empty", out=out)
    assert not out.exists()


def test_folder_without_videos_is_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    (tmp_path / "docs" / "b.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ManifestError, match=r"none of its 2 files has a video extension"):
        scan(tmp_path / "docs")
    with pytest.raises(ManifestError, match="not a folder"):
        scan(tmp_path / "missing")


def test_corrupt_video_is_reported_and_nothing_is_overwritten(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.yaml"
    scan(folder, out=out)
    good = out.read_text()
    data = (folder / "a.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "zero.mp4").write_bytes(b"")
    with pytest.raises(CorruptVideoError) as info:
        scan(folder, out=out)
    text = str(info.value)
    assert "2 of 5 videos are unreadable" in text and "truncated.mp4" in text and "zero.mp4" in text
    assert "--skip-corrupt" in text
    assert out.read_text() == good  # the earlier manifest is intact
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = scan(folder, out=out, skip_corrupt=True)
    assert [e.id for e in skipped.entries] == ["a", "b", "trip__c"]
    assert "skipped 2 unreadable" in str(caught[0].message) and "skipped 2 unreadable" in skipped.description
