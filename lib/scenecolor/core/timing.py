"""The machine's own floor for speed ratios: its measured dense fp32 matrix-multiply rate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def synchronize(device: str | torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA runs asynchronously; the CPU needs nothing)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(n: int = 1024, repeats: int = 5, device: str | torch.device = "cpu") -> float:
    """Best-of-``repeats`` fp32 matrix-multiply rate (GFLOP/s, 2 n^3 per product) on ``device`` (the CPU with
    torch's threads)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def product() -> None:
        torch.mm(a, b)
        synchronize(device)

    product()  # warm-up
    return 2 * n**3 / best_seconds(product, repeats) / 1e9


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timed calls of ``run``: the one least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` (at least 1) for the block, then restored (the setting is process-wide)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
