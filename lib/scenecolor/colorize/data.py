"""Training samples for the colorizer: clips of a shot, its references from step 03, true ab.

A sample is (grayscale clip of ``T`` consecutive frame-store frames of one shot, ``R``
references of that shot from ``references.csv``, the clip's true ab). All frames a split needs
(its own and the referenced ones) are resized to the working resolution and converted to Lab
once, so a batch is a few array look-ups.

Which references train the network (``ref_pool``):

- ``in_domain``: the shot's nearest frames in a pool that includes the shot itself - near
  duplicates of the target, so attention learns to *copy* colours from where they match;
- ``open``: nearest frames of *other* videos - what the network meets at test time (a test
  scene's references come from training videos), teaching it to use only similar content;
- ``mix`` (default): each batch draws one of the two with probability 1/2, for both skills.

Reference frames that are frames of the clip itself are dropped (the network must transfer
colour, not look it up), and missing ranks are filled by repeating the best remaining ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd
import torch

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.data.frames import FrameStore
from scenecolor.retrieval.references import POOLS


def shot_references(table: pd.DataFrame, pool: str) -> dict[str, list[int]]:
    """Per shot id, its reference frame ids of ``pool`` ordered by rank (best first)."""
    if pool not in POOLS:
        raise ParameterError(f"reference pool must be one of {POOLS}, got {pool!r}")
    rows = table[(table["query_kind"] == "shot") & (table["pool"] == pool)].sort_values(["shot_id", "rank"])
    return {str(shot): [int(x) for x in grp["ref_frame_id"]] for shot, grp in rows.groupby("shot_id", sort=True)}


def resize_rgb(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, S, S, 3) -> uint8 (n, size, size, 3), area interpolation (no aliasing)."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


@dataclass
class ClipSet:
    """The clips of one split with their references, held as Lab at the working resolution.

    ``clips[i]`` is the row positions (into ``lab``) of clip i's T frames; ``refs[pool][i]`` the
    positions of its up-to-5 references (clip frames excluded), best first.
    """

    split: str
    lab: np.ndarray  # (n, S, S, 3) float32 Lab of every frame used
    clips: np.ndarray  # (n_clips, T) int64 positions
    refs: dict[str, list[list[int]]]
    clip_shots: list[str]
    clip_videos: list[str]
    shots: dict[str, np.ndarray] = field(default_factory=dict)  # shot id -> positions of all its frames, in order

    def clip_start(self, i: int) -> int:
        """Index of clip i's first frame within its shot's frames."""
        return int(np.flatnonzero(self.shots[self.clip_shots[i]] == self.clips[i][0])[0])

    def __len__(self) -> int:
        return int(self.clips.shape[0])


def build_clip_set(
    store: FrameStore,
    table: pd.DataFrame,
    split: str,
    *,
    resolution: int,
    clip_len: int,
    clip_stride: int = 1,
    max_clips: int = 0,
    seed: int = 0,
) -> ClipSet:
    """Every window of ``clip_len`` consecutive store frames of each shot of ``split`` that has references.

    ``max_clips`` > 0 keeps an evenly spread, seed-independent subset (validation stays fixed).
    Raises DataError when no shot of the split is long enough or none has references.
    """
    if clip_len < 1 or clip_stride < 1:
        raise ParameterError(f"clip_len and clip_stride must be >= 1, got {clip_len}, {clip_stride}")
    per_pool = {pool: shot_references(table, pool) for pool in POOLS}
    windows: list[tuple[str, np.ndarray]] = []
    short = 0
    for shot in sorted(store.index.loc[store.ids(split=split), "shot_id"].unique()):
        ids = store.ids(shot_id=str(shot))
        if not any(str(shot) in per_pool[p] for p in POOLS):
            continue
        if len(ids) < clip_len:
            short += 1
            continue
        for start in range(0, len(ids) - clip_len + 1, clip_stride):
            windows.append((str(shot), ids[start : start + clip_len]))
    if not windows:
        raise DataError(
            f"split '{split}' of frame store '{store.folder}' has no shot with >= {clip_len} frames and references "
            f"({short} shots too short); lower clip_len or check references.csv"
        )
    if max_clips and len(windows) > max_clips:
        keep = np.unique(np.linspace(0, len(windows) - 1, max_clips).round().astype(int))
        windows = [windows[i] for i in keep]
    needed: set[int] = set()
    shot_ids = {shot: store.ids(shot_id=shot) for shot in sorted({s for s, _ in windows})}
    for ids in shot_ids.values():  # every frame of a kept shot (the exemplar samples draw references from them)
        needed.update(int(i) for i in ids)
    refs_ids: dict[str, list[list[int]]] = {p: [] for p in POOLS}
    for shot, ids in windows:
        needed.update(int(i) for i in ids)
        for pool in POOLS:
            candidates = per_pool[pool].get(shot) or per_pool[[q for q in POOLS if q != pool][0]].get(shot, [])
            chosen = [r for r in candidates if r not in set(ids.tolist())] or candidates
            refs_ids[pool].append(chosen)
            needed.update(chosen)
    order = np.array(sorted(needed), dtype=np.int64)
    where = {int(fid): i for i, fid in enumerate(order)}
    lab = np.empty((len(order), resolution, resolution, 3), dtype=np.float32)
    for start in range(0, len(order), 256):  # bounded memory while converting
        chunk = order[start : start + 256]
        lab[start : start + len(chunk)] = rgb_to_lab(resize_rgb(store.uint8(chunk), resolution))
    clips = np.array([[where[int(i)] for i in ids] for _, ids in windows], dtype=np.int64)
    refs = {p: [[where[r] for r in rr] for rr in refs_ids[p]] for p in POOLS}
    video_of = dict(zip(store.index["shot_id"].astype(str), store.index["video_id"].astype(str)))
    shots = [s for s, _ in windows]
    shot_pos = {shot: np.array([where[int(i)] for i in ids], dtype=np.int64) for shot, ids in shot_ids.items()}
    return ClipSet(
        split=split,
        lab=lab,
        clips=clips,
        refs=refs,
        clip_shots=shots,
        clip_videos=[video_of[s] for s in shots],
        shots=shot_pos,
    )


def _pick_refs(positions: list[int], n_refs: int, rng: np.random.Generator | None) -> list[int]:
    """``n_refs`` of the best references (repeated when fewer exist), shuffled when training."""
    chosen = [positions[i % len(positions)] for i in range(n_refs)]
    if rng is not None:
        chosen = [chosen[i] for i in rng.permutation(n_refs)]
    return chosen


def rotate_ab(lab: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the ab plane by ``angle`` radians (a hue shift that keeps L and chroma)."""
    c, s = np.cos(angle), np.sin(angle)
    out = lab.copy()
    out[..., 1] = c * lab[..., 1] - s * lab[..., 2]
    out[..., 2] = s * lab[..., 1] + c * lab[..., 2]
    return out


