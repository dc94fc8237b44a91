"""Reference-based colorization: the attention network, the backend every caller runs it through,
reference finding and verification, and the whole-video loop.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "SceneColorizer": "scenecolor.colorize.model",
    "load_colorizer": "scenecolor.colorize.model",
    "ColorizerBackend": "scenecolor.colorize.backend",
    "TorchColorizer": "scenecolor.colorize.backend",
    "load_references": "scenecolor.colorize.exemplar",
    "colorize_scene": "scenecolor.colorize.exemplar",
    "ReferenceFinder": "scenecolor.colorize.refs",
    "VerifyConfig": "scenecolor.colorize.verify",
    "Verdict": "scenecolor.colorize.verify",
    "verify_references": "scenecolor.colorize.verify",
    "ColourPrior": "scenecolor.colorize.prior",
    "read_prior": "scenecolor.colorize.prior",
    "MERGES": "scenecolor.colorize.video",
    "ColorizeSummary": "scenecolor.colorize.video",
    "colorize_video_file": "scenecolor.colorize.video",
    "TrainConfig": "scenecolor.colorize.train",
    "train_colorizer": "scenecolor.colorize.train",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
