"""`fetch`: file:// downloads checked by sha256 before they appear, trust on first use, safe archives."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from scenecolor.core.artifacts import sha256_bytes, sha256_file
from scenecolor.core.errors import ChecksumMismatchError, ManifestError
from scenecolor.data.manifests.fetch import extract_archive, fetch, fetch_manifest
from scenecolor.data.manifests.format import Manifest, ManifestEntry, verify_or_raise

GOOD = b"the real media file\n" * 100
BAD = b"a substituted or corrupted download\n"


@pytest.fixture()
def served(tmp_path: Path) -> Path:
    """A 'remote' folder reached through file:// URLs."""
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "clip.mp4").write_bytes(GOOD)
    (remote / "evil.mp4").write_bytes(BAD)
    return remote


def _entry(url_file: Path, sha: str | None = sha256_bytes(GOOD), **kw) -> ManifestEntry:
    return ManifestEntry(
        id=kw.pop("id", "clip"), path=kw.pop("path", "clip.mp4"), sha256=sha, url=url_file.as_uri(), **kw
    )


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".old")]


def test_fetch_file_url(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = fetch(_entry(served / "clip.mp4"), dest)
    assert result.path == dest / "clip.mp4" and Path(result) == result.path
    assert result.downloaded and not result.recorded and result.sha256 == sha256_bytes(GOOD)
    assert (dest / "clip.mp4").read_bytes() == GOOD
    again = fetch(_entry(served / "clip.mp4"), dest)
    assert not again.downloaded and again.sha256 == sha256_bytes(GOOD)
    assert _leftovers(dest) == []


def test_mismatch_is_refused_and_the_good_file_kept(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    fetch(_entry(served / "clip.mp4"), dest)
    swapped = _entry(served / "evil.mp4")  # the source now serves other bytes
    with pytest.raises(ChecksumMismatchError) as info:
        fetch(swapped, dest, force=True)
    text = str(info.value)
    assert sha256_bytes(BAD) in text and sha256_bytes(GOOD) in text and "'clip'" in text
    assert "was not saved" in text
    assert (dest / "clip.mp4").read_bytes() == GOOD
    assert _leftovers(dest) == []


def test_mismatch_without_earlier_copy_writes_nothing(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatchError):
        fetch(_entry(served / "evil.mp4"), dest)
    assert list(dest.iterdir()) == []


def test_stale_local_copy_is_replaced_by_a_verified_download(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "clip.mp4").write_bytes(b"an old version")
    result = fetch(_entry(served / "clip.mp4"), dest)
    assert result.downloaded and (dest / "clip.mp4").read_bytes() == GOOD


def test_entry_without_sha256_is_refused(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ManifestError, match=r"refusing to fetch 'clip': no sha256 recorded.*--trust-on-first-use"):
        fetch(_entry(served / "clip.mp4", sha=None), dest)
    assert not dest.exists()


def test_trust_on_first_use_records_the_hash(served: Path, tmp_path: Path) -> None:
    result = fetch(_entry(served / "clip.mp4", sha=None), tmp_path / "dest", trust_on_first_use=True)
    assert result.recorded and result.downloaded and result.sha256 == sha256_bytes(GOOD)


def test_fetch_manifest_writes_recorded_hash_and_keeps_comments(served: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "# a comment a person wrote\nname: remote\nentries:\n"
        f"  - id: clip\n    path: media/clip.mp4\n    sha256: null   # filled in on first use\n"
        f"    url: {(served / 'clip.mp4').as_uri()}\n"
        f"  - id: other\n    path: media/other.mp4\n    sha256: {sha256_bytes(GOOD)}\n"
        f"    url: {(served / 'clip.mp4').as_uri()}\n"
    )
    with pytest.raises(ManifestError, match="refusing to fetch 'clip'"):
        fetch_manifest(Manifest.load(path))
    assert not (tmp_path / "media").exists()  # refused before anything was downloaded
    results = fetch_manifest(Manifest.load(path), trust_on_first_use=True)
    assert [(r.entry_id, r.recorded) for r in results] == [("clip", True), ("other", False)]
    text = path.read_text()
    assert text.startswith("# a comment a person wrote\n")
    assert f"sha256: {sha256_bytes(GOOD)}   # filled in on first use" in text
    reloaded = Manifest.load(path)
    assert reloaded.entries[0].sha256 == sha256_bytes(GOOD)
    assert [r.status for r in verify_or_raise(reloaded)] == ["ok", "ok"]


def test_fetch_manifest_tries_every_entry_and_reports_failures(served: Path, tmp_path: Path) -> None:
    manifest = Manifest(
        name="m",
        entries=[
            _entry(served / "evil.mp4", id="bad", path="bad.mp4"),
            _entry(served / "clip.mp4", id="good", path="good.mp4"),
            ManifestEntry(id="nourl", path="nourl.mp4", sha256=sha256_bytes(GOOD)),
            _entry(served / "gone.mp4", id="gone", path="gone.mp4"),
        ],
    )
    dest = tmp_path / "dest"
    with pytest.raises(ManifestError) as info:
        fetch_manifest(manifest, dest_dir=dest)
    text = str(info.value)
    assert "3 of 4 entries could not be fetched" in text
    assert "entry 'bad'" in text and "entry 'nourl'" in text and "has no url" in text
    assert "entry 'gone': cannot download" in text
    assert sorted(p.name for p in dest.iterdir()) == ["good.mp4"]


def test_package_entry_needs_a_destination(served: Path) -> None:
    manifest = Manifest(name="m", entries=[_entry(served / "clip.mp4", path="package://skvideo/x/clip.mp4")])
    with pytest.raises(ManifestError, match="inside an installed package; pass a destination folder"):
        fetch_manifest(manifest)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_archive_entry_is_fetched_and_extracted(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "set.zip", {"DATA/ImageSets/val.txt": b"blackswan\n", "DATA/a/00000.jpg": b"jpg"})
    entry = ManifestEntry(id="set", path="set.zip", sha256=sha256_file(archive), url=archive.as_uri(), kind="archive")
    result = fetch(entry, tmp_path / "dest", extract=True)
    assert result.extracted_to == tmp_path / "dest" / "set"
    assert (result.extracted_to / "DATA" / "ImageSets" / "val.txt").read_bytes() == b"blackswan\n"
    (result.extracted_to / "DATA" / "a" / "00000.jpg").write_bytes(b"edited")
    assert extract_archive(result.path, result.extracted_to) == result.extracted_to  # marker: no re-extract
    assert (result.extracted_to / "DATA" / "a" / "00000.jpg").read_bytes() == b"edited"


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil.txt"])
def test_zip_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "bad.zip", {"fine.txt": b"ok", name: b"pwned"})
    dest = tmp_path / "box" / "out"
    with pytest.raises(ManifestError, match=r"unsafe: member .*path traversal"):
        extract_archive(archive, dest)
    assert not dest.exists() and not (tmp_path / "evil.txt").exists() and not (tmp_path / "box" / "evil.txt").exists()
    assert list((tmp_path / "box").iterdir()) == []


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w") as tf:
        for info in members:
            data = b"x" * info.size
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _tar_info(name: str, *, link: str | None = None, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    if link is not None:
        info.linkname = link
    else:
        info.size = 3
    return info


@pytest.mark.parametrize(
    "member",
    [
        _tar_info("../escape.txt"),
        _tar_info("/abs.txt"),
        _tar_info("inner/link", link="../../outside", kind=tarfile.SYMTYPE),
        _tar_info("inner/link", link="/etc/passwd", kind=tarfile.SYMTYPE),
        _tar_info("hard", link="../x", kind=tarfile.LNKTYPE),
    ],
)
def test_tar_traversal_and_escaping_links_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path / "bad.tar", [_tar_info("fine.txt"), member])
    dest = tmp_path / "out"
    with pytest.raises(ManifestError, match="is unsafe"):
        extract_archive(archive, dest)
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_tar_with_inner_link_extracts(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok.tar", [_tar_info("d/a.txt"), _tar_info("d/l", link="a.txt", kind=tarfile.SYMTYPE)])
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "d" / "a.txt").read_bytes() == b"xxx" and (out / "d" / "l").read_bytes() == b"xxx"


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not an archive")
    with pytest.raises(ManifestError, match="neither a zip nor a tar archive"):
        extract_archive(tmp_path / "x.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_loaded_manifest_yaml_round_trip_after_fetch(served: Path, tmp_path: Path) -> None:
    """A JSON manifest (no comments to keep) is rewritten whole with the recorded hash."""
    path = tmp_path / "m.json"
    Manifest(name="j", entries=[_entry(served / "clip.mp4", sha=None)]).save(path)
    fetch_manifest(Manifest.load(path), trust_on_first_use=True)
    assert Manifest.load(path).entries[0].sha256 == sha256_bytes(GOOD)
    assert yaml.safe_load(path.read_text())["entries"][0]["sha256"] == sha256_bytes(GOOD)


def test_http_download_from_a_local_server(served: Path, tmp_path: Path) -> None:
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        entry = ManifestEntry(id="clip", path="clip.mp4", sha256=sha256_bytes(GOOD), url=f"{base}/clip.mp4")
        assert (fetch(entry, tmp_path / "dest").path).read_bytes() == GOOD
        missing = ManifestEntry(id="gone", path="gone.mp4", sha256=sha256_bytes(GOOD), url=f"{base}/gone.mp4")
        with pytest.raises(ManifestError, match=r"entry 'gone': cannot download .*404"):
            fetch(missing, tmp_path / "dest")
        assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["clip.mp4"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass
