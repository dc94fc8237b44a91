"""The evaluation step's drivers: its tables beside the paper's, and the figures of both protocols."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "table_iii": "scenecolor.workbook.evaluate.tables",
    "table_iv": "scenecolor.workbook.evaluate.tables",
    "better_retriever": "scenecolor.workbook.evaluate.tables",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
