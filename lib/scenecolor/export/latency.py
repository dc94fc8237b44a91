"""Latency of exported models, measured the same way for every runtime so the ratios are fair.

Every runtime gets the same inputs, the same thread count, a few warm-up calls (first calls
allocate memory and pick kernels) and then the median of N timed calls. Numbers are only
compared inside one run on one machine: the table reports ratios against torch float32.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecolor.core.errors import ParameterError
from scenecolor.core.timing import torch_threads
from scenecolor.export.onnx import ort_session, run_session


@dataclass(frozen=True)
class Latency:
    """Timing of one runtime: median and spread of ``repeats`` calls after ``warmup`` calls."""

    name: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    warmup: int
    frames_per_call: int

    @property
    def ms_per_frame(self) -> float:
        return self.median_ms / self.frames_per_call

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ms_per_frame": self.ms_per_frame}


def measure_latency(
    fn: Callable[[], Any],
    *,
    name: str = "",
    warmup: int = 2,
    repeats: int = 10,
    frames_per_call: int = 1,
) -> Latency:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; return the median and p10/p90."""
    if repeats < 1 or warmup < 0 or frames_per_call < 1:
        raise ParameterError(
            f"latency '{name}': need repeats >= 1, warmup >= 0, frames_per_call >= 1 "
            f"(got {repeats}, {warmup}, {frames_per_call})"
        )
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    q = np.percentile(times, [10, 90]) if len(times) > 1 else (times[0], times[0])
    return Latency(name, float(statistics.median(times)), float(q[0]), float(q[1]), repeats, warmup, frames_per_call)


def measure_interleaved(
    fns: dict[str, Callable[[], Any]],
    *,
    warmup: int = 2,
    repeats: int = 10,
    frames_per_call: int = 1,
) -> dict[str, Latency]:
    """Time several runtimes in turns (call 1 of each, then call 2 of each, ...), median per runtime.

    On a shared machine the load drifts; taking turns exposes every runtime to the same drift,
    so their ratios stay fair where timing one after the other would not.
    """
    if repeats < 1 or warmup < 0 or frames_per_call < 1:
        raise ParameterError(
            f"need repeats >= 1, warmup >= 0, frames_per_call >= 1 (got {repeats}, {warmup}, {frames_per_call})"
        )
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000.0)
    out = {}
    for name, ts in times.items():
        q = np.percentile(ts, [10, 90])
        out[name] = Latency(
            name, float(statistics.median(ts)), float(q[0]), float(q[1]), repeats, warmup, frames_per_call
        )
    return out


def time_torch(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    *,
    name: str = "torch fp32",
    threads: int = 1,
    warmup: int = 2,
    repeats: int = 10,
    frames_per_call: int = 1,
) -> Latency:
    """Latency of ``model(*inputs)`` in eval mode without autograd, with ``threads`` torch threads."""
    model = model.eval()
    with torch_threads(threads), torch.inference_mode():
        return measure_latency(
            lambda: model(*inputs), name=name, warmup=warmup, repeats=repeats, frames_per_call=frames_per_call
        )


def time_session(
    session: Any,
    inputs: Sequence[torch.Tensor | np.ndarray],
    *,
    name: str,
    warmup: int = 2,
    repeats: int = 10,
    frames_per_call: int = 1,
) -> Latency:
    """Latency of an ONNX Runtime session on the same inputs (its thread count is set when it is created)."""
    arrays = [np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x) for x in inputs]
    return measure_latency(
        lambda: run_session(session, arrays), name=name, warmup=warmup, repeats=repeats, frames_per_call=frames_per_call
    )


def speedups(latencies: Sequence[Latency], baseline: str) -> dict[str, float]:
    """``baseline`` median / each runtime's median: > 1 means faster than the baseline."""
    base = {lat.name: lat for lat in latencies}
    if baseline not in base:
        raise ParameterError(f"baseline '{baseline}' is not among the timed runtimes {sorted(base)}")
    ref = base[baseline].ms_per_frame
    return {lat.name: ref / lat.ms_per_frame for lat in latencies}


