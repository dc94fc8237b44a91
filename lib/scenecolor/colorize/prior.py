"""The learned colour prior: the colour a scene gets when no reference matches it.

When verification drops every reference of a scene there is nothing to copy colour from; ab = 0
(grey) is safe, but the training footage says more than that: dark pixels lean one way, sky-bright
pixels another, the top of a frame differs from the bottom. The prior is a lookup of the **mean ab
of the training frames per lightness bin x coarse image cell**, multiplied by a **shrink** factor
chosen on the validation frames (a mean that is right on average but wrong for a given frame costs
PSNR, so a faint version of it is what pays): L2-optimal colour given L and position, kept
low-chroma.

:func:`learn_prior` fits it (train frames only) and picks the grid and the shrink by PSNR on the
validation frames, among the candidates with which no source video - of the validation split, or of the
training split held out of the table - loses more than :data:`TOLERANCE_DB` to grey: the fallback
colours scenes nothing in the pool shows, so it must hold on unseen footage, not only on average. It is
deterministic (no random draw). :func:`write_prior` stores it in one
``.npz`` (atomic; a sha256 of the table inside), :func:`read_prior` is its only reader and refuses a
missing or corrupt file with a DataError that says how to make it again.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scenecolor.core.artifacts import atomic_write_bytes, sha256_bytes
from scenecolor.core.color8 import lab_to_rgb8
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.data.frames import FrameStore

PRIOR_FILE = "colour_prior.npz"
PRIOR_FORMAT = 1
BINS = 10  # lightness bins over 0..100
GRIDS = (1, 2, 4)  # candidate image grids (G x G cells) tried on the validation frames
SHRINKS = tuple(round(0.05 * i, 2) for i in range(11))  # candidate shrink factors, 0 (grey) .. 0.5 of the mean
TOLERANCE_DB = 0.5  # the most PSNR a held-out source may lose to grey for a candidate to be chosen
SELECT_SIDE = 112  # frames are compared at this height while choosing


@dataclass(frozen=True)
class ColourPrior:
    """Mean ab per (grid row, grid column, lightness bin), already multiplied by ``shrink``.

    ``table`` float32 (G, G, BINS, 2); ``shrink`` in 0..1 (0: the prior is grey); ``val_gain_db``: mean PSNR of
    the prior minus grey's on the validation frames it was chosen on (information, not used).
    """

    table: np.ndarray
    shrink: float
    val_gain_db: float = 0.0

    def __post_init__(self) -> None:
        t = np.asarray(self.table)
        if t.ndim != 4 or t.shape[0] != t.shape[1] or t.shape[0] < 1 or t.shape[-1] != 2 or t.shape[2] < 2:
            raise DataError(f"a colour prior's table must be (G, G, bins >= 2, 2), got {t.shape}")
        if not np.isfinite(t).all():
            raise DataError("a colour prior's table holds a non-finite value")
        if not 0.0 <= self.shrink <= 1.0:
            raise DataError(f"a colour prior's shrink must be in 0..1, got {self.shrink}")

    @property
    def grid(self) -> int:
        return int(self.table.shape[0])

    def ab(self, L: np.ndarray) -> np.ndarray:
        """The prior's ab for lightness ``L``.

        Args:
            L: float (T, H, W) or (H, W) lightness 0..100.
        Returns:
            float32 (*L.shape, 2): the table interpolated linearly between lightness-bin centres and bilinearly
            between grid-cell centres (no block or band edges).
        """
        L = np.asarray(L, dtype=np.float32)
        if L.ndim not in (2, 3):
            raise DataError(f"the prior's lightness must be (H, W) or (T, H, W), got {L.shape}")
        frames = L[None] if L.ndim == 2 else L
        H, W = frames.shape[1:]
        bins = self.table.shape[2]
        g = self.grid
        flat = self.table.reshape(g, g, bins * 2)
        field = (
            np.broadcast_to(flat, (H, W, bins * 2))
            if g == 1
            else cv2.resize(flat, (W, H), interpolation=cv2.INTER_LINEAR)
        ).reshape(H, W, bins, 2)
        pos = np.clip(frames / 100.0 * bins - 0.5, 0.0, bins - 1.0)
        lo = np.minimum(pos.astype(np.int64), bins - 2)
        w = (pos - lo)[..., None]
        rows, cols = np.indices((H, W))
        out = (1.0 - w) * field[rows, cols, lo] + w * field[rows, cols, lo + 1]
        out = out.astype(np.float32)
        return out[0] if L.ndim == 2 else out


def _bin_of(L: np.ndarray, bins: int) -> np.ndarray:
    return np.clip((L / 100.0 * bins).astype(np.int64), 0, bins - 1)


def mean_ab_table(frames_lab: np.ndarray, grid: int, bins: int = BINS) -> np.ndarray:
    """Mean ab per (grid row, grid column, lightness bin) of ``frames_lab``.

    Args:
        frames_lab: float (N, H, W, 3) Lab (L 0..100), N >= 1.
        grid: cells per side (1: no position).
    Returns:
        float32 (grid, grid, bins, 2). A cell's bin without pixels takes the bin's mean over the whole frame, a bin
        without any pixel 0 (grey).
    """
    lab = np.asarray(frames_lab, dtype=np.float32)
    if lab.ndim != 4 or lab.shape[-1] != 3 or len(lab) == 0:
        raise DataError(f"learning a colour prior needs Lab frames (N, H, W, 3) with N >= 1, got {lab.shape}")
    if grid < 1 or bins < 2:
        raise ParameterError(f"grid must be >= 1 and bins >= 2, got {grid}, {bins}", "grid")
    N, H, W = lab.shape[:3]
    cell_r = np.minimum(np.arange(H) * grid // H, grid - 1)
    cell_c = np.minimum(np.arange(W) * grid // W, grid - 1)
    cell = (cell_r[:, None] * grid + cell_c[None, :])[None].repeat(N, 0).ravel()
    key = cell * bins + _bin_of(lab[..., 0], bins).ravel()
    size = grid * grid * bins
    count = np.bincount(key, minlength=size).astype(np.float64)
    sums = np.stack([np.bincount(key, weights=lab[..., c].ravel(), minlength=size) for c in (1, 2)], -1)
    count, sums = count.reshape(grid * grid, bins), sums.reshape(grid * grid, bins, 2)
    global_n = count.sum(0)
    global_mean = np.where(global_n[:, None] > 0, sums.sum(0) / np.maximum(global_n, 1)[:, None], 0.0)
    table = np.where(count[..., None] > 0, sums / np.maximum(count, 1)[..., None], global_mean[None])
    return table.reshape(grid, grid, bins, 2).astype(np.float32)


def _psnr8(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-frame PSNR (dB, float64 (N,)) of uint8 RGB frames."""
    mse = ((truth.astype(np.float64) - pred.astype(np.float64)) ** 2).reshape(len(truth), -1).mean(1)
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def _small(lab: np.ndarray, side: int = SELECT_SIDE) -> np.ndarray:
    """Lab frames at most ``side`` pixels high (area): the shrink is chosen on these, 4x cheaper at 224."""
    if lab.shape[1] <= side:
        return lab
    w = max(1, round(lab.shape[2] * side / lab.shape[1]))
    return np.stack([cv2.resize(f, (w, side), interpolation=cv2.INTER_AREA) for f in lab])


