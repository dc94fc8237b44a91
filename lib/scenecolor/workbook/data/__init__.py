"""The data-prep step's drivers: its figures (contact sheet, split sizes, pre-processing, transitions)."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "contact_sheet": "scenecolor.workbook.data.figures",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
