"""The colorization network: shapes, parameter budget, cached references, attention, bad inputs."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from scenecolor.colorize import model as C
from scenecolor.colorize.train import TrainConfig
from scenecolor.core import training
from scenecolor.core.errors import CheckpointError, DataError, ParameterError

SMALL = TrainConfig(resolution=32, width=0.25).model_config()


def _inputs(b: int, t: int, r: int, s: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(b, 1, t, s, s, generator=g)
    refs = torch.cat(
        [torch.rand(b, r, 1, s, s, generator=g) * 100, (torch.rand(b, r, 2, s, s, generator=g) - 0.5) * 120], dim=2
    )
    return gray, refs


@pytest.fixture(scope="module")
def model() -> C.SceneColorizer:
    torch.manual_seed(0)
    net = C.SceneColorizer(SMALL)
    with torch.no_grad():  # non-trivial BN statistics and a non-zero decoder head
        net.train()
        net(*_inputs(2, 3, 2))
        for head in (net.decoder.fusion.logits, net.decoder.fusion.residual, net.decoder.refine):
            head.weight.normal_(0, 0.1)
    return net.eval()


@pytest.mark.parametrize("n_refs", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("clip_len", [1, 2, 5])
def test_output_shape_for_every_number_of_references_and_clip_length(
    model: C.SceneColorizer, n_refs: int, clip_len: int
) -> None:
    gray, refs = _inputs(2, clip_len, n_refs)
    with torch.no_grad():
        ab = model(gray, refs)
    assert ab.shape == (2, 2, clip_len, 32, 32)
    assert torch.isfinite(ab).all() and ab.abs().max() <= SMALL.ab_scale


def test_full_network_fits_the_papers_parameter_budget() -> None:
    net = C.SceneColorizer(C.ColorizerConfig())
    n = C.parameter_count(net)
    assert 1e6 < n <= C.PAPER_PARAMS
    assert C.size_mb(net) == pytest.approx(
        4 * (n + sum(b.numel() for b in net.buffers() if b.is_floating_point())) / 1e6
    )
    parts = {row["part"]: row["module"] for row in C.parts_table(net)}
    assert parts == {
        "correspondence": "CorrespondenceAttention",
        "preprocess": "ClipPreprocessor",
        "reference_path": "FeaturePath",
        "frame_path": "FeaturePath",
        "source_reference": "SourceReferenceAttention",
        "temporal": "TemporalAttention",
        "decoder": "ABDecoder",
        "total": "SceneColorizer",
    }


def test_cached_reference_features_give_the_same_colours_as_forward(model: C.SceneColorizer) -> None:
    gray, refs = _inputs(1, 4, 3)
    with torch.no_grad():
        feats = model.encode_references(refs)
        assert feats.keys.shape == (1, 3 * 2 * 2, SMALL.attn_dim)  # 32 / 16 = 2x2 positions per reference
        whole = model(gray, refs)
        first, second = model.colorize(gray[:, :, :2], feats), model.colorize(gray[:, :, 2:], feats)
    assert torch.allclose(model.colorize(gray, feats), whole)
    assert first.shape == second.shape == (1, 2, 2, 32, 32)


def test_output_follows_the_references(model: C.SceneColorizer) -> None:
    """The references' colours reach the output through the attention paths alone (no flow candidates)
    and, much more, through the correspondence stage's flow candidates: other references, other colours."""
    from scenecolor.colorize.correspondence import GuideConfig
    from scenecolor.colorize.exemplar_data import guides_for_clips

    gray, refs = _inputs(1, 2, 2)
    recoloured = refs.clone()
    recoloured[:, :, 1:] = -recoloured[:, :, 1:]  # the opposite hue everywhere
    with torch.no_grad():
        a, b = model(gray, refs), model(gray, recoloured)
        guided = [model(gray, r, guides_for_clips(gray, r, GuideConfig())) for r in (refs, recoloured)]
    assert (a - b).abs().mean() > 0.5  # ab units: attention alone (an untrained network trusts it little)
    assert (guided[0] - guided[1]).abs().mean() > 5.0  # with the flow candidates of the references


def test_temporal_attention_mixes_the_frames_of_a_clip(model: C.SceneColorizer) -> None:
    gray, refs = _inputs(1, 3, 2)
    changed = gray.clone()
    changed[:, :, 2] = torch.rand_like(changed[:, :, 2])
    with torch.no_grad():
        a, b = model(gray, refs), model(changed, refs)
    assert (a[:, :, 0] - b[:, :, 0]).abs().max() > 1e-4  # frame 0 sees frame 2


def test_upsampling_is_trilinear_with_unit_time_factor() -> None:
    clip = torch.rand(2, 3, 4, 5, 6)
    frames = C._to_frames(clip)
    via_frames = C._to_clip(C.up2(frames), 2)
    trilinear = F.interpolate(clip, scale_factor=(1.0, 2.0, 2.0), mode="trilinear", align_corners=False)
    assert torch.allclose(via_frames, trilinear, atol=1e-6)