def _gains(table: np.ndarray, lab: np.ndarray, shrinks: Sequence[float]) -> np.ndarray:
    """float64 (len(shrinks), N): per-frame PSNR of ``shrink`` x the table's ab minus grey's, on Lab frames."""
    truth = lab_to_rgb8(lab)
    L = lab[..., :1]
    grey = _psnr8(truth, lab_to_rgb8(np.concatenate([L, np.zeros_like(lab[..., 1:])], -1)))
    ab = ColourPrior(table, 1.0).ab(lab[..., 0])
    return np.stack([_psnr8(truth, lab_to_rgb8(np.concatenate([L, s * ab], -1))) - grey for s in shrinks])


def _check_lab(lab: np.ndarray, what: str) -> np.ndarray:
    lab = np.asarray(lab, dtype=np.float32)
    if lab.ndim != 4 or lab.shape[-1] != 3 or len(lab) == 0:
        raise DataError(f"the colour prior needs {what} Lab frames (N, H, W, 3) with N >= 1, got {lab.shape}")
    return lab


def learn_prior(
    train_lab: np.ndarray,
    val_lab: np.ndarray,
    *,
    train_groups: Sequence[str] | None = None,
    val_groups: Sequence[str] | None = None,
    tolerance_db: float = TOLERANCE_DB,
    grids: Sequence[int] = GRIDS,
    shrinks: Sequence[float] = SHRINKS,
    bins: int = BINS,
) -> ColourPrior:
    """Fit the prior on ``train_lab``; choose its grid and shrink by PSNR (8-bit RGB) on ``val_lab``.

    The fallback colours scenes that nothing in the pool shows, so the choice must hold on footage the table
    never saw, not only on average: a candidate is allowed only when no **group** (a source video) loses more
    than ``tolerance_db`` to grey - each validation group with the table of every training frame, and each
    training group held out of the table (leave-one-group-out) - and among those the best mean gain on the
    validation frames wins. Shrink 0 (grey) is always allowed, so the prior never does worse than the
    tolerance on any of these groups.

    Args:
        train_lab, val_lab: float (N, H, W, 3) Lab frames (L 0..100) of the training and the validation split,
            N >= 1 each. Never test frames.
        train_groups, val_groups: the group (source) of each frame; None: one group per split (no held-out
            training group).
        tolerance_db: the most PSNR any group may lose to grey (dB, >= 0).
        grids: candidate cells per side; shrinks: candidate factors in 0..1.
    Returns the chosen prior (ties: the smaller grid, then the smaller shrink), its table fitted on all of
    ``train_lab``; ``val_gain_db`` is its mean gain over grey on ``val_lab``.
    """
    train, val = _check_lab(train_lab, "training"), _check_lab(val_lab, "validation")
    if not grids or not shrinks or any(not 0.0 <= s <= 1.0 for s in shrinks):
        raise ParameterError(f"shrinks must be non-empty values in 0..1, got {list(shrinks)}", "shrinks")
    if tolerance_db < 0:
        raise ParameterError(f"tolerance_db must be >= 0, got {tolerance_db}", "tolerance_db")
    tg = np.asarray(train_groups if train_groups is not None else [""] * len(train))
    vg = np.asarray(val_groups if val_groups is not None else [""] * len(val))
    if len(tg) != len(train) or len(vg) != len(val):
        raise DataError(f"one group per frame: {len(tg)} for {len(train)} training, {len(vg)} for {len(val)} val")
    shrinks = sorted(float(s) for s in shrinks)
    small_train, small_val = _small(train), _small(val)
    best: tuple[float, int, float] | None = None
    for g in sorted(grids):
        val_gain = _gains(mean_ab_table(train, g, bins), small_val, shrinks)  # (S, n_val)
        worst = np.min([val_gain[:, vg == k].mean(1) for k in np.unique(vg)], axis=0)
        held = np.unique(tg)
        for k in held if len(held) > 1 else []:
            out = tg == k
            worst = np.minimum(worst, _gains(mean_ab_table(train[~out], g, bins), small_train[out], shrinks).mean(1))
        for s, mean, low in zip(shrinks, val_gain.mean(1), worst):
            if (s == 0.0 or low >= -tolerance_db) and (best is None or mean > best[0] + 1e-9):
                best = (float(mean), g, s)
    assert best is not None
    gain, g, s = best
    full = mean_ab_table(train, g, bins)
    exact = float(_gains(full, val, [s]).mean()) if s > 0 else 0.0
    return ColourPrior(full * np.float32(s), s, round(exact, 4))


