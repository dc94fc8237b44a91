"""Latency of exported models, measured the same way for every runtime so the ratios are fair.

Every runtime gets the same inputs, the same thread count, a few warm-up calls (first calls
allocate memory and pick kernels) and then the median of N timed calls. Numbers are only
compared inside one run on one machine: the table reports ratios against torch float32.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .errors import ParameterError
from .export import run_session


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
    fns: dict[str, Callable[[], Any]], *, warmup: int = 2, repeats: int = 10, frames_per_call: int = 1,
) -> dict[str, Latency]:
    """Time several runtimes in turns (call 1 of each, then call 2 of each, ...), median per runtime.

    On a shared machine the load drifts; taking turns exposes every runtime to the same drift,
    so their ratios stay fair where timing one after the other would not.
    """
    if repeats < 1 or warmup < 0 or frames_per_call < 1:
        raise ParameterError(f"need repeats >= 1, warmup >= 0, frames_per_call >= 1 (got {repeats}, {warmup}, {frames_per_call})")
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
        out[name] = Latency(name, float(statistics.median(ts)), float(q[0]), float(q[1]), repeats, warmup, frames_per_call)
    return out


def time_torch(
    model: torch.nn.Module, inputs: Sequence[torch.Tensor], *, name: str = "torch fp32", threads: int = 1,
    warmup: int = 2, repeats: int = 10, frames_per_call: int = 1,
) -> Latency:
    """Latency of ``model(*inputs)`` in eval mode without autograd, with ``threads`` torch threads."""
    model = model.eval()
    with torch_threads(threads), torch.inference_mode():
        return measure_latency(lambda: model(*inputs), name=name, warmup=warmup, repeats=repeats, frames_per_call=frames_per_call)


def time_session(
    session: Any, inputs: Sequence[torch.Tensor | np.ndarray], *, name: str, warmup: int = 2, repeats: int = 10,
    frames_per_call: int = 1,
) -> Latency:
    """Latency of an ONNX Runtime session on the same inputs (its thread count is set when it is created)."""
    arrays = [np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x) for x in inputs]
    return measure_latency(lambda: run_session(session, arrays), name=name, warmup=warmup, repeats=repeats, frames_per_call=frames_per_call)


def speedups(latencies: Sequence[Latency], baseline: str) -> dict[str, float]:
    """``baseline`` median / each runtime's median: > 1 means faster than the baseline."""
    base = {lat.name: lat for lat in latencies}
    if baseline not in base:
        raise ParameterError(f"baseline '{baseline}' is not among the timed runtimes {sorted(base)}")
    ref = base[baseline].ms_per_frame
    return {lat.name: ref / lat.ms_per_frame for lat in latencies}
