"""GeM pooling, the embedder network, ImageNet weight loading and triplet sampling/mining."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from scenecolor.core.errors import CheckpointError, DataError, ParameterError
from scenecolor.embed import model as E
from scenecolor.embed.config import BACKBONES


def test_gem_is_average_pooling_at_p1():
    x = torch.rand(2, 5, 4, 3) + 0.01
    out = E.gem(x, p=1.0)
    assert out.shape == (2, 5, 1, 1)
    assert torch.allclose(out.flatten(1), x.mean(dim=(2, 3)), atol=1e-6)


def test_gem_approaches_max_pooling_at_large_p():
    x = torch.rand(2, 5, 4, 3) + 0.01
    mx = x.amax(dim=(2, 3))
    err_lo = (E.gem(x, p=3.0).flatten(1) - mx).abs().max()
    err_hi = (E.gem(x.double(), p=200.0).flatten(1) - mx.double()).abs().max()
    assert err_hi < 0.02 < err_lo


def test_gem_clamps_zeros_and_has_finite_gradient():
    x = torch.zeros(1, 2, 3, 3, requires_grad=True)
    pool = E.GeM(p=3.0, eps=1e-6)
    pool(x).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(pool.p.grad).all()


def test_gem_module_repr_shows_learned_p():
    pool = E.GeM(p=3.0)
    with torch.no_grad():
        pool.p.fill_(2.5)
    assert repr(pool) == "GeM(p=2.5000, eps=1e-06)"
    assert [n for n, _ in pool.named_parameters()] == ["p"]
    with pytest.raises(ParameterError, match="p must be > 0"):
        E.GeM(p=0.0)


@pytest.mark.parametrize("backbone", ["resnet18"])
def test_embedder_outputs_unit_vectors(backbone):
    torch.manual_seed(0)
    model = E.Embedder(E.EmbedderConfig(backbone=backbone)).eval()
    out = model(torch.rand(3, 3, 48, 48))
    assert out.shape == (3, BACKBONES[backbone])
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert "fc.weight" not in model.state_dict() and not any(k.startswith("fc") for k in model.state_dict())
    assert "GeM(p=3.0000" in repr(model.pool)


def test_embedder_rejects_wrong_input_and_backbone():
    model = E.Embedder(E.EmbedderConfig(backbone="resnet18"))
    with pytest.raises(DataError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(2, 1, 32, 32))
    with pytest.raises(ParameterError, match="vgg16"):
        E.EmbedderConfig(backbone="vgg16")


def test_to_input_resizes_and_scales():
    frames = np.full((2, 40, 40, 3), 255, np.uint8)
    x = E.to_input(frames, 16)
    assert x.shape == (2, 3, 16, 16) and torch.allclose(x, torch.ones_like(x))
    with pytest.raises(DataError, match="RGB"):
        E.to_input(np.zeros((2, 40, 40)), 16)


def test_to_input_resizes_uint8_within_one_grey_level_of_the_float_resize():
    frames = np.random.default_rng(0).integers(0, 256, (3, 50, 70, 3), dtype=np.uint8)
    fast = E.to_input(frames, 24)
    exact = E.to_input(frames.astype(np.float32) / 255.0, 24)
    assert fast.shape == exact.shape == (3, 3, 24, 24)
    assert (fast - exact).abs().max() <= 1.0 / 255.0 + 1e-6
    assert torch.equal(fast * 255.0, (fast * 255.0).round())  # whole grey levels
    # the grey input of uint8 frames (table lookup) is the lightness of their RGB input
    assert torch.allclose(E.to_input(frames, 24, grey=True), E.grey_input(fast), atol=1e-6)
    assert torch.allclose(
        E.to_input(frames[:, :24, :24], 24, grey=True), E.grey_input(E.to_input(frames[:, :24, :24], 24)), atol=1e-6
    )


def test_imagenet_weights_from_local_file(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-local.pth"
    torch.save(tv.state_dict(), path)
    model, note = E.build_embedder(E.EmbedderConfig(backbone="resnet18"), str(path))
    assert str(path) in note
    assert torch.equal(model.features[0].weight, tv.conv1.weight)
    assert torch.equal(model.features[7][1].bn2.running_var, tv.layer4[1].bn2.running_var)


def test_imagenet_weights_found_in_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cfg = E.EmbedderConfig(backbone="resnet18")
    _, note = E.build_embedder(cfg, "auto")
    assert note.startswith("random initialisation")
    (tmp_path / "checkpoints").mkdir()
    torch.save(
        torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    )
    _, note = E.build_embedder(cfg, "auto")
    assert "resnet18-f37072fd.pth" in note


def test_imagenet_weights_bad_files(tmp_path):
    cfg = E.EmbedderConfig(backbone="resnet18")
    with pytest.raises(CheckpointError, match="does not exist"):
        E.build_embedder(cfg, str(tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(CheckpointError, match="do not fit resnet18"):
        E.build_embedder(cfg, str(wrong))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        E.build_embedder(cfg, str(junk))


LABELS = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 1 + ["d"] * 4)


def test_sample_triplets_never_draws_negative_from_anchor_shot():
    trip = E.sample_triplets(LABELS, 2000, np.random.default_rng(0))
    a, p, n = trip.T
    assert (LABELS[a] == LABELS[p]).all() and (a != p).all()
    assert (LABELS[n] != LABELS[a]).all()
    assert "c" not in set(LABELS[a])  # a one-frame shot cannot be an anchor
    assert "c" in set(LABELS[n])  # but it can be a negative
    assert np.array_equal(trip, E.sample_triplets(LABELS, 2000, np.random.default_rng(0)))


@pytest.mark.parametrize("labels", [["a", "a", "a"], ["a", "b", "c"], []])
def test_sample_triplets_rejects_unusable_labels(labels):
    with pytest.raises(DataError, match="at least 2 shots"):
        E.sample_triplets(labels, 4, np.random.default_rng(0))


@pytest.mark.parametrize("mining", ["random", "semihard"])
def test_mined_triplets_respect_shots(mining):
    rng = np.random.default_rng(3)
    pos = E.sample_pk_batch(LABELS, 3, 4, rng)
    labels = LABELS[pos]
    assert len(pos) == 12 and len(set(labels)) == 3 and "c" not in set(labels)
    emb = torch.nn.functional.normalize(torch.randn(len(pos), 8), dim=1)
    trip = E.mine_triplets(emb, labels, pos, mining, 0.5, rng).numpy()
    a, p, n = trip.T
    assert len(trip) == len(pos)
    assert (labels[a] == labels[p]).all() and (pos[a] != pos[p]).all()
    assert (labels[n] != labels[a]).all()


def test_semihard_mining_picks_negative_inside_margin():
    labels = np.array(["a", "a", "b", "b", "b"])
    emb = torch.tensor([[0.0], [1.0], [1.2], [3.0], [0.5]])  # anchor 0: d(a,p)=1
    trip = E.mine_triplets(emb, labels, np.arange(5), "semihard", 0.5, np.random.default_rng(0))
    assert trip[0].tolist() == [0, 1, 2]  # 1.2 lies in (1, 1.5); 0.5 is too hard, 3.0 too easy
    with pytest.raises(ParameterError, match="mining"):
        E.mine_triplets(emb, labels, np.arange(5), "hardest", 0.5, np.random.default_rng(0))


def test_triplet_loss_and_accuracy():
    emb = torch.tensor([[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [0.0, 0.05]])
    loss, acc = E.triplet_loss(emb, torch.tensor([[0, 1, 2], [0, 2, 3]]), margin=0.2)
    # triplet 1: d_ap .1, d_an 1 -> 0 loss, correct; triplet 2: d_ap 1, d_an .05 -> 1.15, wrong
    assert acc.item() == pytest.approx(0.5)
    assert loss.item() == pytest.approx(1.15 / 2, abs=1e-6)
    with pytest.raises(DataError, match="no triplet"):
        E.triplet_loss(emb, torch.zeros((0, 3), dtype=torch.long), 0.2)


def test_augment_frames_is_deterministic_and_sized():
    frames = np.random.default_rng(0).integers(0, 256, size=(4, 40, 40, 3), dtype=np.uint8)
    a = E.augment_frames(frames, 24, np.random.default_rng(5))
    b = E.augment_frames(frames, 24, np.random.default_rng(5))
    assert a.shape == (4, 3, 24, 24) and torch.equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert not torch.allclose(a, E.to_input(frames, 24))


def test_separation_accuracy_uses_each_anchors_hardest_triplet():
    labels = ["a", "a", "b", "b"]
    separated = torch.tensor([[0.0], [0.1], [1.0], [1.2]])
    assert E.separation_accuracy(separated, labels) == 1.0
    # a0: far pos .3 < near neg .5 ok; a1: .3 vs .2 no; b2: .5 vs .7 ok; b3: .5 vs .2 no
    mixed = torch.tensor([[0.0], [0.3], [1.0], [0.5]])
    assert E.separation_accuracy(mixed, labels) == pytest.approx(0.5)
    with pytest.raises(DataError, match="separation accuracy needs"):
        E.separation_accuracy(torch.zeros(2, 1), ["a", "b"])


# -- regional pooling -----------------------------------------------------------------------------
def test_regional_embedder_keeps_layer3_and_its_dimension():
    torch.manual_seed(0)
    cfg = E.EmbedderConfig(backbone="resnet18", pooling="regional", grid=3)
    model = E.Embedder(cfg).eval()
    out = model(torch.rand(2, 3, 64, 64))
    assert cfg.dim == 256 * 10 and out.shape == (2, cfg.dim)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not any(k.startswith("7.") for k in model.features.state_dict())  # layer4 dropped
    with pytest.raises(ParameterError, match="pooling 'max'"):
        E.EmbedderConfig(pooling="max")
    with pytest.raises(ParameterError, match="grid must be 1..8"):
        E.EmbedderConfig(pooling="regional", grid=0)


@pytest.mark.parametrize("side", [6, 7, 2])
def test_regional_gem_cells_are_adaptive_pooling_cells(side):
    x = torch.rand(2, 4, side, side + 1) + 0.01
    p, grid = 3.0, 3
    out = E.regional_gem(x, p, grid=grid)
    cells = torch.nn.functional.adaptive_avg_pool2d(x.pow(p), grid).pow(1 / p).flatten(2)  # (B, C, 9)
    glob = torch.nn.functional.normalize(x.pow(p).mean(dim=(2, 3)).pow(1 / p), dim=1)
    want = torch.cat([glob] + [torch.nn.functional.normalize(cells[..., k], dim=1) / grid for k in range(9)], 1)
    assert torch.allclose(out, torch.nn.functional.normalize(want, dim=1), atol=1e-6)


def test_regional_pooling_sees_layout_where_global_gem_does_not():
    """The same content in another place: one global GeM gives the same vector, the regional one does not."""
    x = torch.rand(1, 8, 6, 6) + 0.01
    moved = x.flip(-1)  # every activation moved to the mirrored column
    glob = torch.nn.functional.normalize(E.gem(x).flatten(1), dim=1)
    glob_moved = torch.nn.functional.normalize(E.gem(moved).flatten(1), dim=1)
    assert torch.allclose(glob, glob_moved, atol=1e-6)
    cos = float((E.regional_gem(x) * E.regional_gem(moved)).sum())
    assert cos < 0.999
    assert float((E.regional_gem(x) * E.regional_gem(x.clone())).sum()) == pytest.approx(1.0, abs=1e-6)


def test_checkpoint_config_without_pooling_loads_as_the_papers_gem():
    old = {"backbone": "resnet18", "p_init": 3.0, "eps": 1e-6}  # what checkpoints held before pooling existed
    cfg = E.EmbedderConfig(**old)
    assert (cfg.pooling, cfg.dim) == ("gem", 512)


def test_imagenet_weights_into_a_regional_embedder_skip_layer4(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-local.pth"
    torch.save(tv.state_dict(), path)
    model, note = E.build_embedder(E.EmbedderConfig(backbone="resnet18", pooling="regional"), str(path))
    assert str(path) in note
    assert torch.equal(model.features[6][1].bn2.running_var, tv.layer3[1].bn2.running_var)


def test_triplet_loss_gradient_is_bitwise_the_same_every_time():
    """Rows used by several triplets: their gradient must add up in one order (same seed, same weights)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gen = torch.Generator().manual_seed(0)
        emb = torch.nn.functional.normalize(torch.randn(64, 2560, generator=gen), dim=1)
        trip = torch.randint(0, 64, (256, 3), generator=gen)  # every row appears in many triplets
        grads = []
        for _ in range(6):
            x = emb.clone().requires_grad_(True)
            loss, _ = E.triplet_loss(x, trip, margin=2.0)
            loss.backward()
            grads.append(x.grad)
        assert all(torch.equal(grads[0], g) for g in grads[1:])
        want = emb[trip[:, 0]] - emb[trip[:, 1]]  # the selected rows are the rows themselves
        assert torch.allclose(E._rows(emb, trip[:, 0]) - E._rows(emb, trip[:, 1]), want)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(("backbone", "pooling"), [("resnet18", "regional"), ("resnet50", "gem")])
def test_inference_copy_folds_every_batch_norm_and_keeps_the_embeddings(backbone, pooling):
    torch.manual_seed(0)
    model = E.Embedder(E.EmbedderConfig(backbone=backbone, pooling=pooling))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics unlike the init's
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = E.inference_copy(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert not fast.training and model.training  # the model itself is untouched: still training, same weights
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        want = model.eval()(x)
        got = fast(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, want, atol=1e-6)
    assert not torch.equal(E.inference_copy(model).features[0].weight, model.features[0].weight)  # BN scale folded in


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_rebuilt_resnet_is_torchvisions_bit_for_bit(backbone):
    """Same state-dict keys and initial weights for a seed, same random draws, same outputs."""
    from scenecolor.embed.resnet import ResNet

    torch.manual_seed(3)
    theirs = getattr(torchvision.models, backbone)(weights=None)
    rng_theirs = torch.get_rng_state()
    torch.manual_seed(3)
    ours = ResNet(backbone)
    assert torch.equal(torch.get_rng_state(), rng_theirs)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(theirs.train()(x), ours.train()(x))
    with torch.no_grad():
        assert torch.equal(theirs.eval()(x), ours.eval()(x))
