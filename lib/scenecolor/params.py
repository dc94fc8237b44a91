"""Validated parameters, one pydantic model per notebook.

The first code cell of each notebook (tagged ``parameters``) declares exactly the fields of its
model here, with the same defaults (a test checks this). Profiles inject values for these
fields; the runner validates a whole profile against these models before any notebook runs, so
an unknown key, a wrong type or an out-of-range value stops the run with a message naming the
key and the notebook.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StepParams(BaseModel):
    """Fields every notebook has."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    run_dir: str = Field("", description="run folder; '' = $SCENECOLOR_RUN_DIR or <repo>/reports/notebooks-default")
    seed: int = Field(0, ge=0, description="seed of every random generator of the step")


class DataPrepParams(StepParams):
    """00_data_prep: builds the embedded data set (frame store, shots, splits, test videos)."""

    manifest: str = Field("embedded", min_length=1, description="manifest name in data_manifests/ or a path to a .yaml/.json")
    frame_step: int = Field(10, ge=1, le=1000, description="keep one frame in frame_step (paper: 10)")
    size: int = Field(224, ge=16, le=1024, description="side of the stored square frames (paper: 224)")
    mean_filter: int = Field(3, ge=1, le=15, description="mean (box) filter side, odd; 1 = off (paper: size not given)")
    resize_mode: Literal["stretch", "center_crop"] = Field("stretch", description="stretch the whole frame to SxS (paper) or centre-crop a square first")
    clip_max_side: int = Field(640, ge=64, le=4096, description="real shots are re-encoded with their longer side at most this")
    clips_per_photo: int = Field(1, ge=1, le=50, description="synthetic camera-motion clips rendered over each photograph")
    clip_frames: int = Field(40, ge=4, le=2000, description="frames per synthetic clip (25 fps)")
    render_width: int = Field(384, ge=64, le=1920, description="width of synthetic clips and test videos (16:9)")
    n_test_videos: int = Field(3, ge=0, le=200, description="multi-scene test videos assembled from test-split shots")
    shots_per_test_video: int = Field(4, ge=2, le=50, description="shots joined in each test video")
    segment_frames: int = Field(40, ge=4, le=2000, description="longest segment of a shot in a test video (shortest: 60 % of it)")
    transition_frames: int = Field(10, ge=1, le=200, description="length of fades and dissolves in frames")
    gradual_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of test-video boundaries that are fades or dissolves")
    val_fraction: float = Field(0.2, ge=0.0, lt=0.5, description="share of sources (real shots, photographs) in val")
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5, description="share of sources (real shots, photographs) in test")

    @model_validator(mode="after")
    def _check(self) -> "DataPrepParams":
        if self.mean_filter % 2 == 0:
            raise ValueError(f"mean_filter must be odd (1, 3, 5, ...), got {self.mean_filter}")
        if self.render_width % 2:
            raise ValueError(f"render_width must be even (H.264 needs even sizes), got {self.render_width}")
        if (self.segment_frames * 3) // 5 < 2 * self.transition_frames + 1:
            raise ValueError(
                f"segment_frames={self.segment_frames} is too short for transition_frames={self.transition_frames}: "
                f"the shortest segment (60 %) must exceed 2 x transition_frames"
            )
        return self


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
