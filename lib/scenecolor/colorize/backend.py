"""The one interface every caller runs the colorizer through: torch here, ONNX Runtime in export.

``scenecolor colorize``, notebook 05 (ours beside the baselines) and notebook 06 (every runtime)
hand frames to a :class:`ColorizerBackend`; :class:`TorchColorizer` implements it with the
PyTorch model and ``scenecolor.export.models.OnnxColorizer`` with the exported ONNX files, so
changing the runtime changes nothing else.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from scenecolor.colorize.model import ReferenceFeatures, SceneColorizer, load_colorizer, prepare_for_inference
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
        """float32 (R, S, S, 3) CIE Lab references (L 0..100) -> opaque features (once per scene)."""
        ...

    def predict_ab(self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...]) -> np.ndarray:
        """float32 (T, S, S) grey clip as L/100 in [0, 1] + features -> float32 (T, S, S, 2) ab."""
        ...


def check_backend_inputs(
    refs_lab: np.ndarray | None, gray_clip: np.ndarray | None, resolution: int, max_refs: int
) -> None:
    """Raise DataError naming the array when a backend input has the wrong shape."""
    s = resolution
    if refs_lab is not None and (
        refs_lab.ndim != 4 or refs_lab.shape[1:] != (s, s, 3) or not 1 <= refs_lab.shape[0] <= max_refs
    ):
        raise DataError(
            f"references must be float32 (R, {s}, {s}, 3) Lab with 1 <= R <= {max_refs}, got {refs_lab.shape}"
        )
    if gray_clip is not None and (gray_clip.ndim != 3 or gray_clip.shape[1:] != (s, s) or gray_clip.shape[0] < 1):
        raise DataError(f"grey clip must be float32 (T, {s}, {s}) with T >= 1 (L/100), got {gray_clip.shape}")


class TorchColorizer:
    """The PyTorch model behind :class:`ColorizerBackend` (BN folded, channels-last, no gradients)."""

    def __init__(self, model: SceneColorizer, clip_len: int = 8) -> None:
        self.model = prepare_for_inference(model)
        self.resolution = model.cfg.resolution
        self.max_refs = model.cfg.max_refs
        self.clip_len = clip_len

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> TorchColorizer:
        """Load ``colorizer.pt`` (CheckpointError if missing, corrupt or of another network)."""
        model, ckpt = load_colorizer(path)
        clip_len = int(((ckpt.get("config") or {}).get("train") or {}).get("clip_len", 8))
        return cls(model, clip_len=max(clip_len, 2))

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        check_backend_inputs(refs_lab, None, self.resolution, self.max_refs)
        refs = torch.from_numpy(np.ascontiguousarray(refs_lab, dtype=np.float32)).permute(0, 3, 1, 2)[None]
        with torch.inference_mode():
            feats = self.model.encode_references(refs)
        return feats.keys.numpy(), feats.values.numpy()

    def predict_ab(self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...]) -> np.ndarray:
        check_backend_inputs(None, gray_clip, self.resolution, self.max_refs)
        gray = torch.from_numpy(np.ascontiguousarray(gray_clip, dtype=np.float32))[None, None]
        feats = ReferenceFeatures(*(torch.from_numpy(f) for f in ref_features))
        with torch.inference_mode():
            ab = self.model.colorize(gray, feats)  # [1, 2, T, S, S]
        return ab[0].permute(1, 2, 3, 0).contiguous().numpy()
