"""The attention colorization network of the paper (section 3.1.5), read top to bottom.

Blocks first, then the parts the paper names (each a named ``nn.Module``), then the network:

    ClipPreprocessor       3D encoder-decoder over the grayscale clip [B, 1, T, H, W]
    FeaturePath            six stride-2 encoders, maps unified to the 4th layer's size,
                           inter-layer (2, 4, 6) + intra-layer (2..6) fusion, two residual blocks;
                           one instance for the references (Lab in), one for the frames
    SourceReferenceAttention  Q from frames, K/V from all R references, softmax(QK^T / sqrt(d))
    TemporalAttention      attention across the T frames of a clip at each position
    ABDecoder              trilinear upsampling + 3x3 replicate-padded convs with skips -> ab

Inputs and outputs use physical units so every caller (training, the CLI, ONNX Runtime) feeds
the same arrays: ``gray`` is L/100 in [0, 1] shaped [B, 1, T, H, W]; ``refs_lab`` is CIE Lab
(L in 0..100, ab roughly -110..110) shaped [B, R, 3, H, W]; the output is ab shaped
[B, 2, T, H, W]. The result frame is (L, predicted ab) converted to RGB.

Reference features depend only on the references, so :meth:`SceneColorizer.encode_references`
runs once per scene and :meth:`SceneColorizer.colorize` reuses them for every clip of it.
``forward`` has no data-dependent Python branches, so it exports to ONNX as plain ops.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scenecolor import paper
from scenecolor.colorize.correspondence import (
    GUIDE_CHANNELS,
    CandidateFusion,
    CorrConv,
    CorrespondenceAttention,
    split_guide,
)
from scenecolor.core.color import AB_SCALE
from scenecolor.core.device import resolve_device
from scenecolor.core.errors import CheckpointError, DataError, ParameterError
from scenecolor.core.training import load_checkpoint

# v2: correspondence stage (flow candidates + attention warp) and candidate fusion; v3: reference keys at 1/16,
# corrections gated by the candidates' confidence, a learned gain and bias per candidate
ARCH = "scenecolor-colorizer-v3"
PAPER_PARAMS = paper.PARAMS  # quoted
PAPER_SIZE_MB = paper.SIZE_MB  # quoted


@dataclass(frozen=True)
class ColorizerConfig:
    """Widths and the working resolution; stored in every checkpoint."""

    resolution: int = 224  # working resolution (frames and references are resized to it)
    pre_channels: tuple[int, int] = (8, 16)  # clip pre-processing encoder widths (1/2, 1/4)
    pre_out: int = 8  # channels the pre-processor hands to the frame path
    path_channels: tuple[int, ...] = (16, 32, 64, 96, 128, 128)  # the six encoder layers
    dim: int = 128  # width of fused features (after the residual blocks)
    attn_dim: int = 64  # width of queries and keys
    dec_channels: tuple[int, int, int] = (64, 32, 16)  # decoder widths at 1/8, 1/4, 1/2
    max_refs: int = 5
    ab_scale: float = AB_SCALE  # ab = ab_scale * clamp(blend + correction, -1, 1)
    corr_dim: int = 32  # width of the correspondence stage's matching features (1/8 size)
    # the references' side of the correspondence attention is pooled by this much more (2: 1/16 size), so every
    # 1/8 frame position attends over 4x fewer reference positions: the softmax over R*N dominates the CPU time
    corr_key_pool: int = 2
    # scale the learned corrections (the fusion's residual and the refinement) by 1 - the fused candidates'
    # confidence: where a candidate is sure (flow that matches the frame), the output is the blend of candidates
    gate_correction: bool = True

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution % 16:
            raise ParameterError(f"colorizer resolution must be a multiple of 16 (>= 16), got {self.resolution}")
        if len(self.path_channels) != 6:
            raise ParameterError(f"the feature path has six encoder layers, got path_channels={self.path_channels}")
        if not 1 <= self.max_refs <= 5:
            raise ParameterError(f"max_refs must be in 1..5, got {self.max_refs}")
        if self.corr_key_pool not in (1, 2):
            raise ParameterError(f"corr_key_pool must be 1 (1/8 size) or 2 (1/16 size), got {self.corr_key_pool}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColorizerConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class ReferenceFeatures(NamedTuple):
    """What :meth:`SceneColorizer.encode_references` returns; computed once per scene."""

    keys: torch.Tensor  # [B, R*N, attn_dim]
    values: torch.Tensor  # [B, R*N, dim + 2]: features plus the reference's ab (scaled) at each position
    corr_keys: torch.Tensor  # [B, R*M, corr_dim]: matching features of the correspondence stage (1/8 size)
    corr_values: torch.Tensor  # [B, R*M, 2]: the references' ab/110 on that grid


# -- blocks ------------------------------------------------------------------------------------
class ConvBNELU(nn.Module):
    """3x3 convolution with replicate padding, batch norm, ELU (2D)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="replicate", bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.bn(self.conv(x)))


