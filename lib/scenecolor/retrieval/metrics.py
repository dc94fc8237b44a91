"""Retrieval quality of a descriptor on a held-out split: precision@k, recall@k, mAP.

Leave-one-out protocol: every frame of the split is a query against all the split's other
frames; a result is relevant when it shares the query's shot (or, the looser variant, its
video). The same function scores the trained embedder and the baselines (the untrained
network, a colour histogram) so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenecolor.core.errors import DataError

Features = np.ndarray | tuple[np.ndarray, np.ndarray]  # one matrix, or (query-side, gallery-side), row-aligned


def _sides(feats: Features) -> tuple[np.ndarray, np.ndarray]:
    """(query-side, gallery-side) features of a descriptor given as one matrix or as a pair."""
    return feats if isinstance(feats, tuple) else (feats, feats)


def ranked_relevance(
    query: np.ndarray,
    query_labels: Sequence[object],
    gallery: np.ndarray,
    gallery_labels: Sequence[object],
    query_ids: Sequence[int] | None = None,
    gallery_ids: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the relevance (0/1) of the gallery ranked by descending similarity.

    A gallery item with the query's own id (leave-one-out) ranks last and never counts as
    relevant. Returns (relevance (nq, ng) bool, relevant items per query (nq,)). Ties keep the
    gallery order (stable sort), so results are deterministic.
    """
    q, g = np.asarray(query, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    ql, gl = np.asarray(query_labels), np.asarray(gallery_labels)
    if q.ndim != 2 or g.ndim != 2 or len(q) != len(ql) or len(g) != len(gl) or q.shape[1] != g.shape[1]:
        raise DataError(f"query {q.shape} / gallery {g.shape} features do not match their {len(ql)} / {len(gl)} labels")
    if len(q) == 0 or len(g) < 2:
        raise DataError(f"retrieval metrics need queries and at least 2 gallery frames, got {len(q)} and {len(g)}")
    sim = q @ g.T
    same = np.zeros_like(sim, dtype=bool)
    if query_ids is not None and gallery_ids is not None:
        same = np.asarray(query_ids)[:, None] == np.asarray(gallery_ids)[None, :]
        sim[same] = -np.inf
    order = np.argsort(-sim, axis=1, kind="stable")
    rel = (gl[order] == ql[:, None]) & ~np.take_along_axis(same, order, axis=1)
    return rel, rel.sum(axis=1)


def retrieval_scores(rel: np.ndarray, n_rel: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """precision@k, recall@k (share of a query's relevant items found in its top k) and mAP.

    Queries without any relevant item (a shot with a single frame) are left out and counted.
    """
    keep = n_rel > 0
    if not keep.any():
        raise DataError(
            "no query has a relevant item (every shot of the split has one frame); lower frame_step in 00_data_prep"
        )
    rel, n_rel = rel[keep], n_rel[keep]
    out: dict[str, float] = {
        "queries": int(keep.sum()),
        "gallery": int(rel.shape[1]),
        "no_relevant": int((~keep).sum()),
    }
    for k in ks:
        hits = rel[:, :k].sum(axis=1)
        out[f"P@{k}"] = float(np.mean(hits / k))
        out[f"R@{k}"] = float(np.mean(hits / n_rel))
    out["mAP"] = float(np.mean(average_precision(rel, n_rel)))
    return out


def compare_descriptors(
    descriptors: Mapping[str, Features],
    meta: pd.DataFrame,
    query_mask: np.ndarray,
    gallery_mask: np.ndarray,
    *,
    protocol: str = "",
    ks: Sequence[int] = (1, 5, 10),
    relevance: Sequence[str] = ("shot_id", "video_id"),
) -> pd.DataFrame:
    """One row per (relevance, descriptor): retrieval scores of the query rows against the gallery rows.

    ``descriptors`` maps a name to features aligned with ``meta`` (which needs frame_id and the
    relevance columns), or to a pair (query-side features, gallery-side features), both aligned
    with ``meta``, when queries are encoded differently (a grey query against colour gallery
    frames); a query is never its own result.
    """
    qm, gm = np.asarray(query_mask, bool), np.asarray(gallery_mask, bool)
    rows = []
    for column in relevance:
        if column not in meta.columns:
            raise DataError(f"relevance column '{column}' is not in the metadata ({list(meta.columns)})")
        labels, ids = meta[column].to_numpy(), meta["frame_id"].to_numpy()
        for name, feats in descriptors.items():
            qf, gf = _sides(feats)
            rel, n_rel = ranked_relevance(qf[qm], labels[qm], gf[gm], labels[gm], ids[qm], ids[gm])
            rows.append(
                {
                    "protocol": protocol,
                    "relevant if same": column.replace("_id", ""),
                    "descriptor": name,
                    **retrieval_scores(rel, n_rel, ks),
                }
            )
    return pd.DataFrame(rows)


def average_precision(rel: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Average precision of each query (nq,) from its ranked relevance; NaN for a query without relevant items."""
    precision_at = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, (precision_at * rel).sum(axis=1) / np.maximum(n_rel, 1), np.nan)


def per_shot_ap(
    descriptors: Mapping[str, Features],
    meta: pd.DataFrame,
    query_mask: np.ndarray,
    gallery_mask: np.ndarray,
) -> pd.DataFrame:
    """Mean average precision per query shot (rows) and descriptor (columns), relevant = same shot.

    Where a mAP is lost: the ``siblings`` column names the gallery's other shots of the query's
    source (``video_id``), e.g. a second pan over the same photograph - the shots a descriptor must
    tell apart by layout alone.
    """
    qm, gm = np.asarray(query_mask, bool), np.asarray(gallery_mask, bool)
    shots, ids = meta["shot_id"].to_numpy(), meta["frame_id"].to_numpy()
    table = pd.DataFrame({"shot": shots[qm], "video": meta["video_id"].to_numpy()[qm]})
    for name, feats in descriptors.items():
        qf, gf = _sides(feats)
        rel, n_rel = ranked_relevance(qf[qm], shots[qm], gf[gm], shots[gm], ids[qm], ids[gm])
        table[name] = average_precision(rel, n_rel)
    out = table.groupby("shot", sort=True).agg({"video": "first", **{name: "mean" for name in descriptors}})
    gallery = meta[gm]
    out.insert(
        1,
        "siblings",
        [
            ", ".join(sorted(set(gallery.loc[gallery["video_id"] == video, "shot_id"]) - {shot})) or "-"
            for shot, video in zip(out.index, out["video"])
        ],
    )
    return out.drop(columns="video").reset_index()


def _split_groups(meta: pd.DataFrame, splits: Sequence[str]) -> dict[str, np.ndarray]:
    """Query masks of each held-out split, then of all of them together (when more than one)."""
    if "split" not in meta.columns:
        raise DataError(f"the metadata has no 'split' column ({list(meta.columns)})")
    split = meta["split"].to_numpy()
    groups = {name: split == name for name in splits}
    if len(splits) > 1:
        groups[" + ".join(splits)] = np.isin(split, list(splits))
    empty = [name for name, mask in groups.items() if not mask.any()]
    if empty:
        raise DataError(f"no stored frame in split(s) {empty}; splits present: {sorted(set(split))}")
    return groups


def compare_on_splits(
    descriptors: Mapping[str, Features],
    meta: pd.DataFrame,
    splits: Sequence[str],
) -> pd.DataFrame:
    """P@1 and mAP (relevant = same shot) of each descriptor with the frames of each held-out split as queries
    against the whole store, then with all of ``splits`` together: one row per (queries, descriptor).

    Two held-out splits of a few shots each give two estimates of the same comparison; where they disagree,
    the difference between descriptors is within what the choice of shots moves.
    """
    groups = _split_groups(meta, splits)
    everything = np.ones(len(meta), bool)
    tables = [
        compare_descriptors(descriptors, meta, mask, everything, relevance=("shot_id",)).assign(
            queries=name, shots=int(meta.loc[mask, "shot_id"].nunique()), frames=int(mask.sum())
        )
        for name, mask in groups.items()
    ]
    return pd.concat(tables, ignore_index=True)[["queries", "shots", "frames", "descriptor", "P@1", "mAP"]]


def choose_on_split(candidates: Mapping[str, Features], meta: pd.DataFrame, split: str) -> tuple[str, pd.DataFrame]:
    """The candidate settings of a descriptor with the best mAP when the grey queries of ``split`` search the whole
    store (relevant = same shot), and every candidate's P@1 and mAP there: a baseline tuned on a held-out split the
    way the embedder's settings are, so it is compared at its best, not at a default."""
    if not candidates:
        raise DataError("no candidate settings to choose from")
    table = compare_on_splits(candidates, meta, [split]).set_index("descriptor")[["P@1", "mAP"]]
    return str(table["mAP"].idxmax()), table


def top1_other_shot(features: Features, meta: pd.DataFrame, query_mask: np.ndarray) -> np.ndarray:
    """For each row of ``meta``: a query (``query_mask``) whose nearest other stored frame under ``features`` (one
    matrix, or a (query-side, gallery-side) pair) belongs to another shot (False for rows that are not queries).

    With features that see a frame's own colour pixels (:func:`~scenecolor.retrieval.descriptors.colour_thumbnail`)
    this flags the queries that the shot labels alone make ambiguous: a frame nearer, pixel for pixel, to a frame of
    another shot (two pans over one photograph crossing the same view) than to any frame of its own.
    """
    qm = np.asarray(query_mask, bool)
    qf, gf = _sides(features)
    shots, ids = meta["shot_id"].to_numpy(), meta["frame_id"].to_numpy()
    rel, _ = ranked_relevance(qf[qm], shots[qm], gf, shots, ids[qm], ids)
    out = np.zeros(len(meta), bool)
    out[qm] = ~rel[:, 0]
    return out


def p1_misses(
    descriptors: Mapping[str, Features],
    meta: pd.DataFrame,
    splits: Sequence[str],
    ambiguous: np.ndarray,
) -> pd.DataFrame:
    """Each descriptor's precision@1 misses (grey queries of each held-out split against the whole store, relevant =
    same shot), and how many of them fall on ``ambiguous`` queries (a bool per row of ``meta``, e.g. from
    :func:`top1_other_shot` on colour pixels): a miss there is one that the labels, not the descriptor, decide."""
    amb = np.asarray(ambiguous, bool)
    if amb.shape != (len(meta),):
        raise DataError(f"ambiguous flags {amb.shape} do not match the {len(meta)} metadata rows")
    rows = []
    for name, mask in _split_groups(meta, splits).items():
        for desc, feats in descriptors.items():
            miss = top1_other_shot(feats, meta, mask)[mask]
            rows.append(
                {
                    "queries": name,
                    "frames": int(mask.sum()),
                    "ambiguous": int(amb[mask].sum()),
                    "descriptor": desc,
                    "P@1 misses": int(miss.sum()),
                    "on ambiguous": int((miss & amb[mask]).sum()),
                    "elsewhere": int((miss & ~amb[mask]).sum()),
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Margin:
    """The trained descriptor against its baselines on one set of queries (issue 13's target)."""

    best: str  # the baseline with the highest mAP
    margin: float  # trained mAP minus the best baseline's
    p1: float  # trained P@1
    best_p1: float  # the highest baseline P@1

    @property
    def p1_ok(self) -> bool:
        return self.p1 >= self.best_p1

    def met(self, target: float) -> bool:
        """mAP at least ``target`` above the best baseline, and P@1 no lower than any baseline's."""
        return self.margin >= target and self.p1_ok


def margin_over_baselines(rows: pd.DataFrame, trained: str = "trained embedder") -> Margin:
    """``rows``: P@1 and mAP indexed by descriptor; every descriptor but ``trained`` is a baseline."""
    base = rows.drop(index=trained)
    best = str(base["mAP"].idxmax())
    return Margin(
        best=best,
        margin=float(rows.loc[trained, "mAP"] - base.loc[best, "mAP"]),
        p1=float(rows.loc[trained, "P@1"]),
        best_p1=float(base["P@1"].max()),
    )


def splits_side_by_side(by_split: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare_on_splits`'s rows as one row per descriptor and a (metric, queries) column each, in the
    order they were computed."""
    wide = by_split.pivot(index="descriptor", columns="queries", values=["P@1", "mAP"])
    return wide.reindex(columns=by_split["queries"].unique(), level=1).reindex(by_split["descriptor"].unique())
