"""Grey queries, galleries (build, incremental, unreadable files, index kind) and the references a finder reports."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scenecolor.colorize.refs import ReferenceFinder, scene_query_frames
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.core.video import write_video
from scenecolor.data.frames import Preprocess, preprocess_frame
from scenecolor.embed.model import Embedder, EmbedderConfig, grey_input, to_input
from scenecolor.retrieval import descriptors as D
from scenecolor.retrieval import gallery as G
from scenecolor.retrieval import index as R

PREP = Preprocess(size=32, mean_filter=1)
SPEC = G.EncoderSpec("test", "tiny", 8, "grey", {"size": 32, "mean_filter": 1})


def _colour_image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _write_png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


class _Counting:
    """A deterministic tiny-image encoder that counts the frames it encodes."""

    def __init__(self) -> None:
        self.frames = 0
        self._lock = threading.Lock()  # the build's workers call it from two threads

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        with self._lock:
            self.frames += len(frames)
        x = np.stack([cv2.resize(f, (4, 2), interpolation=cv2.INTER_AREA) for f in frames]).reshape(len(frames), -1)
        x = x.astype(np.float32) - 127.5
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _two_shot_video(path: Path, n: int = 24) -> Path:
    a, b = _colour_image(10, 64, 96), _colour_image(11, 64, 96)[::-1]
    frames = [np.roll(a, i, axis=1) for i in range(n // 2)] + [np.roll(b, i, axis=1) for i in range(n - n // 2)]
    return write_video(path, frames, 12.0)


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    for i in range(3):
        _write_png(folder / f"img{i}.png", _colour_image(i))
    _two_shot_video(folder / "sub" / "clip.mp4")
    return folder


# -- grey queries ----------------------------------------------------------------------------------------
def test_grey_input_is_the_lightness_on_three_equal_channels() -> None:
    frames = np.stack([_colour_image(0), _colour_image(1)])
    x = to_input(frames, 32, grey=True)
    assert x.shape == (2, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    grey_copy = np.repeat(D.lightness(frames)[..., None] / 100.0, 3, axis=-1)  # a frame with no colour at all
    assert torch.allclose(
        grey_input(to_input(frames.astype(np.float32) / 255.0, 48)),
        to_input(grey_copy.astype(np.float32), 48),
        atol=2e-3,
    )  # L of a grey frame is itself: colour plays no part (both resized in float)


class _Recorder(torch.nn.Module):
    """An embedder stand-in that records every input batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Embedder(EmbedderConfig("resnet18"))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.net(x)


def test_colour_never_reaches_the_query_encoder() -> None:
    """The finder's queries are grey whatever colour the key frames have: a failing test if colour leaks."""
    torch.manual_seed(0)
    recorder = _Recorder().eval()
    pool = np.stack([_colour_image(i, 32, 32) for i in range(6)])
    feats = R.model_encoder(recorder.net, 32)(pool)
    finder = ReferenceFinder(
        encode=R.query_encoder(recorder, 32),
        index=R.build_index(feats, kind="flat"),
        features=feats,
        ids=np.arange(6),
        describe=lambda ids: [{"source": f"p{i}", "frame": None} for i in ids],
        load=lambda ids: pool[ids],
    )
    keyframes = [[_colour_image(20, 32, 32), _colour_image(21, 32, 32)], [_colour_image(22, 32, 32)]]
    found = finder.find_scenes(keyframes, 2)
    assert recorder.seen, "the query encoder was never called"
    for batch in recorder.seen:
        assert batch.shape[1] == 3
        assert torch.equal(batch[:, 0], batch[:, 1]) and torch.equal(batch[:, 1], batch[:, 2]), "colour reached it"
    assert [len(f.ids) for f in found] == [2, 2]
    for f in found:
        assert [r["source"] for r in f.references] == [f"p{i}" for i in f.ids]
        assert all(isinstance(r["score"], float) for r in f.references)
        assert f.references[0]["score"] >= f.references[1]["score"]


def test_scene_query_frames_spread_over_the_scene() -> None:
    assert scene_query_frames({"start": 0, "end": 30}, 3) == [5, 15, 25]
    assert scene_query_frames({"start": 10, "end": 11}, 3) == [10]
    assert scene_query_frames({"start": 4, "end": 9}, 1) == [6]


