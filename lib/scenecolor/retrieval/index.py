"""The feature store of the reference pool and its faiss indexes (paper 3.1.3, SPEC "Feature store").

The frozen embedder encodes pool frames in batches into a feature store: ``features.npy``
(float32, unit rows, so the paper's dot product is cosine similarity) and ``meta.csv`` (one row
per vector: frame_id, video_id, shot_id, split). Search uses faiss: exact inner product
(IndexFlatIP) for pools up to ``exact_max`` vectors, an approximate index above it - IVF-PQ
with exact re-ranking of a few candidates (IndexRefineFlat), or HNSW - whose recall@1 against
exact search is measured, never assumed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from scenecolor.core.artifacts import atomic_path, atomic_save_npy
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.data.frames import FrameStore
from scenecolor.embed.config import TrainConfig
from scenecolor.embed.model import Embedder, gallery_is_grey, inference_copy, to_input

META_COLUMNS = ("frame_id", "video_id", "shot_id", "split")
IndexKind = Literal["auto", "flat", "ivfpq", "hnsw"]
IVFPQ_MIN_VECTORS = 1_000


# -- the feature store -------------------------------------------------------------------------------
@dataclass
class FeatureStore:
    """Vectors (n, D) float32 and their metadata rows (same order)."""

    features: np.ndarray
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or len(self.features) != len(self.meta):
            raise DataError(
                f"feature store: {self.features.shape} features for {len(self.meta)} metadata rows; they must match"
            )

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def subset(self, mask: np.ndarray | pd.Series) -> FeatureStore:
        """The rows where ``mask`` is true (metadata re-indexed from 0)."""
        m = np.asarray(mask, dtype=bool)
        return FeatureStore(np.ascontiguousarray(self.features[m]), self.meta[m].reset_index(drop=True))

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``features.npy`` and ``meta.csv`` atomically into ``folder``."""
        out = Path(folder)
        atomic_save_npy(out / "features.npy", self.features.astype(np.float32))
        with atomic_path(out / "meta.csv") as tmp:
            self.meta.to_csv(tmp, index=False)
        return out

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> FeatureStore:
        """Read a feature store written by :meth:`save`."""
        p = Path(folder)
        for name in ("features.npy", "meta.csv"):
            if not (p / name).is_file():
                raise DataError(f"feature store '{p}' lacks '{name}'; rebuild it with the reference-selection step")
        meta = pd.read_csv(p / "meta.csv", dtype={"video_id": str, "shot_id": str, "split": str})
        missing = [c for c in META_COLUMNS if c not in meta.columns]
        if missing:
            raise DataError(f"feature store '{p}': meta.csv lacks columns {missing}; rebuild it")
        return cls(np.load(p / "features.npy", allow_pickle=False), meta)


def pool_frame_ids(store: FrameStore, *, splits: Sequence[str] = ("train",), step: int = 10) -> np.ndarray:
    """One stored frame in ``step`` of each video of ``splits`` (its first, then every step-th), ascending."""
    if step < 1:
        raise ParameterError(f"pool_step must be >= 1, got {step}")
    index = store.index[store.index["split"].isin(list(splits))]
    picked = [grp["frame_id"].to_numpy()[::step] for _, grp in index.groupby("video_id", sort=True)]
    ids = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    if len(ids) == 0:
        raise DataError(
            f"the reference pool is empty: the frame store '{store.folder}' has no frame in split(s) {list(splits)}; "
            "rebuild 00_data_prep with such frames"
        )
    return ids.astype(np.int64)


def check_frame_ids(store: FrameStore, ids: Sequence[int] | np.ndarray, what: str = "pool") -> np.ndarray:
    """``ids`` as int64, refusing an empty list or an id the frame store does not hold."""
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    if arr.size == 0:
        raise DataError(f"the {what} is empty: no frame ids to encode; check the split names and pool_step")
    bad = arr[(arr < 0) | (arr >= len(store))]
    if bad.size:
        raise DataError(
            f"{what} frame id {int(bad[0])} is missing from the frame store '{store.folder}' (it holds ids "
            f"0..{len(store) - 1}); "
            "the pool was built from another store - rebuild the feature store"
        )
    return arr


def build_feature_store(
    store: FrameStore,
    ids: Sequence[int] | np.ndarray,
    encode: Callable[[np.ndarray], np.ndarray],
    *,
    batch_size: int = 64,
    progress: bool = True,
) -> FeatureStore:
    """Encode the frames ``ids`` with ``encode`` (uint8 frames (n, S, S, 3) -> (n, D)) into a FeatureStore."""
    arr = check_frame_ids(store, ids)
    chunks = [
        encode(store.uint8(arr[s : s + batch_size]))
        for s in tqdm(range(0, len(arr), batch_size), desc="encode", disable=not progress, leave=False)
    ]
    meta = store.index.loc[arr, list(META_COLUMNS)].reset_index(drop=True)
    return FeatureStore(np.ascontiguousarray(np.concatenate(chunks).astype(np.float32)), meta)


