"""`scenecolor manifest scan|verify|fetch` end to end: the installed command and `cli.main` in-process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from scenecolor.cli import main
from scenecolor.core.artifacts import sha256_bytes
from scenecolor.core.video import write_video
from scenecolor.data.manifests.format import Manifest


def _command() -> list[str]:
    script = Path(sys.executable).parent / "scenecolor"
    if script.exists():
        return [str(script)]
    found = shutil.which("scenecolor")
    return [found] if found else [sys.executable, "-c", "import sys; from scenecolor.cli import main; sys.exit(main())"]


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([*_command(), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def videos(tmp_path: Path) -> Path:
    root = tmp_path / "my_videos"
    rng = np.random.default_rng(0)
    for name in ("beach.mp4", "city/street.mp4", "city/night.mp4"):
        write_video(root / name, [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)], fps=10)
    return root


def test_scan_then_verify_then_tamper(videos: Path, tmp_path: Path) -> None:
    scanned = _run(
        "manifest", "scan", videos, "--out", "m.yaml", "--seed", "2", "--split", "0.5,0.25,0.25", cwd=tmp_path
    )
    assert scanned.returncode == 0, scanned.stderr
    assert "wrote m.yaml: 3 videos" in scanned.stdout
    manifest = Manifest.load(tmp_path / "m.yaml")
    assert [e.id for e in manifest.entries] == ["beach", "city__night", "city__street"]
    assert "seed=2" in manifest.description and "[0.5, 0.25, 0.25]" in manifest.description

    ok = _run("manifest", "verify", "m.yaml", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert sum(line.startswith("ok ") for line in ok.stdout.splitlines()) == 3 and "all 3 entries" in ok.stdout

    (videos / "beach.mp4").write_bytes(b"tampered")
    (videos / "city" / "night.mp4").unlink()
    bad = _run("manifest", "verify", "m.yaml", cwd=tmp_path)
    assert bad.returncode == 1
    assert (
        "mismatch  beach" in bad.stdout
        and "missing   city__night" in bad.stdout
        and "ok        city__street" in bad.stdout
    )
    assert "2 of 3 entries" in bad.stderr and "beach: mismatch" in bad.stderr and "city__night: missing" in bad.stderr


def test_scan_empty_folder_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _run("manifest", "scan", "empty", "--out", "m.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "scenecolor manifest: error: cannot scan 'empty': the folder is empty" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "m.yaml").exists()


def test_scan_bad_split_is_a_usage_error(videos: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["manifest", "scan", str(videos), "--out", str(tmp_path / "m.yaml"), "--split", "0.7,0.3"])
    assert info.value.code == 2 and "expected three fractions" in capsys.readouterr().err
    assert main(["manifest", "scan", str(videos), "--out", str(tmp_path / "m.yaml"), "--split", "0.7,0.3,0.3"]) == 2
    assert "summing to 1" in capsys.readouterr().err


def test_corrupt_video_in_process(videos: Path, tmp_path: Path, capsys) -> None:
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    out = tmp_path / "m.yaml"
    assert main(["manifest", "scan", str(videos), "--out", str(out)]) == 2
    assert "broken.mp4" in capsys.readouterr().err and not out.exists()
    assert main(["manifest", "scan", str(videos), "--out", str(out), "--skip-corrupt"]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "3 videos" in captured.out and "warning: " in captured.err
    assert main(["manifest", "verify", str(out)]) == 0


def test_fetch_with_file_urls(tmp_path: Path, capsys) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "a.mp4").write_bytes(b"aaaa" * 50)
    (remote / "b.mp4").write_bytes(b"bbbb" * 50)
    manifest = tmp_path / "data_manifests" / "remote.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        yaml.safe_dump(
            {
                "name": "remote",
                "entries": [
                    {
                        "id": "a",
                        "path": "../data/a.mp4",
                        "sha256": sha256_bytes(b"aaaa" * 50),
                        "url": (remote / "a.mp4").as_uri(),
                    },
                    {"id": "b", "path": "../data/b.mp4", "sha256": None, "url": (remote / "b.mp4").as_uri()},
                ],
            },
            sort_keys=False,
        )
    )

    assert main(["manifest", "fetch", str(manifest)]) == 2
    assert "refusing to fetch 'b'" in capsys.readouterr().err and not (tmp_path / "data").exists()

    assert main(["manifest", "fetch", str(manifest), "--id", "a"]) == 0
    assert "downloaded a" in capsys.readouterr().out
    assert (tmp_path / "data" / "a.mp4").read_bytes() == b"aaaa" * 50

    result = _run("manifest", "fetch", manifest, "--trust-on-first-use", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "present    a" in result.stdout and "downloaded b" in result.stdout
    assert "recorded sha256 of b" in result.stdout
    assert Manifest.load(manifest).entries[1].sha256 == sha256_bytes(b"bbbb" * 50)
    assert _run("manifest", "verify", manifest, cwd=tmp_path).returncode == 0

    (remote / "a.mp4").write_bytes(b"changed upstream")
    assert main(["manifest", "fetch", str(manifest), "--id", "a", "--force"]) == 2
    assert "sha256" in capsys.readouterr().err
    assert (tmp_path / "data" / "a.mp4").read_bytes() == b"aaaa" * 50


def test_verify_unknown_manifest(tmp_path: Path, capsys) -> None:
    assert main(["manifest", "verify", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml' does not exist" in capsys.readouterr().err