def _profile_events(
    path: str | Path, inputs: Sequence[torch.Tensor | np.ndarray], *, threads: int, runs: int
) -> tuple[list[dict[str, Any]], float]:
    """ONNX Runtime's profiler events of one warm-up call and ``runs`` calls of ``path`` on ``inputs``, and the
    timestamp (us) where the first profiled call starts (the warm-up allocates: it is not counted)."""
    import json
    import tempfile

    import onnxruntime as ort

    arrays = [np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x) for x in inputs]
    with tempfile.TemporaryDirectory(prefix="scenecolor-profile-") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
        for _ in range(1 + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    model_runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    return events, (model_runs[1]["ts"] if len(model_runs) > 1 else 0)


def profile_ops(
    path: str | Path, inputs: Sequence[torch.Tensor | np.ndarray], *, threads: int = 1, runs: int = 3
) -> dict[str, float]:
    """ONNX Runtime's own profiler: mean ms per call spent in each operator type, largest first.

    Shows where a graph's time goes (e.g. int8 convolutions against the float ELUs around them).
    The profile file is written to a temporary folder and removed.
    """
    events, start_us = _profile_events(path, inputs, threads=threads, runs=runs)
    totals: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= start_us:
            op = e.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + e["dur"] / 1000.0 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


# -- the int8 ceiling of this CPU ---------------------------------------------------------------
@dataclass(frozen=True)
class ConvShape:
    """One convolution of a graph as ONNX Runtime ran it: NCHW input (padding included), output
    channels, square kernel and stride, and how many convolutions of the graph have this shape."""

    batch: int
    cin: int
    height: int
    width: int
    cout: int
    kernel: int
    stride: int = 1
    count: int = 1

    @property
    def label(self) -> str:
        return (
            f"{self.cin}->{self.cout} ch, {self.kernel}x{self.kernel}/{self.stride} on "
            f"{self.batch}x{self.height}x{self.width} (x{self.count})"
        )


def heavy_convs(
    path: str | Path, inputs: Sequence[torch.Tensor | np.ndarray], *, threads: int = 1, top: int = 4
) -> list[ConvShape]:
    """The ``top`` convolution shapes of a float32 graph that take the most time on ``inputs``
    (ONNX Runtime's profiler, the call after a warm-up), largest total first, each with its count."""
    events, start_us = _profile_events(path, inputs, threads=threads, runs=1)
    totals: dict[tuple[int, ...], list[float]] = {}
    for e in events:
        args = e.get("args", {})
        if e.get("cat") != "Node" or args.get("op_name") != "Conv" or e["ts"] < start_us:
            continue
        x = next(iter(args["input_type_shape"][0].values()))
        w = next(iter(args["input_type_shape"][1].values()))
        y = next(iter(args["output_type_shape"][0].values()))
        k = int(w[2])
        stride = max(1, (int(x[2]) - k) // (int(y[2]) - 1)) if int(y[2]) > 1 else 1
        key = (int(x[0]), int(x[1]), int(x[2]), int(x[3]), int(w[0]), k, stride)
        seen = totals.setdefault(key, [0.0, 0])
        seen[0] += e["dur"]
        seen[1] += 1
    if not totals:
        raise ParameterError(f"'{path}' ran no Conv node on these inputs: no convolution to measure")
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[: max(1, int(top))]
    return [ConvShape(*key, count=int(n)) for key, (_, n) in ranked]


def conv_models(
    shape: ConvShape, seed: int = 0, reduce_range: bool = False
) -> tuple[bytes, bytes, np.ndarray, np.ndarray]:
    """One float32 ``Conv`` and the same convolution as one ``QLinearConv`` (uint8 activations, int8
    weights per output channel, as our static int8 graphs), built with ``onnx.helper``.

    ``reduce_range`` keeps the weights in -63..63 (7 bits): then no pair of uint8 x int8 products
    overflows the 16-bit sums of AVX2 kernels without VNNI, and the int8 output is the exact integer
    convolution rounded once.

    Returns the two serialized models, the float32 input (N, Cin, H, W) and its uint8 quantization.
    The int8 model's scales come from the float32 ranges, so its dequantized output approximates the
    float32 output: the two time the same arithmetic.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if (
        min(shape.batch, shape.cin, shape.cout, shape.kernel, shape.stride) < 1
        or min(shape.height, shape.width) < shape.kernel
    ):
        raise ParameterError(f"convolution shape {shape} is empty or smaller than its kernel")
    rng = np.random.default_rng(seed)
    x = rng.random((shape.batch, shape.cin, shape.height, shape.width), dtype=np.float32)
    fan_in = shape.cin * shape.kernel * shape.kernel
    w = (rng.standard_normal((shape.cout, shape.cin, shape.kernel, shape.kernel)) / np.sqrt(fan_in)).astype(np.float32)
    b = (0.1 * rng.standard_normal(shape.cout)).astype(np.float32)
    attrs = {"kernel_shape": [shape.kernel] * 2, "strides": [shape.stride] * 2}
    oh = (shape.height - shape.kernel) // shape.stride + 1
    ow = (shape.width - shape.kernel) // shape.stride + 1
    out_dims = [shape.batch, shape.cout, oh, ow]

    def model(nodes: list, inits: list, in_type: int, out_type: int) -> bytes:
        graph = helper.make_graph(
            nodes,
            "conv",
            [helper.make_tensor_value_info("x", in_type, list(x.shape))],
            [helper.make_tensor_value_info("y", out_type, out_dims)],
            initializer=inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        m.ir_version = 9
        onnx.checker.check_model(m)
        return m.SerializeToString()

    fp32 = model(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
        TensorProto.FLOAT,
        TensorProto.FLOAT,
    )
    y = _conv_reference(x, w, b, shape.stride)
    x_scale = np.float32(x.max() / 255.0)
    w_max = 63 if reduce_range else 127
    w_scale = (np.abs(w).reshape(shape.cout, -1).max(axis=1) / w_max).astype(np.float32)
    y_lo, y_hi = float(min(y.min(), 0.0)), float(max(y.max(), 0.0))
    y_scale = np.float32((y_hi - y_lo) / 255.0 or 1.0)
    y_zero = np.uint8(np.clip(round(-y_lo / y_scale), 0, 255))
    xq = np.clip(np.round(x / x_scale), 0, 255).astype(np.uint8)
    wq = np.clip(np.round(w / w_scale[:, None, None, None]), -w_max, w_max).astype(np.int8)
    bq = np.round(b / (x_scale * w_scale)).astype(np.int32)
    int8 = model(
        [
            helper.make_node(
                "QLinearConv",
                ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                ["y"],
                **attrs,
            )
        ],
        [
            numpy_helper.from_array(np.array(x_scale, np.float32), "xs"),
            numpy_helper.from_array(np.array(0, np.uint8), "xz"),
            numpy_helper.from_array(wq, "w"),
            numpy_helper.from_array(w_scale, "ws"),
            numpy_helper.from_array(np.zeros(shape.cout, np.int8), "wz"),
            numpy_helper.from_array(np.array(y_scale, np.float32), "ys"),
            numpy_helper.from_array(np.array(y_zero, np.uint8), "yz"),
            numpy_helper.from_array(bq, "b"),
        ],
        TensorProto.UINT8,
        TensorProto.UINT8,
    )
    return fp32, int8, x, xq


def _conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """A plain NumPy convolution (no padding), float64: the output range the int8 model is scaled to."""
    n, c, h, wd = x.shape
    k = w.shape[2]
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    out = np.zeros((n, w.shape[0], oh, ow))
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j], optimize=True)
    return out + b[None, :, None, None]


@dataclass(frozen=True)
class Int8Ceiling:
    """What int8 buys on this CPU for one convolution shape, and pooled over the shapes (weighted by
    each shape's count): ``ratio`` = float32 ms / int8 ms, ONNX Runtime alone, same threads."""

    rows: list[dict[str, Any]]
    ratio: float


def int8_conv_ceiling(
    shapes: Sequence[ConvShape], *, threads: int = 1, warmup: int = 2, repeats: int = 10
) -> Int8Ceiling:
    """Time each shape's float32 ``Conv`` against its ``QLinearConv`` (:func:`conv_models`) in ONNX
    Runtime sessions made by :func:`~scenecolor.export.onnx.ort_session` (same options as the
    colorizer's), taking turns (:func:`measure_interleaved`). The pooled ratio is the speed-up a
    graph made only of these convolutions in int8 would get: the ceiling of a whole int8 graph.

    Each row also carries the mean and largest difference of the int8 output (dequantized) from
    float32, in output steps: the mean shows the two compute the same convolution; the largest is
    also where the CPU's int8 kernel saturates (AVX2 without VNNI adds pairs of uint8 x int8
    products in 16 bits, which overflow for large activations times large weights).
    """
    import tempfile

    import onnx
    from onnx import numpy_helper

    if not shapes:
        raise ParameterError("the int8 ceiling needs at least one convolution shape")
    rows = []
    fp32_total = int8_total = 0.0
    with tempfile.TemporaryDirectory(prefix="scenecolor-ceiling-") as tmp:
        for idx, shape in enumerate(shapes):
            fp32, int8, x, xq = conv_models(shape, seed=idx)
            paths = [Path(tmp) / f"conv{idx}.fp32.onnx", Path(tmp) / f"conv{idx}.int8.onnx"]
            paths[0].write_bytes(fp32)
            paths[1].write_bytes(int8)
            s32, s8 = ort_session(paths[0], threads), ort_session(paths[1], threads)
            lat = measure_interleaved(
                {
                    "fp32": lambda s=s32, a=x: s.run(None, {"x": a}),
                    "int8": lambda s=s8, a=xq: s.run(None, {"x": a}),
                },
                warmup=warmup,
                repeats=repeats,
            )
            y32 = s32.run(None, {"x": x})[0]
            y8 = s8.run(None, {"x": xq})[0].astype(np.float64)
            init = {t.name: t for t in onnx.load_from_string(int8).graph.initializer}
            ys, yz = float(numpy_helper.to_array(init["ys"])), float(numpy_helper.to_array(init["yz"]))
            err = np.abs((y8 - yz) * ys - y32) / ys
            rows.append(
                {
                    "convolution": shape.label,
                    "fp32 ms": lat["fp32"].median_ms,
                    "int8 ms": lat["int8"].median_ms,
                    "int8 speed-up": lat["fp32"].median_ms / lat["int8"].median_ms,
                    "mean |int8 - fp32| (output steps)": float(err.mean()),
                    "max |int8 - fp32| (output steps)": float(err.max()),
                }
            )
            fp32_total += shape.count * lat["fp32"].median_ms
            int8_total += shape.count * lat["int8"].median_ms
    return Int8Ceiling(rows, fp32_total / int8_total)
