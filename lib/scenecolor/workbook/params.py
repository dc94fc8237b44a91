"""Validated parameters, one pydantic model per notebook: the one declaration of their names, types,
ranges, defaults and descriptions.

The first code cell of each notebook (tagged ``parameters``) assigns exactly the fields of its
model, in order, with the model's defaults and each description as the line's comment (a test
checks this). ``pipeline.open_step(step_id, globals())`` reads every field back from the notebook,
so no parameter is used unvalidated or left out of meta.json. Profiles inject values for these
fields; the runner validates a whole profile against these models before any notebook runs, so
an unknown key, a wrong type or an out-of-range value stops the run with a message naming the
key and the notebook. Notebooks 01, 02 and 04 take the fields of their stage's settings
(``embed.config.TrainConfig``, ``scenes.config.SsimConfig``, ``colorize.train.TrainConfig``) as they
are declared there (:func:`with_settings`) and build those settings back from the validated values
(:meth:`StepParams.settings`).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from scenecolor.colorize import train as colorize_train
from scenecolor.embed import config as embed_config
from scenecolor.scenes.config import SsimConfig

S = TypeVar("S")


class StepParams(BaseModel):
    """Fields every notebook has."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    run_dir: str = Field("", description="run folder; '': $SCENECOLOR_RUN_DIR, else <repo>/reports/notebooks-default")
    seed: int = Field(0, ge=0, description="seed of every random generator of the step")

    def settings(self, cls: type[S]) -> S:
        """``cls``, a stage's settings dataclass, made of this step's fields of the same names."""
        names = [f.name for f in dataclasses.fields(cls) if f.name in type(self).model_fields]  # type: ignore[arg-type]
        return cls(**{name: getattr(self, name) for name in names})


