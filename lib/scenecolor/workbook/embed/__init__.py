"""The embedder step's drivers: the extraction speed against its FLOP floor, and its figures."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "bench_extraction": "scenecolor.workbook.embed.bench",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
