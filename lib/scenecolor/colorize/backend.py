"""The one interface every caller runs the colorizer through: torch here, ONNX Runtime in export.

``scenecolor colorize``, the evaluation step (ours beside the baselines) and the edge-export step (every runtime)
hand frames to a :class:`ColorizerBackend`; :class:`TorchColorizer` implements it with the
PyTorch model and ``scenecolor.export.models.OnnxColorizer`` with the exported ONNX files, so
changing the runtime changes nothing else.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from scenecolor.colorize.correspondence import GUIDE_CHANNELS, GuideConfig, scene_guides
from scenecolor.colorize.model import ReferenceFeatures, SceneColorizer, load_colorizer, prepare_for_inference
from scenecolor.core.color import L_MAX
from scenecolor.core.device import resolve_device
from scenecolor.core.errors import DataError


# -- the backend interface -------------------------------------------------------------------
@runtime_checkable
class ColorizerBackend(Protocol):
    """What the video loop needs from a colorizer, in NumPy (torch and ONNX Runtime alike).

    Attributes:
        resolution: working side S; frames and references are resized to S x S.
        max_refs: most references per scene it accepts (R in 1..max_refs).
        clip_len: frames per clip it was trained with (clips of other lengths work too).
    """

    resolution: int
    max_refs: int
    clip_len: int

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        """Encode a scene's references once; every clip of the scene reuses the result.

        Args:
            refs_lab: float32 (R, H, W, 3) CIE Lab references (L in [0, 100], a and b roughly in [-128, 127]),
                1 <= R <= ``max_refs``; H and W multiples of 16, the working size of the clips that follow (S x S
                for the square frame store; any aspect ratio otherwise, see :func:`network_size_hw`).

        Returns:
            Opaque NumPy features, to pass to :meth:`predict_ab` unchanged (the last is the first reference,
            the anchor of the flow candidates).

        Raises:
            DataError: ``refs_lab`` has the wrong shape.
        """
        ...

    def predict_ab(
        self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...], guide: np.ndarray | None = None
    ) -> np.ndarray:
        """Colorize one clip of a scene.

        Args:
            gray_clip: float32 (T, H, W) lightness as L/100 in [0, 1], T >= 1, H and W the references' size.
            ref_features: :meth:`encode_references` of the scene's references.
            guide: float32 (T, H, W, 9) flow candidates of these frames computed over their whole scene
                (:func:`scenecolor.colorize.correspondence.scene_guides`); None: computed over this clip.

        Returns:
            float32 (T, H, W, 2) predicted a and b in Lab units, within [-110, 110] (``AB_SCALE``).

        Raises:
            DataError: a shape that does not fit (the clip's H, W against the references', the guide's shape).
        """
        ...


def network_size_hw(height: int, width: int, resolution: int) -> tuple[int, int]:
    """The network's working size for a frame: its aspect ratio at about the pixel count it was trained at.

    Args:
        height: the frame's height in pixels (>= 1).
        width: its width in pixels (>= 1).
        resolution: the network's square working side S (224 in the paper).

    Returns:
        ``(h, w)``, both multiples of 16 (at least 16), with h * w close to S^2 and h / w close to height / width.

    Example:
        >>> network_size_hw(1080, 1920, 224)
        (160, 304)
    """
    r = float(np.sqrt(height / max(width, 1)))
    h = max(16, int(round(resolution * r / 16)) * 16)
    w = max(16, int(round(resolution / r / 16)) * 16)
    return h, w


def blend_confidence(confidence: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The colorizer's per-pixel confidence: how sure the fusion is of the colour it blended there.

    Defined as ``sum_k w_k * conf_k`` over the K candidates (direct flow, forward and backward propagation,
    attention): each candidate's own confidence (flow: photometric match x inside the reference; attention: its
    learned similarity gate) weighted by the fusion weight the network gave it (a softmax, so the weights sum to
    1). It is the quantity the network itself gates its corrections with (``1 - confidence``), so where it is
    near 0 the colour is the network's guess, where it is near 1 a candidate copied from a reference.

    Args:
        confidence: float32 (..., K) candidate confidences in [0, 1] (``predict_detailed``'s third output).
        weights: float32 (..., K) fusion weights, summing to 1 over K (its fourth output).
    Returns float32 (...) in [0, 1].
    """
    conf, w = np.asarray(confidence, dtype=np.float32), np.asarray(weights, dtype=np.float32)
    if conf.shape != w.shape or conf.ndim < 1:
        raise DataError(f"candidate confidences {conf.shape} and fusion weights {w.shape} must have one shape (..., K)")
    return np.clip((conf * w).sum(-1), 0.0, 1.0).astype(np.float32)


def check_backend_inputs(
    refs_lab: np.ndarray | None,
    gray_clip: np.ndarray | None,
    resolution: int,
    max_refs: int,
    anchor: np.ndarray | None = None,
) -> None:
    """Check the arrays a backend receives before any work, naming the one at fault.

    Args:
        refs_lab: float32 (R, H, W, 3) Lab references, 1 <= R <= ``max_refs``, H and W multiples of 16; None: not
            checked.
        gray_clip: float32 (T, H, W) L/100, T >= 1, H and W multiples of 16; None: not checked.
        resolution: the working side S (named in the message).
        max_refs: the most references the network takes.
        anchor: (H, W, 3) the first reference kept in the features, whose H, W the clip must have; None: not checked.

    Raises:
        DataError: a shape that does not fit, with the shape expected and the shape given.
    """
    if refs_lab is not None and (
        refs_lab.ndim != 4
        or refs_lab.shape[-1] != 3
        or refs_lab.shape[1] % 16
        or refs_lab.shape[2] % 16
        or not 1 <= refs_lab.shape[0] <= max_refs
    ):
        raise DataError(
            f"references must be float32 (R, H, W, 3) Lab with 1 <= R <= {max_refs} and H, W multiples of 16 "
            f"(e.g. {resolution}), got {refs_lab.shape}"
        )
    if gray_clip is not None and (
        gray_clip.ndim != 3 or gray_clip.shape[0] < 1 or gray_clip.shape[1] % 16 or gray_clip.shape[2] % 16
    ):
        raise DataError(
            f"grey clip must be float32 (T, H, W) with T >= 1 and H, W multiples of 16 (L/100), got {gray_clip.shape}"
        )
    if gray_clip is not None and anchor is not None and anchor.shape[:2] != gray_clip.shape[1:]:
        raise DataError(f"grey clip {gray_clip.shape[1:]} and references {anchor.shape[:2]} must have the same H, W")


def clip_guide(gray_clip: np.ndarray, anchor_lab: np.ndarray, guide: np.ndarray | None, flow_method: str) -> np.ndarray:
    """The network's guide input for one clip: the flow candidates, channels first.

    Args:
        gray_clip: float32 (T, H, W) L/100 in [0, 1].
        anchor_lab: float32 (H, W, 3) Lab of the first reference, the candidates' source of colour.
        guide: float32 (T, H, W, 9) candidates computed over the whole scene, or None to compute them over this
            clip with ``flow_method``.
        flow_method: a :data:`scenecolor.colorize.correspondence.FLOW_METHODS` name.

    Returns:
        float32 (1, 9, T, H, W), contiguous.

    Raises:
        DataError: ``guide`` is not (T, H, W, 9) for this clip.
    """
    if guide is None:
        guide = scene_guides(
            np.asarray(gray_clip, dtype=np.float32) * L_MAX, anchor_lab, GuideConfig(method=flow_method)
        )  # type: ignore[arg-type]
    if guide.shape != (*gray_clip.shape, GUIDE_CHANNELS):
        raise DataError(
            f"flow candidates must be (T, H, W, {GUIDE_CHANNELS}) = {(*gray_clip.shape, GUIDE_CHANNELS)}, "
            f"got {guide.shape}"
        )
    return np.ascontiguousarray(np.asarray(guide, dtype=np.float32).transpose(3, 0, 1, 2)[None])


class TorchColorizer:
    """The PyTorch model behind :class:`ColorizerBackend` (BN folded, channels-last, no gradients).

    ``device``: where the network runs (a torch device, e.g. from :func:`scenecolor.core.device.resolve_device`;
    None: the model's own device); inputs go there and results come back as NumPy on the CPU, so callers never
    see the device.
    """

    def __init__(
        self,
        model: SceneColorizer,
        clip_len: int = 8,
        flow_method: str = "dis_fast",
        device: str | torch.device | None = None,
    ) -> None:
        self.model = prepare_for_inference(model)
        if device is None:
            self.device = next(self.model.parameters()).device
        else:
            self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = self.model.to(self.device)
        self.resolution = model.cfg.resolution
        self.max_refs = model.cfg.max_refs
        self.clip_len = clip_len
        self.flow_method = flow_method

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> TorchColorizer:
        """Load a trained ``colorizer.pt`` to run on ``device``.

        Args:
            path: the checkpoint (state_dict + config; loaded with weights_only=True).
            device: where the network runs (``"cpu"``, ``"cuda"``, ``"auto"`` or a torch device).

        Returns:
            The backend, with the clip length (at least 2) and flow method the network was trained with.

        Raises:
            CheckpointError: the file is missing, corrupt or holds another network.
        """
        model, ckpt = load_colorizer(path, device)
        train = (ckpt.get("config") or {}).get("train") or {}
        return cls(
            model,
            clip_len=max(int(train.get("clip_len", 8)), 2),
            flow_method=str(train.get("flow_method", "dis_fast")),
            device=device,
        )

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        """As :meth:`ColorizerBackend.encode_references`; the features come back on the CPU."""
        check_backend_inputs(refs_lab, None, self.resolution, self.max_refs)
        refs = torch.from_numpy(np.ascontiguousarray(refs_lab, dtype=np.float32)).permute(0, 3, 1, 2)[None]
        with torch.inference_mode():
            feats = self.model.encode_references(refs.to(self.device))
        return (*(f.cpu().numpy() for f in feats), np.ascontiguousarray(refs_lab[0], dtype=np.float32))

    def predict_ab(
        self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...], guide: np.ndarray | None = None
    ) -> np.ndarray:
        """As :meth:`ColorizerBackend.predict_ab`."""
        return self.predict_detailed(gray_clip, ref_features, guide)[0]

    def predict_detailed(
        self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...], guide: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict_ab` plus what the network fused (the evaluation's correspondence pictures).

        Args:
            gray_clip: as :meth:`ColorizerBackend.predict_ab`.
            ref_features: as :meth:`ColorizerBackend.predict_ab`.
            guide: as :meth:`ColorizerBackend.predict_ab`.

        Returns:
            float32 ``(ab, candidates, confidences, weights)``: ab (T, H, W, 2) in Lab units; the four candidates'
            ab (T, H, W, 8) in Lab units; their confidences (T, H, W, 4) in [0, 1]; the fusion weights (T, H, W, 4)
            (a softmax over the four: each pixel's sum is 1); candidates in the order of
            :data:`scenecolor.colorize.correspondence.CANDIDATES`. :func:`blend_confidence` of the last two is the
            per-pixel confidence.
        """
        check_backend_inputs(None, gray_clip, self.resolution, self.max_refs, ref_features[-1])
        dev = self.device
        gray = torch.from_numpy(np.ascontiguousarray(gray_clip, dtype=np.float32))[None, None].to(dev)
        feats = ReferenceFeatures(*(torch.from_numpy(f).to(dev) for f in ref_features[:-1]))
        g = torch.from_numpy(clip_guide(gray_clip, ref_features[-1], guide, self.flow_method)).to(dev)
        with torch.inference_mode():
            ab, cand_ab, cand_conf, weights = self.model.colorize_detailed(gray, feats, g)  # [1, C, T, H, W]
        out = [x[0].permute(1, 2, 3, 0).contiguous().cpu().numpy() for x in (ab, cand_ab, cand_conf, weights)]
        out[1] = out[1] * self.model.cfg.ab_scale
        return out[0], out[1], out[2], out[3]
