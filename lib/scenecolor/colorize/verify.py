"""Reference verification: does a retrieved reference show the scene at all?

Retrieval ranks a pool by similarity, so it always returns R references, even for a scene that
nothing in the pool shows; the colorizer then copies their colours with confidence. Before a
reference is used it is checked against the scene's grey query frames with the correspondence
stage's own tool, optical flow:

- the reference's lightness is warped onto each query frame by DIS flow (frame -> reference);
- a pixel *matches* when the warped lightness agrees with the frame's (``exp(-|dL| / sigma)`` on
  mean/spread-normalised L, as :func:`scenecolor.colorize.correspondence.flow_warp` scores its
  confidence) **and** the flow is cycle-consistent (the flow back from the reference lands within
  ``cycle_tol`` of the side where it started);
- the reference's score is the share of matching pixels, averaged over the query frames.

Photometric agreement alone is not enough: dense flow can bend any image into a lightness that
resembles the frame, so an unrelated reference sometimes scores high on it; the cycle check is
what such a warp fails. Both run at ``side`` x ``side`` (frames and references are stretched to
it, as the pool's frames are stored), two DIS flows per (query, reference) pair: about a
millisecond each at 64 x 64.

A reference whose score is below ``threshold`` is dropped; a scene left with none is coloured by
the safe fallback (:data:`FALLBACKS`), not by a wrong reference: ``grey`` (ab = 0); ``prior``, a
low-chroma tint: ``prior_strength`` x the mean ab of the pool's frames (:func:`mean_ab`); or
``learned``, the colour prior learned from the training frames
(:class:`scenecolor.colorize.prior.ColourPrior`: mean ab per lightness and image region, shrunk by a
factor chosen on the validation frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from scenecolor.colorize.correspondence import FLOW_METHODS, FlowEngine, FlowMethod, normalized_u8, warp
from scenecolor.core.errors import DataError, ParameterError

if TYPE_CHECKING:
    from scenecolor.colorize.prior import ColourPrior

Fallback = Literal["grey", "prior", "learned"]
FALLBACKS = ("grey", "prior", "learned")


@dataclass(frozen=True)
class VerifyConfig:
    """Settings of reference verification (validated on construction).

    ``threshold`` 0 keeps every reference (verification off); the default was chosen on the smoke
    run's references (docs/ARCHITECTURE.md, the evaluation step's verification table).
    """

    threshold: float = 0.15  # least share of matching pixels a kept reference needs, 0..1
    side: int = 64  # query frames and references are compared at side x side
    method: FlowMethod = "dis_fast"
    sigma: float = 12.0  # photometric tolerance in normalised-lightness levels (40 levels = 1 std)
    cycle_tol: float = 0.03  # largest forward-backward flow error, as a share of the side (at least 1 px)
    fallback: Fallback = "grey"  # what a scene without a verified reference gets
    prior_strength: float = 0.5  # the prior fallback's ab: this share of the pool's mean ab, 0..1

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ParameterError(
                f"verification threshold must be in 0..1 (0: keep every reference), got {self.threshold}"
            )
        if not 16 <= self.side <= 512:
            raise ParameterError(f"verification side must be 16..512 pixels, got {self.side}")
        if self.method not in FLOW_METHODS:
            raise ParameterError(f"verification flow method must be one of {FLOW_METHODS}, got {self.method!r}")
        if self.sigma <= 0 or not 0.0 < self.cycle_tol <= 1.0:
            raise ParameterError(f"sigma must be > 0 and cycle_tol in (0, 1], got {self.sigma}, {self.cycle_tol}")
        if self.fallback not in FALLBACKS:
            raise ParameterError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if not 0.0 <= self.prior_strength <= 1.0:
            raise ParameterError(f"prior_strength must be in 0..1, got {self.prior_strength}")


@dataclass
class Verdict:
    """Per reference (in the order given): its match score in [0, 1] and whether it is kept."""

    scores: np.ndarray  # float32 (R,)
    keep: np.ndarray  # bool (R,)
    threshold: float

    @property
    def any_kept(self) -> bool:
        return bool(self.keep.any())


def _side_u8(lightness: np.ndarray, side: int) -> np.ndarray:
    L = np.asarray(lightness, dtype=np.float32)
    if L.shape != (side, side):
        L = cv2.resize(L, (side, side), interpolation=cv2.INTER_AREA if L.shape[0] > side else cv2.INTER_LINEAR)
    return normalized_u8(L)


def match_map(frame_u8: np.ndarray, ref_u8: np.ndarray, engine: FlowEngine, cfg: VerifyConfig) -> np.ndarray:
    """Per pixel of the frame, float32 (H, W) in [0, 1]: how well the reference, warped onto it, agrees there.

    Args:
        frame_u8, ref_u8: normalised lightness (:func:`scenecolor.colorize.correspondence.normalized_u8`), the same
            (H, W).
    Returns photometric agreement x inside the reference x cycle-consistent (0 or 1).
    """
    fwd = engine.flow(frame_u8, ref_u8)
    back = engine.flow(ref_u8, frame_u8)
    warped, inside = warp(ref_u8.astype(np.float32), fwd)
    photo = np.exp(-cv2.blur(np.abs(frame_u8.astype(np.float32) - warped), (3, 3)) / cfg.sigma)
    back_at, _ = warp(back, fwd)  # the backward flow where the forward flow lands
    cycle = np.linalg.norm(fwd + back_at, axis=-1)
    consistent = cycle <= max(1.0, cfg.cycle_tol * max(frame_u8.shape))
    return (photo * inside * consistent).astype(np.float32)


def reference_scores(query_L: np.ndarray, refs_lab: np.ndarray, cfg: VerifyConfig | None = None) -> np.ndarray:
    """Match score of every reference against the scene's query frames.

    Args:
        query_L: (n, H, W) lightness 0..100 of the scene's grey query frames (n >= 1).
        refs_lab: (R, H', W', 3) Lab references (only L is used; any size: both are brought to ``cfg.side``).
    Returns float32 (R,) in [0, 1]: the share of matching pixels (:func:`match_map`), mean over the query frames.
    """
    cfg = cfg or VerifyConfig()
    q = np.asarray(query_L, dtype=np.float32)
    refs = np.asarray(refs_lab, dtype=np.float32)
    if q.ndim != 3 or q.shape[0] < 1:
        raise DataError(f"verification needs query lightness (n, H, W) with n >= 1, got {q.shape}")
    if refs.ndim != 4 or refs.shape[-1] != 3:
        raise DataError(f"verification needs Lab references (R, H, W, 3), got {refs.shape}")
    engine = FlowEngine(cfg.method)
    frames = [_side_u8(x, cfg.side) for x in q]
    out = np.zeros(len(refs), dtype=np.float32)
    for i, ref in enumerate(refs):
        r = _side_u8(ref[..., 0], cfg.side)
        out[i] = np.mean([match_map(f, r, engine, cfg).mean() for f in frames])
    return out


def verify_references(query_L: np.ndarray, refs_lab: np.ndarray, cfg: VerifyConfig | None = None) -> Verdict:
    """Score every reference (:func:`reference_scores`) and keep those at or above ``cfg.threshold``."""
    cfg = cfg or VerifyConfig()
    scores = reference_scores(query_L, refs_lab, cfg)
    return Verdict(scores=scores, keep=scores >= cfg.threshold, threshold=cfg.threshold)


def mean_ab(frames_lab: np.ndarray) -> np.ndarray:
    """The mean ab of a pool's frames, float32 (2,): what the ``prior`` fallback tints with.

    Args:
        frames_lab: (N, H, W, 3) Lab frames of the pool (N >= 1).
    """
    lab = np.asarray(frames_lab, dtype=np.float32)
    if lab.ndim != 4 or lab.shape[-1] != 3 or len(lab) == 0:
        raise DataError(f"the pool's mean ab needs Lab frames (N, H, W, 3) with N >= 1, got {lab.shape}")
    return lab[..., 1:].reshape(-1, 2).mean(0).astype(np.float32)


def fallback_ab(
    shape: tuple[int, ...],
    cfg: VerifyConfig | None = None,
    prior: np.ndarray | ColourPrior | None = None,
    L: np.ndarray | None = None,
) -> np.ndarray:
    """The ab (float32 (*shape, 2), e.g. (T, H, W, 2)) of a scene with no verified reference.

    ``grey``: zeros. ``prior``: ``prior_strength`` x ``prior``, the pool's mean ab (2,), everywhere (zeros when
    it is None). ``learned``: ``prior.ab(L)`` of the learned :class:`~scenecolor.colorize.prior.ColourPrior`
    for the scene's lightness ``L`` (float (*shape) 0..100); DataError when either is missing.
    """
    cfg = cfg or VerifyConfig()
    out = np.zeros((*shape, 2), dtype=np.float32)
    if cfg.fallback == "learned":
        if prior is None or isinstance(prior, np.ndarray) or L is None:
            raise DataError("the learned fallback needs the run's colour prior and the scene's lightness")
        out[...] = prior.ab(np.asarray(L, dtype=np.float32).reshape(shape))
    elif cfg.fallback == "prior" and prior is not None:
        out[...] = cfg.prior_strength * np.asarray(prior, dtype=np.float32).reshape(2)
    return out
