"""Evaluation: image and video metrics, the baselines, and the protocols that score every method on the
test videos and on real clips.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "psnr": "scenecolor.evaluate.metrics",
    "ssim": "scenecolor.evaluate.metrics",
    "per_frame_metrics": "scenecolor.evaluate.metrics",
    "cdc": "scenecolor.evaluate.metrics",
    "colorfulness": "scenecolor.evaluate.metrics",
    "ColorizeMethod": "scenecolor.evaluate.baselines",
    "baseline_methods": "scenecolor.evaluate.baselines",
    "exemplar_baselines": "scenecolor.evaluate.baselines",
    "ColorizerMethod": "scenecolor.evaluate.protocol",
    "evaluate": "scenecolor.evaluate.protocol",
    "compare_videos": "scenecolor.evaluate.protocol",
    "evaluate_exemplar": "scenecolor.evaluate.exemplar",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
