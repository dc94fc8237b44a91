"""Same frames => same mp4 bytes, in another process and whatever the heap holds.

Regression test for a reproducibility bug: x264's macroblock-tree lookahead (``mbtree``) reads
uninitialised heap memory in its AVX-512 code path at many frame widths (480 px among them), so
the re-encoded clips of notebook 00 differed by up to ~40 grey levels between two runs with the
same parameters. The frames handed to the encoder were identical; only the encoder's heap state
differed. ``MALLOC_PERTURB_`` (glibc) fills fresh allocations with a chosen byte, so two child
processes with different values expose any dependence on uninitialised memory at once instead
of by luck of the heap. On a CPU without AVX-512 the old code passed this test too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from scenecolor.core import video

# Run in a child process: decode the source the way the data-set builder does (scaled while
# decoding, two decoders interleaved), re-encode it, and write one clip twice in a row (the first
# encoder of a process used to see fresh zeroed pages, later ones recycled memory).
_CHILD = r"""
import hashlib, json, sys
from pathlib import Path
from scenecolor.core import video

src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
size = (480, 144)
a, b = video.iter_frames(src, size=size), video.iter_frames(src, size=size)
with video.VideoWriter(out / "even.mp4", 25.0, *size) as even, video.VideoWriter(out / "odd.mp4", 25.0, *size) as odd:
    for k, (fa, fb) in enumerate(zip(a, b)):
        (even if k % 2 == 0 else odd).write(fa if k % 2 == 0 else fb)
frames = video.read_frames(src, size=(112, 200))
video.write_video(out / "small_1.mp4", frames, 14.2857)
video.write_video(out / "small_2.mp4", frames, 14.2857)
print(json.dumps({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.mp4"))}))
"""


def _source(path: Path, n: int = 16, width: int = 480, height: int = 144) -> Path:
    """Textured frames (8x8 random blocks drifting right) that give x264's lookahead real work."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
    return video.write_video(path, [np.ascontiguousarray(np.roll(image, 3 * k, axis=1)) for k in range(n)], fps=25)


def _run_child(src: Path, out: Path, perturb: str) -> dict[str, str]:
    env = {**os.environ, "MALLOC_PERTURB_": perturb, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(src), str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_encoding_is_byte_identical_across_processes(tmp_path: Path) -> None:
    src = _source(tmp_path / "src.mp4")
    first = _run_child(src, tmp_path / "a", perturb="0")
    second = _run_child(src, tmp_path / "b", perturb="85")
    assert sorted(first) == ["even.mp4", "odd.mp4", "small_1.mp4", "small_2.mp4"]
    differing = [name for name in first if first[name] != second[name]]
    assert differing == [], f"re-encoded clips differ between two processes: {differing}"
    # within one process, the first and a later encoder of the same frames agree too
    assert first["small_1.mp4"] == first["small_2.mp4"]
    # and the clips decode to the same pixels (not only the same container bytes)
    for name in ("even.mp4", "small_1.mp4"):
        assert np.array_equal(video.read_frames(tmp_path / "a" / name), video.read_frames(tmp_path / "b" / name))


def test_source_written_twice_in_this_process_is_identical(tmp_path: Path) -> None:
    one = _source(tmp_path / "one.mp4")
    two = _source(tmp_path / "two.mp4")
    assert hashlib.sha256(one.read_bytes()).digest() == hashlib.sha256(two.read_bytes()).digest()
