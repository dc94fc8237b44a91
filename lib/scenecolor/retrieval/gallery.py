"""A user's gallery of colour references: folders of images and videos, encoded once, searched with faiss.

:func:`build_gallery` (``scenecolor gallery build``) walks the sources (files or folders, recursively),
encodes every image and, for a video, a few frames of each shot (shots found by the SSIM scene
detector), and writes the gallery folder:

    gallery.json    settings: format, embedder (sha256, backbone, input size, pairing), pre-processing,
                    index kind and, for an approximate index, its recall@1 against exact search
    table.csv       one row per vector: source (absolute path), frame (video frame index; -1 for an
                    image), content_hash (sha256 of the file)
    features.npy    float32 (n, D), unit rows, same order as table.csv
    index.faiss     the faiss index over features.npy (+ index.json: kind, vectors, dimension)

Running the build again on a grown folder encodes only files whose (path, content hash) is not yet
in the table; a file whose content changed is re-encoded and its old rows dropped; an unreadable
file is skipped with a warning naming it, and every row already indexed is kept. All files are
written atomically, ``gallery.json`` last, so an interrupted build leaves the previous gallery intact.
This module is the only writer and reader of that folder.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from scenecolor.core.artifacts import atomic_path, atomic_save_npy, atomic_write_json, read_json, sha256_file
from scenecolor.core.errors import DataError, ParameterError, ScenecolorError
from scenecolor.core.media import iter_upright_frames
from scenecolor.core.timing import torch_threads
from scenecolor.data.frames import Preprocess, preprocess_frame
from scenecolor.retrieval.index import SearchIndex, build_index, exact_search, read_index, recall_at_1, write_index
from scenecolor.scenes.ssim_detector import SsimConfig, detect_cuts

GALLERY_FILE = "gallery.json"
TABLE_FILE = "table.csv"
FEATURES_FILE = "features.npy"
INDEX_FILE = "index.faiss"
FORMAT = 1
TABLE_COLUMNS = ("source", "frame", "content_hash")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class GalleryWarning(UserWarning):
    """A source file was skipped (unreadable, or not an image or video)."""


@dataclass(frozen=True)
class EncoderSpec:
    """What the gallery vectors depend on: the embedder file and how frames reach it."""

    embedder_sha256: str
    backbone: str
    input_size: int
    pairing: str
    preprocess: dict[str, Any]


@dataclass
class BuildReport:
    """What one :func:`build_gallery` call did."""

    gallery: str
    files_seen: int = 0
    files_encoded: int = 0
    files_unchanged: int = 0
    files_skipped: list[str] = field(default_factory=list)
    vectors_added: int = 0
    vectors: int = 0
    index_kind: str = ""
    recall_at_1: float | None = None
    encode_s: float = 0.0  # seconds encoding, summed over the worker threads
    read_s: float = 0.0  # seconds decoding and pre-processing, summed over the worker threads
    index_s: float = 0.0
    seconds: float = 0.0

    @property
    def frames_per_s(self) -> float:
        """Encoded gallery frames per second of the whole build (reading, decoding, encoding, indexing)."""
        return self.vectors_added / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "frames_per_s": self.frames_per_s}


# -- finding the media ---------------------------------------------------------------------------------
def media_files(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Images and videos under ``sources`` (files or folders, walked recursively), absolute, sorted, unique.

    A source that does not exist raises DataError; files of another type inside a folder are ignored,
    a named file of another type is skipped with a warning.
    """
    found: dict[Path, None] = {}
    for src in sources:
        p = Path(src).expanduser()
        if not p.exists():
            raise DataError(f"gallery source '{p}' does not exist; give existing image/video files or folders")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES and not f.name.startswith("."):
                    found[f.resolve()] = None
        elif p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            found[p.resolve()] = None
        else:
            warnings.warn(f"skipped '{p}': not an image or video file", GalleryWarning, stacklevel=2)
    return sorted(found)


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def jpeg_reduction(data: bytes | np.ndarray, min_side: int) -> int:
    """The largest libjpeg decoding scale-down (1, 2, 4 or 8) that keeps the short side of the image in ``data``
    (the file's bytes) >= ``min_side``; 1 for anything but a JPEG, or a header that cannot be read.

    libjpeg scales in the DCT domain while decoding, so a 12-megapixel photo decodes at a quarter of its side
    in about a fifth of the time of a full decode and its area resize.
    """
    raw = data.tobytes() if isinstance(data, np.ndarray) else data
    if not raw.startswith(b"\xff\xd8"):  # the JPEG start-of-image marker
        return 1
    try:
        with Image.open(io.BytesIO(raw)) as im:
            short = min(im.size) if im.format == "JPEG" else 0
    except (OSError, ValueError):
        return 1  # the decoder says what is wrong
    return max(f for f in _REDUCED if f == 1 or short // f >= min_side)


def _decode_bgr(path: str | os.PathLike[str], min_side: int | None = None) -> np.ndarray:
    """BGR uint8; scaled down while decoding when ``min_side`` is given and the file is a large enough JPEG."""
    data = np.fromfile(str(path), dtype=np.uint8)
    reduction = jpeg_reduction(data, min_side) if min_side and data.size else 1
    img = cv2.imdecode(data, _REDUCED[reduction]) if data.size else None
    if img is None:
        raise DataError(f"image '{path}' cannot be decoded (corrupt or not an image)")
    return img


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); DataError naming it when it cannot be decoded."""
    return cv2.cvtColor(_decode_bgr(path), cv2.COLOR_BGR2RGB)


def read_image_preprocessed(path: str | os.PathLike[str], prep: Preprocess) -> np.ndarray:
    """``preprocess_frame(read_image(path), prep)``, with the channels swapped on the small pre-processed frame
    instead of the decoded one (resize and mean filter treat channels alike: the same bytes).

    A JPEG whose short side is at least 4x the store size is decoded scaled down (:func:`jpeg_reduction`) to no
    less than twice the store size, so the area resize still averages 2x2 pixels or more: within a few grey
    levels of the full decode (1080p and 12-megapixel JPEGs: mean difference 0.1 level, 99th percentile 1).
    """
    return np.ascontiguousarray(preprocess_frame(_decode_bgr(path, 2 * prep.size), prep)[..., ::-1])


def shot_frames(n_frames: int, scenes: Sequence[dict[str, int]], per_shot: int) -> list[int]:
    """``per_shot`` frames of each scene, evenly spread inside it (centres of equal parts), ascending."""
    out: set[int] = set()
    for sc in scenes:
        a, b = int(sc["start"]), min(int(sc["end"]), n_frames)
        if b <= a:
            continue
        m = min(per_shot, b - a)
        out.update(int(a + (b - a) * (i + 0.5) / m) for i in range(m))
    return sorted(out)


def video_frames(
    path: str | os.PathLike[str], per_shot: int, cut_config: SsimConfig | None = None
) -> list[tuple[int, np.ndarray]]:
    """(frame index, upright RGB uint8 frame) for ``per_shot`` frames of each shot of a video (shots by the SSIM
    detector). Frames come as a player shows them, as ``scenecolor colorize`` turns its key frames: a phone
    clip's gallery frames then match its own grey frames."""
    detection = detect_cuts(path, cut_config or SsimConfig())
    return list(iter_upright_frames(path, shot_frames(detection.n_frames, detection.scenes(), per_shot)))