def test_inference_copy_folds_batch_norm_without_changing_the_output(model: C.SceneColorizer) -> None:
    gray, refs = _inputs(1, 3, 2)
    fast = C.prepare_for_inference(model)
    with torch.no_grad():
        assert torch.allclose(fast(gray, refs), model(gray, refs), atol=1e-3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.preprocess.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.preprocess.modules())  # original untouched


@pytest.mark.parametrize(
    "gray_shape,refs_shape,message",
    [
        ((1, 2, 32, 32), (1, 2, 3, 32, 32), "gray input must be"),
        ((1, 3, 2, 32, 32), (1, 2, 3, 32, 32), "gray input must be"),
        ((1, 1, 2, 32, 32), (1, 2, 2, 32, 32), "references must be"),
        ((1, 1, 2, 32, 32), (2, 2, 3, 32, 32), "do not match the clip"),
        ((1, 1, 2, 32, 32), (1, 2, 3, 48, 48), "do not match the clip"),
        ((1, 1, 2, 32, 32), (1, 6, 3, 32, 32), "number of references must be in 1..5"),
        ((1, 1, 2, 40, 40), (1, 2, 3, 40, 40), "multiple of 16"),
        ((1, 1, 0, 32, 32), (1, 2, 3, 32, 32), "empty batch or clip"),
    ],
)
def test_wrong_shapes_raise_a_clear_error(model: C.SceneColorizer, gray_shape, refs_shape, message: str) -> None:
    with pytest.raises(DataError, match=message):
        model(torch.rand(gray_shape), torch.rand(refs_shape))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"resolution": 40}, "multiple of 16"),
        ({"path_channels": (8, 8)}, "six encoder layers"),
        ({"max_refs": 6}, "max_refs"),
        ({"corr_key_pool": 4}, "corr_key_pool"),
    ],
)
def test_bad_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        C.ColorizerConfig(**kwargs)


def test_corrections_are_gated_by_the_candidates_confidence(model: C.SceneColorizer) -> None:
    """Where one candidate is fully confident the output is that candidate, whatever the (non-zero) correction
    heads say; without the gate the corrections change it."""
    gray, refs = _inputs(1, 2, 2)
    guide = torch.zeros(1, 9, 2, 32, 32)
    guide[:, 0:2] = torch.linspace(-0.5, 0.5, 32)  # the direct flow candidate's ab/110
    guide[:, 2] = 1.0  # ... fully confident; the propagation candidates have confidence 0
    gated = copy.deepcopy(model)
    gated.decoder.fusion.beta.data.fill_(60.0)  # the confident candidate takes all the weight
    ungated = copy.deepcopy(gated)
    ungated.decoder.gate = False
    with torch.no_grad():
        ab_gated = gated(gray, refs, guide)
        ab_ungated = ungated(gray, refs, guide)
    want = guide[:, 0:2] * SMALL.ab_scale
    assert torch.allclose(ab_gated, want, atol=0.05)
    assert (ab_ungated - want).abs().max() > 1.0


def test_calibration_scalars_learn_faster() -> None:
    from scenecolor.colorize.train import CALIBRATION_PARAMS, TrainConfig, parameter_groups

    net = C.SceneColorizer(SMALL)
    cfg = TrainConfig(lr=1e-3, calib_lr_scale=30.0)
    groups = parameter_groups(net, cfg)
    named = {id(p): n for n, p in net.named_parameters()}
    assert sorted(named[id(p)] for p in groups[1]["params"]) == sorted(CALIBRATION_PARAMS)
    assert groups[1]["lr"] == pytest.approx(0.03) and groups[0]["lr"] == pytest.approx(1e-3)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_config_round_trips_through_a_checkpoint_dict() -> None:
    assert C.ColorizerConfig.from_dict(SMALL.to_dict()) == SMALL


def test_load_colorizer_restores_the_model_and_rejects_bad_files(tmp_path, model: C.SceneColorizer) -> None:
    path = tmp_path / "colorizer.pt"
    training.save_checkpoint(
        path,
        arch=C.ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {}},
        history=[],
    )
    loaded, ckpt = C.load_colorizer(path)
    gray, refs = _inputs(1, 2, 2)
    with torch.no_grad():
        assert torch.equal(loaded(gray, refs), model(gray, refs))
    assert ckpt["epoch"] == 1 and not loaded.training
    with pytest.raises(CheckpointError, match="does not exist"):
        C.load_colorizer(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        C.load_colorizer(tmp_path / "junk.pt")
    other = tmp_path / "other.pt"
    training.save_checkpoint(
        other, arch="scenecolor-embedder", model=model, optimizer=None, epoch=1, config={}, history=[]
    )
    with pytest.raises(CheckpointError, match="architecture"):
        C.load_colorizer(other)
    no_cfg = tmp_path / "nocfg.pt"
    training.save_checkpoint(
        no_cfg, arch=C.ARCH, model=model, optimizer=None, epoch=1, config={"train": {}}, history=[]
    )
    with pytest.raises(CheckpointError, match="model config"):
        C.load_colorizer(no_cfg)
