"""The data set: manifests of real media, the frame store every network trains on, shot plans and splits,
and the multi-scene test videos with their ground-truth cuts.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "SPLITS": "scenecolor.data.frames",
    "Preprocess": "scenecolor.data.frames",
    "preprocess_frame": "scenecolor.data.frames",
    "FrameStore": "scenecolor.data.frames",
    "build_embedded_dataset": "scenecolor.data.build",
    "BuildConfig": "scenecolor.data.plan",
    "resolve_manifest": "scenecolor.data.plan",
    "read_test_videos": "scenecolor.data.test_videos",
    "write_test_videos": "scenecolor.data.test_videos",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
