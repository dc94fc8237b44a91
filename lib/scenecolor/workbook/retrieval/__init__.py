"""The reference-selection step's drivers: faiss search and gallery build speeds, and its figures."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "bench_search": "scenecolor.workbook.retrieval.bench",
    "bench_gallery": "scenecolor.workbook.retrieval.bench",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
