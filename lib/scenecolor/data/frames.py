"""The frame store: one layout on disk that every later step reads.

Layout (inside a step's artifact folder)::

    frames/frames.npy   uint8 (N, S, S, 3) RGB, resized to S x S and mean-filtered
    frames/index.csv    frame_id, video_id, shot_id, split, source_frame, source, synthetic_motion
    frames/preprocess.json  the Preprocess (size, mean_filter, resize_mode) the frames were made with;
                        read it with ``FrameStore.open(path).preprocess`` - new frames (queries,
                        a video to colorize) must be made the same way

``frames.npy`` is opened as a read-only memmap, so a store far larger than memory is read a
batch at a time. Pre-processing follows the paper (3.1.1, Stage 1): one frame in ``frame_step``,
resize to S x S, scale to [0, 1], a mean (box) filter; the filtered frame is kept as uint8 (the
[0, 1] scaling is applied on read) so the store is 4x smaller than float32.

:class:`FrameStoreBuilder` streams frames in (bounded memory: frames go to a raw temporary file
as they come) and only on a clean close swaps the finished folder into place, so a failed build
leaves an earlier store untouched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pandas as pd

from scenecolor.core.artifacts import atomic_path, atomic_write_json, read_json, temp_dir
from scenecolor.core.color import L_MAX, rgb_to_lab
from scenecolor.core.errors import DataError

INDEX_COLUMNS = ("frame_id", "video_id", "shot_id", "split", "source_frame", "source", "synthetic_motion")
SPLITS = ("train", "val", "test")
PREPROCESS_FILE = "preprocess.json"  # the Preprocess the store was made with
ResizeMode = Literal["stretch", "center_crop"]


@dataclass(frozen=True)
class Preprocess:
    """How a decoded frame becomes a stored one (SPEC "Pre-processing")."""

    size: int = 224
    mean_filter: int = 3  # box filter side in pixels; 1 = off
    resize_mode: ResizeMode = "stretch"  # the paper resizes the whole frame to S x S

    def __post_init__(self) -> None:
        if self.size < 8:
            raise DataError(f"frame size must be >= 8 pixels, got {self.size}")
        if self.mean_filter < 1 or self.mean_filter % 2 == 0:
            raise DataError(f"mean_filter must be an odd size >= 1 (1 = off), got {self.mean_filter}")
        if self.resize_mode not in ("stretch", "center_crop"):
            raise DataError(f"resize_mode must be 'stretch' or 'center_crop', got {self.resize_mode!r}")


def center_crop_square(frame: np.ndarray) -> np.ndarray:
    """The largest centred square of an (H, W, ...) frame."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frame[top : top + side, left : left + side]