def _read_frames(source: str, frames: set[int]) -> dict[int, np.ndarray]:
    """RGB uint8 frames of one source: the image itself (frame -1) or frames of a video, decoded in one pass."""
    if frames == {-1}:
        return {-1: read_image(source)}
    out = dict(iter_upright_frames(source, frames))
    if len(out) == len(frames):
        return out
    raise DataError(f"gallery source '{source}' lacks frame(s) {sorted(frames - set(out))} now; rebuild the gallery")


# -- the gallery folder ----------------------------------------------------------------------------------
@dataclass
class Gallery:
    """An opened gallery folder: table, vectors, index and settings."""

    folder: Path
    settings: dict[str, Any]
    table: pd.DataFrame
    features: np.ndarray
    index: SearchIndex

    def __len__(self) -> int:
        return len(self.table)

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Gallery:
        """Read a gallery written by :func:`build_gallery`; DataError naming the fix when it is incomplete."""
        p = Path(folder)
        if not (p / GALLERY_FILE).is_file():
            raise DataError(
                f"'{p}' is not a gallery (no {GALLERY_FILE}); build one into this folder first "
                "(`scenecolor gallery build`, or build_gallery)"
            )
        settings = read_json(p / GALLERY_FILE)
        if settings.get("format") != FORMAT:
            raise DataError(f"gallery '{p}' has format {settings.get('format')}, expected {FORMAT}; rebuild it")
        table = _read_table(p / TABLE_FILE)
        features = np.load(p / FEATURES_FILE, allow_pickle=False)
        index = read_index(p / INDEX_FILE)
        if not len(table) == len(features) == index.n:
            raise DataError(
                f"gallery '{p}' is inconsistent: {len(table)} table rows, {len(features)} vectors, {index.n} indexed; "
                "rebuild it into a new folder"
            )
        return cls(p, settings, table, features, index)

    @property
    def encoder(self) -> EncoderSpec:
        return EncoderSpec(**self.settings["encoder"])

    def describe(self, positions: Iterable[int]) -> list[dict[str, Any]]:
        """``{"source", "frame"}`` of table rows (frame None for an image)."""
        rows = self.table.iloc[list(positions)]
        return [
            {"source": str(s), "frame": None if int(f) < 0 else int(f)} for s, f in zip(rows["source"], rows["frame"])
        ]

    def load_frames(self, positions: Iterable[int], prep: Preprocess) -> np.ndarray:
        """The rows' frames decoded from their sources and pre-processed like the frame store (uint8 (n, S, S, 3))."""
        rows = self.table.iloc[list(positions)]
        if rows.empty:
            raise DataError("no gallery row to load")
        wanted: dict[str, set[int]] = {}
        for s, f in zip(rows["source"], rows["frame"]):
            wanted.setdefault(str(s), set()).add(int(f))
        decoded = {(s, f): img for s, frames in wanted.items() for f, img in _read_frames(s, frames).items()}
        return np.stack(
            [preprocess_frame(decoded[(str(s), int(f))], prep) for s, f in zip(rows["source"], rows["frame"])]
        )


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"gallery table '{path}' is missing; rebuild the gallery")
    table = pd.read_csv(path, dtype={"source": str, "content_hash": str, "frame": np.int64}, keep_default_na=False)
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"gallery table '{path}' lacks columns {missing}; rebuild the gallery")
    return table[list(TABLE_COLUMNS)]


