"""Feature extraction speed of the embedder against the FLOP floor measured in the same run.

Frames/s of the embedder against the floor = this machine's measured fp32 matrix-multiply rate /
the network's FLOPs per frame (counted by torch's FLOP counter; ResNet50 at 224x224 is ~4.1 G
multiply-adds = ~8.2 GFLOP). The fraction says how close the convolutions come to the machine's
dense-math peak.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from scenecolor.core.errors import ParameterError
from scenecolor.core.timing import best_seconds, matmul_gflops, synchronize, torch_threads
from scenecolor.embed.model import Embedder, EmbedderConfig, inference_copy


def flops_per_frame(model: torch.nn.Module, size: int) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass on one size x size frame."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, size, size))
    return float(counter.get_total_flops())


@dataclass
class ExtractionBench:
    """Result of :func:`bench_extraction`."""

    backbone: str
    size: int
    batch: int
    frames_per_s: float
    gflop_per_frame: float
    matmul_gflops: float

    @property
    def floor_frames_per_s(self) -> float:
        return self.matmul_gflops / self.gflop_per_frame

    @property
    def fraction_of_floor(self) -> float:
        return self.frames_per_s / self.floor_frames_per_s

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "floor_frames_per_s": self.floor_frames_per_s,
            "fraction_of_floor": self.fraction_of_floor,
        }


@torch.inference_mode()
def bench_extraction(
    backbone: str = "resnet50",
    size: int = 224,
    batch: int = 16,
    batches: int = 3,
    seed: int = 0,
    pooling: str = "gem",
    device: str | torch.device = "cpu",
) -> ExtractionBench:
    """Frames/s of embedding random frames (best of ``batches`` timed batches after a warm-up) on ``device``,
    against the matmul rate measured on the same device.

    The network runs as the gallery and query encoders run it (batch norms folded, channels-last, inference mode).
    """
    if batch < 1 or batches < 1 or size < 32:
        raise ParameterError(f"bench needs batch >= 1, batches >= 1, size >= 32; got {batch}, {batches}, {size}")
    torch.manual_seed(seed)
    model = Embedder(EmbedderConfig(backbone=backbone, pooling=pooling)).eval()
    gflop = flops_per_frame(model, size) / 1e9
    model = inference_copy(model).to(device)
    x = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)

    def forward() -> None:
        model(x)
        synchronize(device)

    forward()  # warm-up
    best = best_seconds(forward, batches)
    return ExtractionBench(backbone, size, batch, batch / best, gflop, matmul_gflops(device=device))


def side_by_side_rate(
    backbone: str, size: int, batch: int, workers: int, batches: int = 2, seed: int = 0, pooling: str = "gem"
) -> float:
    """Frames/s of ``workers`` single-threaded copies of the network running side by side on ready frames, as
    ``scenecolor gallery build`` runs it (best of ``batches`` rounds, after a warm-up round)."""
    if batch < 1 or batches < 1 or workers < 1:
        raise ParameterError(f"bench needs batch, batches and workers >= 1; got {batch}, {batches}, {workers}")
    torch.manual_seed(seed)
    model = inference_copy(Embedder(EmbedderConfig(backbone=backbone, pooling=pooling)))
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)

    def one(_: int) -> None:
        with torch.inference_mode():  # per thread: inference mode does not cross into the workers
            model(x)

    with torch_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(workers)))  # warm-up
        best = best_seconds(lambda: list(pool.map(one, range(workers))), batches)
    return workers * batch / best
