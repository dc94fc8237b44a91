"""Scoring predicted scene cuts against ground truth: precision, recall, F1 and average precision.

A true cut is a window of frames: ``[cut, cut]`` for a hard cut, ``[start, end]`` for a gradual
transition (fade, dissolve), where any frame of the transition is an acceptable cut. A
prediction matches a true cut when its distance to that window is at most ``tolerance`` frames.
Each true cut is matched at most once and each prediction at most once; the matching is the
maximum one (then the closest), solved exactly with the Hungarian algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scenecolor.core.errors import ParameterError

Window = tuple[int, int]


@dataclass(frozen=True)
class CutScore:
    """Counts and rates of one comparison. With nothing to find and nothing found, all rates are 1."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}

    def __add__(self, other: CutScore) -> CutScore:
        return CutScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def _windows(truth: Sequence[int], windows: Sequence[Window] | None) -> list[Window]:
    if windows is None:
        return [(int(c), int(c)) for c in truth]
    if len(windows) != len(truth):
        raise ParameterError(f"got {len(windows)} transition windows for {len(truth)} true cuts; give one per cut")
    return [(int(a), int(b)) for a, b in windows]


def _distance(frame: int, window: Window) -> int:
    lo, hi = window
    return max(lo - frame, 0, frame - hi)


def _check_tolerance(tolerance: int) -> None:
    if tolerance < 0:
        raise ParameterError(f"tolerance must be >= 0 frames, got {tolerance}")


def match_cuts(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 2, windows: Sequence[Window] | None = None
) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``: prediction ``predicted[i]`` matches true cut ``truth[j]``; one-to-one."""
    _check_tolerance(tolerance)
    wins = _windows(truth, windows)
    if not len(predicted) or not wins:
        return []
    dist = np.array([[_distance(int(p), w) for w in wins] for p in predicted], dtype=np.float64)
    big = (tolerance + 1) * (len(predicted) + len(wins)) + 1.0  # a non-match costs more than all matches
    cost = np.where(dist <= tolerance, dist, big)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if dist[i, j] <= tolerance]


def score_cuts(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 2, windows: Sequence[Window] | None = None
) -> CutScore:
    """Precision / recall / F1 counts of ``predicted`` cuts against ``truth`` (see module doc)."""
    pairs = match_cuts(predicted, truth, tolerance, windows)
    return CutScore(tp=len(pairs), fp=len(predicted) - len(pairs), fn=len(truth) - len(pairs))


def score_by_kind(
    predicted: Sequence[int],
    truth: Sequence[int],
    kinds: Sequence[str],
    tolerance: int = 2,
    windows: Sequence[Window] | None = None,
) -> dict[str, CutScore]:
    """One :class:`CutScore` per transition kind (and ``"all"``).

    All cuts are matched together; a kind's score counts its own matches and misses, and as
    false positives the predictions that matched no true cut of any kind.
    """
    if len(kinds) != len(truth):
        raise ParameterError(f"got {len(kinds)} transition kinds for {len(truth)} true cuts")
    pairs = match_cuts(predicted, truth, tolerance, windows)
    fp = len(predicted) - len(pairs)
    matched = {j for _, j in pairs}
    out = {"all": CutScore(len(pairs), fp, len(truth) - len(pairs))}
    for kind in sorted(set(kinds)):
        idx = [j for j, k in enumerate(kinds) if k == kind]
        tp = sum(1 for j in idx if j in matched)
        out[kind] = CutScore(tp, fp, len(idx) - tp)
    return out


def average_precision(
    scores: Sequence[float],
    truth: Sequence[int],
    tolerance: int = 2,
    windows: Sequence[Window] | None = None,
    frame_index: Sequence[int] | None = None,
) -> float:
    """Average precision of per-frame cut scores (SSDev) ranked against the true cuts.

    Frames (all but the first, which has no predecessor) are ranked by score, highest first
    (ties: earlier frame first). Walking down the ranking, a frame is a hit if it lies within
    ``tolerance`` of a true cut not yet claimed by a higher-ranked frame (the closest such cut is
    claimed); every other frame is a false alarm. AP = mean, over the true cuts, of the precision
    at the rank where each was claimed (0 for a cut never claimed). NaN when there is no true cut.
    """
    _check_tolerance(tolerance)
    wins = _windows(truth, windows)
    if not wins:
        return math.nan
    values = np.asarray(scores, dtype=np.float64)
    index = np.arange(len(values)) if frame_index is None else np.asarray(frame_index)
    order = sorted(range(1, len(values)), key=lambda i: (-np.nan_to_num(values[i], nan=-np.inf), i))
    claimed = [False] * len(wins)
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        frame = int(index[i])
        near = [(d, j) for j, w in enumerate(wins) if not claimed[j] and (d := _distance(frame, w)) <= tolerance]
        if near:
            claimed[min(near)[1]] = True
            hits += 1
            total += hits / rank
            if hits == len(wins):
                break
    return total / len(wins)
