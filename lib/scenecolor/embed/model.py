"""The frame embedder: a torchvision ResNet without its classifier, GeM pooling, L2 normalisation.

Paper 3.1.2 (SPEC "Embedder"): ResNet50 features, generalized-mean (GeM) pooling with a
learnable exponent p (initialised to 3.0) and L2 normalisation, so the dot product of two
embeddings is their cosine similarity. GeM follows cnnimageretrieval-pytorch: a few-line
function and a module that only holds the learnable p. The backbone is a parameter (resnet18 /
resnet34 / resnet50: torchvision's architecture, rebuilt in :mod:`scenecolor.embed.resnet`);
ImageNet weights are used only when a local file has them (nothing is downloaded), otherwise the
network starts from scratch.

This module also draws the training triplets from shot labels (anchor and positive from one
shot, negative from another) and mines them within a batch; the training loop itself lives in
:mod:`scenecolor.embed.train`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from scenecolor.core.color import L_MAX, torch_rgb_to_lightness, torch_srgb8_to_lightness
from scenecolor.core.errors import CheckpointError, DataError, ParameterError
from scenecolor.core.training import load_checkpoint
from scenecolor.embed.config import EmbedderConfig
from scenecolor.embed.resnet import ResNet

ARCH = "scenecolor-embedder"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Mining = Literal["random", "semihard"]
# How query (grey) and gallery (colour) frames meet the network during training and search:
#   grey        - both sides are encoded from their lightness L (the gallery's colour is kept for the
#                 colorizer but the descriptor sees only its L): one input domain, one network;
#   grey_anchor - the anchor (query side) is grey, positives and negatives (gallery side) are colour:
#                 the network must map a grey frame near its colour original;
#   color       - both sides colour (the original setting; a grey query then meets a network that never
#                 saw one).
PAIRINGS = ("grey", "grey_anchor", "color")


# -- GeM pooling --------------------------------------------------------------------------------
def gem(x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalized-mean pooling of (B, C, H, W) -> (B, C, 1, 1): (mean x^p)^(1/p).

    Activations are clamped at ``eps`` first so the power of a zero (after ReLU) has a finite
    gradient. p = 1 is average pooling; p -> infinity approaches max pooling.
    """
    return F.avg_pool2d(x.clamp(min=eps).pow(p), (x.size(-2), x.size(-1))).pow(1.0 / p)


def regional_gem(x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6, grid: int = 3) -> torch.Tensor:
    """(B, C, H, W) -> (B, C * (1 + grid^2)): GeM over the whole map, then GeM over each cell of a grid x grid
    layout (row-major), each vector L2-normalised; the cells are weighted 1/grid so they weigh as much
    together as the global part. The result is L2-normalised.

    Cells follow adaptive pooling's bounds (floor of the start, ceiling of the end), so every cell is
    non-empty on any map size. The bounds are Python ints of the map size: an ONNX export with a
    fixed input side bakes them in.
    """
    powered = x.clamp(min=eps).pow(p)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    parts = [F.normalize(powered.mean(dim=(-2, -1)).pow(1.0 / p), dim=1)]
    for i in range(grid):
        r0, r1 = (i * h) // grid, -(-((i + 1) * h) // grid)
        for j in range(grid):
            c0, c1 = (j * w) // grid, -(-((j + 1) * w) // grid)
            cell = powered[..., r0:r1, c0:c1].mean(dim=(-2, -1)).pow(1.0 / p)
            parts.append(F.normalize(cell, dim=1) / grid)
    return F.normalize(torch.cat(parts, dim=1), dim=1)


