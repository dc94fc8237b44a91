"""Validated parameters, one pydantic model per notebook.

The first code cell of each notebook (tagged ``parameters``) declares exactly the fields of its
model here, with the same defaults (a test checks this). Profiles inject values for these
fields; the runner validates a whole profile against these models before any notebook runs, so
an unknown key, a wrong type or an out-of-range value stops the run with a message naming the
key and the notebook.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StepParams(BaseModel):
    """Fields every notebook has."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    run_dir: str = Field("", description="run folder; '' = $SCENECOLOR_RUN_DIR or <repo>/reports/notebooks-default")
    seed: int = Field(0, ge=0, description="seed of every random generator of the step")


class DataPrepParams(StepParams):
    """00_data_prep."""


class EmbedderParams(StepParams):
    """01_embedder_training."""


class SceneAnalysisParams(StepParams):
    """02_scene_analysis."""


class ReferenceSelectionParams(StepParams):
    """03_reference_selection."""


class ColorizerParams(StepParams):
    """04_colorizer_training."""


class EvaluationParams(StepParams):
    """05_evaluation."""


class EdgeExportParams(StepParams):
    """06_edge_export."""
