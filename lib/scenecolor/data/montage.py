"""Multi-scene test videos: shots of different sources joined by hard cuts, fades and dissolves.

Scene analysis (notebook 02) is scored against ground-truth cut frames, so the test videos are
assembled here with every boundary known exactly.

Convention for the ground truth (also written into ``test_videos.json``):

- every boundary is a *transition* ``{kind, start, end, cut}`` with ``kind`` in
  ``hard | fade | dissolve``; ``[start, end)`` are the frames that show a mixture of the two
  shots or black (empty for a hard cut, so ``start == end == cut``);
- ``cut`` is the first frame at which the incoming shot weighs at least as much as the outgoing
  one. For a hard cut it is the incoming shot's first frame; for a dissolve of length L (the
  incoming weight rises as (k+1)/(L+1), k = 0..L-1) it is the first frame with weight >= 0.5;
  for a fade through black (outgoing weight 1-2t falls to 0, then incoming 2t-1 rises, with
  t = (k+1)/(L+1)) it is the first frame that comes from the incoming shot (a black middle
  frame, if any, belongs to the incoming scene);
- ``shots`` lists for each segment the frames ``[start, end)`` that contain any of its footage
  (a dissolve makes neighbours overlap); the scenes are ``[cut_i, cut_{i+1})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from scenecolor.core.errors import DataError

TransitionKind = Literal["hard", "fade", "dissolve"]
GROUND_TRUTH_CONVENTION = (
    "transitions[i] = {kind: hard|fade|dissolve, start, end, cut}: [start, end) are the frames that mix "
    "two shots or show black (empty for a hard cut: start == end == cut). cut = the first frame at which the "
    "incoming shot weighs at least as much as the outgoing one: a hard cut's first new frame; for a dissolve "
    "of L frames (incoming weight (k+1)/(L+1)) the first frame with weight >= 0.5; for a fade through black "
    "the first frame taken from the incoming shot. shots[j] = frames [start, end) holding any of shot j's "
    "footage (neighbours overlap inside a dissolve); scenes are [cut_i, cut_i+1)."
)


@dataclass
class Segment:
    """A run of frames (T, H, W, 3) uint8 taken from one shot."""

    shot_id: str
    frames: np.ndarray
    source_start: int = 0  # first frame of the segment inside its shot's clip
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """Ground truth of one boundary, in frames of the assembled video."""

    kind: TransitionKind
    start: int
    end: int
    cut: int

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "cut": self.cut}


def dissolve_weights(length: int) -> np.ndarray:
    """Weight of the incoming shot over a dissolve of ``length`` frames: (k+1)/(L+1)."""
    return (np.arange(length) + 1.0) / (length + 1.0)


def fade_weights(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(outgoing, incoming) weights over a fade through black of ``length`` frames."""
    t = dissolve_weights(length)
    return np.clip(1 - 2 * t, 0, 1), np.clip(2 * t - 1, 0, 1)


def _blend(frames: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) * weights[:, None, None, None].astype(np.float32)


