"""A finished run folder as an input: where each step's files are, for the CLI and later steps.

The notebooks reach earlier steps through ``StepContext.upstream``; the commands that take
``--run RUN_DIR`` (``scenecolor colorize``, ``scenecolor export``) come here, so that only the
workbook package knows the run folder's layout. Each function raises MissingUpstreamError
naming the notebook (and the command) that makes the missing file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from scenecolor.colorize.backend import ColorizerBackend, TorchColorizer
from scenecolor.colorize.exemplar import load_references
from scenecolor.colorize.prior import PRIOR_FILE, ColourPrior, read_prior
from scenecolor.colorize.refs import ReferenceFinder
from scenecolor.colorize.verify import VerifyConfig
from scenecolor.colorize.video import MERGES, ColorizeSummary, colorize_video_file
from scenecolor.core.artifacts import read_json, sha256_file
from scenecolor.core.device import resolve_device
from scenecolor.core.encoding import Encoding
from scenecolor.core.errors import MissingUpstreamError, ParameterError
from scenecolor.core.paths import checkout_root
from scenecolor.core.video import probe
from scenecolor.data.frames import FrameStore
from scenecolor.embed.checkpoint import load_trained_embedder
from scenecolor.evaluate.protocol import pool_prior
from scenecolor.export.models import COLORIZER_ONNX, onnx_colorizer
from scenecolor.retrieval.gallery import GALLERY_FILE, BuildReport, EncoderSpec, Gallery, build_gallery
from scenecolor.retrieval.index import FeatureStore, pool_encoder
from scenecolor.scenes.ssim_detector import SsimConfig
from scenecolor.workbook.pipeline import get_step, step_folder

COLORIZER_FILE = "colorizer.pt"
EMBEDDER_FILE = "embedder.pt"
OPEN_INDEX_FILE = "index.faiss"  # notebook 03's faiss index over its open pool: the one colorize searches


def resolve_run_dir(run_dir: str | os.PathLike[str] | None) -> Path:
    """``run_dir`` or ``<repo>/reports/latest``; MissingUpstreamError naming the fix when it is not there."""
    if run_dir is None:
        run = (checkout_root() or Path.cwd()) / "reports" / "latest"
    else:
        run = Path(run_dir)
    if not run.is_dir():
        raise MissingUpstreamError(
            f"run folder '{run}' does not exist; run the workbook first (`scenecolor run`) or pass --run RUN_DIR"
        )
    return run.resolve()


def step_file(run: Path, step_id: str, name: str) -> Path:
    """``name`` inside step ``step_id``'s artifacts of ``run``; MissingUpstreamError when absent."""
    step = get_step(step_id)
    path = step_folder(run, step_id) / name
    if not path.exists():
        raise MissingUpstreamError(
            f"run '{run}' has no '{name}' from {step.notebook} ('{path}' is missing); run notebooks/{step.notebook} "
            f"with this run_dir or `scenecolor run --until {step.number}`, or pass another --run"
        )
    return path


def step_params(run: Path, step_id: str) -> dict[str, Any]:
    """The validated parameters step ``step_id`` ran with in ``run`` (from its meta.json)."""
    return dict(read_json(step_file(run, step_id, "meta.json")).get("params") or {})


def colorizer_checkpoint(run_dir: str | os.PathLike[str]) -> Path:
    """The run's trained ``colorizer.pt`` (notebook 04); MissingUpstreamError naming the notebook when absent."""
    return step_file(Path(run_dir), "04_colorizer_training", COLORIZER_FILE)


def open_backend(
    run_dir: str | os.PathLike[str], backend: str = "torch", device: str | torch.device = "cpu"
) -> ColorizerBackend:
    """The run's trained colorizer as a backend: ``torch`` (colorizer.pt, run on ``device``) or ``onnx``
    (notebook 06's export, ONNX Runtime on the CPU whatever ``device`` says)."""
    run = Path(run_dir)
    if backend == "torch":
        path = step_file(run, "04_colorizer_training", COLORIZER_FILE)
        return TorchColorizer.from_checkpoint(path, resolve_device(str(device)))
    if backend == "onnx":
        return onnx_colorizer(step_file(run, "06_edge_export", COLORIZER_ONNX).parent)
    raise ParameterError(f"backend must be 'torch' or 'onnx', got {backend!r}")


