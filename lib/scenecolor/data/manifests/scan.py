"""Write a manifest for a user's own folder of videos: sha256, a probe of each file, stable splits.

Splits come from a hash of (seed, relative path), not from shuffling the list, so adding a video
to the folder never moves any other video to another split - the test set stays the test set.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from scenecolor.core.artifacts import sha256_file
from scenecolor.core.errors import CorruptVideoError, EmptyVideoError, ManifestError, VideoError
from scenecolor.core.video import iter_frames, probe
from scenecolor.data.manifests.format import SPLITS, Manifest, ManifestEntry, MediaInfo, Split

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts")


def split_of(key: str, fractions: Sequence[float], seed: int = 0) -> Split:
    """Deterministic split of one item from a hash of (seed, key): adding items never moves others."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for name, frac in zip(SPLITS, fractions):
        edge += frac
        if u < edge:
            return name  # type: ignore[return-value]
    return SPLITS[[i for i, f in enumerate(fractions) if f > 0][-1]]  # type: ignore[return-value]


def check_split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions: three non-negative numbers summing to 1."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ManifestError(
            f"split fractions must be three non-negative numbers (train, val, test) summing to 1, got {list(fractions)}"
        )
    return fr  # type: ignore[return-value]


def _entry_id(rel: str, taken: set[str]) -> str:
    stem = rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("._-") or "video"
    if base in taken:
        base = f"{base}-{hashlib.sha1(rel.encode()).hexdigest()[:6]}"
    taken.add(base)
    return base


def scan(
    folder: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    group_by: Literal["file", "folder"] = "file",
    skip_corrupt: bool = False,
    name: str | None = None,
) -> Manifest:
    """Write a manifest for a folder of videos (searched recursively), with sha256 and splits.

    Each video is probed and its first frame decoded, so an unreadable file is reported instead of
    listed. Splits come from a hash of (seed, relative path) - or of the sub-folder with
    ``group_by="folder"``, which keeps clips cut from one source in the same split - so the split
    of a file never changes when others are added; with few files the split sizes only approximate
    the fractions. Paths are written relative to the manifest's folder when ``out`` is given
    (move the two together), absolute otherwise.

    Raises:
        ManifestError: the folder is missing or empty, or holds no file with a video extension.
        CorruptVideoError: some videos cannot be read (all are named), unless ``skip_corrupt``.
    """
    root = Path(folder)
    fractions = check_split_fractions(split_fractions)
    if group_by not in ("file", "folder"):
        raise ManifestError(f"group_by must be 'file' or 'folder', got '{group_by}'")
    if not root.is_dir():
        raise ManifestError(f"cannot scan '{root}': not a folder (check the path)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ManifestError(f"cannot scan '{root}': the folder is empty (copy your videos into it)")
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    videos = [p for p in files if p.suffix.lower() in exts]
    if not videos:
        raise ManifestError(
            f"cannot scan '{root}': none of its {len(files)} files has a video extension "
            f"({', '.join(exts)}); pass the right extensions or point at the video folder"
        )
    base_dir = Path(out).resolve().parent if out is not None else None
    entries, bad, taken = [], [], set()
    for path in _progress(videos, desc=f"scan {root.name}"):
        rel = path.relative_to(root).as_posix()
        try:
            info = probe(path)
            _decode_first_frame(path)
        except VideoError as exc:
            bad.append(f"  - {rel}: {exc}")
            continue
        key = rel if group_by == "file" else (Path(rel).parent.as_posix() or ".")
        stored = os.path.relpath(path.resolve(), base_dir) if base_dir else str(path.resolve())
        entries.append(
            ManifestEntry(
                id=_entry_id(rel, taken),
                path=Path(stored).as_posix(),
                sha256=sha256_file(path),
                kind="video",
                source=f"user folder '{root.resolve()}' ({rel})",
                licence="user-supplied (check the rights of your own videos)",
                split=split_of(key, fractions, seed),
                media=MediaInfo(
                    width=info.width, height=info.height, fps=info.fps, n_frames=info.n_frames, codec=info.codec
                ),
            )
        )
    if bad and not skip_corrupt:
        raise CorruptVideoError(
            f"cannot scan '{root}': {len(bad)} of {len(videos)} videos are unreadable "
            f"(re-encode or remove them, or skip them with --skip-corrupt):\n" + "\n".join(bad)
        )
    if bad:
        warnings.warn(f"scan '{root}': skipped {len(bad)} unreadable videos:\n" + "\n".join(bad), stacklevel=2)
    if not entries:
        raise ManifestError(f"cannot scan '{root}': no readable video left after skipping {len(bad)}")
    counts = {s: sum(e.split == s for e in entries) for s in SPLITS}
    manifest = Manifest(
        name=name or root.resolve().name or "videos",
        description=(
            f"scan of '{root.resolve()}': {len(entries)} videos, splits by sha256 of (seed={seed}, "
            f"{'relative path' if group_by == 'file' else 'sub-folder'}) with fractions "
            f"{list(fractions)} -> train {counts['train']}, val {counts['val']}, test {counts['test']}"
            + (f"; skipped {len(bad)} unreadable" if bad else "")
        ),
        entries=entries,
    )
    if out is not None:
        manifest.save(out)
    return manifest


def _decode_first_frame(path: Path) -> None:
    """Decode one frame (a header can look fine on a file whose stream is broken)."""
    frames = iter_frames(path, pixel_format="gray", size=(16, 16))
    try:
        next(frames)
    except StopIteration:  # pragma: no cover - iter_frames raises EmptyVideoError first
        raise EmptyVideoError(f"video '{path}' holds no decodable frame") from None
    finally:
        frames.close()


def _progress(items: list[Path], desc: str) -> Iterable[Path]:
    return tqdm(items, desc=desc, unit="file", disable=len(items) < 20, leave=False)
