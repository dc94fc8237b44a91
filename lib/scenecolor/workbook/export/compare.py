"""The edge-export step's comparison: every runtime of the colorizer timed and scored the same way.

A :class:`Runtime` is the colorizer's two stages behind two callables - ``encode`` (references
-> features, once per scene) and ``clip`` (grey clip + features -> ab) - so torch, ONNX Runtime
and TensorRT are measured by one function on the same inputs: latency at the paper's 224x224
with R references (references cached, as a video is colorized; their encoding timed apart),
PSNR on the test split at the trained resolution, and the largest ab difference from torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from scenecolor.colorize.data import (
    ClipSet,
    build_clip_set,
    make_batch,
    resize_rgb,
    shot_references,
)
from scenecolor.colorize.model import (
    PAPER_PARAMS,
    PAPER_SIZE_MB,
    ReferenceFeatures,
    SceneColorizer,
    load_colorizer,
    prepare_for_inference,
    size_mb,
)
from scenecolor.core.color import lab_to_rgb, rgb_to_lab
from scenecolor.core.errors import DataError, ExportError, MissingUpstreamError
from scenecolor.core.timing import torch_threads
from scenecolor.data.frames import FrameStore
from scenecolor.evaluate.metrics import psnr
from scenecolor.export.latency import (
    ConvShape,
    Int8Ceiling,
    Latency,
    heavy_convs,
    measure_interleaved,
    profile_ops,
)
from scenecolor.export.models import COLORIZER_ONNX, COLORIZER_REFS_ONNX, example_guide, read_metadata, trained_clip_len
from scenecolor.export.onnx import ort_session, run_session
from scenecolor.export.tensorrt import TensorRTRunner, build_engine
from scenecolor.retrieval.references import read_references
from scenecolor.workbook.colorize.bench import PAPER_SECONDS_PER_FRAME

Features = tuple[Any, ...]


@dataclass
class Runtime:
    """One way of running the colorizer: ``encode(refs_lab) -> features``, ``clip(gray, (*features, guide)) ->
    ab`` (numpy).

    The guide (the correspondence stage's flow candidates, computed outside the network with
    OpenCV) is the same array for every runtime: :func:`clip_inputs` computes it once."""

    name: str
    encode: Callable[[torch.Tensor], Features]
    clip: Callable[[torch.Tensor, Features], np.ndarray]
    size_bytes: int
    n_params: int
    threads: int = 1
    note: str = ""

    def colorize(self, gray: torch.Tensor, refs_lab: torch.Tensor) -> np.ndarray:
        with torch_threads(self.threads):
            return self.clip(gray, clip_inputs(self, gray, refs_lab))


def clip_inputs(rt: Runtime, gray: torch.Tensor, refs_lab: torch.Tensor, guide: Any = None) -> Features:
    """The clip graph's inputs after ``gray``: the runtime's reference features, then the flow candidates."""
    return (*rt.encode(refs_lab), example_guide(gray, refs_lab).numpy() if guide is None else guide)


def torch_runtime(model: SceneColorizer, *, folded: bool, threads: int = 1) -> Runtime:
    """The torch model as trained (``folded=False``) or as the torch backend runs it (BN folded, channels-last),
    on the model's device (CUDA without TF32, so it stays a float32 reference); ab comes back as NumPy."""
    net = prepare_for_inference(model) if folded else model.eval()
    device = next(net.parameters()).device

    def encode(refs: torch.Tensor) -> Features:
        with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            return tuple(net.encode_references(refs.to(device)))

    def clip(gray: torch.Tensor, feats: Features) -> np.ndarray:
        guide = torch.as_tensor(feats[4]).to(device)
        with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            return net.colorize(gray.to(device), ReferenceFeatures(*feats[:4]), guide).cpu().numpy()

    name = "torch fp32 (BN folded, channels-last)" if folded else "torch fp32 (eager)"
    note = "what the torch backend of `scenecolor colorize` runs" if folded else "the network as trained"
    return Runtime(
        name, encode, clip, int(size_mb(model) * 1e6), sum(p.numel() for p in model.parameters()), threads, note
    )


