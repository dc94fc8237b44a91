"""TensorRT engines from the exported ONNX files, where TensorRT and a CUDA GPU exist.

The paper says it deploys "with TensorRT 8.6 on a Raspberry Pi 4". TensorRT compiles networks
for NVIDIA GPUs only (Jetson boards are the embedded target); a Raspberry Pi has an Arm CPU and
no CUDA device, so there the path is ONNX Runtime. This module builds an engine (fp16, and int8
from the calibrated QDQ model: TensorRT's explicit quantization) when it can, and otherwise
returns one sentence saying why it skipped, which the edge-export step writes into the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecolor.core.artifacts import atomic_write_bytes
from scenecolor.core.errors import ExportError
from scenecolor.export.latency import Latency, measure_latency

Shape = tuple[int, ...]


def tensorrt_skip_reason() -> str | None:
    """None when a TensorRT engine can be built here, else the reason it is skipped (for the report)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return (
            "TensorRT skipped: the `tensorrt` package is not installed. TensorRT builds engines for NVIDIA "
            "GPUs only; install it with `pip install .[tensorrt]` on a machine with a CUDA GPU (a Jetson board "
            "is the embedded equivalent). On a CPU such as the Raspberry Pi 4's Arm cores, use ONNX Runtime."
        )
    if not torch.cuda.is_available():
        return (
            f"TensorRT skipped: tensorrt {getattr(tensorrt, '__version__', '?')} is installed but torch sees no "
            "CUDA GPU (torch.cuda.is_available() is False). TensorRT runs only on NVIDIA GPUs."
        )
    return None


def _trt() -> Any:
    reason = tensorrt_skip_reason()
    if reason is not None:
        raise ExportError(reason)
    import tensorrt as trt

    return trt


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    shapes: Mapping[str, tuple[Shape, Shape, Shape]],
    *,
    precision: str = "fp16",
    workspace_mb: int = 2048,
) -> Path:
    """Parse ``onnx_path`` and write a serialized engine; ``shapes`` gives (min, opt, max) per input.

    ``precision``: "fp32", "fp16", or "int8" (pass the QDQ int8 ONNX: TensorRT takes the
    calibrated scales from its Q/DQ nodes, with fp16 allowed where int8 has no kernel).
    """
    trt = _trt()
    if precision not in ("fp32", "fp16", "int8"):
        raise ExportError(f"TensorRT precision must be fp32, fp16 or int8, got {precision!r}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT cannot parse '{onnx_path}': {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(
            f"TensorRT failed to build a {precision} engine from '{onnx_path}' (see the TensorRT log above)"
        )
    return atomic_write_bytes(engine_path, bytes(serialized))


@dataclass
class TensorRTRunner:
    """Runs a serialized engine on CUDA with torch tensors as buffers (TensorRT >= 8.5 tensor API)."""

    engine_path: Path

    def __post_init__(self) -> None:
        trt = _trt()
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(Path(self.engine_path).read_bytes())
        if self._engine is None:
            raise ExportError(
                f"cannot load TensorRT engine '{self.engine_path}' (built by another TensorRT version? rebuild it)"
            )
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self.inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._stream = torch.cuda.Stream()

    def __call__(self, inputs: Sequence[torch.Tensor | np.ndarray]) -> list[torch.Tensor]:
        """Run on positional inputs; returns CUDA float32 tensors (one per engine output)."""
        if len(inputs) != len(self.inputs):
            raise ExportError(f"TensorRT engine takes {len(self.inputs)} inputs {self.inputs}, got {len(inputs)}")
        keep = []
        for name, x in zip(self.inputs, inputs):
            t = torch.as_tensor(x).to("cuda", torch.float32).contiguous()
            keep.append(t)
            self._context.set_input_shape(name, tuple(t.shape))
            self._context.set_tensor_address(name, t.data_ptr())
        outs = []
        for name in self.outputs:
            out = torch.empty(tuple(self._context.get_tensor_shape(name)), device="cuda", dtype=torch.float32)
            outs.append(out)
            self._context.set_tensor_address(name, out.data_ptr())
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise ExportError(f"TensorRT engine '{self.engine_path}' failed to run")
        self._stream.synchronize()
        return outs


def benchmark_engine(
    runner: TensorRTRunner,
    inputs: Sequence[torch.Tensor],
    reference: np.ndarray,
    *,
    name: str,
    warmup: int = 3,
    repeats: int = 20,
    frames_per_call: int = 1,
) -> tuple[Latency, float]:
    """Latency of an engine (GPU-synchronised calls) and its max abs error against ``reference`` (torch fp32)."""
    got = runner(inputs)[0].float().cpu().numpy()
    if got.shape != reference.shape:
        raise ExportError(f"TensorRT output shape {got.shape} != torch {reference.shape}")
    err = float(np.abs(got.astype(np.float64) - reference).max())
    cuda_inputs = [torch.as_tensor(x).cuda() for x in inputs]
    lat = measure_latency(
        lambda: runner(cuda_inputs), name=name, warmup=warmup, repeats=repeats, frames_per_call=frames_per_call
    )
    return lat, err