class GeM(nn.Module):
    """GeM pooling with a learnable exponent p."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        if p <= 0:
            raise ParameterError(f"GeM p must be > 0, got {p}")
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, p=self.p, eps=self.eps)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p.data.item():.4f}, eps={self.eps})"


# -- the network --------------------------------------------------------------------------------
class Embedder(nn.Module):
    """RGB frames in [0, 1], (B, 3, H, W) -> L2-normalised embeddings (B, D).

    ImageNet normalisation happens inside (non-persistent buffers), so callers and the ONNX
    export feed plain [0, 1] RGB. Any input size works; the receptive field is the backbone's.
    ``config.pooling``: ``gem`` pools the last stage globally (the paper); ``regional`` stops after
    layer3 and keeps a coarse layout (:func:`regional_gem`).
    """

    def __init__(self, config: EmbedderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or EmbedderConfig()
        net = ResNet(config.backbone)  # torchvision's architecture, without importing torchvision
        kept = backbone_stages(config)
        self.features = nn.Sequential(*(m for name, m in net.named_children() if name in kept))
        self.pool = GeM(config.p_init, config.eps)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        return self.config.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise DataError(f"embedder input must be RGB (B, 3, H, W), got {tuple(x.shape)}")
        x = (x - self.mean) / self.std
        if self.config.pooling == "regional":
            return regional_gem(self.features(x), self.pool.p, self.pool.eps, self.config.grid)
        return F.normalize(self.pool(self.features(x)).flatten(1), dim=1)


def inference_copy(model: Embedder) -> Embedder:
    """A copy of ``model`` for encoding: eval mode, every convolution + batch norm pair folded into one
    convolution, weights in channels-last layout (oneDNN's faster path). Same embeddings up to float rounding
    (< 1e-6); the model itself is left as it is.

    Folding saves one pass over every activation map per batch norm: resnet18 regional at 96 px, batch 64,
    2 cores, 170 -> 192 frames/s (``scenecolor bench gallery`` reports the network alone).
    """
    fast = copy.deepcopy(model).eval()
    for parent in fast.modules():
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Conv2d):
                continue
            bn_name = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3", "0": "1"}.get(name)
            bn = getattr(parent, bn_name, None) if bn_name else None
            if isinstance(bn, nn.BatchNorm2d):
                setattr(parent, name, fuse_conv_bn_eval(child, bn))
                setattr(parent, bn_name, nn.Identity())
    return fast.to(memory_format=torch.channels_last)


def backbone_stages(config: EmbedderConfig) -> list[str]:
    """Names of the torchvision ResNet children the embedder keeps (no classifier; no layer4 when regional)."""
    stages = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]  # torchvision's order
    return stages[:-1] if config.pooling == "regional" else stages


def _hub_candidates(backbone: str) -> list[Path]:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return sorted(folder.glob(f"{backbone}-*.pth")) if folder.is_dir() else []


def find_imagenet_weights(backbone: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """A local file of torchvision ImageNet weights for ``backbone``, or None. Never downloads.

    ``path`` (when given) must exist; otherwise the torch hub cache
    (``$TORCH_HOME/hub/checkpoints/<backbone>-*.pth``) is searched.
    """
    if path:
        p = Path(path)
        if not p.is_file():
            raise CheckpointError(
                f"ImageNet weights file '{p}' does not exist; give an existing .pth file or leave it empty to train "
                "from scratch"
            )
        return p
    found = _hub_candidates(backbone)
    return found[-1] if found else None


def load_imagenet_weights(model: Embedder, path: Path) -> None:
    """Load torchvision classification weights (fc dropped) into the embedder's backbone."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise CheckpointError(
            f"ImageNet weights '{path}' cannot be read ({type(exc).__name__}); delete the file or pass another"
        ) from None
    names = backbone_stages(model.config)  # a stage it does not keep (layer4 of a regional one) is not mapped
    mapped = {}
    for key, value in state.items():
        head = key.split(".", 1)[0]
        if head in names:
            mapped[f"{names.index(head)}.{key.split('.', 1)[1]}"] = value
    expected = {k: v for k, v in model.features.state_dict().items() if not k.endswith("num_batches_tracked")}
    bad = [k for k in expected if k not in mapped or mapped[k].shape != expected[k].shape]
    bad += [k for k in mapped if k not in expected and not k.endswith("num_batches_tracked")]
    if bad:
        raise CheckpointError(
            f"ImageNet weights '{path}' do not fit {model.config.backbone} ({len(bad)} tensors missing or of another "
            "shape, "
            f"e.g. {bad[:2]}); pass the torchvision file of the same backbone"
        )
    model.features.load_state_dict({k: mapped[k] for k in expected}, strict=False)


