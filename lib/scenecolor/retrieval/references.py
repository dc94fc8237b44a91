"""Per-scene and per-shot reference selection (paper 3.1.4 phase 2, SPEC "Reference selection").

Scene queries: for every scene of every video in the scene-analysis step's ``scenes.json``, the scene's
keyframe is decoded from the test video, pre-processed like the frame store (resize, mean
filter), embedded, and the top-R pool frames by cosine similarity become its references.
Shot queries: every shot of the frame store, queried by its first stored frame (what the
colorizer's training in the colorizer-training step uses).

Two pools: ``in_domain`` (frames of every split - the shot a query comes from is usually in
it, as in the paper) and ``open`` (training split only: references always come from other
footage). The query's own frame is never returned as its reference. Output: ``references.csv``
(docs/ARCHITECTURE.md): query_kind, video_id, scene, shot_id, query_frame_id, pool, rank,
ref_frame_id, score, retriever; ``scene`` is the scene's index in scenes.json (-1 for shot queries),
``query_frame_id`` is -1 when the query frame is not in the frame store, and ``retriever`` says which
descriptor ranked the pool: ``embedder`` (the trained embedder, what every step uses) or ``hog`` (the
tuned HOG-on-L baseline, which the evaluation step scores end to end beside it). A table written before the
column existed reads as ``embedder``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scenecolor.core.artifacts import atomic_path
from scenecolor.core.errors import DataError
from scenecolor.core.media import iter_upright_frames
from scenecolor.data.frames import SPLITS, FrameStore, Preprocess, preprocess_frame
from scenecolor.data.test_videos import read_test_videos
from scenecolor.retrieval.index import FeatureStore, build_index, pool_frame_ids

REFERENCE_COLUMNS = (
    "query_kind",
    "video_id",
    "scene",
    "shot_id",
    "query_frame_id",
    "pool",
    "rank",
    "ref_frame_id",
    "score",
    "retriever",
)
POOLS = ("in_domain", "open")
RETRIEVERS = ("embedder", "hog")  # the trained embedder; the HOG on L tuned on a held-out split
RETRIEVER_NAMES = {"embedder": "trained embedder", "hog": "tuned HOG on L"}


def _store_frame_of(
    video: dict[str, Any], frame: int, shots: pd.DataFrame, lookup: dict[tuple[str, int], int]
) -> tuple[str, int]:
    """(shot_id, frame-store id or -1) of a frame of a test video, from test_videos.json's shot rows.

    A real video's frame numbers are the source's own; a montage segment starts at frame
    ``source_start`` of its shot's clip, whose frame k was stored as source frame
    ``shots.csv.source_start + k``. Of overlapping rows (a dissolve) the later segment wins
    from its midpoint on - keyframes sit mid-scene, away from transitions, in practice.
    """
    rows = [r for r in video.get("shots", []) if int(r["start"]) <= frame < int(r["end"])]
    if not rows:
        return "", -1
    row = rows[-1] if len(rows) > 1 and frame >= (int(rows[-1]["start"]) + int(rows[0]["end"])) // 2 else rows[0]
    shot_id = str(row["shot_id"])
    offset = frame - int(row["start"]) + int(row.get("source_start", 0))
    if not video.get("real", False) and shot_id in shots.index:
        offset += int(shots.loc[shot_id, "source_start"]) if "source_start" in shots.columns else 0
    return shot_id, lookup.get((shot_id, offset), -1)


def scene_queries(
    scenes: dict[str, Any],
    data_dir: str | os.PathLike[str],
    store: FrameStore,
    prep: Preprocess,
    *,
    progress: bool = True,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The keyframe of every scene (upright) as a pre-processed store-sized frame, with its metadata.

    Returns (table: video_id, scene, keyframe, shot_id, query_frame_id; frames uint8 (n, S, S, 3)).
    """
    base = Path(data_dir)
    videos = {v["video_id"]: v for v in read_test_videos(base)}
    shots = (
        pd.read_csv(base / "shots.csv", dtype={"shot_id": str}).set_index("shot_id")
        if (base / "shots.csv").is_file()
        else pd.DataFrame()
    )
    idx = store.index
    lookup = {(str(s), int(f)): int(i) for s, f, i in zip(idx["shot_id"], idx["source_frame"], idx["frame_id"])}
    rows, frames = [], []
    for vid, entry in scenes.items():
        if vid not in videos:
            raise DataError(
                f"scenes.json lists video '{vid}' that test_videos.json does not; "
                "re-run the scene-analysis step on this run's data"
            )
        keyframes = {int(s["keyframe"]): i for i, s in enumerate(entry["scenes"])}
        found = {
            n: preprocess_frame(frame, prep) for n, frame in iter_upright_frames(base / videos[vid]["path"], keyframes)
        }
        for kf, scene in sorted(keyframes.items(), key=lambda kv: kv[1]):
            if kf not in found:
                raise DataError(
                    f"keyframe {kf} of scene {scene} lies beyond the end of '{videos[vid]['path']}'; "
                    "re-run the scene-analysis step"
                )
            shot_id, fid = _store_frame_of(videos[vid], kf, shots, lookup)
            rows.append({"video_id": vid, "scene": scene, "keyframe": kf, "shot_id": shot_id, "query_frame_id": fid})
            frames.append(found[kf])
    return pd.DataFrame(rows), np.stack(frames)


