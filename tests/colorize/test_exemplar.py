"""Exemplar colorization: your own references, the correspondence stage, training that teaches copying."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from helpers.colorizer import build_photo_store, build_reference_table, photo
from scenecolor.colorize import correspondence as K
from scenecolor.colorize.exemplar import check_has_colour, colorize_scene, load_reference, load_references
from scenecolor.colorize.train import TrainConfig, load_training_data, train_colorizer
from scenecolor.core.color import AB_SCALE, lab_to_rgb, rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.core.video import write_video


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def _affine(img: np.ndarray, scale: float, dx: float, dy: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# -- references -----------------------------------------------------------------------------------
def test_reference_from_an_image_and_from_a_video_frame(tmp_path: Path) -> None:
    img = cv2.resize(photo("coffee"), (96, 64))
    png, jpg = tmp_path / "ref.png", tmp_path / "ref.jpg"
    cv2.imwrite(str(png), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(jpg), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert np.array_equal(load_reference(png), img)
    assert np.abs(load_reference(jpg).astype(int) - img).mean() < 6
    frames = np.stack([np.roll(img, 8 * t, axis=1) for t in range(5)])
    clip = tmp_path / "clip.mp4"
    write_video(clip, frames, 25.0)
    got = load_reference(f"{clip}#frame=3")
    assert got.shape == img.shape
    errors = [np.abs(got.astype(int) - f).mean() for f in frames]
    assert int(np.argmin(errors)) == 3  # the frame asked for, not another
    assert len(load_references([png, f"{clip}#frame=0"])) == 2


def test_grey_reference_is_refused_with_a_message(tmp_path: Path) -> None:
    grey = np.repeat(cv2.cvtColor(photo("coffee"), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), grey)
    with pytest.raises(DataError, match="grey.png.*has no colour"):
        load_reference(path)
    with pytest.raises(DataError, match="has no colour"):
        check_has_colour(grey, "x")


def test_missing_or_unreadable_reference_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.png' does not exist"):
        load_reference(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.jpg' cannot be read"):
        load_reference(bad)
    clip = tmp_path / "c.mp4"
    write_video(clip, np.stack([photo("coffee")[:64, :64]] * 3), 25.0)
    with pytest.raises(DataError, match="has no frame 7"):
        load_reference(f"{clip}#frame=7")
    with pytest.raises(ParameterError, match="1 to 5 references"):
        load_references([])


# -- the correspondence stage -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_correspondence_recovers_a_shifted_and_rescaled_copy_of_its_reference(name: str) -> None:
    """The stage alone (no learning): its warped ab + the frame's L give the frame back at > 35 dB."""
    ref = cv2.resize(photo(name), (160, 128), interpolation=cv2.INTER_AREA)
    frame = _affine(ref, 1.12, 6.0, -4.0)  # zoomed in 12 %, shifted: every pixel of the frame is in the reference
    ref_lab, frame_lab = rgb_to_lab(ref).astype(np.float32), rgb_to_lab(frame).astype(np.float32)
    guide = K.scene_guides(frame_lab[None, ..., 0], ref_lab)
    ab, conf = K.blend_guides(guide)
    m = 8  # borders aside (the reflected border of the synthetic warp is not in the reference)
    out = lab_to_rgb(np.concatenate([frame_lab[..., :1], ab[0]], axis=-1))[m:-m, m:-m]
    truth = lab_to_rgb(frame_lab)[m:-m, m:-m]
    assert _psnr(out, truth) > 35.0
    assert conf.mean() > 0.5
    paste = lab_to_rgb(np.concatenate([frame_lab[..., :1], ref_lab[..., 1:]], axis=-1))[m:-m, m:-m]
    assert _psnr(paste, truth) < _psnr(out, truth) - 5  # it is a real correspondence, not the reference in place


def test_propagation_carries_colour_forward_and_backward() -> None:
    ref = cv2.resize(photo("chelsea"), (128, 96), interpolation=cv2.INTER_AREA)
    frames = np.stack([_affine(ref, 1.0 + 0.02 * t, 3.0 * t, 0.0) for t in range(6)])
    lab = rgb_to_lab(frames).astype(np.float32)
    guide = K.scene_guides(lab[..., 0], lab[0])
    assert guide.shape == (6, 96, 128, K.GUIDE_CHANNELS)
    assert np.all((guide[..., 2::3] >= 0) & (guide[..., 2::3] <= 1))
    err_fwd = np.abs(guide[1:, 8:-8, 8:-8, 3:5] * AB_SCALE - lab[1:, 8:-8, 8:-8, 1:]).mean()
    assert err_fwd < 3.0