def build_embedder(config: EmbedderConfig, pretrained: str | None = "auto") -> tuple[Embedder, str]:
    """An embedder and a sentence saying where its backbone weights came from.

    ``pretrained``: ``"auto"`` uses ImageNet weights found in the local torch cache, a path uses
    that file, ``None`` / ``""`` / ``"none"`` starts from scratch.
    """
    model = Embedder(config)
    if pretrained in (None, "", "none"):
        return model, "random initialisation (pretrained weights disabled)"
    weights = find_imagenet_weights(config.backbone, None if pretrained == "auto" else pretrained)
    if weights is None:
        return (
            model,
            f"random initialisation: no ImageNet {config.backbone} weights in the local torch cache "
            f"({Path(torch.hub.get_dir()) / 'checkpoints'}) and none downloaded",
        )
    load_imagenet_weights(model, weights)
    return model, f"ImageNet weights from {weights}"


def load_embedder(path: str | os.PathLike[str], map_location: str = "cpu") -> Embedder:
    """Rebuild a trained embedder from its checkpoint (``embedder.pt``), in eval mode."""
    ckpt = load_checkpoint(path, arch=ARCH, restore_rng=False, map_location=map_location)
    cfg = ckpt["config"].get("model")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"checkpoint '{path}' has no model config; retrain with scenecolor.embed.train")
    model = Embedder(EmbedderConfig(**cfg))
    load_checkpoint(path, arch=ARCH, model=model, restore_rng=False, map_location=map_location)
    return model.eval()


# -- input preparation and batch encoding ------------------------------------------------------------
def grey_input(x: torch.Tensor) -> torch.Tensor:
    """Network input (n, 3, H, W) RGB in [0, 1] -> its CIE lightness L / 100 replicated on the 3 channels.

    This is how a grey query enters the (RGB) network: whatever colour the frame had is gone,
    only L - what a greyscale video holds - remains.
    """
    return _grey(torch_rgb_to_lightness(x, dim=1))


def _grey(lightness: torch.Tensor) -> torch.Tensor:
    """CIE L (n, 1, H, W) -> network input: L / 100 on three channels."""
    return (lightness / L_MAX).clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def gallery_is_grey(pairing: str) -> bool:
    """Whether gallery (reference) frames are encoded from their lightness under ``pairing``."""
    if pairing not in PAIRINGS:
        raise ParameterError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    return pairing == "grey"


