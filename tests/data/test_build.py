"""The embedded data-set build: products, splits without leakage, exact test-video cuts, bad inputs.

Most tests build from a small synthetic manifest (two two-shot videos and three photographs,
written here) so they run in seconds; one slow test builds from the real embedded manifest.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from skimage import io as skio

from scenecolor.core import video
from scenecolor.core.artifacts import sha256_file
from scenecolor.core.errors import (
    ChecksumMismatchError,
    CorruptVideoError,
    DataError,
    EmptyVideoError,
    ManifestError,
    ParameterError,
)
from scenecolor.data import build
from scenecolor.data.frames import FrameStore
from scenecolor.data.manifests.format import Manifest
from scenecolor.data.plan import BuildConfig, assign_splits, plan_shots
from scenecolor.workbook.pipeline import validate_params

SMALL = dict(
    size=32,
    frame_step=5,
    clips_per_photo=2,
    clip_frames=30,
    render_width=64,
    n_test_videos=2,
    shots_per_test_video=3,
    segment_frames=30,
    transition_frames=6,
    val_fraction=0.25,
    test_fraction=0.25,
)
CUT = 20  # every synthetic video cuts here


def _two_shot_video(path: Path, hue: int, n: int = 44) -> None:
    """Shot 1: a bright square moving over a coloured ground; shot 2 (from CUT): dark, other colour."""
    frames = []
    for i in range(n):
        img = np.zeros((48, 64, 3), np.uint8)
        if i < CUT:
            img[:] = (hue, 200, 60)
            img[10:26, 2 + i : 18 + i] = 255
        else:
            img[:] = (30, 40, 255 - hue)
            img[30:44, 40 - i // 2 : 54 - i // 2] = 0
        frames.append(img)
    video.write_video(path, frames, fps=25)


def _photo(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:90, 0:120]
    img = np.stack([(xx * 2 + seed * 40) % 256, (yy * 2) % 256, np.full_like(xx, 60 * seed % 256)], axis=-1)
    img = np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)
    skio.imsave(path, img, check_contrast=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest of synthetic media (made once per module)."""
    root = tmp_path_factory.mktemp("media")
    entries = []
    for k, hue in enumerate((180, 20, 110)):
        _two_shot_video(root / f"vid{k}.mp4", hue)
        entries.append(
            {
                "id": f"vid{k}",
                "path": f"vid{k}.mp4",
                "sha256": sha256_file(root / f"vid{k}.mp4"),
                "kind": "video",
                "source": "test",
                "licence": "test",
                "shots": [
                    {"shot_id": f"vid{k}_s0", "start": 0, "end": CUT},
                    {"shot_id": f"vid{k}_s1", "start": CUT, "end": 44},
                ],
            }
        )
    for k in range(4):
        _photo(root / f"photo{k}.png", k)
        entries.append(
            {
                "id": f"photo{k}",
                "path": f"photo{k}.png",
                "sha256": sha256_file(root / f"photo{k}.png"),
                "kind": "image",
                "source": "test",
                "licence": "CC0 (made by the test)",
                "synthetic_motion": True,
            }
        )
    (root / "m.yaml").write_text(yaml.safe_dump({"name": "synthetic", "entries": entries}))
    return root


@pytest.fixture(scope="module")
def built(media: Path, tmp_path_factory: pytest.TempPathFactory) -> build.DatasetSummary:
    out = tmp_path_factory.mktemp("built")
    return build.build_embedded_dataset(out, manifest=str(media / "m.yaml"), **SMALL)