def make_batch(
    data: ClipSet,
    indices: np.ndarray | list[int],
    n_refs: int,
    pool: str,
    rng: np.random.Generator | None = None,
    hue_prob: float = 0.0,
    foreign_prob: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors for clips ``indices``: gray [B,1,T,S,S] (L/100), refs [B,R,3,S,S] Lab, true ab [B,2,T,S,S].

    With ``rng`` (training) the batch is augmented: each clip may be mirrored and played backwards,
    each reference mirrored on its own (so attention matches content, not position), and with
    probability ``hue_prob`` the clip and its references share one random rotation of the ab
    plane (so the colours must come from the references, not from memory), and with probability
    ``foreign_prob`` a clip gets the references of a clip of *another video* - the unrelated
    references a test scene can get from retrieval, where trusting them blindly costs accuracy.
    """
    if not 1 <= n_refs <= 5:
        raise ParameterError(f"number of references must be in 1..5, got {n_refs}")
    clips, refs = [], []
    for i in indices:
        clip = data.lab[data.clips[i]]  # (T, S, S, 3)
        source = i
        if rng is not None and foreign_prob > 0 and rng.random() < foreign_prob:
            others = [j for j, v in enumerate(data.clip_videos) if v != data.clip_videos[i]]
            source = int(rng.choice(others)) if others else i
        ref = data.lab[_pick_refs(data.refs[pool][source], n_refs, rng)]  # (R, S, S, 3)
        if rng is not None:
            if rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            if rng.random() < 0.5:
                clip = clip[::-1]
            flips = rng.random(n_refs) < 0.5
            ref = np.stack([r[:, ::-1] if f else r for r, f in zip(ref, flips)])
            if rng.random() < hue_prob:
                angle = rng.uniform(-np.pi, np.pi)
                clip, ref = rotate_ab(clip, angle), rotate_ab(ref, angle)
        clips.append(np.ascontiguousarray(clip))
        refs.append(np.ascontiguousarray(ref))
    clip_t = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)  # [B, 3, T, S, S]
    refs_t = torch.from_numpy(np.stack(refs)).permute(0, 1, 4, 2, 3).contiguous()  # [B, R, 3, S, S]
    gray = (clip_t[:, :1] / 100.0).contiguous()
    return gray, refs_t, clip_t[:, 1:].contiguous()


def clip_set_summary(sets: list[ClipSet]) -> pd.DataFrame:
    """Per split: clips, shots, frames held and the references available per clip and pool."""
    rows = []
    for data in sets:
        rows.append(
            {
                "split": data.split,
                "clips": len(data),
                "clip_len": int(data.clips.shape[1]),
                "shots": len(set(data.clip_shots)),
                "frames held (incl. references)": int(data.lab.shape[0]),
                "resolution": int(data.lab.shape[1]),
                **{f"refs per clip ({p})": float(np.mean([len(r) for r in data.refs[p]])) for p in POOLS},
            }
        )
    return pd.DataFrame(rows).set_index("split")