def to_input(frames: np.ndarray | torch.Tensor, size: int, grey: bool = False) -> torch.Tensor:
    """Frames (n, S, S, 3), uint8 or float in [0, 1] -> float tensor (n, 3, size, size) in [0, 1].

    Resized with an antialiased bilinear filter; uint8 frames are resized as uint8 (see below).

    ``grey``: the frames' lightness replicated on three channels (:func:`grey_input`).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise DataError(f"frames must be (n, H, W, 3) RGB, got shape {tuple(frames.shape)}")
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    x = x.permute(0, 3, 1, 2)  # channels-last strides: the antialiased resize reads them faster
    if x.shape[-1] != size or x.shape[-2] != size:
        # on uint8 the resize runs a vectorised 8-bit kernel, ~15x faster than on float; its output is rounded
        # to whole grey levels (within one level of the float resize), before any colour conversion
        x = F.interpolate(
            x if x.dtype == torch.uint8 else x.float(),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
    if grey and x.dtype == torch.uint8:
        return _grey(torch_srgb8_to_lightness(x, dim=1))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    x = x.contiguous()
    return grey_input(x) if grey else x


def augment_frames(frames: np.ndarray, size: int, rng: np.random.Generator, min_scale: float = 0.5) -> torch.Tensor:
    """Training input with random resized crops (area ``min_scale``..1, aspect 3/4..4/3) and horizontal flips.

    Colours are left alone on purpose: the descriptor should find frames of similar colour.
    Deterministic for a given ``rng`` state.
    """
    x = to_input(frames, frames.shape[1])
    out = []
    side = x.shape[-1]
    for img in x:
        area = rng.uniform(min_scale, 1.0) * side * side
        aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        w = int(min(side, round(np.sqrt(area * aspect))))
        h = int(min(side, round(np.sqrt(area / aspect))))
        top, left = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
        crop = img[:, top : top + h, left : left + w]
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        out.append(
            F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        )
    return torch.stack(out)


@torch.no_grad()
def embed_frames(
    model: nn.Module,
    frames: np.ndarray,
    size: int,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    grey: bool = False,
) -> np.ndarray:
    """Embed frames (n, H, W, 3) in batches (their lightness only when ``grey``) on ``device`` (default: the
    model's); float32 (n, D), unit rows."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(frames), batch_size):
            out.append(model(to_input(frames[start : start + batch_size], size, grey).to(device)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, 0), np.float32)


# -- triplets -----------------------------------------------------------------------------------------
def _shot_groups(labels: Sequence[object]) -> dict[object, np.ndarray]:
    labels = np.asarray(labels)
    return {lab: np.flatnonzero(labels == lab) for lab in dict.fromkeys(labels.tolist())}


def check_triplet_labels(labels: Sequence[object], where: str) -> None:
    """Triplets need two shots or more, and one shot with two frames or more."""
    groups = _shot_groups(labels)
    if len(groups) < 2 or max((len(v) for v in groups.values()), default=0) < 2:
        raise DataError(
            f"{where}: triplets need at least 2 shots and a shot with 2 frames or more, got {len(groups)} shot(s) "
            f"and {len(labels)} frame(s); add shots to this split or lower frame_step in 00_data_prep"
        )


def sample_triplets(labels: Sequence[object], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random triplets (rows of positions a, p, n): a != p share a shot, n is from another shot."""
    check_triplet_labels(labels, "sample_triplets")
    groups = _shot_groups(labels)
    lab = np.asarray(labels)
    anchor_shots = [k for k, v in groups.items() if len(v) >= 2]
    out = np.empty((n, 3), dtype=np.int64)
    for i in range(n):
        members = groups[anchor_shots[rng.integers(len(anchor_shots))]]
        a, p = rng.choice(members, size=2, replace=False)
        others = np.flatnonzero(lab != lab[a])
        out[i] = (a, p, others[rng.integers(len(others))])
    return out


def sample_pk_batch(
    labels: Sequence[object], shots_per_batch: int, frames_per_shot: int, rng: np.random.Generator
) -> np.ndarray:
    """Positions of a P x K batch: ``shots_per_batch`` shots, ``frames_per_shot`` frames of each.

    Only shots with two frames or more are drawn (each needs a positive); a shot with fewer
    than K frames repeats frames, never with a frame as its own positive (see mine_triplets).
    """
    check_triplet_labels(labels, "sample_pk_batch")
    groups = [v for v in _shot_groups(labels).values() if len(v) >= 2]
    chosen = rng.choice(len(groups), size=min(shots_per_batch, len(groups)), replace=False)
    batch = [rng.choice(groups[g], size=frames_per_shot, replace=len(groups[g]) < frames_per_shot) for g in chosen]
    return np.concatenate(batch).astype(np.int64)


def mine_triplets(
    embeddings: torch.Tensor,
    labels: Sequence[object],
    frame_ids: Sequence[int],
    mining: Mining,
    margin: float,
    rng: np.random.Generator,
    anchors: torch.Tensor | None = None,
) -> torch.Tensor:
    """(T, 3) batch positions (a, p, n): every anchor with a positive of its shot and a mined negative.

    ``anchors`` (same rows as ``embeddings``) are the anchors' own embeddings when they are encoded
    differently from positives and negatives (a grey anchor against colour frames); distances are
    then anchor-to-frame.

    The positive is a random other frame of the anchor's shot (``frame_ids`` tells repeated
    frames apart). The negative comes from another shot: ``random`` draws one uniformly;
    ``semihard`` takes the closest negative farther than the positive but within the margin
    (FaceNet), falling back to a random negative when the batch has none.
    """
    if mining not in ("random", "semihard"):
        raise ParameterError(f"mining must be 'random' or 'semihard', got {mining!r}")
    lab = np.asarray(labels)
    fid = np.asarray(frame_ids)
    side = embeddings if anchors is None else anchors
    with torch.no_grad():
        dist = torch.cdist(side.detach().float(), embeddings.detach().float()).cpu().numpy()
    rows = []
    for a in range(len(lab)):
        positives = np.flatnonzero((lab == lab[a]) & (fid != fid[a]))
        negatives = np.flatnonzero(lab != lab[a])
        if len(positives) == 0 or len(negatives) == 0:
            continue
        p = positives[rng.integers(len(positives))]
        n = negatives[rng.integers(len(negatives))]
        if mining == "semihard":
            d_ap, d_an = dist[a, p], dist[a, negatives]
            window = negatives[(d_an > d_ap) & (d_an < d_ap + margin)]
            if len(window):
                n = window[np.argmin(dist[a, window])]
        rows.append((a, p, n))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 3)


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` as a one-hot matrix product, whose gradient is a matrix product too.

    Plain indexing back-propagates with a scatter-add that runs on several threads once the rows are
    long (a regional embedding has 2,560 floats) and adds a row used by several triplets in a
    varying order, so the same seed would not give the same weights.
    """
    return F.one_hot(index.long(), len(x)).to(x.dtype) @ x


def triplet_loss(
    emb: torch.Tensor, triplets: torch.Tensor, margin: float, anchors: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean hinge max(0, d(a,p) - d(a,n) + margin) over the triplets, and the triplet accuracy d(a,p) < d(a,n).

    ``anchors``: the anchors' embeddings when encoded differently (grey) from positives and negatives.
    """
    if len(triplets) == 0:
        raise DataError(
            "no triplet could be formed in this batch (each shot needs two distinct frames); raise frames_per_shot"
        )
    a = _rows(emb if anchors is None else anchors, triplets[:, 0])
    p, n = _rows(emb, triplets[:, 1]), _rows(emb, triplets[:, 2])
    d_ap = (a - p).norm(dim=1)
    d_an = (a - n).norm(dim=1)
    return F.relu(d_ap - d_an + margin).mean(), (d_ap < d_an).float().mean()


def separation_accuracy(emb: torch.Tensor, labels: Sequence[object], anchors: torch.Tensor | None = None) -> float:
    """Share of anchors whose *farthest* same-shot frame is nearer than their *nearest* other-shot frame.

    The hardest triplet of each anchor: 1.0 means the shots are perfectly separated. Anchors
    without a positive are skipped. A stricter measure than random-triplet accuracy. ``anchors``:
    the anchors' own (grey) embeddings, same rows as ``emb``.
    """
    lab = np.asarray(labels)
    dist = torch.cdist((emb if anchors is None else anchors).float(), emb.float()).cpu().numpy()
    same = lab[:, None] == lab[None, :]
    np.fill_diagonal(same, False)
    other = lab[:, None] != lab[None, :]
    keep = same.any(axis=1) & other.any(axis=1)
    if not keep.any():
        raise DataError("separation accuracy needs a shot with two frames and a second shot")
    far_pos = np.where(same, dist, -np.inf).max(axis=1)
    near_neg = np.where(other, dist, np.inf).min(axis=1)
    return float(np.mean(far_pos[keep] < near_neg[keep]))
