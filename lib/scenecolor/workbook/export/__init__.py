"""The edge-export step's drivers: every runtime of the colorizer timed and scored alike, and its figures."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "compare_runtimes": "scenecolor.workbook.export.compare",
    "bench_exported": "scenecolor.workbook.export.compare",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