class TemporalConv(nn.Module):
    """Kernel-3 convolution along time over [B*T, C, H, W] (replicate padding at the clip ends),
    BN, ELU, added back: a (3, 1, 1) conv written as a 1x1 conv over [previous, current, next]
    frames, which is much faster on CPU than torch's generic 3D convolution."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 * ch, ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        clip = _to_clip(x, batch)  # [B, C, T, H, W]
        prev = torch.cat([clip[:, :, :1], clip[:, :, :-1]], dim=2)
        nxt = torch.cat([clip[:, :, 1:], clip[:, :, -1:]], dim=2)
        stacked = _to_frames(torch.cat([prev, clip, nxt], dim=1))
        return x + F.elu(self.bn(self.conv(stacked)))


class Fuse1x1(nn.Module):
    """Concatenate maps of one size along channels and mix them with a 1x1 conv, BN, ELU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, *maps: torch.Tensor) -> torch.Tensor:
        return F.elu(self.bn(self.conv(torch.cat(maps, dim=1))))


class ResidualBlock(nn.Module):
    """x + ELU(BN(conv3x3(x))): the paper's refinement block (one conv, BN, ELU)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = ConvBNELU(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def up2(x: torch.Tensor) -> torch.Tensor:
    """Trilinear upsampling of a clip by (1, 2, 2), computed on its frames [B*T, C, H, W].

    With the time factor 1 trilinear interpolation is exactly bilinear interpolation of each
    frame (a test checks this), and the 2D kernel is several times faster on CPU.
    """
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _to_clip(x: torch.Tensor, batch: int) -> torch.Tensor:
    """[B*T, C, H, W] -> [B, C, T, H, W]."""
    bt, c, h, w = x.shape
    return x.reshape(batch, bt // batch, c, h, w).permute(0, 2, 1, 3, 4)


def _to_frames(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B*T, C, H, W]."""
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


# -- the parts of the paper's network ----------------------------------------------------------
class ClipPreprocessor(nn.Module):
    """Phase 1: encoder (3x3 stride-2 convs) and decoder (trilinear upsampling, 3x3 replicate-padded
    convs) over the clip, with skip connections, BN and ELU. A temporal convolution at the
    bottleneck mixes neighbouring frames (the paper's "temporal convolutions"), so the output is
    consistent across the clip. Input [B, 1, T, H, W]; output ``pre_out`` channels per frame at
    full size, as [B*T, pre_out, H, W]."""

    def __init__(self, cfg: ColorizerConfig, cin: int = 1) -> None:
        super().__init__()
        c1, c2 = cfg.pre_channels
        self.enc1 = ConvBNELU(cin, c1, stride=2)
        self.enc2 = ConvBNELU(c1, c2, stride=2)
        self.temporal = TemporalConv(c2)
        self.dec2 = ConvBNELU(c2 + c1, c1)
        self.dec1 = ConvBNELU(c1 + cin, cfg.pre_out)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b = clip.shape[0]
        x = _to_frames(clip)
        e1 = self.enc1(x)
        e2 = self.temporal(self.enc2(e1), b)
        d2 = self.dec2(torch.cat([up2(e2), e1], dim=1))
        return self.dec1(torch.cat([up2(d2), x], dim=1))