@dataclass
class _Chunk:
    """What one worker made of a chunk of files: each file's frame indices and vectors, or why it was skipped."""

    files: list[tuple[Path, list[int] | str]]
    vectors: np.ndarray | None
    read_s: float
    encode_s: float


def _load(path: Path, prep: Preprocess, per_shot: int, cut_config: SsimConfig | None) -> list[tuple[int, np.ndarray]]:
    """A file's pre-processed frames: an image (frame -1) or a few frames of each shot of a video."""
    if is_video(path):
        return [(f, preprocess_frame(img, prep)) for f, img in video_frames(path, per_shot, cut_config)]
    return [(-1, read_image_preprocessed(path, prep))]


def _encode_chunk(
    part: Sequence[Path],
    prep: Preprocess,
    per_shot: int,
    cut_config: SsimConfig | None,
    encode: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
) -> _Chunk:
    """Decode a chunk of files, then encode their frames in batches of ``batch_size``, in the calling thread."""
    t0 = time.perf_counter()
    files: list[tuple[Path, list[int] | str]] = []
    frames: list[np.ndarray] = []
    for path in part:
        try:
            items = _load(path, prep, per_shot, cut_config)
        except (ScenecolorError, OSError, ValueError, cv2.error) as exc:
            files.append((path, str(exc)))
            continue
        files.append((path, [f for f, _ in items] if items else "no frame could be decoded"))
        frames.extend(img for _, img in items)
    t1 = time.perf_counter()
    vectors = (
        np.concatenate(
            [
                np.asarray(encode(np.stack(frames[s : s + batch_size])), np.float32)
                for s in range(0, len(frames), batch_size)
            ]
        )
        if frames
        else None
    )
    return _Chunk(files, vectors, t1 - t0, time.perf_counter() - t1)


def _encoded(
    files: Sequence[Path],
    prep: Preprocess,
    per_shot: int,
    cut_config: SsimConfig | None,
    encode: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    workers: int,
) -> Iterator[_Chunk]:
    """The files' vectors, ``batch_size`` files per chunk, in file order; each of ``workers`` threads decodes a
    chunk and then encodes it with a single-threaded network.

    Two networks on one thread each, side by side, outrun one network on two threads (resnet18 regional at
    96 px on 2 cores: 212 against 182 frames/s), and a worker's decoding overlaps the other's encoding
    instead of competing with the network's own threads (10,000 640x360 JPEGs: ``scenecolor bench gallery``).
    Chunks are fixed by the file order, so the vectors do not depend on which thread ran first.
    """
    chunks = [files[s : s + batch_size] for s in range(0, len(files), batch_size)]
    if workers <= 1:
        yield from (_encode_chunk(c, prep, per_shot, cut_config, encode, batch_size) for c in chunks)
        return
    with torch_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(lambda c: _encode_chunk(c, prep, per_shot, cut_config, encode, batch_size), chunks)