def assemble(
    segments: list[Segment], kinds: list[TransitionKind], length: int
) -> tuple[np.ndarray, list[Transition], list[dict[str, object]]]:
    """Join ``segments`` with the transitions ``kinds`` (one fewer than segments) of ``length`` frames.

    Returns the video (N, H, W, 3) uint8, the transitions and the per-segment shot ranges.

    Raises:
        DataError: when frame sizes differ, the counts do not match, or a segment is too short
            for its transitions (a dissolve eats ``length`` frames of each neighbour, a fade
            ``length // 2`` or ``length - length // 2``).
    """
    if len(kinds) != len(segments) - 1:
        raise DataError(f"{len(segments)} segments need {len(segments) - 1} transitions, got {len(kinds)}")
    if length < 1 and any(k != "hard" for k in kinds):
        raise DataError(f"gradual transitions need transition_frames >= 1, got {length}")
    shape = segments[0].frames.shape[1:]
    for seg in segments:
        if seg.frames.ndim != 4 or seg.frames.shape[1:] != shape or seg.frames.dtype != np.uint8:
            raise DataError(
                f"segment '{seg.shot_id}' has frames {seg.frames.dtype} {seg.frames.shape}; all must be uint8 (T, "
                f"{shape})"
            )
    for i, seg in enumerate(segments):
        need = sum(_eats(k, length, incoming=(j == i - 1)) for j, k in enumerate(kinds) if j in (i - 1, i)) + 1
        if len(seg.frames) < need:
            raise DataError(f"segment '{seg.shot_id}' has {len(seg.frames)} frames but its transitions need {need}")

    pieces: list[np.ndarray] = []
    transitions: list[Transition] = []
    shots: list[dict[str, object]] = []
    cursor = 0  # frames written so far
    pending = segments[0].frames
    seg_start = 0
    for i, kind in enumerate(kinds):
        incoming = segments[i + 1].frames
        out_seg = segments[i]
        if kind == "hard":
            pieces.append(pending)
            cursor += len(pending)
            transitions.append(Transition("hard", cursor, cursor, cursor))
            shots.append(_shot_row(out_seg, seg_start, cursor))
            next_start, pending = cursor, incoming
        elif kind == "dissolve":
            head = pending[: len(pending) - length]
            pieces.append(head)
            cursor += len(head)
            w = dissolve_weights(length)
            mixed = _blend(pending[len(pending) - length :], 1 - w) + _blend(incoming[:length], w)
            pieces.append(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))
            cut = cursor + int(np.argmax(w >= 0.5))
            transitions.append(Transition("dissolve", cursor, cursor + length, cut))
            shots.append(_shot_row(out_seg, seg_start, cursor + length))
            next_start = cursor
            cursor += length
            pending = incoming[length:]
        elif kind == "fade":
            n_out = length // 2
            n_in = length - n_out
            w_out, w_in = fade_weights(length)
            head = pending[: len(pending) - n_out]
            pieces.append(head)
            cursor += len(head)
            faded_out = _blend(pending[len(pending) - n_out :], w_out[:n_out])
            faded_in = _blend(incoming[:n_in], w_in[n_out:])
            pieces.append(np.clip(np.concatenate([faded_out, faded_in]) + 0.5, 0, 255).astype(np.uint8))
            cut = cursor + n_out
            transitions.append(Transition("fade", cursor, cursor + length, cut))
            shots.append(_shot_row(out_seg, seg_start, cut))
            next_start = cut
            cursor += length
            pending = incoming[n_in:]
        else:
            raise DataError(f"unknown transition kind {kind!r} (use hard, fade or dissolve)")
        seg_start = next_start
    pieces.append(pending)
    cursor += len(pending)
    shots.append(_shot_row(segments[-1], seg_start, cursor))
    video = np.concatenate(pieces, axis=0)
    return video, transitions, shots


def _eats(kind: TransitionKind, length: int, incoming: bool) -> int:
    if kind == "dissolve":
        return length
    if kind == "fade":
        return length - length // 2 if incoming else length // 2
    return 0


def _shot_row(seg: Segment, start: int, end: int) -> dict[str, object]:
    return {
        "shot_id": seg.shot_id,
        "start": int(start),
        "end": int(end),
        "source_start": int(seg.source_start),
        **seg.extra,
    }


def plan_kinds(n_boundaries: int, gradual_fraction: float, rng: np.random.Generator) -> list[TransitionKind]:
    """Transition kinds for ``n_boundaries``: round(fraction * n) gradual (fades and dissolves
    alternating), the rest hard, in a seeded random order - so the mix is exact, not left to chance."""
    if not 0.0 <= gradual_fraction <= 1.0:
        raise DataError(f"gradual_fraction must lie in [0, 1], got {gradual_fraction}")
    n_gradual = int(round(gradual_fraction * n_boundaries))
    kinds: list[TransitionKind] = ["fade" if i % 2 else "dissolve" for i in range(n_gradual)]
    kinds += ["hard"] * (n_boundaries - n_gradual)
    order = rng.permutation(n_boundaries)
    return [kinds[i] for i in order]
