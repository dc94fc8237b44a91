"""Folder runs (issue 14, ask 5) without a model: inputs, output names, the skip rule, the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenecolor.core.artifacts import atomic_write_json, sha256_file
from scenecolor.core.errors import ParameterError
from scenecolor.workbook import batch


def _touch(path: Path, data: bytes = b"video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_find_videos_in_a_folder_a_glob_and_a_file(tmp_path: Path) -> None:
    a = _touch(tmp_path / "in" / "a.MP4")
    b = _touch(tmp_path / "in" / "sub" / "b.mkv")
    _touch(tmp_path / "in" / "notes.txt")
    _touch(tmp_path / "in" / ".hidden" / "c.mp4")
    assert batch.find_videos(tmp_path / "in") == (tmp_path / "in", [a, b])
    root, files = batch.find_videos(str(tmp_path / "in" / "**" / "*.mkv"))
    assert files == [b] and root == b.parent
    assert batch.find_videos(a) == (a.parent, [a])
    with pytest.raises(ParameterError, match="neither"):
        batch.find_videos(tmp_path / "nothing")
    with pytest.raises(ParameterError, match="no video"):
        batch.find_videos(str(tmp_path / "in" / "*.avi"))


def test_output_paths_keep_subfolders_and_never_collide(tmp_path: Path) -> None:
    root = tmp_path / "in"
    files = [root / "a.mkv", root / "a.avi", root / "sub" / "b.mov"]
    outs = batch.output_paths(root, files, tmp_path / "out", ".mp4")
    assert [o.relative_to(tmp_path / "out").as_posix() for o in outs] == ["a.mkv.mp4", "a.avi.mp4", "sub/b.mp4"]
    with pytest.raises(ParameterError, match="--ext"):
        batch.output_paths(root, files, tmp_path / "out", ".gif")


def _task(tmp_path: Path, **options) -> batch.FileTask:
    video = _touch(tmp_path / "in.mp4", b"some video bytes")
    return batch.FileTask(str(video), str(tmp_path / "out.mp4"), str(tmp_path), "run-1", {"references": 5, **options})


def test_a_file_is_done_only_for_the_same_input_run_and_options(tmp_path: Path) -> None:
    task = _task(tmp_path)
    sha = sha256_file(task.video)
    assert not batch.already_done(task, sha)  # nothing yet
    _touch(Path(task.out), b"colorized")
    atomic_write_json(
        batch.sidecar_path(task.out),
        {"version": 1, "input_sha256": sha, "run_key": "run-1", "options": task.options, "output_bytes": 9},
    )
    assert batch.already_done(task, sha)
    assert not batch.already_done(task, "0" * 64)  # another input
    assert not batch.already_done(batch.FileTask(task.video, task.out, task.run, "run-2", task.options), sha)
    assert not batch.already_done(_task(tmp_path, references=2), sha)
    Path(task.out).write_bytes(b"replaced by hand")
    assert not batch.already_done(task, sha)  # the output is not the one recorded


def test_run_task_reports_a_missing_file_instead_of_raising(tmp_path: Path) -> None:
    task = batch.FileTask(str(tmp_path / "gone.mp4"), str(tmp_path / "o.mp4"), str(tmp_path), "k", {})
    result = batch.run_task(task)
    assert result.status == "failed" and "gone.mp4" in result.reason


def test_summary_table_lists_every_file_and_the_totals(tmp_path: Path) -> None:
    results = [
        batch.FileResult(str(tmp_path / "a.mp4"), "out/a.mp4", "done", frames=100, seconds=4.0),
        batch.FileResult(str(tmp_path / "b.mp4"), "out/b.mp4", "skipped", frames=50),
        batch.FileResult(str(tmp_path / "c.mp4"), "out/c.mp4", "failed", reason="corrupt video 'c.mp4'"),
    ]
    table = batch.summary_table(results, tmp_path)
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["file", "status", "frames", "seconds", "fps"]
    assert "25.0" in lines[1] and "corrupt video 'c.mp4'" in lines[3]
    assert lines[-1].startswith("3 file(s): 1 done, 1 skipped, 1 failed; 100 frames")


def test_outputs_inside_the_input_folder_are_not_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "run_key", lambda run, backend="torch": "k")
    a = _touch(tmp_path / "in" / "a.mp4")
    _touch(tmp_path / "in" / "colorized" / "a.mp4")
    tasks = batch.plan(tmp_path / "in", tmp_path / "in" / "colorized", tmp_path, jobs=2)
    assert [t.video for t in tasks] == [str(a)] and tasks[0].out == str(tmp_path / "in" / "colorized" / "a.mp4")
    assert tasks[0].threads == max(1, (__import__("os").cpu_count() or 1) // 2)


def test_done_files_are_skipped_before_any_worker_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = _task(tmp_path)
    sha = sha256_file(task.video)
    _touch(Path(task.out), b"colorized")
    atomic_write_json(
        batch.sidecar_path(task.out),
        {
            "version": 1,
            "input_sha256": sha,
            "run_key": "run-1",
            "options": task.options,
            "output_bytes": 9,
            "frames": 7,
        },
    )

    def no_workers(*args, **kwargs):
        raise AssertionError("a worker was started for a file already done")

    monkeypatch.setattr(batch, "run_local", no_workers)
    (result,) = batch.colorize_many([task], jobs=2, progress=False)
    assert result.status == "skipped" and result.frames == 7 and result.input_sha256 == sha


def test_own_references_and_gallery_are_options_of_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder run with --reference/--gallery passes them to each file; changing them is another run (not skipped)."""
    monkeypatch.setattr(batch, "run_key", lambda run, backend="torch": "k")
    _touch(tmp_path / "in" / "a.mp4")
    ref = _touch(tmp_path / "ref.jpg")
    (task,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, reference_files=[str(ref)], gallery=str(tmp_path))
    assert task.options["reference_files"] == [str(ref.resolve())] and task.options["gallery"] == str(
        tmp_path.resolve()
    )
    (plain,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path)
    assert "reference_files" not in plain.options and plain.options != task.options


def test_merge_is_an_option_of_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--merge travels with each task (another merge is another output, not skipped); a bad one is refused."""
    monkeypatch.setattr(batch, "run_key", lambda run, backend="torch": "k")
    _touch(tmp_path / "in" / "a.mp4")
    (default,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path)
    (lab,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, merge="lab")
    assert default.options["merge"] == "hybrid" and lab.options["merge"] == "lab" and default.options != lab.options
    with pytest.raises(ParameterError, match="--merge must be one of hybrid, luma, lab"):
        batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, merge="rgb")


def test_fallback_is_an_option_of_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--fallback travels with each task (grey by default; the learned prior is another output); a bad one is
    refused before any file is planned."""
    monkeypatch.setattr(batch, "run_key", lambda run, backend="torch": "k")
    _touch(tmp_path / "in" / "a.mp4")
    (default,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path)
    (learned,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, fallback="learned")
    assert default.options["fallback"] == "grey" and learned.options["fallback"] == "learned"
    assert default.options != learned.options
    with pytest.raises(ParameterError, match="fallback must be one of"):
        batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, fallback="sepia")
