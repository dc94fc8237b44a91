"""The pieces of whole-video colorization: backend, Lab round trip, run folder checks, benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scenecolor.colorize import model as C
from scenecolor.colorize.backend import ColorizerBackend, TorchColorizer, network_size_hw
from scenecolor.colorize.train import TrainConfig
from scenecolor.colorize.video import colorize_video_file, merge_full_resolution, merge_luma, to_working_gray
from scenecolor.core import media, training
from scenecolor.core.color import lab_to_rgb, rgb_to_lab
from scenecolor.core.errors import DataError, MissingUpstreamError, ParameterError
from scenecolor.data.frames import FrameStoreBuilder, Preprocess
from scenecolor.scenes.ssim_detector import SsimConfig
from scenecolor.workbook.colorize.bench import bench_colorize
from scenecolor.workbook.runs import cut_config, frame_store, open_backend, reference_finder, resolve_run_dir

SMALL = TrainConfig(resolution=32, width=0.125).model_config()


def _photo_frame(h: int = 90, w: int = 160) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def backend() -> TorchColorizer:
    torch.manual_seed(0)
    return TorchColorizer(C.SceneColorizer(SMALL), clip_len=3)


def test_torch_backend_implements_the_protocol_and_reuses_reference_features(backend: TorchColorizer) -> None:
    assert isinstance(backend, ColorizerBackend)
    assert (backend.resolution, backend.max_refs, backend.clip_len) == (32, 5, 3)
    refs = np.concatenate(
        [np.full((2, 32, 32, 1), 60.0), np.random.default_rng(0).uniform(-40, 40, (2, 32, 32, 2))], -1
    ).astype(np.float32)
    feats = backend.encode_references(refs)
    gray = np.random.default_rng(1).random((4, 32, 32)).astype(np.float32)
    ab = backend.predict_ab(gray, feats)
    assert ab.shape == (4, 32, 32, 2) and ab.dtype == np.float32
    assert np.allclose(
        np.concatenate([backend.predict_ab(gray[:2], feats), backend.predict_ab(gray[2:], feats)]).shape, ab.shape
    )


@pytest.mark.parametrize(
    "refs_shape,gray_shape,message",
    [
        ((2, 32, 32, 2), (3, 32, 32), "references must be"),
        ((6, 32, 32, 3), (3, 32, 32), "1 <= R <= 5"),
        ((2, 32, 32, 3), (3, 16, 16), "must have the same H, W"),
        ((2, 32, 32, 3), (3, 24, 32), "grey clip must be"),
        ((2, 32, 32, 3), (0, 32, 32), "T >= 1"),
    ],
)
def test_backend_rejects_wrong_shapes(backend: TorchColorizer, refs_shape, gray_shape, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        feats = backend.encode_references(np.zeros(refs_shape, np.float32))
        backend.predict_ab(np.zeros(gray_shape, np.float32), feats)


def test_lab_round_trip_keeps_the_frame_when_ab_is_its_own() -> None:
    """Full-res L + ab (the frame's own, at working size, upsampled) reproduces the frame closely;
    with ab = 0 the output is the grey version of the frame."""
    frame = _photo_frame()
    import cv2

    ab_small = cv2.resize(rgb_to_lab(frame)[..., 1:], (32, 32), interpolation=cv2.INTER_AREA)
    out = merge_full_resolution(frame, ab_small)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() < 6  # chroma is smooth; L is the frame's own
    exact = merge_full_resolution(frame, rgb_to_lab(frame)[..., 1:])
    assert np.abs(exact.astype(int) - frame).max() <= 1  # Lab -> RGB round trip
    grey = merge_full_resolution(frame, np.zeros((32, 32, 2), np.float32))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 1


def _source(h: int, w: int, colorspace: int = 1, color_range: int = 1) -> media.MediaInfo:
    """What probe_media says of an h x w H.264 input with these colour tags."""
    from fractions import Fraction

    fmt = media.output_pix_fmt(w, h)
    return media.MediaInfo("in.mp4", "mp4", w, h, 25.0, 0, "h264", fmt, Fraction(1, 25), None, None, 0,
                           colorspace, color_range, colorspace, colorspace)  # fmt: skip


def _decoded(rgb: np.ndarray, source: media.MediaInfo) -> media.YuvFrame:
    """``rgb`` as a decoder hands it over: planes in the output layout, the source's matrix and range."""
    return media.YuvFrame(*media.rgb_to_output_yuv(rgb, source, media.output_pix_fmt(source.width, source.height)), 7)


def _to_rgb(frame: media.YuvFrame, source: media.MediaInfo) -> np.ndarray:
    import av

    out = av.VideoFrame(source.width, source.height, media.output_pix_fmt(source.width, source.height))
    for plane, arr in zip(out.planes, (frame.y, frame.u, frame.v)):
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] = arr
    out.colorspace, out.color_range = source.colorspace, source.color_range
    return media._to_rgb(out)