class NetworkParams(StepParams):
    """Fields of a notebook that runs a network."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="device of the networks; auto takes CUDA when torch sees it"
    )


def with_settings(settings: type, base: type[StepParams], **defaults: Any) -> type[StepParams]:
    """``base`` plus every field of a stage's settings dataclass (made with ``core.errors.validated``) as declared
    there: type, range, description; ``defaults`` gives some a different default in the notebook."""
    fields: dict[str, Any] = {}
    for name, info in settings.__pydantic_fields__.items():
        if name not in base.model_fields:  # seed: the step's
            if name in defaults:
                info = copy.copy(info)
                info.default = defaults[name]
            fields[name] = (info.annotation, info)
    return create_model(f"{base.__name__}With{settings.__name__}", __base__=base, __module__=__name__, **fields)


class DataPrepParams(StepParams):
    """00_data_prep: builds the embedded data set (frame store, shots, splits, test videos)."""

    manifest: str = Field(
        "embedded", min_length=1, description="manifest name in data_manifests/ or a path to a .yaml/.json"
    )
    frame_step: int = Field(10, ge=1, le=1000, description="keep one frame in frame_step (paper: 10)")
    size: int = Field(224, ge=16, le=1024, description="side of the stored square frames (paper: 224)")
    mean_filter: int = Field(3, ge=1, le=15, description="mean (box) filter side, odd; 1: off (paper: size not given)")
    resize_mode: Literal["stretch", "center_crop"] = Field(
        "stretch", description="stretch the whole frame to SxS (paper) or centre-crop a square first"
    )
    clip_max_side: int = Field(
        480, ge=64, le=4096, description="real shots are re-encoded with their longer side at most this"
    )
    clips_per_photo: int = Field(
        1, ge=1, le=50, description="synthetic camera-motion clips rendered over each photograph"
    )
    clip_frames: int = Field(40, ge=4, le=2000, description="frames per synthetic clip (25 fps)")
    render_width: int = Field(384, ge=64, le=1920, description="width of synthetic clips and test videos (16:9)")
    n_test_videos: int = Field(3, ge=0, le=200, description="multi-scene test videos assembled from test-split shots")
    shots_per_test_video: int = Field(4, ge=2, le=50, description="shots joined in each test video")
    segment_frames: int = Field(
        40, ge=4, le=2000, description="longest segment of a shot in a test video (shortest: 60 % of it)"
    )
    transition_frames: int = Field(10, ge=1, le=200, description="length of fades and dissolves in frames")
    gradual_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="share of test-video boundaries that are fades or dissolves"
    )
    val_fraction: float = Field(0.2, ge=0.0, lt=0.5, description="share of sources (real shots, photographs) in val")
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5, description="share of sources (real shots, photographs) in test")

    @model_validator(mode="after")
    def _check(self) -> DataPrepParams:
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


class EmbedderParams(with_settings(embed_config.TrainConfig, NetworkParams, pooling="regional")):  # type: ignore[misc]
    """01_embedder_training: ResNet + GeM trained with the triplet loss on shot labels (notebook default: regional
    pooling; the command line's is the paper's gem)."""

    resume: bool = Field(
        True, description="continue from checkpoints/last.pt when written with the same settings on the same data"
    )


class SceneAnalysisParams(with_settings(SsimConfig, StepParams)):  # type: ignore[misc]
    """02_scene_analysis."""

    scene_clips: str = Field(
        "scene_clips",
        description="real clips (fast motion; multi-shot with cuts): manifest name or path; '': none",
    )
    frame_step: int = Field(1, ge=1, description="score one frame in frame_step (1: every frame)")
    tolerance: int = Field(2, ge=0, description="frames a detected cut may be off and still match a true cut")
    k_grid: list[float] = Field([1.5, 2.0, 2.5, 3.0, 4.0, 5.0], description="k values of the sensitivity table")
    max_clips: int = Field(
        24, ge=0, description="single-shot clips of notebook 00 used to measure false cuts (0: none)"
    )
    timing_repeats: int = Field(1, ge=1, description="decode/detect timings take the best of this many runs")


class ReferenceSelectionParams(StepParams):
    """03_reference_selection: feature store, faiss index, top-R references per scene, retrieval metrics."""

    pool_step: int = Field(
        1,
        ge=1,
        le=1000,
        description="the pool takes one stored frame in pool_step per video (the store already keeps 1 in frame_step)",
    )
    top_r: int = Field(5, ge=1, le=5, description="references kept per query and pool (paper Table III: 1..5)")
    index_kind: Literal["auto", "flat", "hnsw", "ivfpq"] = Field(
        "auto", description="faiss index; auto: exact up to exact_max vectors, IVF-PQ above"
    )
    exact_max: int = Field(50_000, ge=1, description="largest pool searched exactly when index_kind is auto")
    batch_size: int = Field(64, ge=1, le=4096, description="frames encoded per batch")
    eval_split: Literal["val", "test"] = Field("test", description="held-out split of the retrieval metrics")
    grey_bins: int = Field(32, ge=4, le=256, description="bins of the grey-level (L) histogram baseline")
    hog_size: int = Field(64, ge=16, le=256, description="side L is resized to for the HOG baseline")
    hog_tune_sizes: list[int] = Field(
        [32, 48, 64, 96], min_length=1, description="sides tried for the tuned HOG baseline (chosen on the other split)"
    )
    hog_tune_cells: list[int] = Field([8, 16], min_length=1, description="HOG cell sizes (px) tried with them")
    queries_per_scene: int = Field(
        3, ge=1, le=16, description="grey frames per scene whose mean cosine ranks a gallery's references"
    )
    gallery_frames_per_shot: int = Field(
        3, ge=1, le=32, description="frames per shot of each video in the gallery built from the embedded media"
    )
    grid_queries: int = Field(6, ge=1, le=24, description="queries shown in the reference grid figure")

    @model_validator(mode="after")
    def _hog_grid(self) -> ReferenceSelectionParams:
        if not any(s >= 2 * c for s in self.hog_tune_sizes for c in self.hog_tune_cells):
            raise ValueError(
                f"no HOG setting to tune: every side of hog_tune_sizes {self.hog_tune_sizes} must reach two cells of "
                f"hog_tune_cells {self.hog_tune_cells} (side >= 2 x cell) for at least one pair"
            )
        if any(c < 2 for c in self.hog_tune_cells) or any(s > 256 for s in self.hog_tune_sizes):
            raise ValueError("hog_tune_cells must be >= 2 px and hog_tune_sizes <= 256 px")
        return self


class ColorizerParams(with_settings(colorize_train.TrainConfig, NetworkParams, epochs=4)):  # type: ignore[misc]
    """04_colorizer_training: the attention colorizer trained on clips and step 03's references."""

    nproc: int = Field(
        1,
        ge=1,
        le=64,
        description="processes; > 1 trains with torchrun + DDP through python -m scenecolor.cli.train colorizer",
    )
    figure_clips: int = Field(4, ge=1, le=12, description="validation clips in the sample figure")
    bench_repeats: int = Field(3, ge=1, le=50, description="repeats of the 224x224 speed benchmark (best is reported)")
    resume: bool = Field(
        True, description="continue from colorizer.pt when written with the same settings on the same data"
    )


