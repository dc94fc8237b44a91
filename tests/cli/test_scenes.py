"""``scenecolor scenes`` and ``scenecolor bench scenes``: the JSON contract and bad files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from scenecolor.cli import main
from scenecolor.core.video import write_video

H, W = 64, 96


def _shot(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.normal(0, 1, (H + n, W, 3)).astype(np.float32), (0, 0), 3)
    big = ((big - big.min()) / (big.max() - big.min()) * 200 + 25).astype(np.uint8)
    return [big[t : t + H] for t in range(n)]


@pytest.fixture(scope="module")
def three_shots(tmp_path_factory) -> Path:
    """A 60-frame mp4 at 25 fps with hard cuts at frames 20 and 40."""
    path = tmp_path_factory.mktemp("videos") / "three_shots.mp4"
    write_video(path, _shot(1, 20) + _shot(2, 20) + _shot(3, 20), fps=25)
    return path


def test_json_contract(three_shots, capsys):
    assert main(["scenes", str(three_shots), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["cuts", "n_frames", "fps", "threshold"]
    assert out["cuts"] == [20, 40]
    assert out["n_frames"] == 60 and out["fps"] == 25.0
    assert isinstance(out["threshold"], float) and 0 < out["threshold"] < 1


def test_k_option_changes_the_threshold(three_shots, capsys):
    main(["scenes", str(three_shots), "--json", "--k", "1.0"])
    low = json.loads(capsys.readouterr().out)["threshold"]
    main(["scenes", str(three_shots), "--json", "--k", "2.5"])
    assert json.loads(capsys.readouterr().out)["threshold"] > low


def test_human_readable_listing(three_shots, capsys):
    assert main(["scenes", str(three_shots)]) == 0
    out = capsys.readouterr().out
    assert "60 frames at 25 fps" in out and "3 scene(s)" in out
    assert "frames     20-    39" in out


@pytest.mark.slow
def test_console_script_runs_in_a_fresh_process(three_shots):
    exe = Path(sys.executable).with_name("scenecolor")
    proc = subprocess.run([str(exe), "scenes", str(three_shots), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cuts"] == [20, 40]


def _fails(args: list[str], capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_missing_file(tmp_path, capsys):
    err = _fails(["scenes", str(tmp_path / "nope.mp4"), "--json"], capsys)
    assert "nope.mp4" in err and "does not exist" in err


def test_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    err = _fails(["scenes", str(empty), "--json"], capsys)
    assert "empty.mp4" in err and "empty" in err and "0 bytes" in err


def test_corrupt_bytes(tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    err = _fails(["scenes", str(junk), "--json"], capsys)
    assert "junk.mp4" in err and "corrupt" in err


def test_truncated_mp4(three_shots, tmp_path, capsys):
    cut = tmp_path / "truncated.mp4"
    data = three_shots.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    err = _fails(["scenes", str(cut), "--json"], capsys)
    assert "truncated.mp4" in err and ("corrupt" in err or "truncated" in err)
    assert three_shots.read_bytes() == data  # the source was only read


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", "0"], "'k' = 0.0: Input should be greater than 0"),
        (["--k", "-2"], "'k' = -2.0: Input should be greater than 0"),
        (["--min-scene-len", "0"], "'min_scene_len' = 0: Input should be greater than or equal to 1"),
        (["--step", "0"], "frame step must be >= 1"),
        (["--motion-ratio", "1.5"], "'motion_ratio' = 1.5: Input should be less than or equal to 1"),
        (["--motion-ratio", "-1"], "'motion_ratio' = -1.0: Input should be greater than or equal to 0"),
    ],
)
def test_bad_parameters(three_shots, capsys, args, message):
    err = _fails(["scenes", str(three_shots), "--json", *args], capsys)
    assert message in err


def test_motion_ratio_option_is_the_ablation(three_shots, capsys):
    assert main(["scenes", str(three_shots), "--json", "--motion-ratio", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["cuts"] == [20, 40]


def test_bench_in_process_only(three_shots, capsys):
    assert main(["bench", "scenes", str(three_shots), "--repeats", "1", "--no-cli"]) == 0
    out = capsys.readouterr().out
    for what in ("ssdev (ours)", "ContentDetector", "AdaptiveDetector", "decode only (gray", "decode only (rgb24"):
        assert what in out
    assert "ours / ContentDetector throughput = " in out and "ours time / decode-only time = " in out
    assert "Command line" not in out


@pytest.mark.slow
def test_bench_times_both_command_lines_side_by_side(three_shots, capsys):
    assert main(["bench", "scenes", str(three_shots), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    timed = [ln for ln in lines if re.match(r"^\s+\d+\.\d\d s  ", ln)]
    assert len(timed) == 4
    assert all(re.search(r"\(CPU +\d+\.\d\d s\)", ln) for ln in timed)
    assert any(ln.rstrip().endswith(f"scenes {three_shots} --json") and "scenecolor" in ln for ln in timed)
    assert any(f"detect({str(three_shots)!r}, ContentDetector())" in ln for ln in timed)
    content = re.search(
        r"wall time scenecolor scenes / PySceneDetect ContentDetector \(detect\(\) in a new process\) = "
        r"(\d+\.\d\d)x \(target <= 1\); CPU time (\d+\.\d\d)x",
        out,
    )
    assert content and float(content.group(1)) > 0 and float(content.group(2)) > 0
    assert any("-m scenecolor.cli.scenes" in ln for ln in timed)
    assert any(f"-i {three_shots} detect-adaptive list-scenes --no-output-file" in ln for ln in timed)
    ratio = re.search(r"CLI wall time scenecolor / scenedetect = (\d+\.\d\d)x \(target <= 1\)", out)
    assert ratio and float(ratio.group(1)) > 0
    assert re.search(
        r"in process, ours / AdaptiveDetector time = \d+\.\d\dx; ours / decode-only floor = \d+\.\d\dx", out
    )


def test_scenes_command_alone_runs_as_a_module(three_shots):
    done = subprocess.run(
        [sys.executable, "-m", "scenecolor.cli.scenes", str(three_shots), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["cuts"] == [20, 40]
    bad = subprocess.run(
        [sys.executable, "-m", "scenecolor.cli.scenes", str(three_shots), "--k", "0"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "'k' = 0.0: Input should be greater than 0" in bad.stderr


def test_scenes_registers_only_its_own_command_module(three_shots):
    """`scenecolor scenes` builds the parser of its own module only: no other command's imports,
    no torch or pandas; an unknown command still gets the full list of commands."""
    code = (
        "import sys; from scenecolor.cli import main; "
        f"assert main(['scenes', {str(three_shots)!r}, '--json']) == 0; "
        "print(sorted(m for m in sys.modules if m.startswith('scenecolor.cli.') or m in ('torch', 'pandas')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "['scenecolor.cli.scenes']"
    bad = subprocess.run([sys.executable, "-m", "scenecolor.cli", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "'scenes'" in bad.stderr and "'colorize'" in bad.stderr and "'bench'" in bad.stderr