def preprocess_frame(frame: np.ndarray, prep: Preprocess = Preprocess()) -> np.ndarray:
    """One decoded RGB uint8 frame (H, W, 3) -> stored uint8 (S, S, 3): resize, then mean filter.

    Area interpolation when shrinking (no aliasing), cubic when enlarging; the box filter uses
    reflected borders so edges are not darkened.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DataError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    if prep.resize_mode == "center_crop":
        frame = center_crop_square(frame)
    h, w = frame.shape[:2]
    shrink = h >= prep.size and w >= prep.size
    out = cv2.resize(frame, (prep.size, prep.size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    if prep.mean_filter > 1:
        out = cv2.blur(out, (prep.mean_filter, prep.mean_filter), borderType=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out)


def sample_indices(n_frames: int, frame_step: int, start: int = 0) -> list[int]:
    """The frames kept from a shot of ``n_frames``: its first, then one in every ``frame_step``."""
    if frame_step < 1:
        raise DataError(f"frame_step must be >= 1, got {frame_step}")
    return list(range(start, start + n_frames, frame_step))


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _store_folder(path: str | os.PathLike[str]) -> Path:
    """Accept the ``frames/`` folder itself or the step folder that holds it."""
    p = Path(path)
    if (p / "frames" / "frames.npy").exists() or (p / "frames").is_dir():
        return p / "frames"
    return p


class FrameStore:
    """Read access to a frame store; see the module docstring for the layout."""

    def __init__(self, folder: Path, frames: np.ndarray, index: pd.DataFrame) -> None:
        self.folder = folder
        self._frames = frames
        self.index = index

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FrameStore:
        """Open ``path`` (the ``frames/`` folder or the 00_data_prep artifact folder holding it).

        Raises:
            DataError: when the store is missing, its array has the wrong shape or type, or the
                index does not describe exactly its frames.
        """
        folder = _store_folder(path)
        array_path, index_path = folder / "frames.npy", folder / "index.csv"
        for needed in (array_path, index_path):
            if not needed.is_file():
                raise DataError(
                    f"frame store '{folder}' is incomplete: '{needed.name}' is missing; "
                    "build it with notebooks/00_data_prep.ipynb (or datasets.build_embedded_dataset)"
                )
        try:
            frames = np.load(array_path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"frame store array '{array_path}' cannot be read ({exc}); rebuild the store") from exc
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[1] != frames.shape[2]:
            raise DataError(
                f"frame store array '{array_path}' must be uint8 (N, S, S, 3), got {frames.dtype} {frames.shape}; "
                "rebuild the store"
            )
        index = pd.read_csv(index_path, dtype={"video_id": str, "shot_id": str, "split": str, "source": str})
        missing = [c for c in INDEX_COLUMNS if c not in index.columns]
        if missing:
            raise DataError(f"frame store index '{index_path}' lacks columns {missing}; rebuild the store")
        if len(index) != frames.shape[0]:
            raise DataError(
                f"frame store '{folder}': index.csv lists {len(index)} frames but frames.npy holds "
                f"{frames.shape[0]}; the store is inconsistent - rebuild it"
            )
        if not np.array_equal(index["frame_id"].to_numpy(), np.arange(len(index))):
            raise DataError(f"frame store index '{index_path}': frame_id must be 0..N-1 in order; rebuild the store")
        index["synthetic_motion"] = index["synthetic_motion"].astype(bool)
        return cls(folder, frames, index)

    def __len__(self) -> int:
        return int(self._frames.shape[0])

    @property
    def preprocess(self) -> Preprocess:
        """How the stored frames were made from decoded ones: a new frame must get the same (queries, colorize)."""
        path = self.folder / PREPROCESS_FILE
        if not path.is_file():
            raise DataError(
                f"frame store '{self.folder}' has no {PREPROCESS_FILE} (an older store); rebuild it with notebook 00"
            )
        return Preprocess(**read_json(path))

    @property
    def size(self) -> int:
        """The side S of the stored square frames."""
        return int(self._frames.shape[1])

    def _rows(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise DataError(f"frame ids must lie in 0..{len(self) - 1}, got min {arr.min()} max {arr.max()}")
        return arr

    def uint8(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """Stored frames as uint8 (n, S, S, 3)."""
        return np.asarray(self._frames[self._rows(ids)])

    def rgb(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """Frames as float32 RGB in [0, 1], (n, S, S, 3)."""
        return self.uint8(ids).astype(np.float32) / 255.0

    def lab(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """Frames in CIE Lab float32 (n, S, S, 3): L in [0, 100], ab roughly [-128, 127]."""
        return rgb_to_lab(self.uint8(ids))

    def gray(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """The network's grey input L / 100, float32 (n, S, S)."""
        return self.lab(ids)[..., 0] / L_MAX

    def ids(self, split: str | None = None, shot_id: str | None = None, video_id: str | None = None) -> np.ndarray:
        """Frame ids (int64, ascending) filtered by split, shot and/or video."""
        if split is not None and split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        mask = np.ones(len(self.index), dtype=bool)
        if split is not None:
            mask &= (self.index["split"] == split).to_numpy()
        if shot_id is not None:
            mask &= (self.index["shot_id"] == shot_id).to_numpy()
        if video_id is not None:
            mask &= (self.index["video_id"] == video_id).to_numpy()
        return self.index["frame_id"].to_numpy()[mask].astype(np.int64)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def swap_folder(staging: Path, final: Path) -> None:
    """Put ``staging`` at ``final``; an earlier ``final`` is removed only after the rename."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class FrameStoreBuilder:
    """Stream pre-processed frames into a new store at ``folder`` (e.g. ``<step>/frames``).

    Use as a context manager: frames go to a raw temporary file (bounded memory); on a clean
    exit the ``.npy`` and ``index.csv`` are written into a staging folder that then replaces
    ``folder``. On an exception nothing under ``folder`` changes.
    """

    def __init__(self, folder: str | os.PathLike[str], size: int, prep: Preprocess | None = None) -> None:
        self.folder = Path(folder)
        self.size = size
        self.prep = prep or Preprocess(size=size)
        if self.prep.size != size:
            raise DataError(
                f"frame store '{folder}': pre-processing size {self.prep.size} differs from the store's {size}"
            )
        self.rows: list[dict[str, object]] = []
        self._staging: Path | None = None
        self._raw = None

    def __enter__(self) -> FrameStoreBuilder:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._staging = temp_dir(self.folder.parent, prefix=f".{self.folder.name}.tmp-", suffix="")
        self._raw = open(self._staging / "frames.raw", "wb")
        return self

    def add(
        self,
        frame: np.ndarray,
        *,
        video_id: str,
        shot_id: str,
        split: str,
        source_frame: int,
        source: str,
        synthetic_motion: bool,
    ) -> int:
        """Append one stored frame (uint8 (S, S, 3)); returns its frame_id."""
        if self._raw is None:
            raise DataError("FrameStoreBuilder.add called outside its `with` block")
        if frame.dtype != np.uint8 or frame.shape != (self.size, self.size, 3):
            raise DataError(f"stored frames must be uint8 {(self.size, self.size, 3)}, got {frame.dtype} {frame.shape}")
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r} for shot '{shot_id}'")
        self._raw.write(np.ascontiguousarray(frame).tobytes())
        frame_id = len(self.rows)
        self.rows.append(
            {
                "frame_id": frame_id,
                "video_id": video_id,
                "shot_id": shot_id,
                "split": split,
                "source_frame": int(source_frame),
                "source": source,
                "synthetic_motion": bool(synthetic_motion),
            }
        )
        return frame_id

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._raw is not None and self._staging is not None
        self._raw.close()
        try:
            if exc_type is None:
                self._finalise()
        finally:
            if self._staging.exists():
                shutil.rmtree(self._staging, ignore_errors=True)
            self._raw = None

    def _finalise(self) -> None:
        assert self._staging is not None
        n = len(self.rows)
        if n == 0:
            raise DataError(f"frame store '{self.folder}': no frames were added; check the sources and frame_step")
        raw_path = self._staging / "frames.raw"
        shape = (n, self.size, self.size, 3)
        raw = np.memmap(raw_path, dtype=np.uint8, mode="r", shape=shape)
        with atomic_path(self._staging / "frames.npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            chunk = 256
            for start in range(0, n, chunk):
                out[start : start + chunk] = raw[start : start + chunk]
            out.flush()
            del out
        del raw
        raw_path.unlink()
        with atomic_path(self._staging / "index.csv") as tmp:
            pd.DataFrame(self.rows, columns=list(INDEX_COLUMNS)).to_csv(tmp, index=False)
        atomic_write_json(self._staging / PREPROCESS_FILE, asdict(self.prep))
        swap_folder(self._staging, self.folder)
