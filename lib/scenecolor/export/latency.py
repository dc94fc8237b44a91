"""Latency of exported models, measured the same way for every runtime so the ratios are fair.

Every runtime gets the same inputs, the same thread count, a few warm-up calls (first calls
allocate memory and pick kernels) and then the median of N timed calls. Numbers are only
compared inside one run on one machine: the table reports ratios against torch float32.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecolor.core.errors import ParameterError
from scenecolor.export.onnx import run_session


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


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def profile_ops(
    path: str | Path, inputs: Sequence[torch.Tensor | np.ndarray], *, threads: int = 1, runs: int = 3
) -> dict[str, float]:
    """ONNX Runtime's own profiler: mean ms per call spent in each operator type, largest first.

    Shows where a graph's time goes (e.g. int8 convolutions against the float ELUs around them).
    The profile file is written to a temporary folder and removed.
    """
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
        session.run(None, feed)  # the first call allocates: profile the later ones
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs_events = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    start_us = runs_events[1]["ts"] if len(runs_events) > 1 else 0  # skip the allocating first run
    totals: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= start_us:
            op = e.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + e["dur"] / 1000.0 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