class FeaturePath(nn.Module):
    """Phase 2 (and phase 3, step 1 for the frames): six 3x3 stride-2 encoders (replicate padding,
    BN, ELU); layers 2..6 resized to the 4th layer's size; inter-layer fusion of layers 2, 4, 6 and
    intra-layer fusion chaining consecutive layers 2 -> 6; the two merged and refined by two
    residual blocks. Returns the fused map [N, dim, H/16, W/16] and layers 1..3 (decoder skips)."""

    def __init__(self, cin: int, cfg: ColorizerConfig) -> None:
        super().__init__()
        ch = cfg.path_channels
        self.encoders = nn.ModuleList(ConvBNELU(cin if i == 0 else ch[i - 1], ch[i], stride=2) for i in range(6))
        self.inter = Fuse1x1(ch[1] + ch[3] + ch[5], cfg.dim)
        self.intra = nn.ModuleList(Fuse1x1((ch[1] if i == 2 else cfg.dim) + ch[i], cfg.dim) for i in range(2, 6))
        self.merge = Fuse1x1(2 * cfg.dim, cfg.dim)
        self.refine = nn.Sequential(ResidualBlock(cfg.dim), ResidualBlock(cfg.dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        layers = []
        for enc in self.encoders:
            x = enc(x)
            layers.append(x)
        l4 = layers[3]
        # unify to the 4th layer's size: exact average pooling for the larger maps (resolution is a
        # multiple of 16), bilinear upsampling for the smaller ones.
        u = {
            2: F.avg_pool2d(layers[1], 4),
            3: F.avg_pool2d(layers[2], 2),
            4: l4,
            5: F.interpolate(layers[4], size=l4.shape[-2:], mode="bilinear", align_corners=False),
            6: F.interpolate(layers[5], size=l4.shape[-2:], mode="bilinear", align_corners=False),
        }
        inter = self.inter(u[2], u[4], u[6])
        intra = u[2]
        for i, fuse in zip(range(3, 7), self.intra):
            intra = fuse(intra, u[i])
        fused = self.refine(self.merge(inter, intra))
        return fused, layers[:3]


class SourceReferenceAttention(nn.Module):
    """Phase 3, step 2: every frame position attends over the positions of all R references.

    Q = Wq f (frames), K = Wk m, V = [Wv g, ab] (references); A = softmax(Q K^T / sqrt(d)) over the
    R*N reference positions; the frame features get Wo (A V_feat) added back, and the attended
    reference ab (A V_ab, a coarse "warped" colour map) is returned for the decoder.

    Keys come from ``m``, the reference's lightness passed through the *frames'* path, so queries
    and keys live in one feature space, and Wk starts equal to Wq: from the first step the
    attention prefers reference positions whose content resembles the frame position. Values
    come from ``g``, the colour-aware reference path.
    """

    def __init__(self, cfg: ColorizerConfig) -> None:
        super().__init__()
        self.q = nn.Conv2d(cfg.dim, cfg.attn_dim, 1)
        self.k = nn.Conv2d(cfg.dim, cfg.attn_dim, 1)
        with torch.no_grad():
            self.k.weight.copy_(self.q.weight)
            self.k.bias.copy_(self.q.bias)
        self.v = nn.Conv2d(cfg.dim, cfg.dim, 1)
        self.out = nn.Conv2d(cfg.dim, cfg.dim, 1)
        self.norm = nn.BatchNorm2d(cfg.dim)
        self.scale = 1.0 / math.sqrt(cfg.attn_dim)
        self.dim = cfg.dim

    def reference_features(
        self, match: torch.Tensor, colour: torch.Tensor, ab_small: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys from ``match`` and values from ``colour`` ([B*R, dim, h, w] maps) and ab_small [B*R, 2, h, w]."""
        keys = self.k(match).flatten(2).transpose(1, 2)  # [B*R, N, a]
        values = torch.cat([self.v(colour), ab_small], dim=1).flatten(2).transpose(1, 2)  # [B*R, N, dim+2]
        return keys.reshape(batch, -1, keys.shape[-1]), values.reshape(batch, -1, values.shape[-1])

    def forward(self, frames: torch.Tensor, refs: ReferenceFeatures, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        bt, c, h, w = frames.shape
        q = self.q(frames).flatten(2).transpose(1, 2)  # [B*T, N, a]
        q = q.reshape(batch, -1, q.shape[-1])  # [B, T*N, a]
        attn = torch.softmax(torch.bmm(q, refs.keys.transpose(1, 2)) * self.scale, dim=-1)  # [B, T*N, R*N]
        mixed = torch.bmm(attn, refs.values)  # [B, T*N, dim+2]
        mixed = mixed.reshape(bt, h * w, -1).transpose(1, 2).reshape(bt, -1, h, w)
        feat, warped_ab = mixed[:, : self.dim], mixed[:, self.dim :]
        return frames + self.norm(self.out(feat)), warped_ab


class TemporalAttention(nn.Module):
    """Phase 3, step 2.6: at each position, the T frames of a clip attend to each other
    (softmax over frames, scaled by sqrt(d)) and the result is added back, so neighbours agree."""

    def __init__(self, cfg: ColorizerConfig) -> None:
        super().__init__()
        self.q = nn.Conv2d(cfg.dim, cfg.attn_dim, 1)
        self.k = nn.Conv2d(cfg.dim, cfg.attn_dim, 1)
        self.v = nn.Conv2d(cfg.dim, cfg.dim, 1)
        self.out = nn.Conv2d(cfg.dim, cfg.dim, 1)
        self.norm = nn.BatchNorm2d(cfg.dim)
        self.scale = 1.0 / math.sqrt(cfg.attn_dim)

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        bt, c, h, w = x.shape

        def per_position(t: torch.Tensor) -> torch.Tensor:  # [B*T, C', h, w] -> [B*h*w, T, C']
            ct = t.shape[1]
            return t.reshape(batch, -1, ct, h * w).permute(0, 3, 1, 2).reshape(-1, bt // batch, ct)

        q, k, v = per_position(self.q(x)), per_position(self.k(x)), per_position(self.v(x))
        attn = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.scale, dim=-1)  # [B*h*w, T, T]
        mixed = torch.bmm(attn, v)  # [B*h*w, T, C]
        mixed = mixed.reshape(batch, h * w, -1, c).permute(0, 2, 3, 1).reshape(bt, c, h, w)
        return x + self.norm(self.out(mixed))


class ABDecoder(nn.Module):
    """Phase 3, step 2.7: trilinear upsampling, 3x3 replicate-padded convs, BN, ELU, with skips
    from the frame path (1/8, 1/4, 1/2), back to input size, two output channels (ab).

    The output is a correction of the attended reference colours: at half size a 1x1 head adds
    to the (upsampled) attended ab, and the last stage upsamples these two channels to full size
    and refines them with a 3x3 conv that also sees the pre-processor's full-size features (edges).
    Both heads start at zero, so an untrained decoder paints what the attention found. Carrying
    only two channels to full size keeps the costliest resolution cheap.
    """

    def __init__(self, cfg: ColorizerConfig) -> None:
        super().__init__()
        p = cfg.path_channels
        d8, d4, d2 = cfg.dec_channels
        self.up8 = ConvBNELU(cfg.dim + 2 + p[2], d8)
        self.up4 = ConvBNELU(d8 + p[1], d4)
        self.up2 = ConvBNELU(d4 + p[0], d2)
        self.fusion = CandidateFusion(d2)
        self.refine = nn.Conv2d(2 + cfg.pre_out, 2, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.refine.weight)  # start from the fused candidates
        nn.init.zeros_(self.refine.bias)
        self.ab_scale = cfg.ab_scale
        self.gate = cfg.gate_correction

    def forward(
        self,
        x: torch.Tensor,
        warped_ab: torch.Tensor,
        skips: list[torch.Tensor],
        pre: torch.Tensor,
        cand_ab: torch.Tensor,
        cand_conf: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: fused features; ``warped_ab``: attended reference ab (ab/110) on the same grid;
        ``cand_ab`` [N, 8, H, W] / ``cand_conf`` [N, 4, H, W]: the correspondence stage's candidates.
        Returns (ab [N, 2, H, W], fusion weights [N, 4, H, W])."""
        s1, s2, s3 = skips
        x = self.up8(torch.cat([up2(torch.cat([x, warped_ab], dim=1)), s3], dim=1))
        x = self.up4(torch.cat([up2(x), s2], dim=1))
        x = self.up2(torch.cat([up2(x), s1], dim=1))
        blend, residual, weights = self.fusion(x, cand_ab, cand_conf)  # full size: where to trust which candidate
        ab = blend + residual
        correction = self.refine(torch.cat([ab, pre], dim=1))
        if self.gate:  # corrections act where the candidates are unsure: 1 - the blend's confidence
            open_ = 1.0 - (weights * cand_conf).sum(1, keepdim=True)
            ab = blend + open_ * (residual + correction)
        else:
            ab = ab + correction
        return self.ab_scale * torch.clamp(ab, -1.0, 1.0), weights


# -- the network -------------------------------------------------------------------------------
class SceneColorizer(nn.Module):
    """Grayscale clip + R reference images (Lab) -> ab of every frame. See the module docstring."""

    def __init__(self, cfg: ColorizerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ColorizerConfig()
        self.correspondence = CorrespondenceAttention(self.cfg.corr_dim, key_pool=self.cfg.corr_key_pool)
        self.preprocess = ClipPreprocessor(self.cfg, cin=1 + GUIDE_CHANNELS + 3)
        self.reference_path = FeaturePath(3, self.cfg)
        self.frame_path = FeaturePath(self.cfg.pre_out, self.cfg)
        self.source_reference = SourceReferenceAttention(self.cfg)
        self.temporal = TemporalAttention(self.cfg)
        self.decoder = ABDecoder(self.cfg)
        self.memory_format = torch.contiguous_format  # prepare_for_inference: channels_last

    def encode_references(self, refs_lab: torch.Tensor) -> ReferenceFeatures:
        """[B, R, 3, H, W] Lab references -> keys/values over all R*N positions (once per scene)."""
        b, r, c, h, w = refs_lab.shape
        x = refs_lab.reshape(b * r, c, h, w)
        norm = torch.cat(
            [x[:, :1] / 50.0 - 1.0, x[:, 1:] / self.cfg.ab_scale], dim=1
        )  # L/50 - 1 = 2 L/100 - 1, as the frames
        colour, _ = self.reference_path(norm)
        grey = torch.cat(
            [norm[:, :1], norm.new_zeros(b * r, GUIDE_CHANNELS + 3, h, w)], dim=1
        )  # no candidates: grey only
        match, _ = self.frame_path(self.preprocess(grey.unsqueeze(2)))  # each reference as a one-frame grey clip
        ab_small = F.avg_pool2d(norm[:, 1:], 16)  # ab of each 16x16 cell = the fused map's grid
        keys, values = self.source_reference.reference_features(match, colour, ab_small, b)
        corr_keys, corr_values = self.correspondence.reference_side(norm, b)
        return ReferenceFeatures(keys, values, corr_keys, corr_values)

    def colorize(self, gray: torch.Tensor, refs: ReferenceFeatures, guide: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 1, T, H, W] L/100 + cached reference features + flow candidates [B, 9, T, H, W] -> ab [B, 2, T, H, W]."""
        return self.colorize_detailed(gray, refs, guide)[0]

    def colorize_detailed(
        self, gray: torch.Tensor, refs: ReferenceFeatures, guide: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`colorize` plus what it used: (ab, the candidates' ab/110 [B, 8, T, H, W], their
        confidences [B, 4, T, H, W], the fusion weights [B, 4, T, H, W]); candidates in the order of
        :data:`scenecolor.correspondence.CANDIDATES` (direct flow, forward, backward, attention)."""
        b = gray.shape[0]
        x = _to_frames(gray * 2.0 - 1.0)  # [B*T, 1, H, W]
        if guide is None:
            guide_f = x.new_zeros(x.shape[0], GUIDE_CHANNELS, x.shape[2], x.shape[3])
        else:
            guide_f = _to_frames(guide)
        attn_ab, attn_conf = self.correspondence(x, refs.corr_keys, refs.corr_values, b)
        flow_ab, flow_conf = split_guide(guide_f)
        cand_ab = torch.cat([flow_ab, attn_ab], dim=1)
        cand_conf = torch.cat([flow_conf, attn_conf], dim=1)
        pre = self.preprocess(_to_clip(torch.cat([x, guide_f, attn_ab, attn_conf], dim=1), b))  # [B*T, pre_out, H, W]
        feats, skips = self.frame_path(pre)
        fused, warped_ab = self.source_reference(feats, refs, b)
        fused = self.temporal(fused, b).contiguous(memory_format=self.memory_format)
        ab, weights = self.decoder(
            fused, warped_ab.contiguous(memory_format=self.memory_format), skips, pre, cand_ab, cand_conf
        )
        return _to_clip(ab, b), _to_clip(cand_ab, b), _to_clip(cand_conf, b), _to_clip(weights, b)

    def forward(
        self, gray: torch.Tensor, refs_lab: torch.Tensor, guide: torch.Tensor | None = None, detailed: bool = False
    ) -> Any:
        """Check shapes (skipped while exporting), encode the references, colorize the clip (with
        ``detailed``: :meth:`colorize_detailed`'s tuple, for the training loss on the candidates)."""
        if not (torch.jit.is_tracing() or torch.compiler.is_exporting()):
            check_inputs(gray, refs_lab, self.cfg, guide)
        out = self.colorize_detailed(gray, self.encode_references(refs_lab), guide)
        return out if detailed else out[0]


def check_inputs(
    gray: torch.Tensor, refs_lab: torch.Tensor, cfg: ColorizerConfig, guide: torch.Tensor | None = None
) -> None:
    """Raise :class:`DataError` naming the tensor and the expected shape when inputs do not fit."""
    if gray.ndim != 5 or gray.shape[1] != 1:
        raise DataError(f"colorizer gray input must be [B, 1, T, H, W] (L/100), got {tuple(gray.shape)}")
    if refs_lab.ndim != 5 or refs_lab.shape[2] != 3:
        raise DataError(f"colorizer references must be [B, R, 3, H, W] Lab, got {tuple(refs_lab.shape)}")
    b, _, t, h, w = gray.shape
    if t < 1 or b < 1:
        raise DataError(f"colorizer gray input has an empty batch or clip: {tuple(gray.shape)}")
    if refs_lab.shape[0] != b or tuple(refs_lab.shape[-2:]) != (h, w):
        raise DataError(
            f"references {tuple(refs_lab.shape)} do not match the clip {tuple(gray.shape)}: same batch size and H, W "
            "needed"
        )
    if not 1 <= refs_lab.shape[1] <= cfg.max_refs:
        raise DataError(f"number of references must be in 1..{cfg.max_refs}, got {refs_lab.shape[1]}")
    if h % 16 or w % 16:
        raise DataError(
            f"clip size {h}x{w} must be a multiple of 16 (resize to the working resolution {cfg.resolution})"
        )
    if guide is not None and tuple(guide.shape) != (b, GUIDE_CHANNELS, t, h, w):
        raise DataError(
            f"flow candidates (guide) must be [B, {GUIDE_CHANNELS}, T, H, W] = "
            f"{(b, GUIDE_CHANNELS, t, h, w)}, got {tuple(guide.shape)}"
        )


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def size_mb(model: nn.Module) -> float:
    """float32 size of parameters and buffers in MB (10^6 bytes)."""
    n = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return 4 * n / 1e6


def parts_table(model: SceneColorizer) -> list[dict[str, Any]]:
    """One row per named part of the network: its class and parameter count (plus the total)."""
    rows = [
        {"part": name, "module": type(module).__name__, "parameters": parameter_count(module)}
        for name, module in model.named_children()
    ]
    return rows + [{"part": "total", "module": type(model).__name__, "parameters": parameter_count(model)}]


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv whose weights and bias include the eval-mode batch norm that followed it."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        padding_mode=conv.padding_mode,
        bias=True,
    )
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight.data = conv.weight.data * scale.reshape(-1, 1, 1, 1)
    fused.bias.data = (bias - bn.running_mean) * scale + bn.bias
    return fused


@torch.no_grad()
def prepare_for_inference(model: SceneColorizer) -> SceneColorizer:
    """A copy for fast CPU inference: eval mode, every conv + BN pair folded into one conv, and
    channels-last memory layout (2-3x faster oneDNN convolutions at few channels). Same outputs
    up to float rounding; the original model is left as it is (train it, export it)."""
    fast = copy.deepcopy(model).eval()
    for module in fast.modules():
        if isinstance(module, (ConvBNELU, Fuse1x1, TemporalConv, CorrConv)):
            module.conv = _fold(module.conv, module.bn)
            module.bn = nn.Identity()
    fast.memory_format = torch.channels_last
    return fast.to(memory_format=torch.channels_last)


class ReferenceEncoderGraph(nn.Module):
    """``encode_references`` as a module of its own (for ONNX export): refs_lab -> keys, values."""

    def __init__(self, model: SceneColorizer) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, refs_lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.model.encode_references(refs_lab)
        return feats.keys, feats.values, feats.corr_keys, feats.corr_values


class ClipColorizerGraph(nn.Module):
    """``colorize`` with cached reference features as a module (for ONNX export): gray, keys, values, corr_keys,
    corr_values, guide
    -> ab, attention (the attention candidate and its confidence), weights (the fusion weights of the four
    candidates)."""

    def __init__(self, model: SceneColorizer) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(
        self,
        gray: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        corr_keys: torch.Tensor,
        corr_values: torch.Tensor,
        guide: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> ab [B, 2, T, H, W]; the attention candidate [B, 3, T, H, W] (ab/110, confidence); the fusion
        weights [B, 4, T, H, W]."""
        ab, cand_ab, cand_conf, weights = self.model.colorize_detailed(
            gray, ReferenceFeatures(keys, values, corr_keys, corr_values), guide
        )
        return ab, torch.cat([cand_ab[:, 6:8], cand_conf[:, 3:4]], dim=1), weights


def load_colorizer(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[SceneColorizer, dict[str, Any]]:
    """Load a ``colorizer.pt`` (``weights_only=True``) into a model in eval mode on ``device`` (auto, cpu, cuda:
    :func:`scenecolor.core.device.resolve_device`); (model, checkpoint).

    Raises CheckpointError for a missing or corrupt file or one of another architecture.
    """
    peek = load_checkpoint(path, arch=ARCH, restore_rng=False)
    try:
        cfg = ColorizerConfig.from_dict(peek["config"]["model"])
    except (KeyError, TypeError, ParameterError) as exc:
        raise CheckpointError(
            f"colorizer checkpoint '{path}' has no valid model config ({exc}); re-run the colorizer-training step"
        ) from None
    model = SceneColorizer(cfg)
    ckpt = load_checkpoint(path, arch=ARCH, model=model, restore_rng=False)
    return model.to(resolve_device(str(device))).eval(), ckpt
