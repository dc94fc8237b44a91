"""Colorize many files: ``scenecolor colorize DIR_OR_GLOB --out-dir OUT [--jobs N] [--dask ADDRESS]``.

Each input file is one independent task (:class:`FileTask` -> :func:`run_task` -> :class:`FileResult`):

- a failing file is reported with its reason (the one-line message of the error) and the others go on;
- a file already done is skipped: beside each output lies a small sidecar ``OUT.scenecolor.json``
  recording the input's sha256, the run (folder and sha256 of its colorizer) and the options;
  when all three match and the output is still there with the recorded size, the file is skipped;
- tasks run in this process (``--jobs 1``), in N local processes (``--jobs N``; each worker gets
  ``cores // N`` torch/OpenCV threads so N jobs do not oversubscribe the CPU), or on a Dask
  distributed cluster (``--dask tcp://scheduler:8786``; the files and the run folder must be visible
  at the same paths on every worker, e.g. a shared file system). The same :func:`run_task` runs
  everywhere, so a cluster run is the local run spread over machines.

Nothing here keeps frames: memory per worker is that of one :func:`scenecolor.workbook.runs.colorize_with_run` call.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scenecolor.colorize.verify import VerifyConfig
from scenecolor.colorize.video import MERGES
from scenecolor.core.artifacts import atomic_write_json, digest_of, read_json, sha256_file
from scenecolor.core.encoding import MATROSKA_SUFFIXES, Encoding
from scenecolor.core.errors import ParameterError, ScenecolorError
from scenecolor.core.media import CONTAINERS
from scenecolor.workbook.pipeline import step_folder
from scenecolor.workbook.runs import COLORIZER_FILE, colorize_with_run

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .avi .webm .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv .dv .mxf .y4m .vob .qt".split()
)
SIDECAR_SUFFIX = ".scenecolor.json"
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class FileTask:
    """One file to colorize; plain data, so it pickles to a process or a Dask worker."""

    video: str
    out: str
    run: str
    run_key: str  # digest of the run folder and its colorizer checkpoint
    options: dict[str, Any]  # references, backend, clip_len, ext, encoding (crf, lossless), own references, gallery
    threads: int = 1  # torch / OpenCV threads for this task
    device: str = "cpu"  # auto, cpu or cuda: where the networks run (not an option of the output: no re-run)


@dataclass
class FileResult:
    """What happened to one file."""

    video: str
    out: str
    status: str  # "done", "skipped" or "failed"
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0
    input_sha256: str = ""
    media: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fps": round(self.fps, 2)}


# -- inputs and outputs --------------------------------------------------------------------------
def find_videos(spec: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """``(root, files)`` for a folder (its video files, recursively), a glob pattern or one file.

    A folder yields the files whose suffix is a video suffix (hidden files skipped); a glob yields
    every file it matches (the user chose them). ParameterError when nothing matches.
    """
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        files = sorted(
            f
            for f in path.rglob("*")
            if f.is_file()
            and f.suffix.lower() in VIDEO_SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        root = path
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
        root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else path.parent
    elif path.is_file():
        files, root = [path], path.parent
    else:
        raise ParameterError(f"'{text}' is neither a folder, nor a glob pattern, nor a file")
    if not files:
        raise ParameterError(f"'{text}' matches no video file (suffixes: {', '.join(sorted(VIDEO_SUFFIXES))})")
    return root, files


def output_paths(root: Path, files: list[Path], out_dir: Path, ext: str = ".mp4") -> list[Path]:
    """Each input's output under ``out_dir``, keeping sub-folders; ``a.mkv`` and ``a.avi`` get distinct names."""
    if ext not in CONTAINERS:
        raise ParameterError(f"--ext must be one of {', '.join(CONTAINERS)}, got {ext!r}")
    rels = [f.relative_to(root) if f.is_relative_to(root) else Path(f.name) for f in files]
    plain = [r.with_suffix(ext) for r in rels]
    counts: dict[Path, int] = {}
    for p in plain:
        counts[p] = counts.get(p, 0) + 1
    return [out_dir / (r.with_name(r.name + ext) if counts[p] > 1 else p) for r, p in zip(rels, plain)]


def run_key(run_dir: str | os.PathLike[str], backend: str = "torch") -> str:
    """Identity of a run for the skip rule: its resolved folder and the sha256 of its colorizer."""
    run = Path(run_dir).resolve()
    ckpt = step_folder(run, "04_colorizer_training") / COLORIZER_FILE
    return digest_of({"run": str(run), "backend": backend, "colorizer": sha256_file(ckpt) if ckpt.is_file() else None})