def onnx_runtime(
    name: str, refs_path: Path, clip_path: Path, n_params: int, *, threads: int = 1, note: str = ""
) -> Runtime:
    """Two ONNX Runtime sessions (reference encoder + clip graph) on ``threads`` CPU threads."""
    refs_session, clip_session = ort_session(refs_path, threads), ort_session(clip_path, threads)
    size = Path(refs_path).stat().st_size + Path(clip_path).stat().st_size
    return Runtime(
        name,
        lambda r: tuple(run_session(refs_session, [r])),
        lambda g, f: run_session(clip_session, [g, *f])[0],
        size,
        n_params,
        threads,
        note or "both graph files; layers both stages use are stored in each",
    )


# -- inputs -------------------------------------------------------------------------------------------
@dataclass
class EdgeInputs:
    """Real frames for the edge-export step: test clips (PSNR), train clips (int8 calibration), one timing clip."""

    test: ClipSet
    calibration: list[tuple[torch.Tensor, torch.Tensor]]
    timing_gray: torch.Tensor  # [1, 1, T, S, S] at the timing size
    timing_refs: torch.Tensor  # [1, R, 3, S, S]
    embedder_frames: np.ndarray  # uint8 (n, S, S, 3) test frames for the embedder parity
    n_refs: int
    pool: str = "open"
    summary: dict[str, Any] = field(default_factory=dict)