def _copy_media(media: Path, dest: Path) -> Path:
    dest.mkdir()
    for p in media.iterdir():
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_products_follow_the_contract(built: build.DatasetSummary) -> None:
    out = built.out_dir
    for name in ("frames/frames.npy", "frames/index.csv", "shots.csv", "test_videos.json"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".build-tmp")]
    shots = pd.read_csv(out / "shots.csv")
    for column in (
        "shot_id",
        "video_id",
        "source",
        "split",
        "n_frames",
        "fps",
        "width",
        "height",
        "clip",
        "synthetic_motion",
        "licence",
    ):
        assert column in shots.columns
    assert len(shots) == 3 * 2 + 4 * 2
    store = FrameStore.open(out)
    assert store.size == 32
    for _, shot in shots.iterrows():
        assert (out / shot["clip"]).is_file()
        assert video.count_frames(out / shot["clip"]) == shot["n_frames"]
        assert len(store.ids(shot_id=shot["shot_id"])) == math.ceil(shot["n_frames"] / 5) == shot["n_store_frames"]
    assert shots.loc[shots["shot_id"] == "vid1_s1", "n_frames"].item() == 44 - CUT
    assert shots["synthetic_motion"].tolist() == [False] * 6 + [True] * 8
    index = store.index
    assert index["video_id"].notna().all() and index["shot_id"].notna().all()
    # source_frame is the frame's index in its source video: vid0_s1 starts at the cut
    assert index.loc[index["shot_id"] == "vid0_s1", "source_frame"].tolist() == [20, 25, 30, 35, 40]


def test_splits_are_by_source_without_leakage(built: build.DatasetSummary) -> None:
    shots = built.shots
    assert (shots.groupby("group")["split"].nunique() == 1).all()
    photo_clips = shots[shots["kind"] == "photo"]
    assert (photo_clips.groupby("video_id")["split"].nunique() == 1).all()  # all clips of a photo together
    for split in ("train", "val", "test"):
        part = shots[shots["split"] == split]
        assert part["synthetic_motion"].any() and (~part["synthetic_motion"]).any(), (
            f"{split} lacks real or photo shots"
        )
    report = build.leakage_report(built.out_dir)
    assert report["ok"].all(), report
    table = built.split_table()
    assert table["frames"].sum() == len(built.index)


def test_same_seed_same_data_other_seed_other_splits(media: Path, built: build.DatasetSummary, tmp_path: Path) -> None:
    again = build.build_embedded_dataset(tmp_path / "a", manifest=str(media / "m.yaml"), **SMALL)
    assert sha256_file(again.out_dir / "frames/frames.npy") == sha256_file(built.out_dir / "frames/frames.npy")
    assert (again.out_dir / "test_videos.json").read_text() == (built.out_dir / "test_videos.json").read_text()
    pd.testing.assert_frame_equal(again.shots, built.shots)
    manifest = Manifest.load(media / "m.yaml")
    splits = {
        seed: assign_splits(plan_shots(manifest, BuildConfig(seed=seed, **SMALL)), BuildConfig(seed=seed, **SMALL))
        for seed in range(6)
    }
    assert len({tuple(sorted(s.items())) for s in splits.values()}) > 1  # the seed matters


def test_test_video_ground_truth_matches_the_pixels(built: build.DatasetSummary) -> None:
    record = json.loads((built.out_dir / "test_videos.json").read_text())
    assert "incoming shot weighs at least as much" in record["convention"]
    montages = [v for v in record["videos"] if not v["real"]]
    assert len(montages) == 2
    kinds = [t["kind"] for v in montages for t in v["transitions"]]
    assert set(kinds) == {"hard", "fade", "dissolve"}  # round(0.5 * 4) = 2 gradual: one fade, one dissolve
    test_shots = set(built.shots.loc[built.shots["split"] == "test", "shot_id"])
    for v in montages:
        frames = video.read_frames(built.out_dir / v["path"]).astype(np.float32)
        assert len(frames) == v["n_frames"]
        assert v["cuts"] == [t["cut"] for t in v["transitions"]] and v["cuts"] == sorted(v["cuts"])
        assert v["shots"][0]["start"] == 0 and v["shots"][-1]["end"] == v["n_frames"]
        assert {s["shot_id"] for s in v["shots"]} <= test_shots
        groups = [built.shots.set_index("shot_id").loc[s["shot_id"], "group"] for s in v["shots"]]
        assert all(a != b for a, b in zip(groups, groups[1:])), "neighbouring shots must come from different sources"
        diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # diffs[i] = |frame i+1 - frame i|
        for t in v["transitions"]:
            if t["kind"] == "hard":
                assert t["start"] == t["end"] == t["cut"]
                assert diffs[t["cut"] - 1] > 5 * np.median(diffs), "a hard cut must change the picture"
            else:
                assert t["end"] - t["start"] == 6 and t["start"] <= t["cut"] < t["end"]
            if t["kind"] == "fade":
                assert frames[t["start"] : t["end"]].mean(axis=(1, 2, 3)).min() < 0.5 * frames[t["start"] - 1].mean()


