"""faiss search speed: query latency and recall@1, exact against approximate, in one run; gallery builds.

At ``n`` synthetic clustered unit vectors, exact (IndexFlatIP) against approximate (IVF-PQ +
exact re-ranking); recall is measured against exact search. :func:`bench_gallery` times
``scenecolor gallery build`` on synthetic 640x360 images against the embedder's FLOP floor.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from scenecolor.core.errors import ParameterError
from scenecolor.data.frames import Preprocess
from scenecolor.embed.model import Embedder, EmbedderConfig, gallery_is_grey
from scenecolor.retrieval.gallery import EncoderSpec, Gallery, build_gallery
from scenecolor.retrieval.index import build_index, model_encoder, query_encoder, recall_at_1, search_aggregated
from scenecolor.workbook.embed.bench import bench_extraction, side_by_side_rate


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


# -- gallery build and per-scene query speed --------------------------------------------------------------
def synthetic_images(folder: Path, n: int, width: int = 640, height: int = 360, seed: int = 0) -> list[Path]:
    """``n`` distinct JPEG images of ``width`` x ``height`` (smooth colour fields with blocks), written once."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(n):
        path = folder / f"img{i:06d}.jpg"
        paths.append(path)
        if path.is_file():
            continue
        c = rng.uniform(0, 255, (3, 3)).astype(np.float32)
        img = c[0] + c[1] * (xx[..., None] / width) + 0.5 * c[2] * (yy[..., None] / height)
        for _ in range(4):
            x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
            img[y0 : y0 + int(rng.integers(20, 160)), x0 : x0 + int(rng.integers(20, 240))] = rng.uniform(0, 255, 3)
        _, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
        buf.tofile(str(path))
    return paths


def bench_gallery(
    n_images: int = 10_000,
    *,
    backbone: str = "resnet18",
    input_size: int = 96,
    batch_size: int = 64,
    workers: int = 2,
    pairing: str = "grey",
    pooling: str = "regional",
    scenes: int = 50,
    queries_per_scene: int = 3,
    work_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """`scenecolor gallery build` speed on ``n_images`` synthetic 640x360 JPEGs against the embedder's FLOP
    floor measured in the same run, and the search time per scene (``queries_per_scene`` grey queries,
    scores aggregated) in the built gallery.

    The network is the embedder's architecture at its initial weights (speed does not depend on
    the weights). "Network alone" is timed on ready tensors twice: one network on all threads, and
    ``workers`` single-threaded copies side by side, as the build runs it. ``work_dir`` keeps the images
    between runs (they are made once). ``device``: where the network runs, its floor measured there too (on a
    GPU the side-by-side single-threaded CPU copies are not timed).
    """
    if n_images < 1 or scenes < 1:
        raise ParameterError(f"gallery bench needs images >= 1 and scenes >= 1, got {n_images}, {scenes}")
    torch.manual_seed(seed)
    model = Embedder(EmbedderConfig(backbone=backbone, pooling=pooling)).eval()
    floor = bench_extraction(
        backbone, input_size, batch=batch_size, batches=2, seed=seed, pooling=pooling, device=device
    )
    # the build runs one single-threaded copy per worker, or one network on all threads with a single worker
    side_by_side = workers > 1 and torch.device(device).type == "cpu"
    copies = (
        [side_by_side_rate(backbone, input_size, batch_size, workers, seed=seed, pooling=pooling)]
        if side_by_side
        else []
    )
    with tempfile.TemporaryDirectory(prefix="scenecolor-gallery-bench-") as tmp:
        base = Path(work_dir) if work_dir else Path(tmp)
        t0 = time.perf_counter()
        synthetic_images(base / "images", n_images, seed=seed)
        make_s = time.perf_counter() - t0
        out = Path(tmp) / "gallery"
        encode = model_encoder(model, input_size, device, grey=gallery_is_grey(pairing))
        spec = EncoderSpec("bench", backbone, input_size, pairing, {"size": 224, "mean_filter": 3})
        report = build_gallery(
            [base / "images"],
            out,
            encode=encode,
            encoder=spec,
            prep=Preprocess(),
            batch_size=batch_size,
            workers=workers,
        )
        # the floor again after the build: the machine's peak is the best of both measurements (a busy moment
        # during one of them can only lower it, which would flatter the ratio)
        again = bench_extraction(
            backbone, input_size, batch=batch_size, batches=2, seed=seed, pooling=pooling, device=device
        )
        network_fps = max(floor.frames_per_s, again.frames_per_s)
        if side_by_side:
            copies.append(side_by_side_rate(backbone, input_size, batch_size, workers, seed=seed, pooling=pooling))
        floor = max(floor, again, key=lambda b: b.matmul_gflops)
        gallery = Gallery.open(out)
        query = query_encoder(model, input_size, device)
        frames = gallery.load_frames(range(min(len(gallery), scenes * queries_per_scene)), Preprocess())
        reps = max(1, -(-scenes * queries_per_scene // len(frames)))
        frames = np.concatenate([frames] * reps)[: scenes * queries_per_scene]
        t0 = time.perf_counter()
        vecs = query(frames)
        encode_s = time.perf_counter() - t0
        groups = np.split(vecs, scenes)
        search_aggregated(gallery.index, gallery.features, groups[:2], 5)  # warm-up
        t0 = time.perf_counter()
        search_aggregated(gallery.index, gallery.features, groups, 5)
        search_s = time.perf_counter() - t0
    return {
        "images": n_images,
        "image size": "640x360",
        "backbone": f"{backbone} @ {input_size}px, {pooling} pooling",
        "images made (s)": round(make_s, 1),
        "build (s)": round(report.seconds, 2),
        "build frames/s": report.frames_per_s,
        "network alone frames/s (same run)": network_fps,
        "network alone as the build runs it frames/s": max(copies, default=network_fps),
        "FLOP floor frames/s": floor.floor_frames_per_s,
        "GFLOP per frame": floor.gflop_per_frame,
        "matmul GFLOP/s": floor.matmul_gflops,
        "build / floor": report.frames_per_s / floor.floor_frames_per_s,
        "build / half floor": report.frames_per_s / (0.5 * floor.floor_frames_per_s),
        "index": report.index_kind,
        "recall@1 vs exact": report.recall_at_1,
        "search ms per scene": 1000 * search_s / scenes,
        "query encode ms per scene": 1000 * encode_s / scenes,
        "queries per scene": queries_per_scene,
        "files skipped": len(report.files_skipped),
    }
