"""References for the scenes of a new video, from a workbook run's reference pool.

The run's embedder (notebook 01) encodes each scene's key frame, pre-processed like the frame
store; the run's feature store (notebook 03) is searched with faiss (:mod:`scenecolor.retrieval`)
and the top-R pool frames become the scene's references. The pool is the ``open`` one - frames
of the training videos (SPEC: "the reference pool, one frame in ten of the training videos") -
so a video of the run's own test split never gets its own frames as references.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .color import rgb_to_lab
from .errors import DataError, MissingUpstreamError
from .frames import FrameStore
from .retrieval import FeatureStore, build_index, model_encoder

EMBEDDER_PATH = Path("artifacts") / "01_embedder_training" / "embedder.pt"
REFERENCE_STEP = Path("artifacts") / "03_reference_selection"
STORE_STEP = Path("artifacts") / "00_data_prep"


def find_feature_store(run: Path) -> Path:
    """The folder of notebook 03's feature store (``features.npy`` + ``meta.csv``)."""
    folder = run / REFERENCE_STEP / "features"
    if not (folder / "features.npy").is_file():
        raise MissingUpstreamError(
            f"run '{run}' has no reference pool ('{folder}' holds no features.npy); run notebooks/03_reference_selection.ipynb "
            "with this run_dir or `scenecolor run --until 03`"
        )
    return folder


@dataclass
class ReferenceFinder:
    """Searches a pool of frame-store frames for the references of query frames."""

    store: FrameStore
    pool: FeatureStore
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, S, S, 3) store-like frames -> (n, D) unit rows

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str], pool: str = "open") -> "ReferenceFinder":
        """The run's frame store, embedder and feature store (``open`` = train-split rows only)."""
        from .embedder_train import load_trained_embedder

        run = Path(run_dir)
        embedder_path = run / EMBEDDER_PATH
        if not embedder_path.is_file():
            raise MissingUpstreamError(f"run '{run}' has no trained embedder ('{embedder_path}'); run notebooks/01_embedder_training.ipynb first")
        if not (run / STORE_STEP).is_dir():
            raise MissingUpstreamError(f"run '{run}' has no frame store ('{run / STORE_STEP}'); run notebooks/00_data_prep.ipynb first")
        store = FrameStore.open(run / STORE_STEP)
        features = FeatureStore.open(find_feature_store(run))
        if pool == "open":
            train = features.meta["split"].to_numpy() == "train"
            features = features.subset(train) if train.any() else features
        model, train_cfg = load_trained_embedder(embedder_path)
        return cls(store=store, pool=features, encode=model_encoder(model, train_cfg.input_size))

    def find(self, keyframes: list[np.ndarray], k: int) -> list[np.ndarray]:
        """Top-``k`` pool frame ids (best first) for each store-like uint8 key frame."""
        if not keyframes:
            raise DataError("no key frame to find references for (the video has no scene)")
        if len(self.pool) == 0:
            raise DataError("the run's reference pool is empty; rebuild it with notebook 03")
        queries = np.ascontiguousarray(self.encode(np.stack(keyframes)), dtype=np.float32)
        index = build_index(self.pool.features)
        _, pos = index.search(queries, min(k, len(self.pool)))
        ids = self.pool.meta["frame_id"].to_numpy()
        return [ids[row[row >= 0]] for row in pos]

    def reference_lab(self, ids: np.ndarray, resolution: int) -> np.ndarray:
        """The references as float32 Lab (R, S, S, 3) at the colorizer's working resolution."""
        frames = self.store.uint8(ids)
        if frames.shape[1] != resolution:
            frames = np.stack([cv2.resize(f, (resolution, resolution), interpolation=cv2.INTER_AREA) for f in frames])
        return rgb_to_lab(frames).astype(np.float32)