def colour_prior(run: Path) -> ColourPrior:
    """The run's learned colour prior (the colorizer-training step's ``colour_prior.npz``): what the ``learned``
    fallback colours a scene with when verification keeps none of its references. MissingUpstreamError when the
    run has none (a run made before the prior existed), DataError when the file is damaged."""
    path = step_folder(run, "04_colorizer_training") / PRIOR_FILE
    if not path.is_file():
        raise MissingUpstreamError(
            f"run '{run}' has no learned colour prior ('{path}' is missing): run notebooks/"
            f"{get_step('04_colorizer_training').notebook} with this run_dir (`scenecolor run --from 04`), or choose "
            "--fallback grey"
        )
    return read_prior(path)


def fallback_prior(run: Path, fallback: str) -> ColourPrior | np.ndarray | None:
    """What the verification fallback ``fallback`` colours a scene with in ``run``: the learned colour prior
    (:func:`colour_prior`) for ``learned``, the open pool's mean ab (float32 (2,), the frame store's train split)
    for ``prior``, None for ``grey``."""
    if fallback == "learned":
        return colour_prior(Path(run))
    if fallback == "prior":
        return pool_prior(frame_store(Path(run)))
    if fallback == "grey":
        return None
    raise ParameterError(f"verify_fallback must be one of grey, prior, learned; got {fallback!r}", "verify_fallback")


def frame_store(run: Path) -> FrameStore:
    """The run's frame store (notebook 00)."""
    return FrameStore.open(step_file(run, "00_data_prep", "frames"))


def cut_config(run: Path) -> SsimConfig:
    """The cut detector settings notebook 02 ran with."""
    params = step_params(run, "02_scene_analysis")
    names = {f.name for f in fields(SsimConfig)}
    return SsimConfig(**{k: v for k, v in params.items() if k in names})


def reference_finder(run: Path, pool: str = "open", device: str | torch.device = "cpu") -> ReferenceFinder:
    """The run's frame store, embedder (01), feature store and ``open``-pool faiss index (03) as a ReferenceFinder
    (query frames encoded on ``device``)."""
    embedder = step_file(run, "01_embedder_training", EMBEDDER_FILE)
    features = FeatureStore.open(step_file(run, "03_reference_selection", "features"))
    index = step_file(run, "03_reference_selection", OPEN_INDEX_FILE) if pool == "open" else None
    return ReferenceFinder.from_files(frame_store(run), features, embedder, pool, index=index, device=device)


# -- galleries: `scenecolor gallery build` and `scenecolor colorize --gallery` (issue 13) ---------------


def gallery_encoder(run: Path, device: str | torch.device = "cpu") -> tuple[object, EncoderSpec]:
    """The run's gallery-side encoder (embedder of 01 on ``device``, pre-processing of 00) and what identifies it."""
    embedder = step_file(run, "01_embedder_training", EMBEDDER_FILE)
    model, train_cfg = load_trained_embedder(embedder)
    prep = frame_store(run).preprocess
    spec = EncoderSpec(
        embedder_sha256=sha256_file(embedder),
        backbone=model.config.backbone,
        input_size=train_cfg.input_size,
        pairing=train_cfg.pairing,
        preprocess={"size": prep.size, "mean_filter": prep.mean_filter, "resize_mode": prep.resize_mode},
    )
    return pool_encoder(model, train_cfg, device), spec


def build_gallery_with_run(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    **kwargs: Any,
) -> BuildReport:
    """``scenecolor gallery build``: index ``sources`` into ``out`` with the run's embedder and settings; ``device``
    as :func:`scenecolor.core.device.resolve_device` reads it (auto, cpu, cuda)."""
    run = resolve_run_dir(run_dir)
    encode, spec = gallery_encoder(run, resolve_device(str(device)))
    return build_gallery(
        sources,
        out,
        encode=encode,  # type: ignore[arg-type]
        encoder=spec,
        prep=frame_store(run).preprocess,
        cut_config=cut_config(run),
        **kwargs,
    )


