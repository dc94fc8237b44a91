"""The colorizer step's drivers: its speed beside the work it does, and its figures."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "bench_colorize": "scenecolor.workbook.colorize.bench",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