def write_prior(path: str | os.PathLike[str], prior: ColourPrior) -> Path:
    """Store ``prior`` in one ``.npz`` at ``path`` (atomic: a reader sees the old file or the whole new one), with
    the sha256 of its table so that :func:`read_prior` can tell a damaged file."""
    table = np.ascontiguousarray(prior.table, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(
        buf,
        format=np.int64(PRIOR_FORMAT),
        table=table,
        shrink=np.float64(prior.shrink),
        val_gain_db=np.float64(prior.val_gain_db),
        sha256=np.array(sha256_bytes(table.tobytes())),
    )
    return atomic_write_bytes(path, buf.getvalue())


def read_prior(path: str | os.PathLike[str]) -> ColourPrior:
    """The prior :func:`write_prior` stored at ``path``.

    Raises DataError naming the file when it is missing, not such a file, of another format version, or its
    table does not match the sha256 stored with it.
    """
    p = Path(path)
    fix = "learn it again with the colorizer-training step (scenecolor.colorize.prior.learn_prior)"
    if not p.is_file():
        raise DataError(f"colour prior '{p}' does not exist; {fix}")
    try:
        with np.load(p, allow_pickle=False) as z:
            fmt, table = int(z["format"]), np.asarray(z["table"], dtype=np.float32)
            shrink, gain, digest = float(z["shrink"]), float(z["val_gain_db"]), str(z["sha256"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"colour prior '{p}' cannot be read ({exc}); {fix}") from None
    if fmt != PRIOR_FORMAT:
        raise DataError(f"colour prior '{p}' has format {fmt}, this version reads {PRIOR_FORMAT}; {fix}")
    if sha256_bytes(np.ascontiguousarray(table).tobytes()) != digest:
        raise DataError(f"colour prior '{p}' is corrupt (its table does not match its sha256); {fix}")
    return ColourPrior(table, shrink, gain)


def fit_store_prior(store: FrameStore, path: str | os.PathLike[str]) -> ColourPrior:
    """Learn the prior from the frame store's train split, choose it on its val split with every source a group
    (:func:`learn_prior`), and write it to ``path`` (:func:`write_prior`). Never reads a test frame.

    Raises DataError when either split has no frame.
    """
    train, val = store.ids(split="train"), store.ids(split="val")
    if len(train) == 0 or len(val) == 0:
        raise DataError(
            f"the colour prior is learned on train frames and chosen on val frames; the frame store has {len(train)} "
            f"and {len(val)}: rebuild it with both splits"
        )
    source = store.index.set_index("frame_id")["source"]
    prior = learn_prior(
        store.lab(train),
        store.lab(val),
        train_groups=source.loc[train].astype(str).tolist(),
        val_groups=source.loc[val].astype(str).tolist(),
    )
    write_prior(path, prior)
    return prior