def scene_query_frames(scene: dict[str, Any], n: int = 3) -> list[int]:
    """``n`` frames spread over a scene (the centres of ``n`` equal parts; the middle frame when n = 1)."""
    a, b = int(scene["start"]), int(scene["end"])
    if b <= a:
        raise DataError(f"scene {scene} has no frame")
    m = max(1, min(n, b - a))
    return sorted({a + (b - a) * (2 * i + 1) // (2 * m) for i in range(m)})


def frames_of_videos(
    data_dir: str | os.PathLike[str], wanted: list[tuple[str, int, list[int]]], prep: Preprocess
) -> list[list[np.ndarray]]:
    """Pre-processed frames of test videos: for each (video_id, scene, frame indices), the frames, in order.

    Each video of test_videos.json is decoded once; frames come upright (the display rotation applied), as
    ``scenecolor colorize`` decodes its query frames.
    """
    base = Path(data_dir)
    videos = {v["video_id"]: v for v in read_test_videos(base)}
    need: dict[str, set[int]] = {}
    for vid, _, frames in wanted:
        if vid not in videos:
            raise DataError(
                f"video '{vid}' is not in test_videos.json; re-run the scene-analysis step on this run's data"
            )
        need.setdefault(vid, set()).update(frames)
    got: dict[tuple[str, int], np.ndarray] = {}
    for vid, frames in need.items():
        for n, frame in iter_upright_frames(base / videos[vid]["path"], frames):
            got[(vid, n)] = preprocess_frame(frame, prep)
    missing = [(v, f) for v, _, fs in wanted for f in fs if (v, f) not in got]
    if missing:
        raise DataError(
            f"frame {missing[0][1]} of video '{missing[0][0]}' lies beyond its end; re-run the scene-analysis step"
        )
    return [[got[(vid, f)] for f in frames] for vid, _, frames in wanted]


def shot_queries(store: FrameStore) -> pd.DataFrame:
    """Every shot of the store with its first stored frame as the query: video_id, shot_id, query_frame_id, split."""
    first = store.index.sort_values("frame_id").groupby("shot_id", sort=False).head(1)
    return pd.DataFrame(
        {
            "video_id": first["video_id"].to_numpy(),
            "shot_id": first["shot_id"].to_numpy(),
            "query_frame_id": first["frame_id"].to_numpy().astype(np.int64),
            "split": first["split"].to_numpy(),
        }
    )


def reference_pools(store: FrameStore, pool_step: int) -> dict[str, np.ndarray]:
    """Frame ids of the two pools: ``in_domain`` (every split) and ``open`` (train split only)."""
    return {
        "in_domain": pool_frame_ids(store, splits=SPLITS, step=pool_step),
        "open": pool_frame_ids(store, splits=("train",), step=pool_step),
    }


def pool_table(pools: dict[str, np.ndarray], store: FrameStore) -> pd.DataFrame:
    """Size of each pool: frames, shots, videos, and frames per split."""
    rows = []
    for name, ids in pools.items():
        part = store.index.loc[ids]
        rows.append(
            {
                "pool": name,
                "frames": len(ids),
                "shots": part["shot_id"].nunique(),
                "videos": part["video_id"].nunique(),
                **{f"{s} frames": int((part["split"] == s).sum()) for s in SPLITS},
            }
        )
    return pd.DataFrame(rows)


def pool_masks(features: FeatureStore, pool_ids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Boolean rows of ``features`` for each named pool of frame ids."""
    fid = features.meta["frame_id"].to_numpy()
    return {name: np.isin(fid, ids) for name, ids in pool_ids.items()}


def select_references(
    queries: pd.DataFrame,
    query_features: np.ndarray,
    features: FeatureStore,
    masks: dict[str, np.ndarray],
    top_r: int,
    *,
    query_kind: str,
    index_kind: str = "auto",
    exact_max: int = 50_000,
    retriever: str = "embedder",
) -> pd.DataFrame:
    """Top-``top_r`` references per query and pool, never the query's own frame.

    ``queries`` needs video_id, shot_id, query_frame_id (and scene for scene queries); ``features`` and
    ``query_features`` are the vectors of ``retriever`` (one of :data:`RETRIEVERS`), which labels the rows.
    """
    _check_retriever(retriever)
    if len(queries) != len(query_features):
        raise DataError(f"{len(queries)} queries but {len(query_features)} query vectors")
    rows = []
    for pool, mask in masks.items():
        sub = features.subset(mask)
        if len(sub) == 0:
            raise DataError(
                f"reference pool '{pool}' is empty; check pool_step and that the frame store has frames in its splits"
            )
        index = build_index(sub.features, kind=index_kind, exact_max=exact_max)  # type: ignore[arg-type]
        k = min(top_r + 1, len(sub))
        scores, pos = index.search(query_features, k)
        ref_ids = sub.meta["frame_id"].to_numpy()
        for q, query in enumerate(queries.itertuples(index=False)):
            kept = [
                (ref_ids[p], s) for p, s in zip(pos[q], scores[q]) if p >= 0 and ref_ids[p] != query.query_frame_id
            ][:top_r]
            for rank, (ref, score) in enumerate(kept, start=1):
                rows.append(
                    {
                        "query_kind": query_kind,
                        "video_id": query.video_id,
                        "scene": int(getattr(query, "scene", -1)),
                        "shot_id": query.shot_id,
                        "query_frame_id": int(query.query_frame_id),
                        "pool": pool,
                        "rank": rank,
                        "ref_frame_id": int(ref),
                        "score": round(float(score), 6),
                        "retriever": retriever,
                    }
                )
    return pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))


def _check_retriever(retriever: str) -> None:
    if retriever not in RETRIEVERS:
        raise DataError(f"unknown retriever {retriever!r}; choose one of {RETRIEVERS}")


def read_references(path: str | os.PathLike[str], retriever: str | None = "embedder") -> pd.DataFrame:
    """Read ``references.csv`` (every column checked): the rows of ``retriever`` (None: every retriever's).

    A table without the ``retriever`` column (written before it existed) holds the embedder's rows. DataError
    naming the reference-selection step when the file is missing or malformed, or holds no row of ``retriever``.
    """
    if retriever is not None:
        _check_retriever(retriever)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"references table '{p}' does not exist; run the reference-selection step first")
    table = pd.read_csv(p, dtype={"shot_id": str, "video_id": str, "pool": str, "query_kind": str, "retriever": str})
    if "retriever" not in table.columns:
        table["retriever"] = "embedder"
    missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"references table '{p}' lacks columns {missing}; rebuild it with the reference-selection step")
    for column, known in (("pool", POOLS), ("retriever", RETRIEVERS)):
        unknown = sorted(set(table[column].astype(str)) - set(known))
        if unknown:
            raise DataError(
                f"references table '{p}' has unknown {column}s {unknown} (known: {known}); "
                "rebuild it with the reference-selection step"
            )
    if retriever is None:
        return table
    table = table[table["retriever"] == retriever].reset_index(drop=True)
    if table.empty:
        raise DataError(
            f"references table '{p}' holds no reference retrieved by '{retriever}'; re-run "
            "the reference-selection step, which writes the embedder's and the tuned HOG's"
        )
    return table


def write_references(path: str | os.PathLike[str], tables: list[pd.DataFrame]) -> Path:
    """Write ``references.csv`` atomically (the tables' rows in the order given); a table without a ``retriever``
    column is the embedder's. DataError, nothing written, on a retriever outside :data:`RETRIEVERS`."""
    table = pd.concat(
        [t if "retriever" in t.columns else t.assign(retriever="embedder") for t in tables], ignore_index=True
    )[list(REFERENCE_COLUMNS)]
    for retriever in sorted(set(table["retriever"].astype(str))):
        _check_retriever(retriever)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def reference_summary(refs: pd.DataFrame, store: FrameStore) -> pd.DataFrame:
    """Per retriever, query kind and pool: queries, mean top-1 score, share of top-1 / top-R from the query's own
    shot and video."""
    idx = store.index.set_index("frame_id")
    t = refs.assign(
        ref_shot=idx.loc[refs["ref_frame_id"], "shot_id"].to_numpy(),
        ref_video=idx.loc[refs["ref_frame_id"], "video_id"].to_numpy(),
    )
    t["same_shot"] = t["ref_shot"] == t["shot_id"]
    t["same_source_video"] = t["ref_video"] == t["shot_id"].map(dict(zip(idx["shot_id"], idx["video_id"])))
    if "retriever" not in t.columns:
        t["retriever"] = "embedder"
    top1 = t[t["rank"] == 1]
    group = ["retriever", "query_kind", "pool"]
    out = top1.groupby(group).agg(
        queries=("score", "size"),
        top1_score=("score", "mean"),
        top1_same_shot=("same_shot", "mean"),
        top1_same_video=("same_source_video", "mean"),
    )
    out["topR_same_shot"] = t.groupby(group)["same_shot"].mean()
    return out.reset_index()


def scene_query_rows(scenes: dict[str, Any], n: int) -> list[tuple[str, int, list[int]]]:
    """(video_id, scene, its ``n`` query frames) for every scene, in :func:`scene_queries`' order."""
    return [
        (vid, i, scene_query_frames(sc, n)) for vid, entry in scenes.items() for i, sc in enumerate(entry["scenes"])
    ]


def mean_query_vectors(groups: list[list[np.ndarray]], encode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """One query vector per scene: the mean of its grey frames' unit vectors (not renormalised), so that its inner
    product with a reference is the mean cosine over the scene's frames - how ``scenecolor colorize`` ranks."""
    if not groups or any(len(g) == 0 for g in groups):
        raise DataError("every scene needs at least one query frame")
    return np.stack([np.asarray(encode(np.stack(g)), dtype=np.float32).mean(axis=0) for g in groups])


def encode_queries(frames: np.ndarray, encode: Callable[[np.ndarray], np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Encode query frames (n, S, S, 3) uint8 in batches."""
    if len(frames) == 0:
        raise DataError("no query frame to encode")
    return np.concatenate([encode(frames[s : s + batch_size]) for s in range(0, len(frames), batch_size)]).astype(
        np.float32
    )
