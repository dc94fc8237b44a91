"""Exemplar colorization: your own references, and one scene colorized with them.

* :func:`load_reference` reads a reference given on the command line: an image (png, jpg, webp,
  anything OpenCV reads) or one frame of a colour video written ``clip.mp4#frame=120``. A missing
  or unreadable file raises :class:`~scenecolor.errors.DataError` naming it (the CLI exits 2); a
  reference without colour is refused (:func:`check_has_colour`).
* :func:`colorize_scene` is the one function that turns a scene's lightness and its references
  into ab with a :class:`scenecolor.colorize.ColorizerBackend`: the frames and references are
  brought to the network's working size at the frames' own aspect ratio
  (:func:`scenecolor.colorize.backend.network_size_hw`), the flow candidates are computed over the whole
  scene (forward and backward propagation), the network runs clip by clip, and the ab is resized
  back. ``scenecolor colorize`` (via :func:`scenecolor.colorize.video.colorize_video_file`) and notebook
  05 (via :class:`scenecolor.evaluate.protocol.ColorizerMethod`) both call it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scenecolor.colorize.backend import blend_confidence, network_size_hw
from scenecolor.colorize.correspondence import GuideConfig, scene_guides
from scenecolor.colorize.prior import ColourPrior
from scenecolor.colorize.verify import Verdict, VerifyConfig, fallback_ab, verify_references
from scenecolor.core.color import AB_SCALE, rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError, VideoError
from scenecolor.core.video import iter_frames
from scenecolor.retrieval.references import scene_query_frames

MAX_REFERENCES = 5
GREY_CHROMA = 3.0  # a reference whose 99th-percentile chroma (CIE Lab) is below this has no colour
_FRAME_SPEC = re.compile(r"^(?P<path>.+)#frame=(?P<n>\d+)$")


def check_has_colour(rgb: np.ndarray, name: str) -> None:
    """Refuse a reference without colour: grey images (also stored as RGB) give the network nothing to copy."""
    lab = rgb_to_lab(
        rgb
        if rgb.shape[0] * rgb.shape[1] <= 512 * 512
        else cv2.resize(rgb, (512, int(512 * rgb.shape[0] / rgb.shape[1])))
    )
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    p99 = float(np.percentile(chroma, 99))
    if p99 < GREY_CHROMA:
        raise DataError(
            f"reference '{name}' has no colour (it is greyscale: 99th-percentile chroma {p99:.1f}, below "
            f"{GREY_CHROMA}); "
            "a reference must be a colour image or colour video frame"
        )


def load_reference(spec: str | os.PathLike[str]) -> np.ndarray:
    """An RGB uint8 (H, W, 3) reference from ``path`` (an image) or ``path#frame=N`` (frame N of a video, from 0).

    Raises DataError naming the reference when it is missing, unreadable, has no frame N, or has no colour.
    """
    text = str(spec)
    m = _FRAME_SPEC.match(text)
    path = Path(m.group("path") if m else text)
    if not path.is_file():
        raise DataError(f"reference '{text}' does not exist" + (" (the path before '#frame=')" if m else ""))
    if m:
        n = int(m.group("n"))
        rgb = None
        try:
            for i, frame in enumerate(iter_frames(path)):
                if i == n:
                    rgb = frame
                    break
        except VideoError as exc:
            raise DataError(f"reference '{text}' cannot be read: {exc}") from None
        if rgb is None:
            raise DataError(f"reference '{text}': the video has no frame {n} (it has {i + 1} frames, numbered from 0)")
    else:
        data = np.fromfile(path, dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise DataError(
                f"reference '{text}' cannot be read as an image (png, jpg, webp, ...) nor as 'video#frame=N'"
            )
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    check_has_colour(rgb, text)
    return np.ascontiguousarray(rgb)


def load_references(specs: Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
    """1..5 references (:func:`load_reference` each)."""
    if not 1 <= len(specs) <= MAX_REFERENCES:
        raise ParameterError(
            f"reference_files: give 1 to {MAX_REFERENCES} references, got {len(specs)}", "reference_files"
        )
    return [load_reference(s) for s in specs]


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    if x.shape[:2] == (h, w):
        return np.ascontiguousarray(x, dtype=np.float32)
    interp = cv2.INTER_AREA if x.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(np.asarray(x, dtype=np.float32), (w, h), interpolation=interp)


def _network_size(backend: Any, height: int, width: int, square: bool) -> tuple[int, int]:
    """(h, w) the network runs at for frames of ``height`` x ``width``: S x S with ``square``, else network_size_hw."""
    res = int(backend.resolution)
    return (res, res) if square else network_size_hw(height, width, res)


def encode_scene_references(
    backend: Any, refs_lab: np.ndarray, height: int, width: int, *, square: bool = False
) -> tuple[np.ndarray, ...]:
    """The references' features for frames of ``height`` x ``width``, as :func:`colorize_scene` computes them: encode
    once per scene and pass them as its ``features`` when a scene is colorized in several chunks."""
    h, w = _network_size(backend, height, width, square)
    return backend.encode_references(np.stack([_resize(r, h, w) for r in np.asarray(refs_lab, dtype=np.float32)]))


@dataclass
class SceneResult:
    """What :func:`colorize_scene` computed (``details``: candidates, confidences, fusion weights at the working
    size; ``confidence``: :func:`scenecolor.colorize.backend.blend_confidence` at the input size, None for a
    backend without ``predict_detailed``)."""

    ab: np.ndarray  # (T, H, W, 2) at the input size
    details: dict[str, np.ndarray] | None = None
    confidence: np.ndarray | None = None  # float32 (T, H, W) in [0, 1]


def colorize_scene(
    backend: Any,
    L: np.ndarray,
    refs_lab: np.ndarray,
    *,
    clip_len: int = 8,
    square: bool = False,
    details: bool = False,
    features: tuple[np.ndarray, ...] | None = None,
    full_res_fusion: bool = True,
) -> SceneResult:
    """Colorize one scene: L (T, H, W) lightness 0..100 + refs_lab (R, H', W', 3) -> ab (T, H, W, 2).

    The network runs at :func:`scenecolor.colorize.backend.network_size_hw` of (H, W) (or S x S with
    ``square``, the frame store's geometry); every reference is resized to that size; the flow
    candidates run over the whole scene from the first reference; ``clip_len`` frames go through
    the network at a time.

    Back at (H, W), with ``full_res_fusion`` (and a backend with ``predict_detailed``) the output
    is not the network's ab upsampled: the flow candidates are computed again at (H, W) and
    blended there with the network's fusion weights (upsampled), and the network's own correction
    (its ab minus its blend) is added - so the detail of a sharp flow warp survives when the
    network runs at a lower resolution. Otherwise the ab is resized back (bilinear).
    ``details`` keeps the candidates, confidences and fusion weights at the working size. The per-pixel
    confidence (:func:`scenecolor.colorize.backend.blend_confidence`) comes back at (H, W) whenever the backend
    has ``predict_detailed``: with the full-resolution fusion, of the candidates blended there.
    """
    L = np.asarray(L, dtype=np.float32)
    if L.ndim != 3 or L.shape[0] < 1:
        raise DataError(f"scene lightness must be (T, H, W) with T >= 1, got {L.shape}")
    H, W = L.shape[1:]
    h, w = _network_size(backend, H, W, square)
    small = np.stack([_resize(x, h, w) for x in L])
    refs = np.stack([_resize(r, h, w) for r in np.asarray(refs_lab, dtype=np.float32)])
    feats = features if features is not None else backend.encode_references(refs)
    guide_cfg = GuideConfig(method=getattr(backend, "flow_method", "dis_fast"))
    guide = scene_guides(small, refs[0], guide_cfg)
    detailed = hasattr(backend, "predict_detailed") and (details or full_res_fusion)
    fuse_full = detailed and full_res_fusion and (H, W) != (h, w)
    full_guide = (
        scene_guides(L, _resize(np.asarray(refs_lab[0], dtype=np.float32), H, W), guide_cfg) if fuse_full else None
    )
    out = np.empty((*L.shape, 2), dtype=np.float32)
    confidence = np.zeros(L.shape, dtype=np.float32) if detailed else None
    keep: dict[str, list[np.ndarray]] = {"candidates": [], "confidence": [], "weights": []}
    for s in range(0, L.shape[0], clip_len):
        clip = small[s : s + clip_len] / 100.0
        if not detailed:
            ab = backend.predict_ab(clip, feats, guide[s : s + clip_len])
            out[s : s + clip_len] = np.stack([_resize(a, H, W) for a in ab])
            continue
        ab, cand, conf, weights = backend.predict_detailed(clip, feats, guide[s : s + clip_len])
        if details:
            keep["candidates"].append(cand)
            keep["confidence"].append(conf)
            keep["weights"].append(weights)
        for j in range(len(ab)):
            if full_guide is None:
                out[s + j] = _resize(ab[j], H, W)
                confidence[s + j] = _resize(blend_confidence(conf[j], weights[j]), H, W)  # type: ignore[index]
                continue
            k = weights.shape[-1]
            blend_small = (cand[j].reshape(h, w, k, 2) * weights[j][..., None]).sum(2)
            correction = _resize(ab[j] - blend_small, H, W)
            wt = _resize(weights[j], H, W)
            g = full_guide[s + j]
            full_cands = [
                g[..., 0:2] * AB_SCALE,
                g[..., 3:5] * AB_SCALE,
                g[..., 6:8] * AB_SCALE,
                _resize(cand[j][..., 6:8], H, W),
            ]
            out[s + j] = sum(wt[..., i : i + 1] * c for i, c in enumerate(full_cands)) + correction
            full_conf = np.stack([g[..., 2], g[..., 5], g[..., 8], _resize(conf[j][..., 3], H, W)], axis=-1)
            confidence[s + j] = blend_confidence(full_conf, wt)  # type: ignore[index]
    extra = {k: np.concatenate(v) for k, v in keep.items() if v} or None
    return SceneResult(np.clip(out, -AB_SCALE, AB_SCALE), extra, confidence)


@dataclass
class VerifiedScene:
    """What :func:`colorize_verified` computed for one scene."""

    ab: np.ndarray  # float32 (T, H, W, 2)
    confidence: np.ndarray | None  # float32 (T, H, W) in [0, 1]; 0 on the fallback; None: backend without weights
    verdict: Verdict | None  # per reference: match score and kept; None without verification
    details: dict[str, np.ndarray] | None = None  # as SceneResult.details (None on the fallback)


def colorize_verified(
    backend: Any,
    L: np.ndarray,
    refs_lab: np.ndarray,
    verify: VerifyConfig | None = None,
    *,
    prior: np.ndarray | ColourPrior | None = None,
    clip_len: int = 8,
    square: bool = False,
    details: bool = False,
) -> VerifiedScene:
    """Colorize one scene with only the references that pass verification, and say per pixel how sure it is.

    With ``verify`` the references are first checked against a few of the scene's grey frames (spread as
    retrieval queries them, :func:`scenecolor.retrieval.references.scene_query_frames`): failures are dropped
    and a scene left with none gets :func:`scenecolor.colorize.verify.fallback_ab` (grey; ``prior``: the
    pool's mean ab (2,); ``learned``: the :class:`~scenecolor.colorize.prior.ColourPrior` of the scene's L).
    Without it every reference is used.

    The **confidence** is the fusion's blend confidence ``sum_k w_k * conf_k``
    (:func:`scenecolor.colorize.backend.blend_confidence`) at the scene's size, and **0 everywhere when
    verification dropped every reference**: the output is then the fallback, which no reference supports.

    Args:
        L: float32 (T, H, W) lightness 0..100; refs_lab: float32 (R, H', W', 3) Lab references.
    Returns ab (T, H, W, 2), confidence (T, H, W) in [0, 1] (None when the backend has no ``predict_detailed``,
    e.g. ONNX: the confidence needs the fusion weights), the verdict.
    """
    L = np.asarray(L, dtype=np.float32)
    if L.ndim != 3 or L.shape[0] < 1:
        raise DataError(f"scene lightness must be (T, H, W) with T >= 1, got {L.shape}")
    refs = np.asarray(refs_lab, dtype=np.float32)
    verdict = None
    if verify is not None:
        verdict = verify_references(L[scene_query_frames({"start": 0, "end": len(L)})], refs, verify)
        if not verdict.any_kept:
            return VerifiedScene(fallback_ab(L.shape, verify, prior, L), np.zeros(L.shape, np.float32), verdict)
        refs = refs[verdict.keep]
    result = colorize_scene(backend, L, refs, clip_len=clip_len, square=square, details=details)
    return VerifiedScene(result.ab, result.confidence, verdict, result.details)