def model_encoder(
    model: torch.nn.Module, input_size: int, device: str | torch.device = "cpu", *, grey: bool = False
) -> Callable[[np.ndarray], np.ndarray]:
    """An ``encode`` function for :func:`build_feature_store` that runs ``model`` at ``input_size``.

    ``grey``: the network sees only each frame's lightness (L replicated on three channels).
    """
    # batch norms folded into the convolutions, channels-last weights: a copy, so ``model`` is left as it is
    fast = (inference_copy(model) if isinstance(model, Embedder) else model.eval()).to(device)
    fast = fast.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode(frames: np.ndarray) -> np.ndarray:
        x = to_input(frames, input_size, grey).to(device).contiguous(memory_format=torch.channels_last)
        return fast(x).cpu().numpy()

    return encode


def query_encoder(
    model: torch.nn.Module, input_size: int, device: str | torch.device = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """The encoder of query frames: always grey (SPEC: the input video is greyscale), whatever it is given."""
    return model_encoder(model, input_size, device, grey=True)


def pool_encoder(
    model: torch.nn.Module, cfg: TrainConfig, device: str | torch.device = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """The encoder of colour gallery (pool) frames, as the embedder was trained (``cfg.pairing``)."""
    return model_encoder(model, cfg.input_size, device, grey=gallery_is_grey(cfg.pairing))


def color_histogram(frames: np.ndarray, bins: int = 8) -> np.ndarray:
    """Baseline descriptor: joint RGB histogram (bins^3), square-rooted and L2-normalised (Hellinger).

    The dot product of two such vectors is the Bhattacharyya coefficient of the histograms.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"colour histogram needs uint8 RGB frames (n, H, W, 3), got {frames.dtype} {frames.shape}")
    q = (frames.astype(np.int64) * bins) // 256
    codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    hist = np.stack([np.bincount(c.ravel(), minlength=bins**3) for c in codes]).astype(np.float32)
    hist = np.sqrt(hist / hist.sum(axis=1, keepdims=True))
    return hist / np.linalg.norm(hist, axis=1, keepdims=True)


# -- indexes -------------------------------------------------------------------------------------------
@dataclass
class SearchIndex:
    """A faiss index over a feature store's vectors; positions returned are rows of that store."""

    index: faiss.Index
    kind: str
    n: int
    dim: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores (nq, k), positions (nq, k)); inner product = cosine for unit vectors.

        Positions are -1 where the pool has fewer than k vectors.
        """
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        if k < 1:
            raise ParameterError(f"k must be >= 1, got {k}")
        scores, ids = self.index.search(q, k)
        return scores, ids


def _pq_subquantizers(dim: int) -> int:
    """Sub-vectors of the 4-bit fast-scan PQ: two dimensions each (an even count, as fast scan needs)."""
    m = max(2, dim // 2)
    return m if m % 2 == 0 else m + 1 if dim % (m + 1) == 0 else 2


def build_index(
    features: np.ndarray,
    *,
    kind: IndexKind = "auto",
    exact_max: int = 50_000,
    nprobe: int = 16,
    refine: int = 64,
    hnsw_m: int = 32,
    ef_search: int = 128,
    seed: int = 0,
) -> SearchIndex:
    """A faiss index over unit vectors ``features`` (n, D).

    ``auto`` picks exact search (IndexFlatIP) up to ``exact_max`` vectors and IVF-PQ above it.
    IVF-PQ uses about 4 * sqrt(n) lists and 4-bit fast-scan PQ codes (2 dimensions per code: 8-bit
    PQ training is far slower on this faiss build), searches ``nprobe`` lists and re-ranks
    ``refine`` x k candidates exactly (the coarse 4-bit codes need a wide re-ranking: on clustered
    synthetic data recall@1 is ~0.6 with 8 x k candidates and ~0.99 with 64 x k); HNSW uses ``hnsw_m`` links
    and ``ef_search``. Raises DataError for an empty or malformed matrix.
    """
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(
            f"cannot index {x.shape} features: the pool is empty or not a 2-D matrix; check the reference pool"
        )
    if not np.isfinite(x).all():
        raise DataError("features contain NaN or infinite values; re-encode the pool (is the checkpoint broken?)")
    n, d = x.shape
    if kind == "auto":
        kind = "flat" if n <= exact_max else "ivfpq"
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
    elif kind == "ivfpq":
        if n < IVFPQ_MIN_VECTORS:
            raise ParameterError(
                f"an IVF-PQ index needs >= {IVFPQ_MIN_VECTORS} vectors to train, the pool has {n}; use kind='flat' or "
                "'hnsw'"
            )
        nlist = int(min(max(1, round(4 * math.sqrt(n))), n // 39))
        index = faiss.index_factory(d, f"IVF{nlist},PQ{_pq_subquantizers(d)}x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        ivf.cp.seed = seed
        rng = np.random.default_rng(seed)
        index.train(x[rng.choice(n, size=min(n, max(nlist * 39, 16 * 39)), replace=False)])
        ivf.nprobe = min(nprobe, nlist)
        faiss.downcast_index(index).k_factor = float(refine)
    else:
        raise ParameterError(f"index kind must be auto, flat, ivfpq or hnsw, got {kind!r}")
    index.add(x)
    return SearchIndex(index=index, kind=kind, n=n, dim=d)


def exact_search(features: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product (the reference every approximate index is measured against)."""
    return build_index(features, kind="flat").search(queries, k)


def recall_at_1(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Share of queries whose approximate top-1 is the exact top-1."""
    if len(exact_ids) == 0:
        raise DataError("recall@1 needs at least one query")
    return float(np.mean(np.asarray(approx_ids)[:, 0] == np.asarray(exact_ids)[:, 0]))


def approximate_recall(features: np.ndarray, queries: np.ndarray, kind: IndexKind = "hnsw", **kwargs: object) -> float:
    """recall@1 of an approximate index of ``kind`` against exact search on the same vectors."""
    _, exact = exact_search(features, queries, 1)
    _, approx = build_index(features, kind=kind, **kwargs).search(queries, 1)  # type: ignore[arg-type]
    return recall_at_1(approx, exact)


# -- the index file (written by the reference-selection step and by gallery builds; read by colorize) ------------
def _index_meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def write_index(path: str | os.PathLike[str], index: SearchIndex) -> Path:
    """Write ``index`` to ``path`` (faiss format) and its kind, size and dimension beside it (``.json``), atomically."""
    p = Path(path)
    with atomic_path(p) as tmp:
        faiss.write_index(index.index, str(tmp))
    with atomic_path(_index_meta_path(p)) as tmp:
        tmp.write_text(json.dumps({"kind": index.kind, "vectors": index.n, "dim": index.dim}))
    return p


def read_index(path: str | os.PathLike[str]) -> SearchIndex:
    """Read an index written by :func:`write_index` (the kind it was built as is kept)."""
    p = Path(path)
    meta = _index_meta_path(p)
    if not p.is_file() or not meta.is_file():
        raise DataError(
            f"faiss index '{p}' (or its '{meta.name}') is missing; rebuild it with "
            "the reference-selection step or `scenecolor gallery build`"
        )
    info = json.loads(meta.read_text())
    index = faiss.read_index(str(p))
    if int(index.ntotal) != int(info["vectors"]) or int(index.d) != int(info["dim"]):
        raise DataError(f"faiss index '{p}' does not match '{meta.name}' ({info}); rebuild it")
    return SearchIndex(index=index, kind=str(info["kind"]), n=int(index.ntotal), dim=int(index.d))


def search_aggregated(
    index: SearchIndex,
    features: np.ndarray,
    queries: Sequence[np.ndarray],
    k: int,
    *,
    candidates: int = 4,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top-``k`` pool rows for groups of queries (the several grey key frames of one scene).

    Each query of a group asks the index for ``candidates`` x ``k`` rows; the union is re-scored
    exactly as the **mean cosine similarity** over the group's queries (``features`` are the
    indexed unit rows), so a reference must suit the whole scene, not one frame. Returns, per
    group, (positions best first, scores).
    """
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    groups = [np.ascontiguousarray(np.asarray(g, dtype=np.float32).reshape(-1, index.dim)) for g in queries]
    if not groups or min(len(g) for g in groups) == 0:
        raise DataError("a scene has no query frame to search with")
    _, pos_all = index.search(np.concatenate(groups), min(index.n, candidates * k))  # one batched faiss call
    out, start = [], 0
    for q in groups:
        pos = pos_all[start : start + len(q)]
        start += len(q)
        cand = np.unique(pos[pos >= 0])
        score = (features[cand] @ q.T).mean(axis=1)
        order = np.argsort(-score, kind="stable")[:k]
        out.append((cand[order].astype(np.int64), score[order].astype(np.float32)))
    return out