class EvaluationParams(NetworkParams):
    """05_evaluation: every method on the test videos, the paper's Tables III-V beside ours."""

    pools: list[Literal["in_domain", "open"]] = Field(
        ["in_domain", "open"],
        min_length=1,
        description="reference pools of notebook 03 to evaluate (the first one feeds the figures and videos)",
    )
    references: list[int] = Field(
        [1, 2, 3, 4, 5], min_length=1, description="numbers of references per scene R for Table III (each 1..5)"
    )
    main_references: int = Field(
        5, ge=1, le=5, description="R of Tables IV/V, the per-video results, figures and videos"
    )
    baselines_all_references: bool = Field(False, description="also run Welsh and Reinhard at every R of `references`")
    max_videos: int = Field(2, ge=0, description="test videos evaluated (0: all)")
    max_frames: int = Field(10, ge=0, description="frames kept per video after frame_step (0: all)")
    frame_step: int = Field(4, ge=1, description="keep one frame in frame_step of each test video (1: every frame)")
    test_shots_only: bool = Field(
        True, description="score only frames of test-split shots (a real video may mix splits)"
    )
    clip_len: int = Field(8, ge=1, le=64, description="frames the colorizer sees at once (its temporal window)")
    welsh_samples: int = Field(
        200, ge=1, le=5000, description="jittered samples per reference for Welsh (paper of Welsh et al.: ~200)"
    )
    welsh_window: int = Field(5, ge=1, le=15, description="neighbourhood side for Welsh's luminance std, odd")
    write_videos: bool = Field(True, description="write the colorized test videos (mp4) and a GIF")
    figure_rows: int = Field(4, ge=1, le=12, description="scenes shown in the side-by-side figure")
    exemplar: bool = Field(
        True, description="also run the exemplar protocol (each test shot's first colour frame is the only reference)"
    )
    exemplar_width: int = Field(
        0,
        ge=0,
        le=1920,
        description="width of the exemplar protocol's frames, aspect ratio kept (0: the frame store's size)",
    )
    exemplar_max_shots: int = Field(4, ge=0, description="test shots of the exemplar protocol (0: all)")
    exemplar_max_frames: int = Field(
        8, ge=0, description="kept frames per shot in the exemplar protocol, reference included (0: all)"
    )
    exemplar_welsh: bool = Field(True, description="include Welsh in the exemplar protocol")
    verify_threshold: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="a retrieved reference is kept when this share of the scene's pixels match it (0: keep all)",
    )
    verify_fallback: Literal["grey", "prior", "learned"] = Field(
        "grey",
        description="a scene with no reference kept: grey, prior (pool's mean ab / 2) or learned (04's prior)",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> EvaluationParams:
        if any(not 1 <= r <= 5 for r in self.references):
            raise ValueError(f"every number of references must be in 1..5, got {self.references}")
        if self.welsh_window % 2 == 0:
            raise ValueError(f"welsh_window must be odd, got {self.welsh_window}")
        return self


class EdgeExportParams(NetworkParams):
    """06_edge_export: ONNX export, ONNX Runtime fp32/int8 parity, speed and quality, TensorRT where possible."""

    opset: int = Field(18, ge=17, le=23, description="ONNX opset of the exported graphs")
    embedder_exporter: Literal["dynamo", "torchscript"] = Field(
        "dynamo", description="torch.onnx exporter for the embedder (torch.export or the legacy TorchScript tracer)"
    )
    colorizer_exporter: Literal["dynamo", "torchscript"] = Field(
        "torchscript",
        description="colorizer exporter; TorchScript: 5 dynamic axes in < 1 s, torch.export: ~40 s",
    )
    n_refs: int = Field(5, ge=1, le=5, description="references per scene for timing and for the test-split PSNR")
    timing_size: int = Field(
        224, ge=32, le=512, multiple_of=16, description="frame side for the latency table (paper: 224)"
    )
    timing_clip_len: int = Field(
        0, ge=0, le=32, description="frames per timed clip; 0: the clip length the colorizer was trained with"
    )
    threads: int = Field(
        1, ge=1, le=64, description="CPU threads of torch and ONNX Runtime while timing (same for both)"
    )
    warmup: int = Field(1, ge=0, le=20, description="untimed calls before timing each runtime")
    repeats: int = Field(4, ge=1, le=200, description="timed calls per runtime; the median is reported")
    test_clips: int = Field(8, ge=0, description="test-split clips for PSNR (0: all)")
    calib_clips: int = Field(
        8, ge=1, le=512, description="train-split clips that calibrate static int8 (never test frames)"
    )
    int8_ops: Literal["conv", "conv_and_data", "all"] = Field(
        "conv_and_data",
        description="int8 ops: conv; conv_and_data: + pad/resize/concat/pool (stay 8-bit); all: + attention",
    )
    int8_format: Literal["qdq", "qoperator"] = Field(
        "qoperator",
        description="static int8 format: QLinear ops, or QDQ pairs (fused by ONNX Runtime; read by TensorRT)",
    )
    int8_dynamic: bool = Field(
        False,
        description="also build and time dynamic int8 (weights only) beside static; on in the sample/full profiles",
    )
    parity_atol: float = Field(
        1e-3,
        gt=0,
        le=1.0,
        description="largest allowed |ab| difference ONNX Runtime fp32 vs torch (ab spans +-110; 1 step of 8-bit ~ 1)",
    )
    embedder_parity_atol: float = Field(
        1e-5, gt=0, le=1.0, description="largest allowed difference of the embedder's unit vectors, ONNX vs torch"
    )
    embedder_frames: int = Field(4, ge=2, le=256, description="test frames for the embedder parity check")
    tensorrt: bool = Field(
        True,
        description="build TensorRT engines when tensorrt and a CUDA GPU are present (skipped with the reason "
        "otherwise)",
    )
