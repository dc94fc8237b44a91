"""Scene cuts: the streaming SSIM cut detector and its interface, cut scores, and ``scenes.json``."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "SsimConfig": "scenecolor.scenes.config",
    "Detection": "scenecolor.scenes.ssim_detector",
    "CutDetector": "scenecolor.scenes.ssim_detector",
    "SsimCutDetector": "scenecolor.scenes.ssim_detector",
    "detect_cuts": "scenecolor.scenes.ssim_detector",
    "CutScore": "scenecolor.scenes.metrics",
    "score_cuts": "scenecolor.scenes.metrics",
    "write_scenes_json": "scenecolor.scenes.io",
    "load_scenes": "scenecolor.scenes.io",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
