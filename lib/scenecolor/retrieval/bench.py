"""faiss search speed: query latency and recall@1, exact against approximate, in one run.

At ``n`` synthetic clustered unit vectors, exact (IndexFlatIP) against approximate (IVF-PQ +
exact re-ranking); recall is measured against exact search.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from scenecolor.core.errors import ParameterError
from scenecolor.retrieval.index import build_index, recall_at_1


def synthetic_vectors(
    n: int, dim: int, n_queries: int, seed: int = 0, clusters: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered unit vectors (a mixture around ``clusters`` centres) and ``n_queries`` new draws of the
    same mixture.

    Queries are not copies of stored vectors: like a new frame of a known scene, each has many
    near neighbours of similar score, which is what makes approximate search miss the exact top-1.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    chunk = 100_000
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x[s : s + m] = centres[rng.integers(clusters, size=m)] + 0.7 * rng.standard_normal((m, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = centres[rng.integers(clusters, size=n_queries)] + 0.7 * rng.standard_normal((n_queries, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q


def bench_search(
    n: int = 1_000_000,
    dim: int = 128,
    n_queries: int = 1000,
    k: int = 5,
    nprobe: int = 16,
    refine: int = 64,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Build time, query latency (ms per query, batched) and recall@1 of flat vs IVF-PQ at ``n`` vectors."""
    if n < 2000 or dim < 4 or n_queries < 1:
        raise ParameterError(f"search bench needs n >= 2000, dim >= 4, queries >= 1; got {n}, {dim}, {n_queries}")
    x, q = synthetic_vectors(n, dim, n_queries, seed)
    rows, exact = [], None
    for kind in ("flat", "ivfpq"):
        t0 = time.perf_counter()
        index = build_index(x, kind=kind, nprobe=nprobe, refine=refine, seed=seed)  # type: ignore[arg-type]
        built = time.perf_counter() - t0
        index.search(q[:10], k)  # warm-up
        t0 = time.perf_counter()
        _, ids = index.search(q, k)
        took = time.perf_counter() - t0
        exact = ids if kind == "flat" else exact
        rows.append(
            {
                "index": kind,
                "vectors": n,
                "dim": dim,
                "build_s": round(built, 2),
                "ms_per_query": 1000 * took / n_queries,
                "queries_per_s": n_queries / took,
                "recall@1_vs_exact": recall_at_1(ids, exact),
            }
        )
        del index
    return rows
