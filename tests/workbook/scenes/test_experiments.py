"""Notebook 02's helpers: test_videos.json, running detectors side by side, scenes.json."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from scenecolor.core.artifacts import atomic_write_json
from scenecolor.core.errors import ChecksumMismatchError, DataError, ManifestError
from scenecolor.core.video import write_video
from scenecolor.scenes.io import write_scenes_json
from scenecolor.scenes.ssim_detector import SsimConfig, SsimCutDetector, detect_cuts
from scenecolor.workbook.scenes.experiments import (
    add_paper_rule,
    benchmark,
    false_cuts_on_clips,
    hard_cut_f1_by_set,
    k_sensitivity,
    load_scene_clips,
    load_single_shot_clips,
    load_test_video_truth,
    run_all,
    ssdev_separation,
    summarize,
)
from scenecolor.workbook.scenes.peers import adaptive_detector, all_detectors, content_detector, scenedetect_size

H, W = 64, 96


def _shot(seed: int, n: int, scale: float = 1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.normal(0, 1, (H + n, W, 3)).astype(np.float32), (0, 0), 3)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 25
    return [(big[t : t + H] * scale).astype(np.uint8) for t in range(n)]


@pytest.fixture(scope="module")
def test_videos(tmp_path_factory) -> Path:
    """test_videos.json with two videos: hard cuts, and a hard cut plus a dissolve."""
    root = tmp_path_factory.mktemp("prep")
    write_video(root / "a.mp4", _shot(1, 24) + _shot(2, 24) + _shot(3, 24), fps=25)
    b1, b2, b3 = _shot(4, 30), _shot(5, 30), _shot(6, 30)
    for j in range(8):  # dissolve over frames 52..59 (b2's last 8 frames into b3's first 8)
        w = (j + 1) / 9
        b2[22 + j] = ((1 - w) * b2[22 + j] + w * b3[j]).astype(np.uint8)
    write_video(root / "b.mp4", b1 + b2 + b3[8:], fps=25)
    listing = {
        "videos": [
            {
                "video_id": "a",
                "path": "a.mp4",
                "n_frames": 72,
                "fps": 25.0,
                "cuts": [24, 48],
                "transitions": [
                    {"kind": "hard", "start": 24, "end": 24, "cut": 24},
                    {"kind": "hard", "start": 48, "end": 48, "cut": 48},
                ],
                "shots": [],
            },
            {
                "video_id": "b",
                "path": "b.mp4",
                "n_frames": 82,
                "fps": 25.0,
                "cuts": [30, 56],
                "transitions": [
                    {"kind": "hard", "start": 30, "end": 30, "cut": 30},
                    {"kind": "dissolve", "start": 52, "end": 60, "cut": 56},
                ],
                "shots": [],
            },
        ]
    }
    atomic_write_json(root / "test_videos.json", listing)
    return root / "test_videos.json"


def test_load_test_video_truth_reads_kinds_and_windows(test_videos):
    videos = load_test_video_truth(test_videos)
    assert [v.video_id for v in videos] == ["a", "b"]
    assert videos[1].kinds == ("hard", "dissolve") and videos[1].windows == ((30, 30), (52, 59))
    assert videos[0].path == test_videos.parent / "a.mp4"


def test_load_test_video_truth_missing_or_malformed(tmp_path):
    with pytest.raises(DataError, match="does not exist; run notebooks/00_data_prep"):
        load_test_video_truth(tmp_path / "test_videos.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"videos": [{"video_id": "x"}]}))
    with pytest.raises(DataError, match="bad.json' is malformed"):
        load_test_video_truth(bad)


def test_detectors_side_by_side_and_the_summary(test_videos):
    videos = load_test_video_truth(test_videos)
    rows, found = run_all(videos, all_detectors(), tolerance=2)
    assert len(rows) == 6 and set(rows["detector"]) == {"ssdev (ours)", "ContentDetector", "AdaptiveDetector"}
    ours_a = found[("a", "ssdev (ours)")]
    assert ours_a.cuts == [24, 48]
    assert found[("a", "ContentDetector")].cuts == [24, 48]
    summary = summarize(videos, found, tolerance=2).set_index("detector")
    assert summary.loc["ssdev (ours)", "recall_hard"] == 1.0
    assert 0 <= summary.loc["ssdev (ours)", "map"] <= 1
    assert np.isnan(summary.loc["ContentDetector", "map"])  # peers have no SSDev ranking
    assert (summary["frames_per_s"] > 0).all()
    table = k_sensitivity(videos, found, SsimConfig(), [1.0, 2.5], 2, "ssdev (ours)")
    assert list(table["k"]) == [1.0, 2.5] * 4
    assert list(table["rule"]) == (
        ["ours"] * 2
        + ["ours without motion compensation"] * 2
        + ["ours without local-peak test"] * 2
        + ["paper's rule alone"] * 2
    )
    assert table.loc[table["rule"] == "ours", "recall_hard"].tolist() == [1.0, 1.0]
    rows2, found2, label = add_paper_rule(videos, rows, found, SsimConfig(), "ssdev (ours)", 2)
    assert label == "ssdev, paper's rule alone" and len(rows2) == 8 and len(found2) == 8 and len(found) == 6
    assert found2[("a", label)].cuts == [24, 48]
    sep = ssdev_separation(videos, found, "ssdev (ours)", 2)
    assert (sep["hard_cut_min"] > sep["in_shot_max"]).all()


def test_write_scenes_json_atomically_and_keep_the_old_file_on_error(test_videos, tmp_path):
    videos = load_test_video_truth(test_videos)
    found = {(v.video_id, "ssdev (ours)"): detect_cuts(v.path) for v in videos}
    out = tmp_path / "scenes.json"
    write_scenes_json(out, videos, found, "ssdev (ours)")
    data = json.loads(out.read_text())
    assert set(data) == {"a", "b"}
    assert data["a"]["cuts"] == [24, 48] and data["a"]["n_frames"] == 72
    assert [s["start"] for s in data["a"]["scenes"]] == [0, 24, 48]
    assert set(data["a"]["scenes"][0]) == {"start", "end", "keyframe"}
    before = out.read_bytes()
    with pytest.raises(DataError, match=r"no detection by 'ssdev \(ours\)' for videos \['b'\]"):
        write_scenes_json(out, videos, {k: v for k, v in found.items() if k[0] == "a"}, "ssdev (ours)")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scenes.json"]  # no temporary file left


def test_peers_use_scenedetect_defaults(test_videos):
    assert scenedetect_size(640, 272) == (256, 108)
    assert scenedetect_size(224, 128) is None
    assert content_detector().name == "ContentDetector" and adaptive_detector().name == "AdaptiveDetector"


def test_benchmark_measures_every_detector_and_the_decode_floors(test_videos):
    table = benchmark([test_videos.parent / "a.mp4"], all_detectors(), repeats=1)
    assert set(table["what"]) == {
        "ssdev (ours)",
        "ContentDetector",
        "AdaptiveDetector",
        "decode only (gray)",
        "decode only (gray, deblocked)",
        "decode only (rgb24)",
    }
    assert set(table["size"]) == {f"{W}x{H}"}
    assert (table["frames"] == 72).all() and (table["frames_per_s"] > 0).all()


def test_single_shot_clips_and_their_false_cuts(tmp_path):
    write_video(tmp_path / "s0.mp4", _shot(7, 30), fps=25)
    write_video(tmp_path / "s1.mp4", _shot(8, 30), fps=25)
    (tmp_path / "shots.csv").write_text("shot_id,clip,n_frames,fps\ns1,s1.mp4,30,25.0\ns0,s0.mp4,30,25.0\n")
    clips = load_single_shot_clips(tmp_path, 5)
    assert [c.video_id for c in clips] == ["s0", "s1"] and clips[0].cuts == ()
    assert load_single_shot_clips(tmp_path, 0) == []
    table = false_cuts_on_clips(clips, SsimConfig())
    assert table["false cuts: ours"].tolist() == [0, 0]
    assert {"false cuts: paper's rule alone", "false cuts: ours without local-peak test"} <= set(table.columns)
    with pytest.raises(DataError, match="shots.csv' does not exist"):
        load_single_shot_clips(tmp_path / "nowhere", 3)


# -- the real clips of data_manifests/scene_clips.yaml (issue 14) -------------------------------
SCENE_CLIPS = Path(__file__).resolve().parents[3] / "data_manifests" / "scene_clips.yaml"


def test_scene_clips_manifest_loads_with_checksums_and_provenance():
    clips = load_scene_clips(SCENE_CLIPS)
    fast = [c for c in clips if c.group == "fast_motion"]
    multi = [c for c in clips if c.group == "multi_shot"]
    assert len(fast) >= 4 and all(c.cuts == () for c in fast)
    assert multi and all(c.cuts and c.path.is_file() for c in multi)
    nasa = next(c for c in multi if c.video_id == "nasa_13013")
    assert nasa.cuts == (139, 202) and nasa.kinds == ("dissolve", "hard") and nasa.windows == ((127, 151), (202, 202))
    assert [c.video_id for c in load_scene_clips(SCENE_CLIPS, sets=["multi_shot"])] == [c.video_id for c in multi]
    raw = yaml.safe_load(SCENE_CLIPS.read_text())
    for entry in raw["clips"]:
        assert {"repository", "commit", "path", "licence", "sha256", "frames", "cuts", "purpose"} <= set(entry)
    total = sum((SCENE_CLIPS.parent / e["file"]).stat().st_size for e in raw["clips"])
    assert total < 5_000_000  # a few MB in the repository, no more


def _one_clip_manifest(tmp_path, **changes) -> Path:
    raw = yaml.safe_load(SCENE_CLIPS.read_text())
    entry = next(e for e in raw["clips"] if e["id"] == "hand_wave")
    (tmp_path / "clips").mkdir()
    shutil.copyfile(SCENE_CLIPS.parent / entry["file"], tmp_path / "clips" / "wave.webm")
    entry = {**entry, "file": "clips/wave.webm", **changes}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "clips": [entry]}))
    return path


def test_scene_clips_checksum_mismatch_missing_file_and_bad_entries(tmp_path):
    path = _one_clip_manifest(tmp_path)
    assert [c.video_id for c in load_scene_clips(path)] == ["hand_wave"]
    with open(tmp_path / "clips" / "wave.webm", "ab") as fh:  # one more byte: another file
        fh.write(b"\0")
    with pytest.raises(ChecksumMismatchError, match="hand_wave.*wave.webm.*has sha256"):
        load_scene_clips(path)
    (tmp_path / "clips" / "wave.webm").unlink()
    with pytest.raises(ManifestError, match="is missing"):
        load_scene_clips(path)
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(ManifestError, match="lists no cut"):
        load_scene_clips(_one_clip_manifest(bad, cuts=[10]))
    with pytest.raises(ManifestError, match="does not exist"):
        load_scene_clips(tmp_path / "none.yaml")


@pytest.mark.slow
def test_real_fast_motion_clips_give_no_cut_and_real_hard_cuts_are_found():
    clips = load_scene_clips(SCENE_CLIPS)
    for clip in clips:
        det = detect_cuts(clip.path)
        hard = [c for c, k in zip(clip.cuts, clip.kinds) if k == "hard"]
        assert all(any(abs(c - h) <= 2 for c in det.cuts) for h in hard), (clip.video_id, det.cuts)
        assert len(det.cuts) <= len(clip.cuts), (clip.video_id, det.cuts)  # no false cut
        assert det.n_frames == clip.n_frames


def test_fast_motion_table_with_peers_and_hard_cut_f1_by_set(tmp_path):
    path = _one_clip_manifest(tmp_path)
    clips = load_scene_clips(path)
    table = false_cuts_on_clips(clips, SsimConfig(), peers=[adaptive_detector()])
    assert table["false cuts: ours"].tolist() == [0]
    assert {"false cuts: ours without motion compensation", "false cuts: AdaptiveDetector"} <= set(table.columns)
    _, seen = run_all(clips, [SsimCutDetector(SsimConfig()), adaptive_detector()], tolerance=2)
    again = false_cuts_on_clips(clips, SsimConfig(), peers=[adaptive_detector()], found=seen)
    assert again.drop(columns=["threshold", "ssdev_max"]).equals(table.drop(columns=["threshold", "ssdev_max"]))
    found = {(clips[0].video_id, "x"): detect_cuts(clips[0].path)}
    found[(clips[0].video_id, "y")] = replace(found[(clips[0].video_id, "x")], cuts=[40])
    by_set = hard_cut_f1_by_set({"fast": clips}, found, ["x", "y"], tolerance=2).set_index("detector")
    assert by_set.loc["x", "f1_hard"] == 1.0 and by_set.loc["x", "false cuts"] == 0
    assert by_set.loc["y", "f1_hard"] == 0.0 and by_set.loc["y", "false cuts"] == 1