def sidecar_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + SIDECAR_SUFFIX)


def _ledger_entry(task: FileTask, input_sha: str) -> dict[str, Any]:
    return {"version": SIDECAR_VERSION, "input_sha256": input_sha, "run_key": task.run_key, "options": task.options}


def already_done(task: FileTask, input_sha: str) -> bool:
    """Whether the sidecar of ``task.out`` records this input, run and options, and the output is intact."""
    side, out = sidecar_path(task.out), Path(task.out)
    if not side.is_file() or not out.is_file():
        return False
    try:
        rec = read_json(side)
    except (OSError, ValueError):
        return False
    want = _ledger_entry(task, input_sha)
    return all(rec.get(k) == v for k, v in want.items()) and rec.get("output_bytes") == out.stat().st_size


# -- one task --------------------------------------------------------------------------------------
def set_threads(n: int) -> None:
    """Limit torch, OpenCV and faiss to ``n`` threads in this process."""
    n = max(1, int(n))
    os.environ["OMP_NUM_THREADS"] = str(n)
    import cv2
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except Exception:  # noqa: BLE001 - faiss is optional here
        pass


def _skip_result(task: FileTask) -> FileResult | None:
    """The "skipped" result of a file already done, or None (also when it cannot be read: the task says why)."""
    try:
        sha = sha256_file(task.video)
        if not already_done(task, sha):
            return None
        rec = read_json(sidecar_path(task.out))
    except (OSError, ValueError):
        return None
    reason = "already done (same input, run and options)"
    return FileResult(task.video, task.out, "skipped", reason, int(rec.get("frames", 0)), 0.0, sha)


def run_task(task: FileTask, *, progress: bool = False) -> FileResult:
    """Colorize one file (or skip it); never raises for a bad file - the reason goes in the result."""
    t0 = time.perf_counter()
    result = FileResult(task.video, task.out, "failed")
    try:
        skipped = _skip_result(task)
        if skipped is not None:
            return skipped
        result.input_sha256 = sha256_file(task.video)
        set_threads(task.threads)
        summary = colorize_with_run(
            task.video,
            task.out,
            run_dir=task.run,
            progress=progress,
            references=task.options.get("references", 5),
            backend=task.options.get("backend", "torch"),
            clip_len=task.options.get("clip_len"),
            reference_files=task.options.get("reference_files"),
            gallery=task.options.get("gallery"),
            device=task.device,
            encoding=Encoding(**task.options.get("encoding", {})),
            merge=task.options.get("merge", MERGES[0]),
            verify=VerifyConfig(fallback=task.options.get("fallback", "grey")),
        )
        result.status, result.frames, result.media = "done", summary.n_frames, summary.media
        result.seconds = round(time.perf_counter() - t0, 3)
        entry = {
            **_ledger_entry(task, result.input_sha256),
            "input": task.video,
            "frames": summary.n_frames,
            "output_bytes": Path(task.out).stat().st_size,
            "seconds": result.seconds,
            "media": summary.media,
        }
        atomic_write_json(sidecar_path(task.out), entry)
    except ScenecolorError as exc:
        result.reason = str(exc)
    except FileNotFoundError as exc:
        result.reason = f"cannot read '{task.video}': {exc.strerror}"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others; the reason is reported
        result.reason = f"{type(exc).__name__}: {exc}"
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