@pytest.mark.parametrize(
    "size,colorspace,color_range", [((90, 160), 1, 1), ((90, 160), 2, 0), ((90, 160), 1, 2), ((45, 81), 6, 1)]
)
def test_luma_merge_keeps_the_y_plane_and_gives_the_frame_back_with_its_own_colours(
    size: tuple[int, int], colorspace: int, color_range: int
) -> None:
    """Y out is Y in, bit for bit (BT.709/601, limited/full range, odd sizes at 4:4:4); with the frame's own
    ab at the working size the merged frame is the frame, as close as the Lab merge gets; ab = 0 is grey."""
    import cv2

    rgb = _photo_frame(*size)
    source = _source(*size, colorspace, color_range)
    frame = _decoded(rgb, source)
    small = cv2.resize(rgb, (48, 27), interpolation=cv2.INTER_AREA)
    lab = rgb_to_lab(small)
    out = merge_luma(frame, lab[..., 0], lab[..., 1:], source)
    assert out.y is frame.y and out.pts == 7
    assert out.u.shape == frame.u.shape and out.v.shape == frame.v.shape and out.u.dtype == np.uint8
    back = _to_rgb(out, source).astype(int)
    lab_merge = merge_full_resolution(rgb, lab[..., 1:]).astype(int)
    assert np.abs(back - rgb).mean() < 6 and np.abs(back - rgb).mean() < np.abs(lab_merge - rgb).mean() + 1.5
    grey = merge_luma(frame, lab[..., 0], np.zeros_like(lab[..., 1:]), source)
    assert np.abs(grey.u.astype(int) - 128).max() <= 1 and np.abs(grey.v.astype(int) - 128).max() <= 1  # no colour
    with pytest.raises(DataError, match="ab must be L's shape"):
        merge_luma(frame, lab[..., 0], lab[:-1, :, 1:], source)


@pytest.mark.parametrize("colorspace", [1, 2])
def test_hybrid_merge_gives_a_grey_frames_colours_their_luminance_back(colorspace: int) -> None:
    """A grey frame (CIE L kept, ab = 0) + its original ab: the Lab merge gives the original back; keeping the
    grey Y plane exactly does not (saturated colours keep a grey's luma); the hybrid merge's low-frequency Y
    shift comes close to the Lab merge, and leaves Y alone where no colour is added."""
    import cv2

    rgb = _photo_frame()
    lab = rgb_to_lab(rgb)
    grey_rgb = merge_full_resolution(rgb, np.zeros_like(lab[..., 1:]))
    source = _source(*rgb.shape[:2], colorspace, 1)
    grey = _decoded(grey_rgb, source)
    small = cv2.resize(lab, (80, 45), interpolation=cv2.INTER_AREA)
    err = {
        "lab": np.abs(merge_full_resolution(grey_rgb, small[..., 1:]).astype(int) - rgb).mean(),
        "luma": np.abs(
            _to_rgb(merge_luma(grey, small[..., 0], small[..., 1:], source), source).astype(int) - rgb
        ).mean(),
        "hybrid": np.abs(
            _to_rgb(merge_luma(grey, small[..., 0], small[..., 1:], source, shift_luma=True), source).astype(int) - rgb
        ).mean(),
    }
    assert err["hybrid"] < err["luma"] - 0.5 and err["hybrid"] < err["lab"] + 1.5, err
    same = merge_luma(grey, small[..., 0], np.zeros_like(small[..., 1:]), source, shift_luma=True)
    assert np.abs(same.y.astype(int) - grey.y).mean() < 0.5  # no colour: no shift but at edges (L of an average)


def test_colorize_refuses_an_unknown_merge_before_writing(tmp_path) -> None:
    import pickle

    from helpers.media import make_clip
    from scenecolor.cli import worded

    clip = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    with pytest.raises(ParameterError, match="^merge must be one of hybrid, luma, lab") as caught:
        colorize_video_file(
            clip, out, model=None, finder=None, prep=Preprocess(size=32), cut_config=SsimConfig(), merge="rgb"
        )  # type: ignore[arg-type]
    assert not out.exists()
    assert caught.value.parameter == "merge" and pickle.loads(pickle.dumps(caught.value)).parameter == "merge"
    assert worded(caught.value).startswith("--merge must be one of hybrid, luma, lab")  # how the CLI says it
    assert worded(ParameterError("no flag here")) == "no flag here"