def test_aggregated_search_ranks_by_mean_cosine_over_the_scene() -> None:
    x = np.eye(4, dtype=np.float32)
    q = [np.array([[1, 0.9, 0, 0], [0, 1, 0, 0]], np.float32)]
    q[0] /= np.linalg.norm(q[0], axis=1, keepdims=True)
    ((pos, score),) = R.search_aggregated(R.build_index(x, kind="flat"), x, q, 2)
    assert list(pos) == [1, 0]  # row 1 suits both frames; row 0 only the first
    assert np.isclose(score[0], (q[0][:, 1]).mean())


def test_l_only_baselines_ignore_colour() -> None:
    img = _colour_image(3)
    swapped = img[..., ::-1].copy()  # other colours ...
    grey = np.repeat(np.round(D.lightness(img[None])[0] * 2.55).astype(np.uint8)[..., None], 3, -1)
    h = D.grey_histogram(np.stack([img, swapped, grey]), bins=16)
    assert h.shape == (3, 16) and np.allclose(np.linalg.norm(h, axis=1), 1)
    hog = D.hog_descriptor(np.stack([img, img]), size=32)
    assert np.allclose(hog[0], hog[1]) and np.isclose(np.linalg.norm(hog[0]), 1)
    with pytest.raises(DataError):
        D.grey_histogram(np.zeros((2, 8, 8), np.uint8))


# -- galleries ---------------------------------------------------------------------------------------------
def test_gallery_build_on_images_and_a_video(media: Path, tmp_path: Path) -> None:
    enc = _Counting()
    report = G.build_gallery([media], tmp_path / "g", encode=enc, encoder=SPEC, prep=PREP, frames_per_shot=2)
    gal = G.Gallery.open(tmp_path / "g")
    t = gal.table
    images = t[t["frame"] < 0]
    video = t[t["frame"] >= 0]
    assert sorted(Path(s).name for s in images["source"]) == ["img0.png", "img1.png", "img2.png"]
    assert set(Path(s).name for s in video["source"]) == {"clip.mp4"}
    assert len(video) >= 2 and video["frame"].is_monotonic_increasing  # a few frames per shot
    assert all(len(h) == 64 for h in t["content_hash"])
    assert report.files_encoded == 4 and report.vectors == len(t) == enc.frames == gal.index.n
    assert gal.index.kind == "flat" and report.recall_at_1 is None
    assert gal.describe([0])[0]["frame"] is None
    assert gal.load_frames([len(t) - 1, 0], PREP).shape == (2, 32, 32, 3)
    settings = json.loads((tmp_path / "g" / G.GALLERY_FILE).read_text())
    assert settings["index_kind"] == "flat" and settings["vectors"] == len(t)


@pytest.mark.usefixtures("two_torch_threads")
def test_chunks_on_two_threads_give_the_rows_and_vectors_of_one_thread(media: Path, tmp_path: Path) -> None:
    for i in range(3, 8):
        _write_png(media / f"img{i}.png", _colour_image(i))
    (media / "broken.png").write_bytes(b"not a png")  # a skipped file inside a chunk shifts nothing
    threads = torch.get_num_threads()
    with pytest.warns(G.GalleryWarning, match="broken.png"):
        G.build_gallery([media], tmp_path / "one", encode=_Counting(), encoder=SPEC, prep=PREP, batch_size=2, workers=1)
    with pytest.warns(G.GalleryWarning, match="broken.png"):
        G.build_gallery([media], tmp_path / "two", encode=_Counting(), encoder=SPEC, prep=PREP, batch_size=2, workers=2)
    assert torch.get_num_threads() == threads  # the workers' single-thread setting is undone
    one, two = G.Gallery.open(tmp_path / "one"), G.Gallery.open(tmp_path / "two")
    assert one.table.equals(two.table) and np.array_equal(one.features, two.features)
    assert len(two) == 8 + len(two.table[two.table["frame"] >= 0])  # 8 images and the video's frames
    rows = range(len(two))
    assert np.allclose(two.features, _Counting()(two.load_frames(rows, PREP)), atol=1e-6)  # each row its own frame