def gallery_finder(
    run: Path, gallery: str | os.PathLike[str], scratch: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> ReferenceFinder:
    """A finder over ``gallery``: a gallery folder, or a folder of media indexed first into ``scratch`` (the
    embedder on ``device``)."""
    folder = Path(gallery)
    if not folder.exists():
        raise ParameterError(f"--gallery '{folder}' does not exist; give a gallery folder or a folder of images/videos")
    if not (folder / GALLERY_FILE).is_file():
        build_gallery_with_run([folder], scratch, run_dir=run, device=device)
        folder = Path(scratch)
    embedder = step_file(run, "01_embedder_training", EMBEDDER_FILE)
    return ReferenceFinder.from_gallery(Gallery.open(folder), embedder, frame_store(run).preprocess, device)


# ---------------------------------------------------------------------------------------------------------


def colorize_with_run(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    references: int = 5,
    reference_files: Sequence[str | os.PathLike[str]] | None = None,
    backend: str = "torch",
    clip_len: int | None = None,
    progress: bool = True,
    finder: ReferenceFinder | None = None,
    gallery: str | os.PathLike[str] | None = None,
    on_frames: Callable[[int], None] | None = None,
    device: str = "cpu",
    encoding: Encoding | None = None,
    verify: VerifyConfig | None = None,
    merge: str = MERGES[0],
) -> ColorizeSummary:
    """``scenecolor colorize``: ``video`` -> ``out`` with the colorizer, references and settings of a run.

    ``gallery``: search this gallery (or folder of images/videos) instead of the run's own pool.
    ``device``: ``auto``, ``cpu`` or ``cuda`` (:func:`scenecolor.core.device.resolve_device`): where the
    colorizer and the embedder that encodes the scenes' queries run.
    ``encoding``: how the output is coded (``--crf`` / ``--lossless``; default H.264 at the default crf).
    With ``reference_files`` (1..5 images or ``clip.mp4#frame=N``) those references serve every
    scene and no pool is searched; they are read first, so a missing, unreadable or grey one is
    reported (DataError naming it) before anything else. ``verify``: how retrieved references are checked
    (:class:`scenecolor.colorize.verify.VerifyConfig`, its defaults when None); its ``learned`` fallback reads the
    run's colour prior (:func:`colour_prior`) before any frame is decoded.
    ``merge``: how the colours join the
    full-resolution frames (:func:`scenecolor.colorize.video.colorize_video_file`).
    """
    if merge not in MERGES:
        raise ParameterError(f"--merge must be one of {', '.join(MERGES)}, got {merge!r}")
    if reference_files and gallery is not None:
        raise ParameterError("give either --reference files or a --gallery, not both")
    (encoding or Encoding()).check_output(out)
    own = load_references(reference_files) if reference_files else None
    run = resolve_run_dir(run_dir)
    probe(video)  # a missing, empty or corrupt input is named before the run's models load
    dev = resolve_device(device)
    learned = not own and (verify or VerifyConfig()).fallback == "learned"
    prior = colour_prior(run) if learned else None
    model = open_backend(run, backend, dev)
    if finder is None and gallery is not None:
        with tempfile.TemporaryDirectory(prefix="scenecolor-gallery-") as scratch:
            finder = gallery_finder(run, gallery, scratch, dev)
    return colorize_video_file(
        video,
        out,
        model=model,
        finder=None if own else (finder or reference_finder(run, device=dev)),
        prep=frame_store(run).preprocess,
        cut_config=cut_config(run),
        references=references,
        reference_images=own,
        reference_names=[str(r) for r in reference_files or []],
        backend=backend,
        clip_len=clip_len,
        progress=progress,
        on_frames=on_frames,
        encoding=encoding,
        verify=verify,
        merge=merge,
        prior=prior,
    )


def upstream_summary(
    run_dir: Path, steps: Sequence[str] = ("02_scene_analysis", "03_reference_selection")
) -> pd.DataFrame:
    """The headline numbers notebooks 02 and 03 recorded (their results.json), one row each."""
    rows = []
    for step in steps:
        path = step_folder(Path(run_dir), step) / "results.json"
        if not path.is_file():
            rows.append(
                {
                    "step": step,
                    "name": "(no results.json)",
                    "value": None,
                    "unit": "",
                    "source": "",
                    "note": "step not run",
                }
            )
            continue
        for m in read_json(path).get("metrics", []):
            rows.append({"step": step, **{k: m.get(k) for k in ("name", "value", "unit", "source", "note")}})
    return pd.DataFrame(rows)