# -- running many ----------------------------------------------------------------------------------
def _init_worker(threads: int) -> None:  # pragma: no cover - runs in worker processes
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def run_local(tasks: list[FileTask], jobs: int, *, progress: bool = True) -> Iterator[FileResult]:
    """Results as they complete: in this process for ``jobs == 1``, else in ``jobs`` spawned processes."""
    if jobs <= 1:
        for task in tasks:
            yield run_task(task, progress=progress)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch/OpenMP threads
    threads = tasks[0].threads if tasks else 1
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
                    task = futures[fut]
                    yield FileResult(task.video, task.out, "failed", reason=f"worker died: {type(exc).__name__}: {exc}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_dask(tasks: list[FileTask], scheduler: Any) -> Iterator[FileResult]:
    """Results as they complete on a Dask distributed cluster (``scheduler``: a Client or its address)."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = client.map(run_task, tasks, pure=False, key=[f"scenecolor-colorize-{i}" for i in range(len(tasks))])
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
                task = by_key[fut.key]
                yield FileResult(task.video, task.out, "failed", reason=f"worker failed: {type(exc).__name__}: {exc}")
    finally:
        if client is not scheduler:
            client.close()


def plan(
    spec: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    references: int = 5,
    backend: str = "torch",
    clip_len: int | None = None,
    ext: str = ".mp4",
    jobs: int = 1,
    reference_files: list[str] | None = None,
    gallery: str | None = None,
    device: str = "cpu",
    encoding: Encoding | None = None,
    merge: str = MERGES[0],
    fallback: str = "grey",
) -> list[FileTask]:
    """The tasks for every input of ``spec``, outputs under ``out_dir`` (networks on ``device``: auto, cpu, cuda);
    ``encoding`` (default H.264 at the default crf) is one of the options, so a file written with another crf or
    lossless mode is not skipped; so is ``fallback``, what a scene with no verified reference gets
    (:data:`scenecolor.colorize.verify.FALLBACKS`)."""
    if jobs < 1:
        raise ParameterError(f"--jobs must be >= 1, got {jobs}")
    encoding = encoding or Encoding()
    if encoding.lossless == "ffv1" and ext not in MATROSKA_SUFFIXES:
        raise ParameterError(
            f"--lossless ffv1 writes FFV1, which players read only from Matroska, but --ext is {ext}: give --ext .mkv, "
            "or use --lossless x264 for .mp4/.mov"
        )
    encoding.check_output(Path(out_dir) / f"output{ext}")
    if merge not in MERGES:
        raise ParameterError(f"--merge must be one of {', '.join(MERGES)}, got {merge!r}")
    root, files = find_videos(spec)
    out = Path(out_dir)
    files = [f for f in files if not f.resolve().is_relative_to(out.resolve())]  # earlier outputs are not inputs
    if not files:
        raise ParameterError(f"'{spec}' holds no video outside --out-dir '{out}'")
    outs = output_paths(root, files, out, ext)
    key = run_key(run_dir, backend)
    options = {
        "references": references,
        "backend": backend,
        "clip_len": clip_len,
        "ext": ext,
        "encoding": encoding.to_json(),
        "merge": merge,
        "fallback": VerifyConfig(fallback=fallback).fallback,  # validated: ParameterError names it
    }
    if reference_files:  # your own references (paths, resolved) serve every scene of every file
        options["reference_files"] = [str(Path(r).resolve()) if "#" not in str(r) else str(r) for r in reference_files]
    if gallery is not None:
        options["gallery"] = str(Path(gallery).resolve())
    threads = max(1, (os.cpu_count() or 1) // jobs)
    run = str(Path(run_dir).resolve())
    return [FileTask(str(f), str(o), run, key, options, threads, device) for f, o in zip(files, outs)]


def colorize_many(
    tasks: list[FileTask],
    *,
    jobs: int = 1,
    dask: Any = None,
    progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Run ``tasks`` locally or on Dask; results in the order of ``tasks``.

    Files already done are skipped here, before any worker starts (the worker checks again).
    """
    done: dict[str, FileResult] = {}
    pending = []
    for task in tasks:
        skipped = _skip_result(task)
        if skipped is None:
            pending.append(task)
        else:
            done[task.video] = skipped
            if on_result is not None:
                on_result(skipped)
    if not pending:
        return [done[t.video] for t in tasks]
    if dask is not None:
        stream: Iterable[FileResult] = run_dask(pending, dask)
    else:
        stream = run_local(pending, jobs, progress=progress and jobs <= 1)
    from tqdm.auto import tqdm

    with tqdm(
        total=len(pending),
        desc="files",
        unit="file",
        disable=not progress or len(tasks) < 2,
        position=1 if jobs <= 1 else 0,
    ) as bar:
        for res in stream:
            done[res.video] = res
            bar.update(1)
            if on_result is not None:
                on_result(res)
    return [done[t.video] for t in tasks]


def summary_table(results: list[FileResult], root: Path | None = None) -> str:
    """A plain-text table: file, status, frames, seconds, fps, output or reason; totals last."""

    def name(p: str) -> str:
        path = Path(p)
        return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)

    rows = [("file", "status", "frames", "seconds", "fps", "output / reason")]
    for r in results:
        rows.append(
            (
                name(r.video),
                r.status,
                str(r.frames),
                f"{r.seconds:.1f}",
                f"{r.fps:.1f}" if r.status == "done" else "",
                r.out if r.status != "failed" else r.reason,
            )
        )
    width = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width[i]) if i < 5 else cell for i, cell in enumerate(row)) for row in rows]
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    total_s = sum(r.seconds for r in results if r.status == "done")
    lines.append(
        f"{len(results)} file(s): {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"{sum(r.frames for r in results if r.status == 'done')} frames colorized in {total_s:.1f} s of work"
    )
    return "\n".join(lines)