def test_the_real_multishot_video_is_listed_with_its_cuts(built: build.DatasetSummary) -> None:
    videos = {v["video_id"]: v for v in json.loads((built.out_dir / "test_videos.json").read_text())["videos"]}
    for k in range(3):
        v = videos[f"vid{k}"]
        assert v["real"] and v["cuts"] == [CUT] and v["n_frames"] == 44
        assert [s["split"] for s in v["shots"]] == built.shots.set_index("shot_id").loc[
            [f"vid{k}_s0", f"vid{k}_s1"], "split"
        ].tolist()
        frames = video.read_frames(built.out_dir / v["path"]).astype(np.float32)
        assert np.abs(frames[CUT] - frames[CUT - 1]).mean() > 10 * np.abs(frames[CUT - 1] - frames[CUT - 2]).mean()


def test_checksum_mismatch_leaves_the_earlier_data_set(media: Path, tmp_path: Path) -> None:
    src = _copy_media(media, tmp_path / "media")
    out = tmp_path / "out"
    build.build_embedded_dataset(out, manifest=str(src / "m.yaml"), **{**SMALL, "n_test_videos": 0})
    before = {
        p: sha256_file(out / p) for p in ("frames/frames.npy", "frames/index.csv", "shots.csv", "test_videos.json")
    }
    skio.imsave(src / "photo2.png", np.zeros((90, 120, 3), np.uint8), check_contrast=False)
    with pytest.raises(ChecksumMismatchError, match="photo2.*sha256"):
        build.build_embedded_dataset(out, manifest=str(src / "m.yaml"), **SMALL)
    assert {p: sha256_file(out / p) for p in before} == before


def test_missing_source_file(media: Path, tmp_path: Path) -> None:
    src = _copy_media(media, tmp_path / "media")
    (src / "vid1.mp4").unlink()
    with pytest.raises(ManifestError, match="vid1.*does not exist"):
        build.build_embedded_dataset(tmp_path / "out", manifest=str(src / "m.yaml"), **SMALL)
    assert not (tmp_path / "out" / "frames").exists()


def _repin(src: Path, entry_id: str) -> None:
    """Record the current sha256 of an entry's file (to test what happens after verification)."""
    data = yaml.safe_load((src / "m.yaml").read_text())
    for e in data["entries"]:
        if e["id"] == entry_id:
            e["sha256"] = sha256_file(src / e["path"])
    (src / "m.yaml").write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("damage, error", [("truncate", CorruptVideoError), ("empty", EmptyVideoError)])
