"""References for the scenes of a new video, from a reference pool of frame-store frames.

An embedder (notebook 01) encodes each scene's key frame, pre-processed like the frame
store; a feature store (notebook 03) is searched with faiss (:mod:`scenecolor.retrieval.index`)
and the top-R pool frames become the scene's references. The pool is the ``open`` one - frames
of the training videos (SPEC: "the reference pool, one frame in ten of the training videos") -
so a video of the run's own test split never gets its own frames as references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError
from scenecolor.data.frames import FrameStore
from scenecolor.embed.checkpoint import load_trained_embedder
from scenecolor.retrieval.index import FeatureStore, build_index, model_encoder


@dataclass
class ReferenceFinder:
    """Searches a pool of frame-store frames for the references of query frames."""

    store: FrameStore
    pool: FeatureStore
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, S, S, 3) store-like frames -> (n, D) unit rows

    @classmethod
    def from_files(
        cls, store: FrameStore, features: FeatureStore, embedder: Path, pool: str = "open"
    ) -> ReferenceFinder:
        """A finder over ``features`` (``open`` = its train-split rows only) with the embedder of ``embedder.pt``."""
        if pool == "open":
            train = features.meta["split"].to_numpy() == "train"
            features = features.subset(train) if train.any() else features
        model, train_cfg = load_trained_embedder(embedder)
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