def _timing_clip(
    store: FrameStore, table: pd.DataFrame, size: int, clip_len: int, n_refs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first test shot with ``clip_len`` frames and open-pool references, at ``size`` x ``size``."""
    refs_by_shot = shot_references(table, "open")
    for shot in sorted(store.index.loc[store.ids(split="test"), "shot_id"].unique()):
        ids, refs = store.ids(shot_id=str(shot)), refs_by_shot.get(str(shot), [])
        if len(ids) >= clip_len and refs:
            refs = [refs[i % len(refs)] for i in range(n_refs)]
            gray = rgb_to_lab(resize_rgb(store.uint8(ids[:clip_len]), size))[..., 0] / 100.0
            lab = rgb_to_lab(resize_rgb(store.uint8(refs), size))
            return torch.from_numpy(gray)[None, None], torch.from_numpy(lab).permute(0, 3, 1, 2)[None].contiguous()
    raise DataError(f"no test shot of '{store.folder}' has {clip_len} frames and references; lower timing_clip_len")


def edge_inputs(
    store_dir: Path,
    references_csv: Path,
    *,
    resolution: int,
    clip_len: int,
    n_refs: int,
    test_clips: int,
    calib_clips: int,
    timing_size: int,
    timing_clip_len: int,
    embedder_frames: int = 4,
    pool: str = "open",
) -> EdgeInputs:
    """Test clips at the trained ``resolution``, calibration clips of the train split, a timing clip at
    ``timing_size``."""
    store = FrameStore.open(store_dir)
    table = read_references(references_csv)
    test = build_clip_set(store, table, "test", resolution=resolution, clip_len=clip_len, max_clips=test_clips)
    train = build_clip_set(store, table, "train", resolution=resolution, clip_len=clip_len, max_clips=calib_clips)
    calibration = [tuple(make_batch(train, [i], n_refs, pool)[:2]) for i in range(len(train))]
    gray, refs = _timing_clip(store, table, timing_size, timing_clip_len or clip_len, n_refs)
    summary = {
        "test clips": len(test),
        "test frames": int(test.clips.size),
        "calibration clips (train split)": len(train),
        "clip length": clip_len,
        "references": n_refs,
        "reference pool": pool,
        "PSNR resolution": resolution,
        "timing clip": f"{gray.shape[2]} frames at {timing_size}x{timing_size}, {refs.shape[1]} references",
    }
    frames = store.uint8(store.ids(split="test")[:embedder_frames])
    summary["embedder parity frames (test split)"] = len(frames)
    return EdgeInputs(test, calibration, gray, refs, frames, n_refs, pool, summary)  # type: ignore[arg-type]


# -- measurements -------------------------------------------------------------------------------------
def _to_uint8(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """L (T, S, S) 0..100 and ab (T, S, S, 2) -> 8-bit RGB (T, S, S, 3)."""
    rgb = lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))
    return (rgb * 255.0).round().astype(np.uint8)


def test_split_outputs(runtime: Runtime, data: EdgeInputs, batch: int = 8) -> np.ndarray:
    """ab of every test clip, [n_clips, 2, T, S, S]."""
    out = []
    for start in range(0, len(data.test), batch):
        idx = list(range(start, min(len(data.test), start + batch)))
        gray, refs, _ = make_batch(data.test, idx, data.n_refs, data.pool)
        out.append(runtime.colorize(gray, refs))
    return np.concatenate(out)


def test_split_psnr(ab: np.ndarray, data: EdgeInputs) -> float:
    """Mean PSNR (dB, 8-bit RGB, over all test frames) of L (true) + ``ab`` against the ground truth."""
    values = []
    for i in range(len(data.test)):
        lab = data.test.lab[data.test.clips[i]]  # (T, S, S, 3)
        truth = _to_uint8(lab[..., 0], lab[..., 1:])
        pred = _to_uint8(lab[..., 0], np.moveaxis(ab[i], 0, -1))  # [2, T, S, S] -> (T, S, S, 2)
        values.append(psnr(truth, pred))
    per_frame = np.concatenate(values)
    finite = per_frame[np.isfinite(per_frame)]
    return float(np.mean(finite)) if finite.size else float("inf")  # identical frames have infinite PSNR


def colorizer_parity(reference: Runtime, candidate: Runtime, data: EdgeInputs, atol: float) -> pd.DataFrame:
    """Max and mean |ab| difference of ``candidate`` from ``reference`` on the timing clip and on the test
    clips; raises ExportError when the largest exceeds ``atol`` (ab units; ab spans about +-110)."""
    cases = {
        f"timing clip {tuple(data.timing_gray.shape)}": (
            reference.colorize(data.timing_gray, data.timing_refs),
            candidate.colorize(data.timing_gray, data.timing_refs),
        ),
        f"test split ({len(data.test)} clips, {data.n_refs} refs)": (
            test_split_outputs(reference, data),
            test_split_outputs(candidate, data),
        ),
    }
    rows = []
    for case, (want, got) in cases.items():
        diff = np.abs(got.astype(np.float64) - want)
        rows.append(
            {
                "inputs": case,
                "shape": str(got.shape),
                "max |ab diff|": float(diff.max()),
                "mean |ab diff|": float(diff.mean()),
                "allowed": atol,
            }
        )
    worst = max(r["max |ab diff|"] for r in rows)
    if worst > atol:
        raise ExportError(
            f"{candidate.name} differs from {reference.name} by up to {worst:.3g} in ab (allowed {atol:g}); re-export "
            "or raise parity_atol"
        )
    return pd.DataFrame(rows)


def time_runtimes(
    runtimes: Sequence[Runtime], gray: torch.Tensor, refs: torch.Tensor, *, warmup: int, repeats: int
) -> dict[str, dict[str, Latency]]:
    """Latency of every runtime on one clip ``gray`` [1,1,T,S,S] with ``refs`` [1,R,3,S,S], taken in
    turns (see ``measure_interleaved``): ``{"clip": {name: per-clip latency}, "refs": {name: encoding}}``."""
    guide = example_guide(gray, refs).numpy()
    feats = {rt.name: clip_inputs(rt, gray, refs, guide) for rt in runtimes}

    def threaded(rt: Runtime, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with torch_threads(rt.threads):
                return fn()

        return call

    clip = {rt.name: threaded(rt, lambda rt=rt: rt.clip(gray, feats[rt.name])) for rt in runtimes}
    encode = {rt.name: threaded(rt, lambda rt=rt: rt.encode(refs)) for rt in runtimes}
    return {
        "clip": measure_interleaved(clip, warmup=warmup, repeats=repeats, frames_per_call=int(gray.shape[2])),
        "refs": measure_interleaved(encode, warmup=warmup, repeats=repeats),
    }


def compare_runtimes(
    runtimes: Sequence[Runtime], data: EdgeInputs, *, warmup: int, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """One row per runtime: size, parameters, ms per frame (references cached), ms per scene for the
    references, test-split PSNR and the largest |ab| difference from the first runtime; and the
    test-split ab of each runtime (for figures)."""
    outputs = {rt.name: test_split_outputs(rt, data) for rt in tqdm(runtimes, desc="test split", leave=False)}
    lat = time_runtimes(runtimes, data.timing_gray, data.timing_refs, warmup=warmup, repeats=repeats)
    reference = outputs[runtimes[0].name]
    rows = []
    for rt in runtimes:
        clip, refs = lat["clip"][rt.name], lat["refs"][rt.name]
        t = clip.frames_per_call
        rows.append(
            {
                "runtime": rt.name,
                "source": "measured",
                "file (MB)": rt.size_bytes / 1e6,
                "parameters (M)": rt.n_params / 1e6,
                "ms / frame": clip.ms_per_frame,
                "ms p10-p90": f"{clip.p10_ms / t:.1f}-{clip.p90_ms / t:.1f}",
                "ms refs / scene": refs.median_ms,
                "PSNR test (dB)": test_split_psnr(outputs[rt.name], data),
                "max |ab - torch|": float(np.abs(outputs[rt.name] - reference).max()),
                "note": rt.note,
            }
        )
    return rows, outputs


def _timing_feed(refs_graph: Path, data: EdgeInputs, threads: int) -> list[Any]:
    """The clip graph's inputs on the timing clip: grey frames, the float32 refs graph's keys and
    values, and the guide."""
    feats = run_session(ort_session(refs_graph, threads), [data.timing_refs])
    guide = example_guide(data.timing_gray, data.timing_refs).numpy()
    return [data.timing_gray, *feats, guide]


def clip_heavy_convs(
    clip_graph: Path, refs_graph: Path, data: EdgeInputs, *, threads: int = 1, top: int = 6
) -> list[ConvShape]:
    """The ``top`` most expensive convolution shapes of the float32 clip graph on the timing clip."""
    return heavy_convs(clip_graph, _timing_feed(refs_graph, data, threads), threads=threads, top=top)


INT8_CEILING_SHARE = 0.8  # target: our int8 speed-up reaches this share of the CPU's own int8 ceiling


def int8_against_ceiling(
    table: pd.DataFrame, int8_row: str, ceiling: Int8Ceiling, fp32_row: str = "ONNX Runtime fp32"
) -> tuple[pd.DataFrame, dict[str, float | bool]]:
    """Our int8 speed-up over ONNX Runtime float32 (whole clip graph) against the ceiling this CPU
    reaches on the colorizer's own heaviest convolutions alone (:func:`int8_conv_ceiling`).

    Returns the table shown in the edge-export step and its numbers: ``ratio`` (ours), ``ceiling``,
    ``share`` (ratio / ceiling) and ``met`` (share >= ``INT8_CEILING_SHARE``).
    """
    t = table.set_index("runtime")
    ratio = float(t.loc[fp32_row, "ms / frame"] / t.loc[int8_row, "ms / frame"])
    share = ratio / ceiling.ratio
    met = bool(share >= INT8_CEILING_SHARE)
    frame = pd.DataFrame(
        [
            {
                "what": "int8 ceiling of this CPU (QLinearConv / Conv, heaviest shapes)",
                "value": f"{ceiling.ratio:.2f}x",
            },
            {"what": f"ours: {fp32_row} / {int8_row}", "value": f"{ratio:.2f}x"},
            {"what": "ours / ceiling", "value": f"{share:.2f}"},
            {
                "what": f"target: ours at least {INT8_CEILING_SHARE:g} of the ceiling "
                f"({INT8_CEILING_SHARE * ceiling.ratio:.2f}x)",
                "value": "met" if met else "not met",
            },
        ]
    )
    return frame, {"ratio": ratio, "ceiling": ceiling.ratio, "share": share, "met": met}


def op_profile_table(
    clip_graphs: dict[str, Path], refs_graph: Path, data: EdgeInputs, *, threads: int = 1, runs: int = 3, top: int = 8
) -> pd.DataFrame:
    """ms per frame by operator type for each clip graph on the timing clip (ONNX Runtime's profiler),
    the ``top`` largest op types of any graph as rows; keys/values come from the float32 ``refs_graph``."""
    feed = _timing_feed(refs_graph, data, threads)
    t = int(data.timing_gray.shape[2])
    per = {name: profile_ops(path, feed, threads=threads, runs=runs) for name, path in clip_graphs.items()}
    frame = pd.DataFrame(per).fillna(0.0) / t
    frame = frame.loc[frame.max(axis=1).sort_values(ascending=False).index[:top]]
    frame.loc["total (all ops)"] = [sum(p.values()) / t for p in per.values()]
    frame.index.name = "op type (ms / frame)"
    return frame


def edge_table(
    rows: Sequence[dict[str, Any]], baseline: str = "torch fp32 (eager)", timing_size: int = 224, n_refs: int = 5
) -> pd.DataFrame:
    """The comparison table: measured rows with speed-up and PSNR change against ``baseline``, then the
    paper's quoted row."""
    frame = pd.DataFrame(list(rows))
    base = frame.set_index("runtime").loc[baseline]
    frame.insert(
        frame.columns.get_loc("ms refs / scene") + 1, "speed-up vs torch", base["ms / frame"] / frame["ms / frame"]
    )
    frame.insert(
        frame.columns.get_loc("PSNR test (dB)") + 1,
        "PSNR change (dB)",
        frame["PSNR test (dB)"] - base["PSNR test (dB)"],
    )
    quoted = {
        "runtime": "paper: TensorRT 8.6 (as printed)",
        "source": "quoted",
        "file (MB)": PAPER_SIZE_MB,
        "parameters (M)": PAPER_PARAMS / 1e6,
        "ms / frame": 1e3 * PAPER_SECONDS_PER_FRAME,
        "note": f"81 MB and 2.6 s per frame as quoted (abstract: 2.6 FPS); ours: {timing_size}x{timing_size}, {n_refs} "
        "refs",
    }
    return pd.concat([frame, pd.DataFrame([quoted])], ignore_index=True)


def targets(table: pd.DataFrame, int8_row: str, baseline: str = "torch fp32 (eager)") -> pd.DataFrame:
    """The issue's targets for the int8 colorizer against what this run measured."""
    t = table.set_index("runtime")
    q, b = t.loc[int8_row], t.loc[baseline]
    speed = b["ms / frame"] / q["ms / frame"]
    drop = b["PSNR test (dB)"] - q["PSNR test (dB)"]
    return pd.DataFrame(
        [
            {
                "target": "int8 at least 2x faster than torch fp32",
                "measured": f"{speed:.2f}x",
                "met": bool(speed >= 2.0),
            },
            {"target": "PSNR drop at most 0.3 dB", "measured": f"{drop:+.3f} dB", "met": bool(drop <= 0.3)},
            {
                "target": "int8 file at most 4 MB",
                "measured": f"{q['file (MB)']:.2f} MB",
                "met": bool(q["file (MB)"] <= 4.0),
            },
        ]
    )


def tensorrt_runtime(
    name: str,
    refs_onnx: Path,
    clip_onnx: Path,
    out_dir: Path,
    *,
    precision: str,
    n_params: int,
    sizes: tuple[int, int],
    max_batch: int,
    max_clip_len: int,
    max_refs: int,
    opt_clip_len: int,
    note: str = "",
) -> Runtime:
    """Both colorizer graphs as TensorRT engines (``precision`` fp16, or int8 from the QDQ files).

    Optimisation profiles span frame sides ``sizes`` (trained resolution .. timing size), batch
    1..``max_batch``, 1..``max_clip_len`` frames and 1..``max_refs`` references. Needs TensorRT and
    a CUDA GPU (see :func:`scenecolor.export.tensorrt.tensorrt_skip_reason`).
    """
    lo, hi = min(sizes), max(sizes)
    clip_session = ort_session(clip_onnx)
    width = {i.name: int(i.shape[-1]) if isinstance(i.shape[-1], int) else 0 for i in clip_session.get_inputs()[1:]}
    rn_lo, rn_opt, rn_hi = (lo // 16) ** 2, max_refs * (hi // 16) ** 2, max_refs * (hi // 16) ** 2
    # the correspondence stage's reference grid: 1/16 (corr_key_pool 2) or 1/8 (pool 1, older checkpoints)
    rm_lo, rm_hi = (lo // 16) ** 2, max_refs * (hi // 8) ** 2
    stem = Path(clip_onnx).name.replace(".onnx", "")
    refs_engine = build_engine(
        refs_onnx,
        out_dir / f"{stem}_refs.{precision}.engine",
        {"refs_lab": ((1, 1, 3, lo, lo), (1, max_refs, 3, hi, hi), (max_batch, max_refs, 3, hi, hi))},
        precision=precision,
    )
    clip_engine = build_engine(
        clip_onnx,
        out_dir / f"{stem}.{precision}.engine",
        {
            "gray": ((1, 1, 1, lo, lo), (1, 1, opt_clip_len, hi, hi), (max_batch, 1, max_clip_len, hi, hi)),
            "keys": ((1, rn_lo, width["keys"]), (1, rn_opt, width["keys"]), (max_batch, rn_hi, width["keys"])),
            "values": ((1, rn_lo, width["values"]), (1, rn_opt, width["values"]), (max_batch, rn_hi, width["values"])),
            "corr_keys": (
                (1, rm_lo, width["corr_keys"]),
                (1, rm_hi, width["corr_keys"]),
                (max_batch, rm_hi, width["corr_keys"]),
            ),
            "corr_values": (
                (1, rm_lo, width["corr_values"]),
                (1, rm_hi, width["corr_values"]),
                (max_batch, rm_hi, width["corr_values"]),
            ),
            "guide": ((1, 9, 1, lo, lo), (1, 9, opt_clip_len, hi, hi), (max_batch, 9, max_clip_len, hi, hi)),
        },
        precision=precision,
    )
    refs_run, clip_run = TensorRTRunner(refs_engine), TensorRTRunner(clip_engine)
    size = refs_engine.stat().st_size + clip_engine.stat().st_size
    return Runtime(
        name,
        lambda r: tuple(refs_run([r])),
        lambda g, f: clip_run([g, *f])[0].cpu().numpy(),
        size,
        n_params,
        1,
        note or "engine files; times include the copy of ab back to the CPU",
    )


def bench_exported(
    ckpt: Path,
    folder: Path,
    *,
    size: int = 224,
    n_refs: int = 5,
    clip_len: int = 0,
    threads: int = 1,
    warmup: int = 2,
    repeats: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """``scenecolor bench export``: speed of ``colorizer.pt`` in torch and of every ONNX file the edge-export step
    wrote into ``folder`` (float32, int8, dynamic int8), timed in turns on one seeded clip; ratios against
    torch eager.

    Timing does not depend on the pixels, so the clip is synthetic; quality is the edge-export step's job.
    """
    if not (folder / COLORIZER_ONNX).is_file():
        raise MissingUpstreamError(f"'{folder}' holds no '{COLORIZER_ONNX}'; run the edge-export step first")
    model, checkpoint = load_colorizer(ckpt)
    t = clip_len or trained_clip_len(checkpoint)
    r = min(n_refs, model.cfg.max_refs)
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(1, 1, t, size, size, generator=g)
    refs = torch.cat(
        [torch.rand(1, r, 1, size, size, generator=g) * 100, torch.randn(1, r, 2, size, size, generator=g) * 20], dim=2
    )
    n_params = sum(p.numel() for p in model.parameters())
    runtimes = [torch_runtime(model, folded=False, threads=threads), torch_runtime(model, folded=True, threads=threads)]
    for suffix, label in (
        (".onnx", "ONNX Runtime fp32"),
        (".int8.onnx", "ONNX Runtime int8"),
        (".int8-dynamic.onnx", "ONNX Runtime int8 (dynamic)"),
    ):
        clip_path = folder / COLORIZER_ONNX.replace(".onnx", suffix)
        refs_path = folder / COLORIZER_REFS_ONNX.replace(".onnx", suffix)
        if clip_path.is_file() and refs_path.is_file():
            kind = read_metadata(clip_path).get("int8", "")
            runtimes.append(
                onnx_runtime(
                    f"{label} ({kind})" if kind and "dynamic" not in label else label,
                    refs_path,
                    clip_path,
                    n_params,
                    threads=threads,
                )
            )
    lat = time_runtimes(runtimes, gray, refs, warmup=warmup, repeats=repeats)
    base = lat["clip"][runtimes[0].name].ms_per_frame
    return pd.DataFrame(
        [
            {
                "runtime": rt.name,
                "file (MB)": round(rt.size_bytes / 1e6, 2),
                "ms / frame": round(lat["clip"][rt.name].ms_per_frame, 2),
                "ms p10-p90": f"{lat['clip'][rt.name].p10_ms / t:.1f}-{lat['clip'][rt.name].p90_ms / t:.1f}",
                "ms refs / scene": round(lat["refs"][rt.name].median_ms, 2),
                "speed-up vs torch eager": round(base / lat["clip"][rt.name].ms_per_frame, 2),
            }
            for rt in runtimes
        ]
    )
