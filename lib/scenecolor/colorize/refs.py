"""References for the scenes of a new video: grey key frames searched in a pool of colour frames.

Each scene is queried by a few of its frames (:func:`scene_query_frames`), pre-processed like the
frame store and encoded **grey** (their lightness only: the input video is greyscale, SPEC
"Reference selection"); their mean cosine similarity ranks the pool
(:func:`scenecolor.retrieval.index.search_aggregated`) and the top-R become the scene's references.

Two pools:
- a run's own (the reference-selection step): the ``open`` pool - frames of the training videos - searched with the
  faiss index the reference-selection step wrote (so its ``index_kind`` is the one used here);
- a user's gallery (:mod:`scenecolor.retrieval.gallery`): images and video frames of their own,
  encoded by the same embedder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from scenecolor.colorize.verify import mean_ab
from scenecolor.core.artifacts import sha256_file
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.data.frames import FrameStore, Preprocess
from scenecolor.embed.checkpoint import load_trained_embedder
from scenecolor.retrieval.gallery import Gallery
from scenecolor.retrieval.index import (
    FeatureStore,
    SearchIndex,
    build_index,
    query_encoder,
    read_index,
    search_aggregated,
)
from scenecolor.retrieval.references import scene_query_frames as spread_frames

QUERIES_PER_SCENE = 3


def scene_query_frames(scene: dict[str, int], n: int = QUERIES_PER_SCENE) -> list[int]:
    """The frames a scene is queried by (:func:`scenecolor.retrieval.references.scene_query_frames`)."""
    return spread_frames(scene, n)


@dataclass
class SceneReferences:
    """One scene's references: pool ids (best first) and what a user sees of them."""

    ids: np.ndarray
    references: list[dict[str, Any]] = field(default_factory=list)  # {"source", "frame", "score"}


@dataclass
class ReferenceFinder:
    """Searches a pool of colour frames for the references of grey scene queries."""

    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, S, S, 3) store-like frames -> (n, D), always grey
    index: SearchIndex
    features: np.ndarray  # the indexed unit rows, index positions
    ids: np.ndarray  # index position -> the id a reference is known by (frame-store id or gallery row)
    describe: Callable[[np.ndarray], list[dict[str, Any]]]  # ids -> [{"source", "frame"}]
    load: Callable[[np.ndarray], np.ndarray]  # ids -> uint8 RGB frames (n, S, S, 3)
    queries_per_scene: int = QUERIES_PER_SCENE

    @classmethod
    def from_files(
        cls,
        store: FrameStore,
        features: FeatureStore,
        embedder: Path,
        pool: str = "open",
        index: Path | None = None,
        device: str | torch.device = "cpu",
    ) -> ReferenceFinder:
        """A finder over the reference-selection step's features (``open`` = its train-split rows) searched with the
        index the reference-selection step wrote over exactly those rows (``index``; built here, exact, when None); the
        query frames are encoded on ``device``."""
        if pool == "open":
            train = features.meta["split"].to_numpy() == "train"
            features = features.subset(train) if train.any() else features
        if len(features) == 0:
            raise DataError("the run's reference pool is empty; rebuild it with the reference-selection step")
        model, train_cfg = load_trained_embedder(embedder)
        search = read_index(index) if index is not None else build_index(features.features, kind="flat")
        if search.n != len(features) or search.dim != features.dim:
            raise DataError(
                f"the faiss index '{index}' holds {search.n} vectors of dimension {search.dim} but the run's "
                f"'{pool}' pool has {len(features)} of {features.dim}; re-run the reference-selection step"
            )
        idx = store.index.set_index("frame_id")

        def describe(ids: np.ndarray) -> list[dict[str, Any]]:
            rows = idx.loc[np.asarray(ids, dtype=np.int64)]
            return [{"source": str(s), "frame": int(f)} for s, f in zip(rows["source"], rows["source_frame"])]

        return cls(
            encode=query_encoder(model, train_cfg.input_size, device),
            index=search,
            features=features.features,
            ids=features.meta["frame_id"].to_numpy().astype(np.int64),
            describe=describe,
            load=store.uint8,
        )

    @classmethod
    def from_gallery(
        cls, gallery: Gallery, embedder: Path, prep: Preprocess, device: str | torch.device = "cpu"
    ) -> ReferenceFinder:
        """A finder over a user's gallery (queries encoded on ``device``); refused when the gallery was encoded by
        another embedder."""
        digest = sha256_file(embedder)
        if gallery.encoder.embedder_sha256 != digest:
            raise ParameterError(
                f"gallery '{gallery.folder}' was built with another embedder than '{embedder}'; build a new "
                "gallery from the same sources with this run's embedder",
                "gallery",
            )
        model, train_cfg = load_trained_embedder(embedder)
        return cls(
            encode=query_encoder(model, train_cfg.input_size, device),
            index=gallery.index,
            features=gallery.features,
            ids=np.arange(len(gallery), dtype=np.int64),
            describe=gallery.describe,
            load=lambda ids: gallery.load_frames(ids, prep),
        )

    def find_scenes(self, keyframes: Sequence[Sequence[np.ndarray]], k: int) -> list[SceneReferences]:
        """Top-``k`` references for each scene, from its store-like uint8 query frames (encoded grey)."""
        if not keyframes:
            raise DataError("no key frame to find references for (the video has no scene)")
        if self.index.n == 0:
            raise DataError("the reference pool is empty; rebuild it")
        counts = [len(g) for g in keyframes]
        if min(counts) == 0:
            raise DataError("a scene has no query frame")
        vecs = np.ascontiguousarray(self.encode(np.stack([f for g in keyframes for f in g])), dtype=np.float32)
        groups = np.split(vecs, np.cumsum(counts)[:-1])
        out = []
        for pos, score in search_aggregated(self.index, self.features, groups, min(k, self.index.n)):
            ids = self.ids[pos]
            refs = [{**d, "score": round(float(s), 6)} for d, s in zip(self.describe(ids), score)]
            out.append(SceneReferences(ids=ids, references=refs))
        return out

    def find(self, keyframes: list[np.ndarray], k: int) -> list[np.ndarray]:
        """Top-``k`` pool ids (best first) for each store-like uint8 key frame (one query per scene)."""
        return [s.ids for s in self.find_scenes([[f] for f in keyframes], k)]

    def pool_mean_ab(self, max_frames: int = 64) -> np.ndarray:
        """The mean ab (float32 (2,)) of up to ``max_frames`` pool frames spread over the pool: the ``prior``
        fallback of :mod:`scenecolor.colorize.verify` for scenes that no reference matches."""
        pick = np.unique(np.linspace(0, len(self.ids) - 1, min(max_frames, len(self.ids))).round().astype(np.int64))
        return mean_ab(rgb_to_lab(self.load(self.ids[pick])))

    def reference_lab(self, ids: np.ndarray, resolution: int) -> np.ndarray:
        """The references as float32 Lab (R, S, S, 3) at the colorizer's working resolution."""
        frames = self.load(np.asarray(ids, dtype=np.int64))
        if frames.shape[1] != resolution:
            frames = np.stack([cv2.resize(f, (resolution, resolution), interpolation=cv2.INTER_AREA) for f in frames])
        return rgb_to_lab(frames).astype(np.float32)