def test_attention_warp_moves_colour_to_matching_content() -> None:
    """Hand-made features (the encoder bypassed): each frame position attends to the reference position with the
    same content, takes its ab, and its confidence is the attention-weighted cosine similarity, as the explicit
    softmax formula gives it (the module computes it in one fused attention call)."""
    att = K.CorrespondenceAttention(dim=8)
    att.encoder = torch.nn.Identity()
    keys = torch.eye(8)[None]  # 8 reference positions, one-hot unit features
    values = torch.arange(16, dtype=torch.float32).reshape(1, 8, 2) / 16
    frames = keys[0, [3, 5, 0, 7]].T.reshape(1, 8, 2, 2)  # one frame, 2x2 positions matching keys 3, 5, 0, 7
    with torch.no_grad():
        att.log_temperature.fill_(np.log(50.0))
        ab, conf = att(frames, keys, values, batch=1)  # upsampled to the frame's 2x2 (identity here)
        q = frames.flatten(2).transpose(1, 2)
        sim = torch.bmm(q, keys.transpose(1, 2))
        attn = torch.softmax(sim * 50.0, -1)
        want_ab = torch.bmm(attn, values)[0].T.reshape(2, 2, 2)
        want_conf = torch.sigmoid(att.conf_gain * (attn * sim).sum(-1) + att.conf_bias)[0].reshape(2, 2)
    assert torch.allclose(ab[0], want_ab, atol=1e-5) and torch.allclose(conf[0, 0], want_conf, atol=1e-5)
    assert torch.allclose(ab[0, :, 0, 0], values[0, 3], atol=1e-3) and torch.allclose(
        ab[0, :, 1, 1], values[0, 7], atol=1e-3
    )


def test_reference_side_is_pooled_to_a_sixteenth() -> None:
    """key_pool 2: 1/16-size keys (unit vectors) and the ab of each 16x16 cell; 4x fewer positions than key_pool 1."""
    torch.manual_seed(0)
    refs = torch.rand(2, 3, 64, 96) * 2 - 1  # R = 2 references as (L/50 - 1, ab/110)
    fine, coarse = K.CorrespondenceAttention(dim=8, key_pool=1), K.CorrespondenceAttention(dim=8, key_pool=2)
    coarse.load_state_dict(fine.state_dict())
    with torch.no_grad():
        k1, v1 = fine.reference_side(refs, batch=1)
        k2, v2 = coarse.reference_side(refs, batch=1)
    assert k1.shape == (1, 2 * 8 * 12, 8) and k2.shape == (1, 2 * 4 * 6, 8) and v2.shape == (1, 2 * 4 * 6, 2)
    assert torch.allclose(k2.norm(dim=-1), torch.ones(1, 48), atol=1e-5)
    assert torch.allclose(v2[0, 0], refs[0, 1:, :16, :16].mean(dim=(1, 2)), atol=1e-5)


# -- training teaches copying -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("exemplar-data")
    store = build_photo_store(folder / "store", size=48, frames_per_shot=6)
    build_reference_table(store, folder / "references.csv")
    return store, folder / "references.csv"


@pytest.mark.slow
def test_training_lifts_exemplar_psnr_above_epoch_zero(tmp_path: Path, data) -> None:
    """Exemplar protocol on the val shots (first frame = the only reference). The learned correspondence
    (attention warp) must learn to copy: its PSNR rises well above its untrained value. The fused output
    rises above the untrained network's too (epoch 0 is a strong start: the most confident flow candidate;
    training recalibrates how far each candidate is trusted), and select_best ends on the best epoch."""
    store, refs = data
    cfg = TrainConfig(
        resolution=48,
        clip_len=2,
        epochs=4,
        batches_per_epoch=10,
        batch_size=4,
        lr=1e-3,
        width=0.5,
        exemplar_prob=1.0,
        foreign_prob=0.0,  # same-shot references only: what is measured here is learning to copy
        val_clips=4,
        exemplar_val_shots=4,
        hue_prob=0.5,
    )
    train, val = load_training_data(store, refs, cfg)
    result = train_colorizer(train, val, cfg, tmp_path, resume=False, progress=False, log=lambda *_: None)
    history = result.history
    assert all(np.isfinite(h["val_psnr_exemplar"]) for h in history)
    attention = [h["val_psnr_exemplar_attention"] for h in history]
    assert max(attention[1:]) > attention[0] + 1.0  # training teaches the attention to copy the reference's colours
    scores = [h["val_psnr_exemplar"] for h in history]
    selected = history[-1]["selected_epoch"]
    assert max(scores[1:]) > scores[0]  # training lifts the fused output above the untrained fusion
    assert selected >= 1 and scores[selected] == max(scores)  # the run ends with the best epoch's weights


def test_colorize_scene_keeps_the_aspect_ratio_and_returns_details(data) -> None:
    from scenecolor.colorize.backend import TorchColorizer, network_size_hw
    from scenecolor.colorize.model import ColorizerConfig, SceneColorizer

    torch.manual_seed(0)
    backend = TorchColorizer(SceneColorizer(ColorizerConfig(resolution=48)), clip_len=3)
    ref = cv2.resize(photo("coffee"), (120, 72), interpolation=cv2.INTER_AREA)
    frames = np.stack([_affine(ref, 1.0, 2.0 * t, 0.0) for t in range(5)])
    lab = rgb_to_lab(frames).astype(np.float32)
    out = colorize_scene(backend, lab[1:, ..., 0], lab[:1], clip_len=3, details=True)
    assert out.ab.shape == (4, 72, 120, 2)
    h, w = network_size_hw(72, 120, 48)
    assert (h % 16, w % 16) == (0, 0) and w > h
    assert out.details is not None and out.details["candidates"].shape == (4, h, w, 8)
    assert out.details["confidence"].shape == (4, h, w, 4) and out.details["weights"].shape == (4, h, w, 4)
