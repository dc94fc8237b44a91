"""The correspondence stage: where in the references (and in the neighbouring frames) each pixel's colour is.

Two kinds of correspondence feed the colorizer's refinement network, each as a *candidate* ab map
with a per-pixel *confidence* in [0, 1]:

1. **Optical flow, computed outside the network** (OpenCV; the network stays ONNX-exportable):

   - ``direct``: the anchor reference's ab warped onto each frame by the flow from the frame to
     the reference (the classical flow-warp baseline);
   - ``forward``: propagation through the scene from its first frame on - frame t takes frame
     t-1's propagated ab warped by the flow t -> t-1, or the direct warp where that is more
     confident (a classical tracker: colour is carried along motion and re-anchored wherever the
     reference matches well);
   - ``backward``: the same from the scene's last frame towards its first.

   Confidence = photometric agreement (the warped lightness against the frame's, after
   normalising each image's mean and spread), times the share of the warp that lands inside the
   source, decayed along the propagation chain. :func:`scene_guides` returns the three candidates
   for a whole scene as a ``guide`` array (``GUIDE_CHANNELS`` = 9 channels: ab/110 and confidence
   of direct, forward, backward).

2. **Attention, inside the network** (:class:`CorrespondenceAttention`): features of every frame
   position (at 1/8 of the working size) attend over every position of all R references
   (cosine similarity times a learned temperature, softmax), the references' ab are the values:
   an attention-warped ab plus its confidence (the attention-weighted similarity). It works for
   references that are not frames of the clip, where flow has nothing to follow.

The refinement network (:mod:`scenecolor.colorizer`) takes L + all candidates + confidences and
learns where to trust which (:class:`CandidateFusion`), then corrects the blend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scenecolor.core.color import AB_SCALE
from scenecolor.core.errors import DataError, ParameterError

GUIDE_CHANNELS = 9  # (ab/110, confidence) x (direct, forward, backward)
CANDIDATES = ("direct flow", "forward propagation", "backward propagation", "attention")
FlowMethod = Literal["dis_ultrafast", "dis_fast", "dis_medium", "farneback"]
FLOW_METHODS = ("dis_ultrafast", "dis_fast", "dis_medium", "farneback")
_DIS_PRESETS = {"dis_ultrafast": 0, "dis_fast": 1, "dis_medium": 2}
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


# -- optical flow (NumPy / OpenCV) ----------------------------------------------------------------
def normalized_u8(lightness: np.ndarray) -> np.ndarray:
    """L (0..100) -> uint8 image with its mean at 128 and its spread at 40 levels per std.

    Flow and the photometric check run on these, so a reference brighter or of other contrast
    than the frame (another exposure, another camera) still matches.
    """
    L = np.asarray(lightness, dtype=np.float32)
    z = (L - L.mean()) / max(float(L.std()), 1.0)
    return np.clip(128.0 + 40.0 * z, 0, 255).astype(np.uint8)


class FlowEngine:
    """Dense optical flow between two uint8 images: ``flow(target, source)`` is the backward field
    that :func:`warp` uses to bring ``source`` onto ``target``'s pixel grid.

    ``dis_*`` is OpenCV's DIS flow at one of its presets (ultrafast, fast, medium: fast and good on
    large motion), ``farneback`` OpenCV's Farneback flow with the usual parameters (the flow-warp
    baseline of the evaluation step).
    """

    def __init__(self, method: FlowMethod = "dis_fast") -> None:
        if method not in FLOW_METHODS:
            raise ParameterError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
        self.method = method
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[method]) if method in _DIS_PRESETS else None

    def flow(self, target: np.ndarray, source: np.ndarray) -> np.ndarray:
        if self._dis is not None:
            return self._dis.calc(target, source, None)
        p = FARNEBACK_PARAMS
        return cv2.calcOpticalFlowFarneback(
            target,
            source,
            None,
            p["pyr_scale"],
            p["levels"],
            p["winsize"],
            p["iterations"],
            p["poly_n"],
            p["poly_sigma"],
            p["flags"],
        )


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward warp of ``image`` (H,W[,C]) by ``flow`` (H,W,2): out(y,x) = image(y+fy, x+fx).

    Returns (warped image, inside mask in {0,1}): samples that fall outside the source are
    replicated from its border and marked 0.
    """
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    out = cv2.remap(
        np.ascontiguousarray(image, dtype=np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = ((mx >= -0.5) & (mx <= w - 0.5) & (my >= -0.5) & (my <= h - 0.5)).astype(np.float32)
    return out, inside


def _photometric(target_u8: np.ndarray, warped_u8: np.ndarray, sigma: float) -> np.ndarray:
    """exp(-|difference| / sigma) on the normalised lightness, smoothed a little (3x3)."""
    diff = np.abs(target_u8.astype(np.float32) - warped_u8)
    return np.exp(-cv2.blur(diff, (3, 3)) / sigma)


@dataclass(frozen=True)
class GuideConfig:
    """Settings of the flow candidates (shared by training and inference)."""

    method: FlowMethod = "dis_fast"
    sigma: float = 12.0  # photometric tolerance in normalised-lightness levels (40 levels = 1 std)
    decay: float = 0.97  # confidence kept per propagation step


def flow_warp(
    L: np.ndarray, ref_lab: np.ndarray, engine: FlowEngine, sigma: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's ab warped onto every frame by optical flow (frame -> reference).

    Args:
        L: (T,H,W) lightness 0..100 of the frames.
        ref_lab: (H,W,3) Lab reference of the same size.
    Returns (ab (T,H,W,2) in Lab units, confidence (T,H,W) in [0, 1]).
    """
    ref_u8, source = _warp_source(ref_lab, L, ab_scale=1.0)
    ab = np.empty((*L.shape, 2), dtype=np.float32)
    conf = np.empty(L.shape, dtype=np.float32)
    for t in range(L.shape[0]):
        ab[t], conf[t] = _direct_warp(normalized_u8(L[t]), ref_u8, source, engine, sigma)
    return ab, conf


def _warp_source(ref_lab: np.ndarray, L: np.ndarray, ab_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The reference's normalised lightness (uint8) and what is warped from it: (ab / ab_scale, that lightness)."""
    if ref_lab.shape[:2] != L.shape[1:]:
        raise DataError(f"flow warp: reference {ref_lab.shape[:2]} and frames {L.shape[1:]} must have the same size")
    ref_u8 = normalized_u8(ref_lab[..., 0])
    return ref_u8, np.dstack([ref_lab[..., 1:] / ab_scale, ref_u8.astype(np.float32)])


def _direct_warp(
    tgt_u8: np.ndarray, ref_u8: np.ndarray, source: np.ndarray, engine: FlowEngine, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """One frame of the direct candidate: ``source``'s ab warped onto the frame, and its confidence."""
    warped, inside = warp(source, engine.flow(tgt_u8, ref_u8))
    return warped[..., :2], inside * _photometric(tgt_u8, warped[..., 2], sigma)


def _propagate_into(
    guide: np.ndarray, L_u8: list[np.ndarray], engine: FlowEngine, cfg: GuideConfig, order: range, channel: int
) -> None:
    """Carry ab along ``order`` (frame indices) with flow into ``guide[..., channel:channel + 3]`` (ab/110, conf),
    re-anchoring on the direct warp (``guide[..., 0:3]``) where it is more confident."""
    prev = None
    c = channel
    for t in order:
        if prev is None:
            guide[t, ..., c : c + 3] = guide[t, ..., 0:3]
        else:
            f = engine.flow(L_u8[t], L_u8[prev])
            warped, inside = warp(np.dstack([guide[prev, ..., c : c + 3], L_u8[prev].astype(np.float32)]), f)
            conf = cfg.decay * warped[..., 2] * inside * _photometric(L_u8[t], warped[..., 3], cfg.sigma)
            take = guide[t, ..., 2] >= conf
            guide[t, ..., c : c + 2] = np.where(take[..., None], guide[t, ..., 0:2], warped[..., :2])
            guide[t, ..., c + 2] = np.where(take, guide[t, ..., 2], conf)
        prev = t


def scene_guides(L: np.ndarray, anchor_lab: np.ndarray, cfg: GuideConfig | None = None) -> np.ndarray:
    """The flow candidates of a whole scene: float32 (T,H,W,9) = [direct ab/110, conf, forward ab/110, conf,
    backward ab/110, conf].

    Args:
        L: (T,H,W) lightness 0..100 of the scene's frames, in order.
        anchor_lab: (H,W,3) the reference that flow follows (the first reference), same size.

    Every candidate is written straight into the one output array (no per-candidate copies): at 640x360 a
    16-frame chunk needs its 133 MB and a frame's temporaries, which keeps long 1080p videos within memory.
    """
    cfg = cfg or GuideConfig()
    L = np.asarray(L, dtype=np.float32)
    if L.ndim != 3 or L.shape[0] < 1:
        raise DataError(f"scene guides need lightness (T,H,W) with T >= 1, got {L.shape}")
    engine = FlowEngine(cfg.method)
    n = L.shape[0]
    guide = np.empty((*L.shape, GUIDE_CHANNELS), dtype=np.float32)
    L_u8 = [normalized_u8(x) for x in L]
    ref_u8, source = _warp_source(np.asarray(anchor_lab, dtype=np.float32), L, ab_scale=AB_SCALE)
    for t in range(n):  # direct: the anchor's ab warped onto each frame (as flow_warp, in ab/110 units)
        guide[t, ..., 0:2], guide[t, ..., 2] = _direct_warp(L_u8[t], ref_u8, source, engine, cfg.sigma)
    _propagate_into(guide, L_u8, engine, cfg, range(n), 3)
    _propagate_into(guide, L_u8, engine, cfg, range(n - 1, -1, -1), 6)
    return guide


def blend_guides(
    guide: np.ndarray, extra: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The non-learned fusion of candidates: per pixel the most confident one. (T,H,W,9) -> ab (T,H,W,2) Lab
    units, conf (T,H,W).

    ``extra`` adds another candidate (ab in Lab units, conf), e.g. the attention warp.
    """
    abs_ = [guide[..., 3 * k : 3 * k + 2] * AB_SCALE for k in range(3)]
    confs = [guide[..., 3 * k + 2] for k in range(3)]
    if extra is not None:
        abs_.append(extra[0])
        confs.append(extra[1])
    best = np.argmax(np.stack(confs), axis=0)
    ab = np.take_along_axis(np.stack(abs_), best[None, ..., None], axis=0)[0]
    conf = np.take_along_axis(np.stack(confs), best[None], axis=0)[0]
    return ab.astype(np.float32), conf.astype(np.float32)


# -- attention correspondence (inside the network) -------------------------------------------------
class CorrConv(nn.Module):
    """3x3 convolution (replicate padding, no bias), batch norm, ELU: the correspondence stage's layer."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="replicate", bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.bn(self.conv(x)))


class MatchEncoder(nn.Module):
    """Lightness -> matching features at 1/8 size (three stride-2 convs, a 3x3 conv at 1/4 for
    detail, one more at 1/8); the same weights for frames and references, so both live in one space."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            CorrConv(1, 16, 2), CorrConv(16, 32, 2), CorrConv(32, 32), CorrConv(32, dim, 2), CorrConv(dim, dim)
        )
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: L/50 - 1, [N, 1, H, W]
        return F.normalize(self.proj(self.body(x)), dim=1)


class CorrespondenceAttention(nn.Module):
    """Global attention from every frame position (1/8 size) to every reference position, values = the references' ab.

    ``reference_side`` (once per scene) returns keys [B, R*N, d] (unit vectors) and values
    [B, R*N, 2] (ab/110 averaged over each cell); with ``key_pool`` 2 the reference side is pooled
    to 1/16 size (each key the renormalised mean of a 2x2 block of 1/8 features, each value the
    ab of a 16x16 cell): 4x fewer positions to attend over, which is what the CPU time is made of.
    ``forward`` returns, per frame, the attention-warped ab/110 and the confidence (a learned sigmoid
    of the attention-weighted cosine similarity), both upsampled to the frame size. The temperature
    is learned (initialised at 20).
    """

    stride = 8

    def __init__(self, dim: int = 64, key_pool: int = 1) -> None:
        super().__init__()
        self.key_pool = key_pool
        self.encoder = MatchEncoder(dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(20.0)))
        # confidence = sigmoid(gain * similarity + bias), learned; it starts low (0.12 at similarity 1), so an
        # untrained network trusts the flow candidates first and attention only where they are unsure
        self.conf_gain = nn.Parameter(torch.tensor(10.0))
        self.conf_bias = nn.Parameter(torch.tensor(-12.0))

    def reference_side(self, ref_lab_norm: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``ref_lab_norm``: [B*R, 3, H, W] as (L/50 - 1, ab/110)."""
        keys = self.encoder(ref_lab_norm[:, :1])
        if self.key_pool > 1:
            keys = F.normalize(F.avg_pool2d(keys, self.key_pool), dim=1)
        keys = keys.flatten(2).transpose(1, 2)  # [B*R, N, d]
        values = (
            F.avg_pool2d(ref_lab_norm[:, 1:], self.stride * self.key_pool).flatten(2).transpose(1, 2)
        )  # [B*R, N, 2]
        return keys.reshape(batch, -1, keys.shape[-1]), values.reshape(batch, -1, 2)

    def forward(
        self, frames_norm: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames_norm``: [B*T, 1, H, W] as L/50 - 1 -> (ab/110 [B*T, 2, H, W], confidence [B*T, 1, H, W])."""
        bt, _, H, W = frames_norm.shape
        q = self.encoder(frames_norm)
        h, w = q.shape[-2:]
        q = q.flatten(2).transpose(1, 2).reshape(batch, -1, q.shape[1])  # [B, T*N, d], unit vectors
        # softmax(temperature * cosine) over the R*N reference positions, as one fused attention call (the
        # [T*N, R*N] matrix is never kept). The values carry the keys beside the ab, so the same pass gives the
        # attention-weighted similarity: sum_j a_ij (q_i . k_j) = q_i . (sum_j a_ij k_j).
        mixed = F.scaled_dot_product_attention(
            (q * self.log_temperature.exp()).unsqueeze(1),
            keys.unsqueeze(1),
            torch.cat([values, keys], dim=-1).unsqueeze(1),
            scale=1.0,
        ).squeeze(1)  # [B, T*N, 2 + d]
        ab = mixed[..., :2]
        similarity = (mixed[..., 2:] * q).sum(-1, keepdim=True)
        conf = torch.sigmoid(self.conf_gain * similarity + self.conf_bias)  # [B, T*N, 1]
        out = torch.cat([ab, conf], dim=-1).reshape(bt, h * w, 3).transpose(1, 2).reshape(bt, 3, h, w)
        out = F.interpolate(out, size=(H, W), mode="bilinear", align_corners=False)
        return out[:, :2], out[:, 2:]


class CandidateFusion(nn.Module):
    """Learns where to trust which candidate: per-pixel softmax weights over the K candidates from
    the decoder's features (a zero-initialised 1x1 conv) plus, per candidate k, (``beta`` + gain_k) x
    its confidence + bias_k, so an untrained network takes the most confident candidate and training
    recalibrates how far each kind of candidate (direct flow, propagation, attention) is to be trusted;
    the blend is then corrected by a residual head (zero-initialised)."""

    def __init__(self, cin: int, k: int = len(CANDIDATES)) -> None:
        super().__init__()
        self.logits = nn.Conv2d(cin, k, 1)
        self.residual = nn.Conv2d(cin, 2, 1)
        for conv in (self.logits, self.residual):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.beta = nn.Parameter(torch.tensor(8.0))
        self.gain = nn.Parameter(torch.zeros(k))  # per candidate: confidence calibration, learned
        self.bias = nn.Parameter(torch.zeros(k))
        self.k = k

    def forward(
        self, feats: torch.Tensor, cand_ab: torch.Tensor, cand_conf: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """feats [N, C, h, w] (any size), cand_ab [N, 2K, H, W], cand_conf [N, K, H, W] -> (blend ab/110
        [N, 2, H, W], correction ab/110 [N, 2, H, W], weights [N, K, H, W])."""
        size = cand_ab.shape[-2:]
        up = F.interpolate(
            torch.cat([self.logits(feats), self.residual(feats)], dim=1),
            size=size,
            mode="bilinear",
            align_corners=False,
        )
        gain, bias = (self.beta + self.gain).view(1, -1, 1, 1), self.bias.view(1, -1, 1, 1)
        weights = torch.softmax(up[:, : self.k] + gain * cand_conf + bias, dim=1)
        n, _, H, W = cand_ab.shape
        blend = (cand_ab.reshape(n, self.k, 2, H, W) * weights.unsqueeze(2)).sum(1)
        return blend, up[:, self.k :], weights


def split_guide(guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 9, H, W] guide -> (ab [N, 6, H, W], conf [N, 3, H, W])."""
    ab = torch.cat([guide[:, 0:2], guide[:, 3:5], guide[:, 6:8]], dim=1)
    conf = torch.cat([guide[:, 2:3], guide[:, 5:6], guide[:, 8:9]], dim=1)
    return ab, conf
