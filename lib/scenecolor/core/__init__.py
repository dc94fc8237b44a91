"""The foundations every stage shares: errors, atomic artifacts, devices, colour spaces, video and
media I/O, output encodings and the training loop.

The names below are the package's public API; each loads its module on first use (no torch, PyAV or
scikit-image at ``import scenecolor.core``).
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "ScenecolorError": "scenecolor.core.errors",
    "ParameterError": "scenecolor.core.errors",
    "MissingUpstreamError": "scenecolor.core.errors",
    "StepFailedError": "scenecolor.core.errors",
    "VideoError": "scenecolor.core.errors",
    "VideoNotFoundError": "scenecolor.core.errors",
    "CorruptVideoError": "scenecolor.core.errors",
    "EmptyVideoError": "scenecolor.core.errors",
    "ManifestError": "scenecolor.core.errors",
    "ChecksumMismatchError": "scenecolor.core.errors",
    "CheckpointError": "scenecolor.core.errors",
    "DataError": "scenecolor.core.errors",
    "ExportError": "scenecolor.core.errors",
    "validated": "scenecolor.core.errors",
    "atomic_path": "scenecolor.core.artifacts",
    "atomic_write_bytes": "scenecolor.core.artifacts",
    "atomic_write_text": "scenecolor.core.artifacts",
    "atomic_write_json": "scenecolor.core.artifacts",
    "atomic_save_npy": "scenecolor.core.artifacts",
    "atomic_torch_save": "scenecolor.core.artifacts",
    "read_json": "scenecolor.core.artifacts",
    "sha256_file": "scenecolor.core.artifacts",
    "digest_of": "scenecolor.core.artifacts",
    "L_MAX": "scenecolor.core.color",
    "AB_SCALE": "scenecolor.core.color",
    "rgb_to_lab": "scenecolor.core.color",
    "lab_to_rgb": "scenecolor.core.color",
    "rgb_to_gray": "scenecolor.core.color",
    "merge_l_ab": "scenecolor.core.color",
    "torch_rgb_to_lab": "scenecolor.core.color",
    "torch_lab_to_rgb": "scenecolor.core.color",
    "torch_rgb_to_lightness": "scenecolor.core.color",
    "rgb8_to_lab": "scenecolor.core.color8",
    "lab_to_rgb8": "scenecolor.core.color8",
    "rgb8_lightness": "scenecolor.core.color8",
    "resolve_device": "scenecolor.core.device",
    "DEFAULT_CRF": "scenecolor.core.encoding",
    "LOSSLESS_MODES": "scenecolor.core.encoding",
    "Encoding": "scenecolor.core.encoding",
    "VideoInfo": "scenecolor.core.video",
    "FrameCountWarning": "scenecolor.core.video",
    "probe": "scenecolor.core.video",
    "iter_frames": "scenecolor.core.video",
    "read_frames": "scenecolor.core.video",
    "write_video": "scenecolor.core.video",
    "VideoWriter": "scenecolor.core.video",
    "MediaInfo": "scenecolor.core.media",
    "probe_media": "scenecolor.core.media",
    "iter_timed_frames": "scenecolor.core.media",
    "iter_yuv_frames": "scenecolor.core.media",
    "MediaWriter": "scenecolor.core.media",
    "TrainResult": "scenecolor.core.loop",
    "train_epochs": "scenecolor.core.loop",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
