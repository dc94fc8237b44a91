"""Fetch manifest entries that have a URL: sha256 checked before a file appears, archives unpacked safely.

A download is streamed into a temporary file beside its destination and hashed on the way; only
when the hash matches the manifest is it renamed into place, so a corrupted or substituted
download never replaces anything. An entry without a recorded sha256 is refused unless the user
asks to trust it on first use, in which case the hash of that first download is recorded.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from scenecolor.core.artifacts import atomic_path, atomic_write_text, sha256_file, temp_dir
from scenecolor.core.errors import ChecksumMismatchError, ManifestError
from scenecolor.data.manifests.format import PACKAGE_SCHEME, Manifest, ManifestEntry

_CHUNK = 1 << 20
_PROGRESS_MIN_BYTES = 8 << 20
_MARKER = ".scenecolor-extracted"
_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip")


@dataclass(frozen=True)
class FetchResult:
    """Where an entry's file now is, its sha256, and what this call did.

    ``recorded`` is True when the hash was not in the manifest and was taken from this first use
    (``trust_on_first_use``); the caller writes it into the manifest (``fetch_manifest`` does).
    """

    entry_id: str
    path: Path
    sha256: str
    downloaded: bool
    recorded: bool
    extracted_to: Path | None = None

    def __fspath__(self) -> str:
        return str(self.path)


def _file_name(entry: ManifestEntry) -> str:
    name = PurePosixPath(entry.path.removeprefix(PACKAGE_SCHEME)).name
    if not name or name in (".", ".."):
        raise ManifestError(f"entry '{entry.id}': path '{entry.path}' does not end in a file name")
    return name


def _refuse_unpinned(entries: Iterable[ManifestEntry]) -> None:
    unpinned = [e.id for e in entries if e.sha256 is None]
    if unpinned:
        raise ManifestError(
            f"refusing to fetch {', '.join(map(repr, unpinned))}: no sha256 recorded, so the download "
            f"could not be checked. Add the published sha256 to the manifest, or pass "
            f"--trust-on-first-use (trust_on_first_use=True) to record the hash of the first download"
        )


def fetch(
    entry: ManifestEntry,
    dest_dir: str | os.PathLike[str],
    *,
    trust_on_first_use: bool = False,
    extract: bool = False,
    force: bool = False,
) -> FetchResult:
    """Make ``dest_dir/<file name of entry.path>`` hold the entry's file, downloading it if needed.

    A file already there with the right sha256 is kept (unless ``force``); with
    ``trust_on_first_use`` and no recorded sha256, a file already there is that first use and its
    hash is the one recorded. ``extract`` unpacks a
    ``kind: archive`` entry into ``dest_dir/<archive stem>/`` (see :func:`extract_archive`).

    Raises:
        ManifestError: no sha256 and not ``trust_on_first_use``; no url for a missing file; the
            download failed.
        ChecksumMismatchError: the download's sha256 differs; nothing on disk was changed.
    """
    if not trust_on_first_use:
        _refuse_unpinned([entry])
    target = Path(dest_dir) / _file_name(entry)
    result: FetchResult | None = None
    if target.is_file() and not force:
        actual = sha256_file(target)
        if entry.sha256 is None or actual == entry.sha256:
            result = FetchResult(entry.id, target, actual, downloaded=False, recorded=entry.sha256 is None)
    if result is None:
        if entry.url is None:
            state = "differs from the manifest's sha256" if target.exists() else "is missing"
            raise ManifestError(
                f"entry '{entry.id}': '{target}' {state} and the entry has no url: put the "
                f"file there by hand (source: {entry.source or 'see the manifest'})"
            )
        actual = _download(entry, target)
        result = FetchResult(entry.id, target, actual, downloaded=True, recorded=entry.sha256 is None)
    if extract and entry.kind == "archive":
        stem = _archive_stem(target.name)
        result = FetchResult(
            result.entry_id,
            result.path,
            result.sha256,
            result.downloaded,
            result.recorded,
            extracted_to=extract_archive(target, target.parent / stem, sha256=result.sha256),
        )
    return result


def _download(entry: ManifestEntry, target: Path) -> str:
    """Stream ``entry.url`` to a temporary file, hash it, rename it to ``target`` only if it matches."""
    from tqdm.auto import tqdm

    assert entry.url is not None
    digest = hashlib.sha256()
    n_bytes = 0
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(entry.url, timeout=60) as response, open(tmp, "wb") as fh:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"fetch {entry.id}",
                    leave=False,
                    disable=total is not None and total < _PROGRESS_MIN_BYTES,
                ) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        fh.write(chunk)
                        digest.update(chunk)
                        n_bytes += len(chunk)
                        bar.update(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
            actual = digest.hexdigest()
            if n_bytes == 0:
                raise ManifestError(
                    f"entry '{entry.id}': the download from {entry.url} is empty (0 bytes); check the url"
                )
            if entry.sha256 is not None and actual != entry.sha256:
                raise ChecksumMismatchError(
                    f"entry '{entry.id}': the download from {entry.url} has sha256 {actual}, the manifest "
                    f"expects {entry.sha256}; it was not saved and '{target}' is as it was. The source "
                    f"changed or the transfer was corrupted: retry, or check the url and the manifest"
                )
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise ManifestError(
            f"entry '{entry.id}': cannot download {entry.url} ({exc}); check the url and "
            f"your network, or copy the file to '{target}' by hand"
        ) from exc
    return actual


def _archive_stem(name: str) -> str:
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _check_member_name(archive: Path, name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name):
        raise ManifestError(
            f"archive '{archive}' is unsafe: member '{name}' would be written outside the "
            f"destination folder (path traversal); not extracting it"
        )


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_member_name(archive, member.name)
    if member.isdev() or member.isfifo():
        raise ManifestError(f"archive '{archive}' is unsafe: member '{member.name}' is a device or fifo")
    if member.issym() or member.islnk():
        # a symlink is relative to its own folder, a hard link to the archive root
        base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
        link = PurePosixPath(member.linkname)
        depth, escapes = 0, link.is_absolute()
        for part in (base / link).parts:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            escapes = escapes or depth < 0
        if escapes:
            raise ManifestError(
                f"archive '{archive}' is unsafe: link '{member.name}' -> "
                f"'{member.linkname}' points outside the destination folder"
            )


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, sha256: str | None = None
) -> Path:
    """Unpack a zip or tar archive into the folder ``dest``, refusing any member that would escape it.

    Every member is checked before anything is written; the archive is unpacked into a temporary
    folder that replaces ``dest`` only when complete. A marker file holding the archive's sha256
    makes a second call a no-op.
    """
    archive, dest = Path(archive), Path(dest)
    sha = sha256 or sha256_file(archive)
    marker = dest / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == sha:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member_name(archive, name)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _check_tar_member(archive, member)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; members were checked above
                    tf.extractall(tmp, members=members)
        else:
            raise ManifestError(f"'{archive}' is neither a zip nor a tar archive (is the download complete?)")
        atomic_write_text(tmp / _MARKER, sha + "\n")
        backup = dest.with_name(f".{dest.name}.old")
        if dest.exists():
            os.replace(dest, backup)
        os.replace(tmp, dest)
        shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def fetch_manifest(
    manifest: Manifest,
    *,
    dest_dir: str | os.PathLike[str] | None = None,
    ids: Iterable[str] | None = None,
    trust_on_first_use: bool = False,
    extract: bool = True,
    force: bool = False,
) -> list[FetchResult]:
    """Fetch the selected entries (each to where the manifest says, or into ``dest_dir``).

    Unpinned entries are refused before anything is downloaded (unless ``trust_on_first_use``);
    hashes recorded on first use are written back into the manifest file atomically. Every entry
    is tried; the failures are then raised together.
    """
    entries = manifest.select(ids)
    if not trust_on_first_use:
        _refuse_unpinned(entries)
    results: list[FetchResult] = []
    failures: list[tuple[str, Exception]] = []
    for entry in entries:
        if dest_dir is not None:
            folder = Path(dest_dir)
        elif entry.path.startswith(PACKAGE_SCHEME):
            failures.append(
                (
                    entry.id,
                    ManifestError(
                        f"entry '{entry.id}' lives inside an installed package; pass a destination folder (--dest)"
                    ),
                )
            )
            continue
        else:
            folder = manifest.resolve(entry).parent
        try:
            results.append(fetch(entry, folder, trust_on_first_use=trust_on_first_use, extract=extract, force=force))
        except ManifestError as exc:
            failures.append((entry.id, exc))
    recorded = {r.entry_id: r.sha256 for r in results if r.recorded}
    if recorded:
        record_checksums(manifest, recorded)
    if failures:
        text = f"{len(failures)} of {len(entries)} entries could not be fetched:\n" + "\n".join(
            f"  - {exc}" for _, exc in failures
        )
        if all(isinstance(exc, ChecksumMismatchError) for _, exc in failures):
            raise ChecksumMismatchError(text)
        raise ManifestError(text)
    return results


def record_checksums(manifest: Manifest, hashes: dict[str, str]) -> None:
    """Set these entries' sha256 and write the manifest file, keeping its comments where possible.

    In a YAML file the ``sha256:`` line of each entry is edited in place (so the notes and
    comments a person wrote survive); a layout this cannot follow, or a JSON file, is rewritten.
    """
    for entry in manifest.entries:
        if entry.id in hashes:
            entry.sha256 = hashes[entry.id]
    path = manifest.path
    if path is None:
        return
    if path.suffix.lower() in (".yaml", ".yml"):
        text = _edit_yaml_checksums(path.read_text(encoding="utf-8"), hashes)
        if text is not None:
            try:
                reread = Manifest.model_validate(yaml.safe_load(text))
            except (yaml.YAMLError, ValueError):
                reread = None
            if reread is not None and reread.model_dump() == manifest.model_dump():
                atomic_write_text(path, text)
                return
    manifest.save()


def _edit_yaml_checksums(text: str, hashes: dict[str, str]) -> str | None:
    """Replace the value of ``sha256:`` within each listed entry's block; None if one is not found."""
    lines = text.splitlines(keepends=True)
    todo = dict(hashes)
    current: str | None = None
    for i, line in enumerate(lines):
        m = re.match(r"^\s*-?\s*id:\s*['\"]?([A-Za-z0-9._-]+)['\"]?\s*(#.*)?$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^(\s*-?\s*sha256:\s*)([^#\n]*?)(\s*#.*)?(\r?\n)?$", line)
        if m and current in todo:
            lines[i] = f"{m.group(1)}{todo.pop(current)}{m.group(3) or ''}{m.group(4) or ''}"
    return "".join(lines) if not todo else None
