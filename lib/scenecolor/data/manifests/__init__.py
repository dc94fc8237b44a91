"""Manifests of real media: the file format, a folder scan that writes one (``scan.scan``), verified downloads."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "Manifest": "scenecolor.data.manifests.format",
    "ManifestEntry": "scenecolor.data.manifests.format",
    "verify_or_raise": "scenecolor.data.manifests.format",
    "fetch_manifest": "scenecolor.data.manifests.fetch",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