def build_gallery(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    encode: Callable[[np.ndarray], np.ndarray],
    encoder: EncoderSpec,
    prep: Preprocess,
    cut_config: SsimConfig | None = None,
    frames_per_shot: int = 3,
    index_kind: str = "auto",
    exact_max: int = 50_000,
    batch_size: int = 64,
    workers: int = 2,
    recall_queries: int = 200,
    seed: int = 0,
) -> BuildReport:
    """Build or grow the gallery ``out`` from ``sources`` (see the module docstring).

    ``encode`` maps store-like uint8 frames (n, S, S, 3) to unit rows (the run's gallery encoder);
    ``encoder`` records what produced them: a gallery built by another embedder or pre-processing
    is refused rather than mixed. The index is rebuilt over all vectors after every build: exact up
    to ``exact_max`` vectors, approximate (``index_kind`` or IVF-PQ for ``auto``) above, with its
    recall@1 against exact search measured on ``recall_queries`` stored vectors slightly perturbed.

    With ``workers`` > 1, each worker thread decodes and encodes chunks of ``batch_size`` files (:func:`_encoded`):
    ``encode`` is called from several threads at once, and torch runs one intra-op thread per call during the
    build (restored after).
    """
    if frames_per_shot < 1:
        raise ParameterError(f"frames per shot must be >= 1, got {frames_per_shot}")
    t0 = time.perf_counter()
    folder = Path(out)
    report = BuildReport(gallery=str(folder))
    if (folder / GALLERY_FILE).is_file():
        old = Gallery.open(folder)
        if old.encoder != encoder:
            raise ParameterError(
                f"out: gallery '{folder}' was built with another embedder or pre-processing ({old.encoder}); build "
                "into a new folder",
                "out",
            )
        table, features = old.table, old.features
    else:
        table = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(TABLE_COLUMNS, (str, np.int64, str))})
        features = np.zeros((0, 0), np.float32)
    files = media_files(sources)
    report.files_seen = len(files)
    known = dict(zip(table["source"], table["content_hash"]))
    todo: list[tuple[Path, str]] = []
    for f in files:
        try:
            digest = sha256_file(f)
        except OSError as exc:
            _skip(report, f, f"cannot be read ({exc.__class__.__name__})")
            continue
        if known.get(str(f)) == digest:
            report.files_unchanged += 1
        else:
            todo.append((f, digest))
    keep = ~table["source"].isin([str(f) for f, _ in todo]).to_numpy()  # a changed file's old rows go
    new_rows: list[dict[str, Any]] = []
    new_vecs: list[np.ndarray] = []
    digests = dict(todo)
    for chunk in _encoded([f for f, _ in todo], prep, frames_per_shot, cut_config, encode, batch_size, workers):
        report.read_s += chunk.read_s
        report.encode_s += chunk.encode_s
        for path, frames in chunk.files:
            if isinstance(frames, str):
                _skip(report, path, frames)
                continue
            new_rows.extend({"source": str(path), "frame": int(f), "content_hash": digests[path]} for f in frames)
            report.files_encoded += 1
        if chunk.vectors is not None:
            new_vecs.append(chunk.vectors)
    added = np.concatenate(new_vecs) if new_vecs else np.zeros((0, max(1, features.shape[1])), np.float32)
    kept = features[keep] if len(features) else features.reshape(0, added.shape[1])
    all_feats = np.ascontiguousarray(np.concatenate([kept, added]).astype(np.float32))
    all_table = pd.concat([table[keep], pd.DataFrame(new_rows, columns=list(TABLE_COLUMNS))], ignore_index=True)
    if len(all_table) == 0:
        raise DataError(f"no image or video frame could be read from {list(map(str, sources))}; nothing to index")
    t = time.perf_counter()
    index = build_index(all_feats, kind=index_kind, exact_max=exact_max, seed=seed)  # type: ignore[arg-type]
    if index.kind != "flat":
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(all_feats), size=min(recall_queries, len(all_feats)), replace=False)
        q = all_feats[picks] + 0.05 * rng.standard_normal((len(picks), all_feats.shape[1])).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        report.recall_at_1 = recall_at_1(index.search(q, 1)[1], exact_search(all_feats, q, 1)[1])
    report.index_s = time.perf_counter() - t
    report.index_kind, report.vectors, report.vectors_added = index.kind, len(all_table), len(added)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(folder / FEATURES_FILE, all_feats)
    with atomic_path(folder / TABLE_FILE) as tmp:
        all_table.to_csv(tmp, index=False)
    write_index(folder / INDEX_FILE, index)
    report.seconds = time.perf_counter() - t0
    atomic_write_json(
        folder / GALLERY_FILE,
        {
            "format": FORMAT,
            "encoder": asdict(encoder),
            "vectors": len(all_table),
            "index_kind": index.kind,
            "exact_max": exact_max,
            "recall_at_1_vs_exact": report.recall_at_1,
            "frames_per_shot": frames_per_shot,
            "jpeg_decode": "scaled down by libjpeg while decoding, to a short side of at least twice the store size",
            "last_build": report.to_json(),
        },
    )
    return report


def _skip(report: BuildReport, path: Path, why: str) -> None:
    report.files_skipped.append(str(path))
    warnings.warn(f"skipped unreadable file '{path}': {why}", GalleryWarning, stacklevel=3)