def test_corrupt_or_empty_video_keeps_the_earlier_data_set(
    media: Path, tmp_path: Path, damage: str, error: type
) -> None:
    src = _copy_media(media, tmp_path / "media")
    out = tmp_path / "out"
    build.build_embedded_dataset(out, manifest=str(src / "m.yaml"), **{**SMALL, "n_test_videos": 0})
    before = sha256_file(out / "frames/frames.npy")
    data = (src / "vid2.mp4").read_bytes()
    (src / "vid2.mp4").write_bytes(data[: len(data) // 3] if damage == "truncate" else b"")
    _repin(src, "vid2")
    with pytest.raises(error, match="vid2.mp4"):
        build.build_embedded_dataset(out, manifest=str(src / "m.yaml"), **SMALL)
    assert sha256_file(out / "frames/frames.npy") == before
    assert not [p for p in out.iterdir() if p.name.startswith(".build-tmp")]


def test_cut_list_longer_than_the_video(media: Path, tmp_path: Path) -> None:
    src = _copy_media(media, tmp_path / "media")
    data = yaml.safe_load((src / "m.yaml").read_text())
    data["entries"][0]["shots"][1]["end"] = 99
    (src / "m.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError, match="vid0_s1.*ends at frame 99.*44 frames"):
        build.build_embedded_dataset(tmp_path / "out", manifest=str(src / "m.yaml"), **SMALL)


def test_too_few_test_sources_for_test_videos(media: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="test videos need two or more"):
        build.build_embedded_dataset(
            tmp_path / "out", manifest=str(media / "m.yaml"), **{**SMALL, "segment_frames": 60, "clip_frames": 30}
        )


def test_fixed_split_in_the_manifest_is_honoured(media: Path, tmp_path: Path) -> None:
    src = _copy_media(media, tmp_path / "media")
    data = yaml.safe_load((src / "m.yaml").read_text())
    data["entries"][3]["split"] = "val"  # photo0
    (src / "m.yaml").write_text(yaml.safe_dump(data))
    manifest = Manifest.load(src / "m.yaml")
    config = BuildConfig(**SMALL)
    assert assign_splits(plan_shots(manifest, config), config)["photo0"] == "val"


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="mean_filter must be odd"):
        validate_params("00_data_prep", {"mean_filter": 4})
    with pytest.raises(ParameterError, match="too short for transition_frames"):
        validate_params("00_data_prep", {"segment_frames": 20, "transition_frames": 10})
    with pytest.raises(ParameterError, match="unknown parameter 'frame_stride'"):
        validate_params("00_data_prep", {"frame_stride": 5})
    with pytest.raises(ParameterError, match="resize_mode"):
        validate_params("00_data_prep", {"resize_mode": "squash"})


def test_real_embedded_data_set(tmp_path: Path) -> None:
    """The real manifest: checksums verify, bikes.mp4's hand-checked cuts change the picture,
    and the test split holds real-video shots and photo clips."""
    summary = build.build_embedded_dataset(
        tmp_path,
        size=32,
        frame_step=25,
        clip_frames=30,
        segment_frames=30,
        transition_frames=6,
        render_width=64,
        n_test_videos=1,
        clip_max_side=160,
    )
    shots = summary.shots
    test = shots[shots["split"] == "test"]
    assert test["synthetic_motion"].any() and (~test["synthetic_motion"]).any()
    assert "carphone_distorted" not in set(shots["source"])
    bikes = next(v for v in summary.test_videos if v["video_id"] == "bikes")
    assert bikes["cuts"] == [30, 76, 137, 187, 242]
    frames = video.read_frames(tmp_path / bikes["path"], size=(64, 64)).astype(np.float32)
    diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert all(diffs[c - 1] > 5 * np.median(diffs) for c in bikes["cuts"])
    others = np.delete(diffs, [c - 1 for c in bikes["cuts"]])
    assert others.max() < min(diffs[c - 1] for c in bikes["cuts"])  # no other frame change is as large
    assert build.leakage_report(tmp_path)["ok"].all()


def test_build_config_defaults_match_the_notebook_parameters() -> None:
    from dataclasses import asdict

    from scenecolor.workbook.params import DataPrepParams

    assert asdict(BuildConfig()) == DataPrepParams().model_dump(exclude={"run_dir"})


def test_corrupt_photograph_is_named(media: Path, tmp_path: Path) -> None:
    src = _copy_media(media, tmp_path / "media")
    (src / "photo1.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    _repin(src, "photo1")
    with pytest.raises(DataError, match="photograph .*photo1.png' cannot be read"):
        build.build_embedded_dataset(tmp_path / "out", manifest=str(src / "m.yaml"), **SMALL)
    assert not (tmp_path / "out" / "frames").exists()


def test_manifest_checksums_cover_every_entry_and_the_manifest() -> None:
    from scenecolor.data.build import manifest_checksums
    from scenecolor.data.manifests.format import Manifest
    from scenecolor.data.plan import resolve_manifest

    sums = manifest_checksums("embedded")
    manifest = Manifest.load(resolve_manifest("embedded"))
    assert {e.id for e in manifest.entries} | {"manifest:embedded.yaml"} == set(sums)
    assert all(len(v) == 64 for v in sums.values())
