"""ONNX export of any torch module, its check, ONNX Runtime sessions, parity and int8 quantization.

The paper deploys its model "with TensorRT 8.6 on a Raspberry Pi 4"; TensorRT needs an NVIDIA
GPU, so on an Arm (or any) CPU the portable path is ONNX -> ONNX Runtime, in float32 or int8.
This module is that path for any ``nn.Module``: export with dynamic axes, validate with
``onnx.checker``, compare ONNX Runtime with PyTorch on the same inputs (max absolute error),
and quantize to int8. The project's two networks are wired in ``export_models.py``; timing
lives in ``export_bench.py`` and TensorRT in ``export_tensorrt.py``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from scenecolor.core.artifacts import atomic_path
from scenecolor.core.errors import ExportError

Exporter = Literal["dynamo", "torchscript"]
QuantMode = Literal["static", "dynamic"]
DEFAULT_OPSET = 18


@dataclass(frozen=True)
class OnnxExport:
    """What one export wrote: the file, its interface and how long it took."""

    path: Path
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    opset: int
    exporter: str
    export_s: float
    n_params: int

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class ParityReport:
    """ONNX Runtime against PyTorch on the same inputs, one output."""

    name: str
    max_abs_err: float
    mean_abs_err: float
    shape: tuple[int, ...]
    atol: float

    @property
    def passed(self) -> bool:
        return self.max_abs_err <= self.atol


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (learnable tensors) of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))


def file_size_mb(path: str | Path) -> float:
    """Size of a file in MB (10^6 bytes, as the paper's '81 MB' is read)."""
    return Path(path).stat().st_size / 1e6


def _dynamic_shapes(
    input_names: Sequence[str], dynamic_axes: Mapping[str, Mapping[int, str]]
) -> tuple[dict[int, Any], ...]:
    """Translate ``{input: {axis: label}}`` into torch.export Dims in input order (one Dim per label,
    so axes sharing a label share a size); positional, since ONNX names need not match forward()'s."""
    dims: dict[str, Any] = {}
    return tuple(
        {axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in dynamic_axes.get(name, {}).items()}
        for name in input_names
    )


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: Exporter = "dynamo",
    output_axes: Mapping[str, Mapping[int, str]] | None = None,
) -> OnnxExport:
    """Export ``model`` (in eval mode) to ONNX at ``path`` atomically and validate it with onnx.checker.

    ``dynamic_axes`` maps an input name to ``{axis: label}`` (for example ``{"gray": {0: "B", 2: "T"}}``);
    axes sharing a label must share a size. ``exporter="dynamo"`` (torch.export, the default of
    torch >= 2.9) gives byte-identical files for the same weights; ``"torchscript"`` is the
    legacy tracer, kept for graphs torch.export cannot capture; ``output_axes`` names its outputs'
    dynamic axes (default: the batch axis; torch.export infers them itself).
    """
    if len(input_names) != len(example_inputs):
        raise ExportError(
            f"export to '{path}': {len(example_inputs)} example inputs but {len(input_names)} input names "
            f"{list(input_names)}"
        )
    unknown = set(dynamic_axes or {}) - set(input_names)
    if unknown:
        raise ExportError(
            f"export to '{path}': dynamic_axes names unknown inputs {sorted(unknown)} (inputs are {list(input_names)})"
        )
    if exporter not in ("dynamo", "torchscript"):
        raise ExportError(f"export to '{path}': exporter must be 'dynamo' or 'torchscript', got {exporter!r}")
    axes = {k: dict(v) for k, v in (dynamic_axes or {}).items()}
    model = model.eval()
    start = time.perf_counter()
    quiet = io.StringIO()
    with atomic_path(path) as tmp, torch.no_grad(), contextlib.redirect_stdout(quiet), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if exporter == "dynamo":
                program = torch.onnx.export(
                    model,
                    example_inputs,
                    None,
                    dynamo=True,
                    opset_version=opset,
                    verbose=False,
                    input_names=list(input_names),
                    output_names=list(output_names),
                    dynamic_shapes=_dynamic_shapes(input_names, axes),
                    optimize=True,
                )
                program.save(str(tmp))
            else:
                out_axes = (
                    {k: dict(v) for k, v in output_axes.items()}
                    if output_axes
                    else ({n: {0: "B"} for n in output_names} if any(0 in a for a in axes.values()) else {})
                )
                torch.onnx.export(
                    model,
                    example_inputs,
                    str(tmp),
                    dynamo=False,
                    opset_version=opset,
                    input_names=list(input_names),
                    output_names=list(output_names),
                    dynamic_axes={**axes, **out_axes},
                )
        except ExportError:
            raise
        except Exception as exc:  # the exporters raise many unrelated types
            raise ExportError(
                f"cannot export {type(model).__name__} to '{path}' with exporter={exporter!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                f"(try exporter='torchscript', or make the dynamic axes {axes} static)"
            ) from exc
        check_onnx(tmp)
    return OnnxExport(
        path=Path(path),
        input_names=tuple(input_names),
        output_names=tuple(output_names),
        dynamic_axes=axes,
        opset=opset,
        exporter=exporter,
        export_s=time.perf_counter() - start,
        n_params=count_parameters(model),
    )


