"""Benchmarks of the embedder and the index, each reported against a floor measured in the same run.

- Feature extraction: frames/s of the embedder against the FLOP floor = this machine's measured
  fp32 matrix-multiply rate / the network's FLOPs per frame (counted by torch's FLOP counter;
  ResNet50 at 224x224 is ~4.1 G multiply-adds = ~8.2 GFLOP). The fraction says how close the
  convolutions come to the machine's dense-math peak.
- Search: faiss query latency and recall@1 at ``n`` synthetic clustered unit vectors, exact
  (IndexFlatIP) against approximate (IVF-PQ + exact re-ranking), recall measured against exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .embedder import Embedder, EmbedderConfig
from .errors import ParameterError
from .retrieval import build_index, recall_at_1


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 matrix-multiply rate (GFLOP/s, 2 n^3 per product) with torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_frame(model: torch.nn.Module, size: int) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass on one size x size frame."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, size, size))
    return float(counter.get_total_flops())


@dataclass
class ExtractionBench:
    """Result of :func:`bench_extraction`."""

    backbone: str
    size: int
    batch: int
    frames_per_s: float
    gflop_per_frame: float
    matmul_gflops: float

    @property
    def floor_frames_per_s(self) -> float:
        return self.matmul_gflops / self.gflop_per_frame

    @property
    def fraction_of_floor(self) -> float:
        return self.frames_per_s / self.floor_frames_per_s

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "floor_frames_per_s": self.floor_frames_per_s, "fraction_of_floor": self.fraction_of_floor}


@torch.no_grad()
def bench_extraction(backbone: str = "resnet50", size: int = 224, batch: int = 16, batches: int = 3, seed: int = 0) -> ExtractionBench:
    """Frames/s of embedding random frames (best of ``batches`` timed batches after a warm-up)."""
    if batch < 1 or batches < 1 or size < 32:
        raise ParameterError(f"bench needs batch >= 1, batches >= 1, size >= 32; got {batch}, {batches}, {size}")
    torch.manual_seed(seed)
    model = Embedder(EmbedderConfig(backbone=backbone)).eval()
    x = torch.rand(batch, 3, size, size)
    model(x)  # warm-up
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - t0)
    return ExtractionBench(backbone, size, batch, batch / best, flops_per_frame(model, size) / 1e9, matmul_gflops())


def synthetic_vectors(n: int, dim: int, n_queries: int, seed: int = 0, clusters: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered unit vectors (a mixture around ``clusters`` centres) and ``n_queries`` new draws of the same mixture.

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


def bench_search(n: int = 1_000_000, dim: int = 128, n_queries: int = 1000, k: int = 5, nprobe: int = 16, refine: int = 64, seed: int = 0) -> list[dict[str, Any]]:
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
        rows.append({
            "index": kind, "vectors": n, "dim": dim, "build_s": round(built, 2), "ms_per_query": 1000 * took / n_queries,
            "queries_per_s": n_queries / took, "recall@1_vs_exact": recall_at_1(ids, exact),
        })
        del index
    return rows
