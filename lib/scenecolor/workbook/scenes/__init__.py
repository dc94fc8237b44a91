"""The scene-analysis step's drivers: its experiments on the test videos and real clips, PySceneDetect's
detectors as peers, and its figures.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "all_detectors": "scenecolor.workbook.scenes.peers",
    "load_scene_clips": "scenecolor.workbook.scenes.experiments",
    "run_all": "scenecolor.workbook.scenes.experiments",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