def test_working_gray_is_the_frame_stores_lightness_at_the_model_size() -> None:
    frame = _photo_frame()
    size = network_size_hw(*frame.shape[:2], 32)
    assert size[0] % 16 == 0 and size[1] % 16 == 0 and size[1] > size[0]  # the frame's aspect ratio, about 32x32 pixels
    gray = to_working_gray(frame, Preprocess(size=64, mean_filter=3), size) / 100.0
    assert gray.shape == size and 0 <= gray.min() and gray.max() <= 1
    lab = rgb_to_lab(frame)
    lab[..., 1:] = 0
    grey_frame = (lab_to_rgb(lab) * 255 + 0.5).astype(np.uint8)  # the same frame as a grey video would hold it
    diff = np.abs(to_working_gray(grey_frame, Preprocess(size=64, mean_filter=3), size) / 100.0 - gray)
    assert diff.mean() < 0.005 and diff.max() < 0.05  # resizing averages RGB, not L: small differences at edges


def test_missing_run_folder_and_missing_colorizer_name_the_fix(tmp_path) -> None:
    with pytest.raises(MissingUpstreamError, match="--run"):
        resolve_run_dir(tmp_path / "nope")
    with pytest.raises(MissingUpstreamError, match="04_colorizer_training"):
        open_backend(tmp_path, "torch")
    with pytest.raises(ParameterError, match="backend"):
        open_backend(tmp_path, "tensorflow")


def test_run_settings_are_read_from_the_run_never_defaulted(tmp_path) -> None:
    from scenecolor.core.artifacts import atomic_write_json

    with pytest.raises(MissingUpstreamError, match="00_data_prep"):
        frame_store(tmp_path)
    with pytest.raises(MissingUpstreamError, match="02_scene_analysis"):
        cut_config(tmp_path)
    prep = Preprocess(size=16, mean_filter=5)
    with FrameStoreBuilder(tmp_path / "artifacts" / "00_data_prep" / "frames", 16, prep) as builder:
        builder.add(
            np.zeros((16, 16, 3), np.uint8),
            video_id="v",
            shot_id="s",
            split="train",
            source_frame=0,
            source="x",
            synthetic_motion=False,
        )
    atomic_write_json(
        tmp_path / "artifacts" / "02_scene_analysis" / "meta.json",
        {"params": {"k": 3.0, "tolerance": 2, "min_scene_len": 4}},
    )
    assert frame_store(tmp_path).preprocess == prep
    cfg = cut_config(tmp_path)
    assert cfg.k == 3.0 and cfg.min_scene_len == 4


def test_backend_from_checkpoint_takes_the_training_clip_length(tmp_path) -> None:
    model = C.SceneColorizer(SMALL)
    path = tmp_path / "artifacts" / "04_colorizer_training" / "colorizer.pt"
    training.save_checkpoint(
        path,
        arch=C.ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {"clip_len": 4}},
        history=[],
    )
    backend = open_backend(tmp_path, "torch")
    assert backend.clip_len == 4 and backend.resolution == 32


def test_benchmark_counts_flops_and_times_the_forward_pass() -> None:
    result = bench_colorize(resolution=32, n_refs=2, clip_len=2, repeats=1, model=C.SceneColorizer(SMALL))
    assert (
        result.gflop_per_frame > 0
        and result.gflop_refs > 0
        and result.ms_per_frame_best > 0
        and result.matmul_gflops > 0
    )
    assert result.ms_at_matmul_rate == pytest.approx(1e3 * result.gflop_per_frame / result.matmul_gflops)
    rows = {r["quantity"]: r for r in result.rows()}
    assert rows["parameters (M)"]["paper (quoted)"] == 3.2 and rows["time per frame (ms)"]["paper (quoted)"] == 2600.0
    with pytest.raises(ParameterError):
        bench_colorize(n_refs=6)


def test_reference_finder_names_the_missing_step(tmp_path) -> None:
    with pytest.raises(MissingUpstreamError, match="01_embedder_training"):
        reference_finder(tmp_path)
    (tmp_path / "artifacts" / "01_embedder_training").mkdir(parents=True)
    (tmp_path / "artifacts" / "01_embedder_training" / "embedder.pt").write_bytes(b"")
    with pytest.raises(MissingUpstreamError, match="03_reference_selection"):
        reference_finder(tmp_path)
