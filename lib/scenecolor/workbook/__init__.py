"""The workbook: run folders, steps and their parameters, the runner, the report and its verdict, and
what a finished run offers the command line; per stage (``scenecolor.workbook.<stage>``), the drivers of its
step: benches, figures, experiments, comparisons and report tables.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "StepContext": "scenecolor.workbook.pipeline",
    "open_step": "scenecolor.workbook.pipeline",
    "seed_everything": "scenecolor.workbook.pipeline",
    "run_workbook": "scenecolor.workbook.runner",
    "resolve_run_dir": "scenecolor.workbook.runs",
    "open_backend": "scenecolor.workbook.runs",
    "colorize_with_run": "scenecolor.workbook.runs",
    "plan": "scenecolor.workbook.batch",
    "colorize_many": "scenecolor.workbook.batch",
    "write_index": "scenecolor.workbook.report",
    "scene_view": "scenecolor.workbook.explorer",
    "ReferenceExplorer": "scenecolor.workbook.explorer",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
