"""Training and validation samples that teach the colorizer to *copy* colour from its references.

An **exemplar sample** (share ``exemplar_prob`` of the training batches) is a clip of a shot and,
as its first reference, **another frame of the same shot** - near the clip or far from it -
passed through its own random geometric (scale, rotation, shift, sometimes a mirror) and
photometric (lightness gain and offset) augmentation, so the copy is never the identity and
the network must find where each colour went. Further references are other frames of the same
shot, augmented independently. The flow candidates (:func:`scenecolor.colorize.correspondence.scene_guides`)
are computed over a window of the shot around the clip, exactly as inference computes them over
a scene, with the augmented first reference as the anchor.

A **retrieval sample** is :func:`scenecolor.colorize.data.make_batch`'s (references from step
03's pools, possibly of other videos), with flow candidates from its first reference over the clip.

The **exemplar validation** (:class:`ExemplarValSet`) follows the standard exemplar protocol on
the val split: each shot's first frame is the only reference, the shot's other frames are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from scenecolor.colorize.correspondence import GUIDE_CHANNELS, GuideConfig, scene_guides
from scenecolor.colorize.data import ClipSet, make_batch, rotate_ab

WINDOW = 6  # shot frames on each side of a training clip over which the flow candidates are computed


def augment_reference(lab: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random similarity transform (at ``strength`` 1: scale 0.87-1.15, rotation +-5 degrees, shift
    +-8 %, mirror 1 in 20) and a lightness gain (0.85-1.15) and offset (+-6) of a (H,W,3) Lab image;
    borders replicated. Mild on purpose: the reference stays a view of the same shot that flow can
    still follow, as in the exemplar protocol, but it is never the identity."""
    h, w = lab.shape[:2]
    scale = float(np.exp(rng.uniform(-0.14, 0.14) * strength))
    angle = float(rng.uniform(-5, 5) * strength)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.08, 0.08, size=2) * np.array([w, h]) * strength
    out = cv2.warpAffine(
        np.ascontiguousarray(lab, dtype=np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if rng.random() < 0.05 * strength:
        out = out[:, ::-1]
    gain, offset = rng.uniform(1 - 0.15 * strength, 1 + 0.15 * strength), rng.uniform(-6, 6) * strength
    out = out.copy()
    out[..., 0] = np.clip(out[..., 0] * gain + offset, 0.0, 100.0)
    return out


def exemplar_sample(
    data: ClipSet,
    i: int,
    n_refs: int,
    rng: np.random.Generator,
    guide_cfg: GuideConfig,
    hue_prob: float = 0.5,
    window: int = WINDOW,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip i with same-shot references: (clip Lab (T,S,S,3), refs Lab (R,S,S,3), guide (T,S,S,9))."""
    shot = data.shots[data.clip_shots[i]]
    T = data.clips.shape[1]
    k = data.clip_start(i)
    lo, hi = max(0, k - window), min(len(shot), k + T + window)
    others = [j for j in range(len(shot)) if not k <= j < k + T] or list(range(len(shot)))
    u = rng.random()
    near = [j for j in others if lo <= j < hi]
    if u < 0.4 and k > 0:  # as in the exemplar protocol: the shot's first frame, and the scene from it on
        first, lo = 0, 0
    elif u < 0.7 or not near:  # anywhere in the shot, near or far
        first = int(rng.choice(others))
    else:  # near the clip
        first = int(rng.choice(near))
    seq = data.lab[shot[lo:hi]]  # the window of the shot around the clip, (n, S, S, 3)
    ref_idx = [first] + [int(rng.choice(others)) for _ in range(n_refs - 1)]
    refs = data.lab[shot[ref_idx]]
    if rng.random() < 0.5:  # mirror the shot (the references get their own mirror below)
        seq, refs = seq[:, :, ::-1], refs[:, :, ::-1]
    strength = (
        0.0 if rng.random() < 0.25 else float(rng.uniform(0.3, 1.0))
    )  # sometimes an exact frame, as in the exemplar protocol
    refs = np.stack([augment_reference(r, rng, strength) for r in refs])
    if rng.random() < 0.5:  # play backwards
        seq = seq[::-1]
        start = len(seq) - (k - lo) - T
    else:
        start = k - lo
    if rng.random() < hue_prob:
        angle = rng.uniform(-np.pi, np.pi)
        seq, refs = rotate_ab(seq, angle), rotate_ab(refs, angle)
    guide = scene_guides(seq[..., 0], refs[0], guide_cfg)
    return seq[start : start + T], refs, guide[start : start + T]


def guides_for_clips(gray: torch.Tensor, refs: torch.Tensor, guide_cfg: GuideConfig) -> torch.Tensor:
    """Flow candidates of each clip of a batch from its first reference: gray [B,1,T,S,S] (L/100), refs
    [B,R,3,S,S] -> [B,9,T,S,S]."""
    out = [scene_guides(g[0].numpy() * 100.0, r[0].permute(1, 2, 0).numpy(), guide_cfg) for g, r in zip(gray, refs)]
    return torch.from_numpy(np.stack(out)).permute(0, 4, 1, 2, 3).contiguous()


def foreign_references(
    data: ClipSet,
    i: int,
    refs: np.ndarray,
    clip: np.ndarray,
    rng: np.random.Generator,
    guide_cfg: GuideConfig,
    guide: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Clip i's same-shot references (R, S, S, 3) with frames of *another video* mixed in, as retrieval hands a
    scene right and wrong references: half the time all R are foreign (nothing to copy: the network must learn
    to leave the colour low rather than paint it), otherwise the first stays and the other R-1 are foreign (it
    must pick the right one). Returns (references, guide (T, S, S, 9): recomputed from the new first reference
    on the clip (T, S, S, 3) when it changed, else ``guide``). Clips of one video only: unchanged."""
    others = [j for j, v in enumerate(data.clip_videos) if v != data.clip_videos[i]]
    if not others:
        return refs, guide
    shot = data.shots[data.clip_shots[int(rng.choice(others))]]
    every = rng.random() < 0.5
    start = 0 if every else 1
    out = refs.copy()
    for k in range(start, len(refs)):
        frame = data.lab[shot[int(rng.integers(len(shot)))]]
        out[k] = frame[:, ::-1] if rng.random() < 0.5 else frame
    if start == 1:
        return out, guide
    return out, scene_guides(clip[..., 0], out[0], guide_cfg)


def make_training_batch(
    data: ClipSet,
    indices: list[int],
    n_refs: int,
    pool: str,
    rng: np.random.Generator,
    guide_cfg: GuideConfig,
    *,
    exemplar: bool,
    hue_prob: float = 0.5,
    foreign_prob: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """gray [B,1,T,S,S] (L/100), refs [B,R,3,S,S] Lab, true ab [B,2,T,S,S], guide [B,9,T,S,S].

    ``foreign_prob``: the share of clips whose references mix in frames of another video - in exemplar batches
    through :func:`foreign_references` (all foreign, or the first kept and the rest foreign), otherwise as
    :func:`scenecolor.colorize.data.make_batch` does. Every draw comes from ``rng``: one seed, one batch.
    """
    if not exemplar:
        gray, refs, true_ab = make_batch(data, indices, n_refs, pool, rng, hue_prob, foreign_prob)
        return gray, refs, true_ab, guides_for_clips(gray, refs, guide_cfg)
    clips, refs, guides = [], [], []
    for i in indices:
        c, r, g = exemplar_sample(data, int(i), n_refs, rng, guide_cfg, hue_prob)
        if foreign_prob > 0 and rng.random() < foreign_prob:
            r, g = foreign_references(data, int(i), r, c, rng, guide_cfg, g)
        clips.append(np.ascontiguousarray(c))
        refs.append(np.ascontiguousarray(r))
        guides.append(g)
    clip_t = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)
    return (
        (clip_t[:, :1] / 100.0).contiguous(),
        torch.from_numpy(np.stack(refs)).permute(0, 1, 4, 2, 3).contiguous(),
        clip_t[:, 1:].contiguous(),
        torch.from_numpy(np.stack(guides)).permute(0, 4, 1, 2, 3).contiguous(),
    )


@dataclass
class ExemplarShot:
    """One validation shot under the exemplar protocol: its first frame is the reference."""

    shot_id: str
    lab: np.ndarray  # (n, S, S, 3) the shot's frames; lab[0] is the reference, lab[1:] are scored
    guide: np.ndarray  # (n - 1, S, S, GUIDE_CHANNELS) flow candidates of the scored frames


@dataclass
class ExemplarValSet:
    """The val split's shots (>= 2 frames, at most ``max_frames`` each) for the exemplar protocol."""

    shots: list[ExemplarShot]

    @classmethod
    def build(cls, data: ClipSet, guide_cfg: GuideConfig, max_shots: int = 16, max_frames: int = 12) -> ExemplarValSet:
        names = [s for s in sorted(data.shots) if len(data.shots[s]) >= 2]
        if max_shots and len(names) > max_shots:
            names = [names[i] for i in np.unique(np.linspace(0, len(names) - 1, max_shots).round().astype(int))]
        shots = []
        for name in names:
            lab = data.lab[data.shots[name][:max_frames]]
            guide = scene_guides(lab[..., 0], lab[0], guide_cfg)[1:]
            assert guide.shape[-1] == GUIDE_CHANNELS
            shots.append(ExemplarShot(name, lab, guide))
        return cls(shots)

    def __len__(self) -> int:
        return len(self.shots)

    def tensors(self, shot: ExemplarShot) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """gray [1,1,T,S,S], refs [1,1,3,S,S], true ab [1,2,T,S,S], guide [1,9,T,S,S] of one shot."""
        clip = torch.from_numpy(np.ascontiguousarray(shot.lab[1:])).permute(3, 0, 1, 2)[None]
        ref = torch.from_numpy(np.ascontiguousarray(shot.lab[:1])).permute(0, 3, 1, 2)[None]
        guide = torch.from_numpy(np.ascontiguousarray(shot.guide)).permute(3, 0, 1, 2)[None]
        return (clip[:, :1] / 100.0).contiguous(), ref.contiguous(), clip[:, 1:].contiguous(), guide.contiguous()
