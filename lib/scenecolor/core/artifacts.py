"""Atomic artifact writing and content hashing.

Every file a step produces is first written to a temporary name in the same folder and then
renamed into place, so a crash never leaves a half-written artifact under its final name and an
earlier good copy is only replaced by a complete new one.

Temporary files and folders are created with modes 0o666 and 0o777 less the process umask (the
kernel applies it, as for any ``open``), not with ``mkstemp``/``mkdtemp``'s private 0o600/0o700:
outputs renamed into place are readable by others exactly as a plainly written file would be
(0644 files, 0755 folders under umask 022), and a restrictive umask still makes them private.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 1 << 20


_ATTEMPTS = 100


def temp_file(folder: str | os.PathLike[str], prefix: str = ".", suffix: str = ".tmp") -> Path:
    """Create an empty file with a new unique name in ``folder``, mode 0o666 less the umask (mkstemp's 0o600 would
    stay with the file once it is renamed into place)."""
    for _ in range(_ATTEMPTS):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name '{prefix}*{suffix}' in '{folder}' after {_ATTEMPTS} tries")


def temp_dir(folder: str | os.PathLike[str], prefix: str = ".", suffix: str = ".tmp") -> Path:
    """Create an empty folder with a new unique name in ``folder``, mode 0o777 less the umask (mkdtemp's 0o700 would
    stay with a staging folder once it is renamed into place)."""
    for _ in range(_ATTEMPTS):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary folder name '{prefix}*{suffix}' in '{folder}' after {_ATTEMPTS} tries")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary name keeps the final suffix, so writers that choose a format by extension
    (matplotlib, PyAV, faiss) behave as for the final name; it is created with the umask's mode
    (:func:`temp_file`), which the writers keep as they truncate and fill it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(final.parent, prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def to_json(obj: Any) -> str:
    """Serialise ``obj`` (numpy scalars and arrays, paths, pydantic models allowed) as JSON."""
    return json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=True)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, to_json(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Save a numpy array (``.npy``) atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, array, allow_pickle=False)
    return Path(path)


def atomic_torch_save(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save`` atomically; load it back with ``torch.load(path, weights_only=True)``."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: str | os.PathLike[str], exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Map each file under ``root`` (relative POSIX path) to its sha256, in sorted order.

    Temporary files of interrupted atomic writes (``.*.tmp*``) and names in ``exclude`` are skipped.
    """
    base = Path(root)
    out: dict[str, str] = {}
    if not base.exists():
        return out
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        if path.name.startswith(".") and ".tmp" in path.name:
            continue
        if rel in exclude or path.name in exclude:
            continue
        out[rel] = sha256_file(path)
    return out


def digest_of(obj: Any) -> str:
    """A stable sha256 of a JSON-serialisable object (sorted keys)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=_json_default).encode("utf-8"))