def test_two_single_thread_networks_encode_as_one_network_on_all_threads(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for i in range(6):
        _write_png(folder / f"i{i}.png", _colour_image(200 + i))
    torch.manual_seed(0)
    encode = R.model_encoder(Embedder(EmbedderConfig("resnet18", pooling="regional")), 32, grey=True)
    for workers in (1, 2):
        G.build_gallery(
            [folder], tmp_path / f"g{workers}", encode=encode, encoder=SPEC, prep=PREP, batch_size=4, workers=workers
        )
    a, b = G.Gallery.open(tmp_path / "g1"), G.Gallery.open(tmp_path / "g2")
    assert a.table.equals(b.table) and np.allclose(a.features, b.features, atol=1e-5)


def test_a_rotated_phone_clip_is_indexed_and_loaded_upright(tmp_path: Path) -> None:
    """`colorize` turns its grey key frames upright; the gallery's frames of a rotated clip must be turned too."""
    from helpers.media import make_clip
    from scenecolor.core.video import iter_frames

    (tmp_path / "media").mkdir()
    clip = make_clip(tmp_path / "media" / "phone.mp4", size=(64, 48), rotation=90)
    coded = next(iter_frames(clip))
    frames = G.video_frames(clip, per_shot=1)
    assert coded.shape[:2] == (48, 64) and frames[0][1].shape[:2] == (64, 48)
    assert np.array_equal(frames[0][1], np.rot90(next(f for n, f in enumerate(iter_frames(clip)) if n == frames[0][0])))
    G.build_gallery([tmp_path / "media"], tmp_path / "g", encode=_Counting(), encoder=SPEC, prep=PREP)
    gal = G.Gallery.open(tmp_path / "g")
    upright = np.stack([preprocess_frame(img, PREP) for _, img in G.video_frames(clip, per_shot=3)])
    assert np.array_equal(gal.load_frames(range(len(gal)), PREP), upright)
    assert np.allclose(gal.features, _Counting()(upright), atol=1e-6)


def test_rebuild_encodes_only_new_or_changed_files(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    G.build_gallery([media], out, encode=_Counting(), encoder=SPEC, prep=PREP)
    before = G.Gallery.open(out)
    _write_png(media / "img9.png", _colour_image(9))
    enc = _Counting()
    report = G.build_gallery([media], out, encode=enc, encoder=SPEC, prep=PREP)
    after = G.Gallery.open(out)
    assert enc.frames == 1 and report.files_encoded == 1 and report.files_unchanged == 4
    assert len(after) == len(before) + 1
    assert np.array_equal(after.features[: len(before)], before.features)  # nothing already indexed is lost
    _write_png(media / "img0.png", _colour_image(99))  # changed content: re-encoded, old row replaced
    enc = _Counting()
    G.build_gallery([media], out, encode=enc, encoder=SPEC, prep=PREP)
    again = G.Gallery.open(out)
    assert enc.frames == 1 and len(again) == len(after)
    assert (again.table["source"] == str((media / "img0.png").resolve())).sum() == 1
    with pytest.raises(ParameterError, match="another embedder"):
        G.build_gallery([media], out, encode=enc, encoder=G.EncoderSpec("other", "tiny", 8, "grey", {}), prep=PREP)


def test_unreadable_file_is_skipped_with_a_warning_and_nothing_is_lost(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    G.build_gallery([media], out, encode=_Counting(), encoder=SPEC, prep=PREP)
    n = len(G.Gallery.open(out))
    (media / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    _write_png(media / "new.png", _colour_image(5))
    with pytest.warns(G.GalleryWarning) as caught:
        report = G.build_gallery([media], out, encode=_Counting(), encoder=SPEC, prep=PREP)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.jpg" in messages and "broken.mp4" in messages
    assert sorted(Path(p).name for p in report.files_skipped) == ["broken.jpg", "broken.mp4"]
    assert len(G.Gallery.open(out)) == n + 1


def test_index_kind_follows_size_and_its_recall_is_measured(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(40):
        _write_png(folder / f"i{i:02d}.png", _colour_image(100 + i, 24, 32))
    report = G.build_gallery([folder], tmp_path / "h", encode=_Counting(), encoder=SPEC, prep=PREP, index_kind="hnsw")
    gal = G.Gallery.open(tmp_path / "h")
    assert gal.index.kind == report.index_kind == "hnsw"
    assert report.recall_at_1 is not None and 0.0 <= report.recall_at_1 <= 1.0
    small = G.build_gallery([folder], tmp_path / "f", encode=_Counting(), encoder=SPEC, prep=PREP, exact_max=100)
    assert small.index_kind == "flat"


def test_index_file_round_trip_keeps_its_kind(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    R.write_index(tmp_path / "index.faiss", R.build_index(x, kind="hnsw"))
    back = R.read_index(tmp_path / "index.faiss")
    assert (back.kind, back.n, back.dim) == ("hnsw", 50, 8)
    (tmp_path / "index.json").unlink()
    with pytest.raises(DataError, match="missing"):
        R.read_index(tmp_path / "index.faiss")


def test_missing_source_and_empty_gallery_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        G.build_gallery([tmp_path / "nope"], tmp_path / "g", encode=_Counting(), encoder=SPEC, prep=PREP)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="nothing to index"):
        G.build_gallery([tmp_path / "empty"], tmp_path / "g", encode=_Counting(), encoder=SPEC, prep=PREP)
    with pytest.raises(DataError, match="not a gallery"):
        G.Gallery.open(tmp_path / "empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert G.media_files([tmp_path / "empty"]) == []


def test_gallery_bench_times_the_build_against_the_floor_of_the_same_network(tmp_path: Path) -> None:
    from scenecolor.workbook.retrieval.bench import bench_gallery

    row = bench_gallery(6, input_size=32, batch_size=4, scenes=2, queries_per_scene=2, work_dir=tmp_path)
    assert len(list((tmp_path / "images").glob("*.jpg"))) == 6
    assert row["images"] == 6 and row["files skipped"] == 0 and row["index"] == "flat"
    assert "regional pooling" in row["backbone"]
    assert row["build frames/s"] > 0 and row["FLOP floor frames/s"] > 0
    assert row["build / floor"] == pytest.approx(row["build frames/s"] / row["FLOP floor frames/s"])
    assert row["build / half floor"] == pytest.approx(2 * row["build / floor"])
    assert row["search ms per scene"] > 0 and row["queries per scene"] == 2
    with pytest.raises(ParameterError, match="images >= 1"):
        bench_gallery(0, work_dir=tmp_path)


def test_images_are_pre_processed_as_the_store_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (5, 5), 0)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), img)
    for prep in (Preprocess(size=32), Preprocess(size=32, resize_mode="center_crop"), Preprocess(size=200)):
        got = G.read_image_preprocessed(path, prep)
        assert np.array_equal(got, preprocess_frame(img[..., ::-1], prep)) and got.flags.c_contiguous
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        G.read_image_preprocessed(tmp_path / "bad.png", Preprocess())


def test_large_jpegs_decode_scaled_down_within_a_few_grey_levels(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    img = cv2.resize(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), (1200, 800), interpolation=cv2.INTER_CUBIC)
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = big.read_bytes()
    assert G.jpeg_reduction(data, 150) == 4  # 800 / 4 = 200 >= 150 > 800 / 8
    assert G.jpeg_reduction(data, 800) == 1 and G.jpeg_reduction(data, 400) == 2 and G.jpeg_reduction(data, 100) == 8
    assert G.jpeg_reduction(np.frombuffer(data, np.uint8), 150) == 4
    cv2.imwrite(str(tmp_path / "big.png"), img)
    assert G.jpeg_reduction((tmp_path / "big.png").read_bytes(), 10) == 1  # only JPEGs scale while decoding
    assert G.jpeg_reduction(b"\xff\xd8 truncated", 10) == 1
    prep = Preprocess(size=64)
    fast = G.read_image_preprocessed(big, prep)  # decoded at 1/4 (short side 200 >= 2 x 64)
    exact = preprocess_frame(G.read_image(big), prep)
    diff = np.abs(fast.astype(int) - exact.astype(int))
    assert fast.shape == exact.shape == (64, 64, 3)
    assert diff.max() <= 3 and diff.mean() < 0.5


def test_hog_grid_gives_each_setting_the_vectors_of_hog_descriptor() -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    grid = D.hog_grid(frames, [(32, 8), (32, 16)], chunk=2)  # chunks of 2 over 5 frames
    assert list(grid) == ["32 px, 8 px cells", "32 px, 16 px cells"]
    assert np.array_equal(grid["32 px, 8 px cells"], D.hog_descriptor(frames, size=32, cell=8))
    assert np.array_equal(grid["32 px, 16 px cells"], D.hog_descriptor(frames, size=32, cell=16))
    with pytest.raises(DataError, match="no HOG setting"):
        D.hog_grid(frames, [])
    with pytest.raises(DataError, match="HOG needs size"):
        D.hog_grid(frames, [(16, 16)])
