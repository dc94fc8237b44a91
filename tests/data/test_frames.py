"""The frame store: pre-processing, streaming build, memmapped reads, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenecolor.core.artifacts import sha256_file
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError
from scenecolor.data import frames as F

S = 16


def _frame(value: int, h: int = 30, w: int = 40) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = value
    img[:, : w // 2, 2] = 255 - value
    return img


def _build(folder: Path, n_shots: int = 3, per_shot: int = 4) -> list[np.ndarray]:
    stored = []
    prep = F.Preprocess(size=S, mean_filter=3)
    with F.FrameStoreBuilder(folder, S) as builder:
        for s in range(n_shots):
            for k in range(per_shot):
                frame = F.preprocess_frame(_frame(20 * s + k), prep)
                stored.append(frame)
                builder.add(
                    frame,
                    video_id=f"v{s % 2}",
                    shot_id=f"shot{s}",
                    split=("train", "val", "test")[s % 3],
                    source_frame=k * 10,
                    source=f"src{s}",
                    synthetic_motion=s == 2,
                )
    return stored


def test_preprocess_shapes_filter_and_modes() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = F.preprocess_frame(frame, F.Preprocess(size=24, mean_filter=1))
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    blurred = F.preprocess_frame(frame, F.Preprocess(size=24, mean_filter=5))
    assert blurred.std() < out.std()  # the box filter removes noise
    const = np.full((30, 50, 3), 77, np.uint8)
    assert (
        F.preprocess_frame(const, F.Preprocess(size=24, mean_filter=3)) == 77
    ).all()  # reflected borders: no dark edge
    # centre crop keeps the middle: a frame whose outer thirds are black stays bright
    framed = np.zeros((30, 90, 3), np.uint8)
    framed[:, 30:60] = 200
    assert F.preprocess_frame(framed, F.Preprocess(size=24, mean_filter=1, resize_mode="center_crop")).min() == 200
    assert F.preprocess_frame(framed, F.Preprocess(size=24, mean_filter=1, resize_mode="stretch")).min() == 0
    # small frames are enlarged
    assert F.preprocess_frame(frame[:10, :10], F.Preprocess(size=24)).shape == (24, 24, 3)


def test_bad_preprocess_parameters_and_frames() -> None:
    with pytest.raises(DataError, match="odd"):
        F.Preprocess(mean_filter=4)
    with pytest.raises(DataError, match=">= 8"):
        F.Preprocess(size=4)
    with pytest.raises(DataError, match="resize_mode"):
        F.Preprocess(resize_mode="squash")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="RGB uint8"):
        F.preprocess_frame(np.zeros((10, 10), np.uint8))
    with pytest.raises(DataError, match="RGB uint8"):
        F.preprocess_frame(np.zeros((10, 10, 3), np.float32))


def test_sample_indices() -> None:
    assert F.sample_indices(25, 10) == [0, 10, 20]
    assert F.sample_indices(8, 10, start=242) == [242]
    with pytest.raises(DataError, match="frame_step"):
        F.sample_indices(5, 0)


def test_build_open_and_read(tmp_path: Path) -> None:
    stored = _build(tmp_path / "step" / "frames")
    store = F.FrameStore.open(tmp_path / "step")  # the step folder works as well as frames/
    assert len(store) == 12 and store.size == S
    assert isinstance(store._frames, np.memmap)  # read lazily, never loaded whole
    assert list(store.index.columns) == list(F.INDEX_COLUMNS)
    np.testing.assert_array_equal(store.uint8([0, 5]), np.stack([stored[0], stored[5]]))
    rgb = store.rgb(np.arange(12))
    assert rgb.dtype == np.float32 and rgb.shape == (12, S, S, 3) and 0 <= rgb.min() and rgb.max() <= 1
    lab = store.lab([3])
    np.testing.assert_allclose(lab, rgb_to_lab(stored[3][None]), atol=1e-4)
    np.testing.assert_allclose(store.gray([3]), lab[..., 0] / 100, atol=1e-6)
    assert store.ids(split="val").tolist() == [4, 5, 6, 7]
    assert store.ids(shot_id="shot2").tolist() == [8, 9, 10, 11]
    assert store.ids(video_id="v0", split="train").tolist() == [0, 1, 2, 3]
    assert store.index.loc[8, "synthetic_motion"] and not store.index.loc[0, "synthetic_motion"]
    reopened = F.FrameStore.open(tmp_path / "step" / "frames")
    assert len(reopened) == 12


def test_read_errors(tmp_path: Path) -> None:
    _build(tmp_path / "frames")
    store = F.FrameStore.open(tmp_path)
    with pytest.raises(DataError, match="split must be one of"):
        store.ids(split="training")
    with pytest.raises(DataError, match="0..11"):
        store.rgb([12])


def test_missing_store_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="frames.npy' is missing.*00_data_prep"):
        F.FrameStore.open(tmp_path / "nothing")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((12, S, S + 1, 3), np.uint8), r"must be uint8 \(N, S, S, 3\)"),
        (np.zeros((12, S, S, 3), np.float32), r"must be uint8 \(N, S, S, 3\)"),
        (np.zeros((12, S, S), np.uint8), r"must be uint8 \(N, S, S, 3\)"),
        (np.zeros((11, S, S, 3), np.uint8), "index.csv lists 12 frames but frames.npy holds 11"),
    ],
    ids=["not-square", "float", "no-channels", "length-mismatch"],
)
def test_inconsistent_store(tmp_path: Path, array: np.ndarray, message: str) -> None:
    _build(tmp_path / "frames")
    np.save(tmp_path / "frames" / "frames.npy", array)
    with pytest.raises(DataError, match=message):
        F.FrameStore.open(tmp_path)


def test_index_problems(tmp_path: Path) -> None:
    _build(tmp_path / "frames")
    index = pd.read_csv(tmp_path / "frames" / "index.csv")
    index.drop(columns=["shot_id"]).to_csv(tmp_path / "frames" / "index.csv", index=False)
    with pytest.raises(DataError, match="lacks columns"):
        F.FrameStore.open(tmp_path)
    index.assign(frame_id=index["frame_id"][::-1].to_numpy()).to_csv(tmp_path / "frames" / "index.csv", index=False)
    with pytest.raises(DataError, match="0..N-1"):
        F.FrameStore.open(tmp_path)
    (tmp_path / "frames" / "frames.npy").write_bytes(b"not an npy file")
    with pytest.raises(DataError, match="cannot be read"):
        F.FrameStore.open(tmp_path)


def test_failed_build_keeps_the_earlier_store(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    _build(folder)
    before = sha256_file(folder / "frames.npy"), sha256_file(folder / "index.csv")
    with pytest.raises(RuntimeError, match="decoder died"):
        with F.FrameStoreBuilder(folder, S) as builder:
            builder.add(
                np.zeros((S, S, 3), np.uint8),
                video_id="x",
                shot_id="x",
                split="train",
                source_frame=0,
                source="x",
                synthetic_motion=False,
            )
            raise RuntimeError("decoder died")
    with pytest.raises(DataError, match="no frames were added"):
        with F.FrameStoreBuilder(folder, S):
            pass
    assert (sha256_file(folder / "frames.npy"), sha256_file(folder / "index.csv")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no staging folder left behind


def test_builder_rejects_bad_frames(tmp_path: Path) -> None:
    with F.FrameStoreBuilder(tmp_path / "frames", S) as builder:
        with pytest.raises(DataError, match=r"uint8 \(16, 16, 3\)"):
            builder.add(
                np.zeros((S, S + 2, 3), np.uint8),
                video_id="v",
                shot_id="s",
                split="train",
                source_frame=0,
                source="x",
                synthetic_motion=False,
            )
        with pytest.raises(DataError, match="split must be one of"):
            builder.add(
                np.zeros((S, S, 3), np.uint8),
                video_id="v",
                shot_id="s",
                split="holdout",
                source_frame=0,
                source="x",
                synthetic_motion=False,
            )
        builder.add(
            np.zeros((S, S, 3), np.uint8),
            video_id="v",
            shot_id="s",
            split="test",
            source_frame=0,
            source="x",
            synthetic_motion=False,
        )
    assert len(F.FrameStore.open(tmp_path)) == 1
    with pytest.raises(DataError, match="outside its `with` block"):
        F.FrameStoreBuilder(tmp_path / "other", S).add(
            np.zeros((S, S, 3), np.uint8),
            video_id="v",
            shot_id="s",
            split="test",
            source_frame=0,
            source="x",
            synthetic_motion=False,
        )


def test_rebuild_replaces_the_store(tmp_path: Path) -> None:
    _build(tmp_path / "frames", n_shots=3)
    _build(tmp_path / "frames", n_shots=1)
    assert len(F.FrameStore.open(tmp_path)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