def check_onnx(path: str | Path) -> None:
    """Validate an ONNX file with ``onnx.checker`` (full check, with shape inference)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"ONNX file '{p}' not found; export it first (scenecolor.export.onnx.export_onnx)")
    try:
        onnx.checker.check_model(str(p), full_check=True)
    except Exception as exc:
        raise ExportError(f"ONNX file '{p}' fails onnx.checker: {str(exc).splitlines()[0]} (re-export it)") from exc


def ort_session(path: str | Path, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session for ``path`` with ``threads`` intra-op threads (1 = reproducible timing)."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise ExportError(
            f"ONNX file '{p}' not found; run the edge-export step (or scenecolor.export.onnx) to export it"
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"ONNX Runtime cannot load '{p}': {str(exc).splitlines()[0]} (re-export it)") from exc


def session_input_names(session: Any) -> list[str]:
    """The input names of an ONNX Runtime session, in order."""
    return [i.name for i in session.get_inputs()]


def run_session(session: Any, inputs: Sequence[torch.Tensor | np.ndarray]) -> list[np.ndarray]:
    """Run ``session`` on positional inputs (tensors or arrays, float32)."""
    names = session_input_names(session)
    if len(names) != len(inputs):
        raise ExportError(f"the ONNX model takes {len(names)} inputs {names}, got {len(inputs)}")
    feed = {n: np.ascontiguousarray(_to_numpy(x)) for n, x in zip(names, inputs)}
    return session.run(None, feed)


def _to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def check_parity(
    model: torch.nn.Module,
    session: Any,
    inputs: Sequence[torch.Tensor],
    *,
    atol: float = 1e-4,
    name: str = "output",
    strict: bool = True,
) -> ParityReport:
    """Run torch and ONNX Runtime on the same ``inputs``; report (and with ``strict``, assert) the max abs error."""
    with torch.no_grad():
        expected = model.eval()(*inputs)
    if isinstance(expected, (tuple, list)):
        expected = expected[0]
    got = run_session(session, inputs)[0]
    want = _to_numpy(expected)
    if got.shape != want.shape:
        raise ExportError(f"parity '{name}': ONNX Runtime output shape {got.shape} != torch {want.shape}")
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    report = ParityReport(name, float(diff.max()), float(diff.mean()), tuple(want.shape), atol)
    if strict and not report.passed:
        raise ExportError(
            f"parity '{name}': ONNX Runtime differs from torch by up to {report.max_abs_err:.3g} "
            f"(allowed {atol:g}); re-export, or check ops that behave differently in eval mode"
        )
    return report


class _QuietRootLogger(contextlib.AbstractContextManager):
    """onnxruntime.quantization logs advice on the root logger; keep it out of notebooks."""

    def __enter__(self) -> _QuietRootLogger:
        self._level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().setLevel(self._level)


# -- int8 ---------------------------------------------------------------------------------------
@dataclass
class _FeedReader:
    """A CalibrationDataReader over a list of input feeds."""

    feeds: list[dict[str, np.ndarray]]
    _it: Any = field(default=None, init=False)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = iter(self.feeds)
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def _prepare_for_quantization(src: Path, dst: Path) -> None:
    """ONNX Runtime's recommended pre-processing (graph optimisation + ONNX shape inference).

    Its symbolic shape inference is skipped: it fails on graphs with several dynamic axes
    (reshapes over T*N) and then leaves ``sym_shape_infer_temp.onnx`` in the working directory.
    If pre-processing fails the original graph is quantized as it is.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    except Exception:
        shutil.copyfile(src, dst)


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    *,
    mode: QuantMode = "static",
    calibration: Iterable[Sequence[torch.Tensor | np.ndarray]] = (),
    per_channel: bool = True,
    op_types: Sequence[str] | None = None,
    quant_format: Literal["qdq", "qoperator"] = "qdq",
) -> Path:
    """Quantize an ONNX model to int8 with ONNX Runtime; write ``out_path`` atomically.

    ``static``: QDQ format, int8 weights per channel and uint8 activations whose ranges come
    from ``calibration`` (input tuples, e.g. frames of the train split, never the test split).
    ``dynamic``: int8 weights only, activation ranges computed at run time (no calibration;
    on CPU its ConvInteger kernels are often slower than float32 - measure before choosing).
    ``quant_format``: "qdq" (Quantize/DequantizeLinear pairs around float ops, fused by ONNX
    Runtime, also what TensorRT reads) or "qoperator" (QLinearConv etc. written directly).
    ``op_types`` limits quantization to those ONNX ops (e.g. ``["Conv"]``: the convolutions hold
    the compute, while attention MatMul/Softmax lose the most accuracy in int8); None = all.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    src = Path(fp32_path)
    if not src.is_file():
        raise ExportError(f"cannot quantize '{src}': file not found; export the float32 model first")
    if mode not in ("static", "dynamic"):
        raise ExportError(f"int8 mode must be 'static' or 'dynamic', got {mode!r}")
    if quant_format not in ("qdq", "qoperator"):
        raise ExportError(f"int8 format must be 'qdq' or 'qoperator', got {quant_format!r}")
    names = session_input_names(ort_session(src))
    feeds = [
        {n: np.ascontiguousarray(_to_numpy(x), dtype=np.float32) for n, x in zip(names, batch)} for batch in calibration
    ]
    if mode == "static" and not feeds:
        raise ExportError(f"static int8 quantization of '{src}' needs calibration inputs (frames of the train split)")
    quiet = _QuietRootLogger()
    with (
        tempfile.TemporaryDirectory(prefix="scenecolor-quant-") as work,
        warnings.catch_warnings(),
        quiet,
        atomic_path(out_path) as tmp,
    ):
        warnings.simplefilter("ignore")
        prepped = Path(work) / "prepped.onnx"
        _prepare_for_quantization(src, prepped)
        try:
            if mode == "static":
                quantize_static(
                    str(prepped),
                    str(tmp),
                    _FeedReader(feeds),
                    quant_format=QuantFormat.QDQ if quant_format == "qdq" else QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    op_types_to_quantize=list(op_types) if op_types else None,
                )
            else:
                quantize_dynamic(
                    str(prepped),
                    str(tmp),
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    op_types_to_quantize=list(op_types) if op_types else None,
                )
        except Exception as exc:
            raise ExportError(f"int8 ({mode}) quantization of '{src}' failed: {type(exc).__name__}: {exc}") from exc
        check_onnx(tmp)
    return Path(out_path)
