"""The workbook's two networks as ONNX files, and the colorizer behind ONNX Runtime.

* The embedder (step 01) becomes ``embedder.onnx``: RGB [B, 3, S, S] in [0, 1] -> unit vectors.
* The colorizer (step 04) becomes two graphs, as the torch model runs them: references are
  encoded once per scene (``colorizer_refs.onnx``: refs_lab -> keys, values) and every clip
  reuses them (``colorizer.onnx``: gray, keys, values -> ab). Batch, clip length T, reference
  count R and the frame size H, W are dynamic axes.
* :func:`onnx_colorizer` loads those files as a :class:`scenecolor.colorize.backend.ColorizerBackend`,
  so ``scenecolor colorize`` with the onnx backend runs them instead of torch.

Each file carries its settings (arch, resolution, max_refs, clip_len) in the ONNX metadata, so
a backend needs nothing but the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from scenecolor.colorize.backend import check_backend_inputs, clip_guide
from scenecolor.colorize.correspondence import GuideConfig
from scenecolor.colorize.exemplar_data import guides_for_clips
from scenecolor.colorize.model import ClipColorizerGraph, ReferenceEncoderGraph, load_colorizer
from scenecolor.core.artifacts import atomic_write_bytes
from scenecolor.core.color import AB_SCALE
from scenecolor.core.errors import CheckpointError, ExportError
from scenecolor.core.training import load_checkpoint
from scenecolor.embed.model import ARCH, load_embedder, to_input
from scenecolor.export.onnx import (
    DEFAULT_OPSET,
    Exporter,
    OnnxExport,
    ParityReport,
    QuantMode,
    check_parity,
    count_parameters,
    export_onnx,
    ort_session,
    quantize_int8,
    run_session,
)

EMBEDDER_ONNX = "embedder.onnx"
COLORIZER_ONNX = "colorizer.onnx"  # the per-clip graph
COLORIZER_REFS_ONNX = "colorizer_refs.onnx"  # the per-scene reference encoder
ONNX_ARCH = "scenecolor-colorizer-onnx-v1"
Precision = Literal["fp32", "int8"]
#: ops quantized by each ``int8_ops`` choice of the edge-export step (None = every op ONNX Runtime can quantize)
INT8_OP_SETS: dict[str, tuple[str, ...] | None] = {
    "conv": ("Conv",),
    "conv_and_data": ("Conv", "Pad", "Resize", "Concat", "AveragePool"),
    "all": None,
}
_REF_FEATURES = ("keys", "values", "corr_keys", "corr_values")
_CLIP_AXES = {
    "gray": {0: "B", 2: "T", 3: "H", 4: "W"},
    "keys": {0: "B", 1: "RN"},
    "values": {0: "B", 1: "RN"},
    "corr_keys": {0: "B", 1: "RM"},
    "corr_values": {0: "B", 1: "RM"},
    "guide": {0: "B", 2: "T", 3: "H", 4: "W"},
}
_REFS_AXES = {"refs_lab": {0: "B", 1: "R", 3: "H", 4: "W"}}
_OUT_AXES = {
    "ab": {0: "B", 2: "T", 3: "H", 4: "W"},
    "attention": {0: "B", 2: "T", 3: "H", 4: "W"},
    "weights": {0: "B", 2: "T", 3: "H", 4: "W"},
    "keys": {0: "B", 1: "RN"},
    "values": {0: "B", 1: "RN"},
    "corr_keys": {0: "B", 1: "RM"},
    "corr_values": {0: "B", 1: "RM"},
}


def int8_name(name: str) -> str:
    """``colorizer.onnx`` -> ``colorizer.int8.onnx``."""
    return name[: -len(".onnx")] + ".int8.onnx"


def write_metadata(path: str | Path, props: dict[str, Any]) -> None:
    """Store ``props`` as ONNX metadata_props of the file at ``path`` (rewritten in place, atomically)."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {k: str(v) for k, v in props.items()})
    atomic_write_bytes(path, model.SerializeToString())


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (without loading its weights into a session)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


# -- embedder ---------------------------------------------------------------------------------------
def embedder_input_size(checkpoint: str | os.PathLike[str]) -> int:
    """The side the embedder was trained at (``config.train.input_size`` of ``embedder.pt``)."""
    ckpt = load_checkpoint(checkpoint, arch=ARCH, restore_rng=False)
    try:
        return int(ckpt["config"]["train"]["input_size"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"embedder checkpoint '{checkpoint}' has no config.train.input_size; "
            "retrain it with the embedder-training step"
        ) from None


def export_embedder(
    checkpoint: str | os.PathLike[str],
    out_dir: str | Path,
    frames: np.ndarray,
    *,
    exporter: Exporter = "dynamo",
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
) -> tuple[OnnxExport, list[ParityReport]]:
    """Export ``embedder.pt`` to ``out_dir/embedder.onnx`` (dynamic batch) and check it on real ``frames``.

    ``frames``: uint8 (n, S, S, 3) RGB, n >= 2; parity is checked on all n and on the first one
    (a second batch size). Returns the export and the parity reports (max abs error on the vectors).
    """
    if frames.ndim != 4 or len(frames) < 2:
        raise ExportError(f"embedder parity needs at least 2 RGB frames (n, S, S, 3), got shape {frames.shape}")
    size = embedder_input_size(checkpoint)
    model = load_embedder(checkpoint)
    x = to_input(frames, size)
    path = Path(out_dir) / EMBEDDER_ONNX
    result = export_onnx(
        model,
        (x[:2],),
        path,
        input_names=["rgb"],
        output_names=["embedding"],
        dynamic_axes={"rgb": {0: "B"}},
        opset=opset,
        exporter=exporter,
    )
    write_metadata(path, {"arch": "scenecolor-embedder-onnx-v1", "input_size": size, "exporter": exporter})
    session = ort_session(path)
    reports = [
        check_parity(model, session, [x], atol=atol, name=f"embedding (batch {len(x)})"),
        check_parity(model, session, [x[:1]], atol=atol, name="embedding (batch 1)"),
    ]
    return result, reports


# -- colorizer --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColorizerExport:
    """The colorizer's two graphs and their sizes."""

    refs: OnnxExport
    clip: OnnxExport
    n_params: int
    resolution: int

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.refs.path, self.clip.path

    @property
    def size_bytes(self) -> int:
        return self.refs.size_bytes + self.clip.size_bytes


def export_colorizer(
    checkpoint: str | os.PathLike[str],
    out_dir: str | Path,
    gray: torch.Tensor,
    refs_lab: torch.Tensor,
    *,
    exporter: Exporter = "torchscript",
    opset: int = DEFAULT_OPSET,
) -> ColorizerExport:
    """Export ``colorizer.pt`` as ``colorizer_refs.onnx`` + ``colorizer.onnx`` in ``out_dir``.

    ``gray`` [B, 1, T, S, S] (L/100) and ``refs_lab`` [B, R, 3, S, S] are the example inputs the
    graph is traced with (real frames are best). Default exporter: TorchScript, which exports all
    five dynamic axes in under a second; torch.export (``"dynamo"``) needs ~40 s with dynamic H, W.
    """
    model, ckpt = load_colorizer(checkpoint)
    clip_len = trained_clip_len(ckpt)
    with torch.no_grad():
        feats = tuple(model.encode_references(refs_lab))
    guide = example_guide(gray, refs_lab, trained_flow_method(ckpt))
    meta = {
        "arch": ONNX_ARCH,
        "resolution": model.cfg.resolution,
        "max_refs": model.cfg.max_refs,
        "clip_len": clip_len,
        "exporter": exporter,
        "n_params": count_parameters(model),
        "flow_method": trained_flow_method(ckpt),
    }
    out = Path(out_dir)
    refs = export_onnx(
        ReferenceEncoderGraph(model).eval(),
        (refs_lab,),
        out / COLORIZER_REFS_ONNX,
        input_names=["refs_lab"],
        output_names=list(_REF_FEATURES),
        dynamic_axes=_REFS_AXES,
        opset=opset,
        exporter=exporter,
        output_axes={k: _OUT_AXES[k] for k in _REF_FEATURES},
    )
    clip = export_onnx(
        ClipColorizerGraph(model).eval(),
        (gray, *feats, guide),
        out / COLORIZER_ONNX,
        input_names=["gray", *_REF_FEATURES, "guide"],
        output_names=["ab", "attention", "weights"],
        dynamic_axes=_CLIP_AXES,
        opset=opset,
        exporter=exporter,
        output_axes={k: _OUT_AXES[k] for k in ("ab", "attention", "weights")},
    )
    for path, role in ((refs.path, "refs"), (clip.path, "clip")):
        write_metadata(path, {**meta, "role": role})
    return ColorizerExport(refs=refs, clip=clip, n_params=count_parameters(model), resolution=model.cfg.resolution)


def trained_flow_method(ckpt: dict[str, Any]) -> str:
    """The optical flow the checkpoint's correspondence stage was trained with."""
    return str(((ckpt.get("config") or {}).get("train") or {}).get("flow_method", "dis_fast"))


def example_guide(
    gray: torch.Tensor | np.ndarray, refs_lab: torch.Tensor | np.ndarray, flow_method: str = "dis_fast"
) -> torch.Tensor:
    """The flow candidates [B, 9, T, H, W] of batched clips from each clip's first reference (as the backends
    compute them)."""
    return guides_for_clips(
        torch.as_tensor(np.asarray(gray, dtype=np.float32)),
        torch.as_tensor(np.asarray(refs_lab, dtype=np.float32)),
        GuideConfig(method=flow_method),
    )  # type: ignore[arg-type]


def trained_clip_len(ckpt: dict[str, Any]) -> int:
    """Frames per clip the checkpoint was trained with (as TorchColorizer.from_checkpoint reads it)."""
    return max(2, int(((ckpt.get("config") or {}).get("train") or {}).get("clip_len", 8)))


def quantize_colorizer(
    fp32: ColorizerExport,
    calibration: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    mode: QuantMode = "static",
    op_types: Sequence[str] | None = ("Conv",),
    quant_format: Literal["qdq", "qoperator"] = "qdq",
    suffix: str = ".int8.onnx",
) -> tuple[Path, Path]:
    """int8 copies of both graphs next to the float32 files; returns (refs, clip) paths.

    ``calibration``: (gray, refs_lab) batches from the train split. The reference graph is
    calibrated on the references, the clip graph on the clips with the keys/values the float32
    reference graph gives for them (what it sees at run time).
    """
    batches = list(calibration)
    refs_session = ort_session(fp32.refs.path)
    refs_feeds = [(r,) for _, r in batches]
    method = read_metadata(fp32.clip.path).get("flow_method", "dis_fast")
    clip_feeds = [(g, *run_session(refs_session, [r]), example_guide(g, r, method).numpy()) for g, r in batches]
    paths = []
    for src, feeds in ((fp32.refs.path, refs_feeds), (fp32.clip.path, clip_feeds)):
        dst = src.with_name(src.name[: -len(".onnx")] + suffix)
        quantize_int8(
            src,
            dst,
            mode=mode,
            calibration=feeds if mode == "static" else (),
            op_types=op_types,
            quant_format=quant_format,
        )
        write_metadata(dst, {**read_metadata(src), "int8": mode if mode == "dynamic" else f"static {quant_format}"})
        paths.append(dst)
    return paths[0], paths[1]


class OnnxColorizer:
    """The exported colorizer run by ONNX Runtime; implements :class:`scenecolor.colorize.backend.ColorizerBackend`."""

    def __init__(self, refs_path: str | Path, clip_path: str | Path, *, threads: int = 1) -> None:
        self.refs_path, self.clip_path = Path(refs_path), Path(clip_path)
        for path, role in ((self.refs_path, "refs"), (self.clip_path, "clip")):
            if not path.is_file():
                raise ExportError(
                    f"ONNX colorizer file '{path}' not found; run the edge-export step (same run_dir) to export it"
                )
            meta = read_metadata(path)
            if meta.get("arch") != ONNX_ARCH or meta.get("role") != role:
                raise ExportError(
                    f"'{path}' is not a scenecolor colorizer {role} graph (metadata arch={meta.get('arch')!r}, "
                    f"role={meta.get('role')!r}); export it with scenecolor.export.models.export_colorizer"
                )
        meta = read_metadata(self.clip_path)
        self.resolution = int(meta["resolution"])
        self.max_refs = int(meta["max_refs"])
        self.clip_len = int(meta["clip_len"])
        self.int8 = meta.get("int8", "")
        self.flow_method = meta.get("flow_method", "dis_fast")
        self._refs = ort_session(self.refs_path, threads)
        self._clip = ort_session(self.clip_path, threads)

    def __repr__(self) -> str:
        return f"OnnxColorizer({self.clip_path.name}, resolution={self.resolution}, max_refs={self.max_refs})"

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        """float32 (R, H, W, 3) Lab -> the scene's features (the four graph outputs, then the first reference for
        the flow)."""
        check_backend_inputs(refs_lab, None, self.resolution, self.max_refs)
        refs = np.ascontiguousarray(np.asarray(refs_lab, dtype=np.float32).transpose(0, 3, 1, 2)[None])
        return (*run_session(self._refs, [refs]), np.ascontiguousarray(refs_lab[0], dtype=np.float32))

    def predict_ab(
        self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...], guide: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 (T, H, W) L/100 + features (+ the flow candidates (T, H, W, 9) of these frames) -> float32 (T,
        H, W, 2) ab."""
        return self.predict_detailed(gray_clip, ref_features, guide)[0]

    def predict_detailed(
        self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...], guide: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`scenecolor.colorize.backend.TorchColorizer.predict_detailed`: ab, candidates' ab (T,H,W,8),
        confidences (T,H,W,4), weights (T,H,W,4)."""
        check_backend_inputs(None, gray_clip, self.resolution, self.max_refs, ref_features[-1])
        gray = np.ascontiguousarray(np.asarray(gray_clip, dtype=np.float32)[None, None])
        g = clip_guide(gray_clip, ref_features[-1], guide, self.flow_method)
        ab, attention, weights = run_session(self._clip, [gray, *ref_features[:-1], g])[:3]  # [1, C, T, H, W]
        cand = np.concatenate([g[:, 0:2], g[:, 3:5], g[:, 6:8], attention[:, :2]], axis=1) * AB_SCALE
        conf = np.concatenate([g[:, 2:3], g[:, 5:6], g[:, 8:9], attention[:, 2:3]], axis=1)
        last = lambda x: np.ascontiguousarray(x[0].transpose(1, 2, 3, 0))  # noqa: E731
        return last(ab), last(cand), last(conf), last(weights)

    def colorize_batch(
        self,
        gray: torch.Tensor | np.ndarray,
        refs_lab: torch.Tensor | np.ndarray,
        guide: torch.Tensor | np.ndarray | None = None,
    ) -> np.ndarray:
        """Batched tensors as the torch model takes them: [B,1,T,H,W], [B,R,3,H,W] (+ guide [B,9,T,H,W]) -> ab
        [B,2,T,H,W]."""
        feats = run_session(self._refs, [refs_lab])
        if guide is None:
            guide = example_guide(gray, refs_lab, self.flow_method)
        return run_session(self._clip, [gray, *feats, np.asarray(guide, dtype=np.float32)])[0]


def colorizer_files(folder_or_path: str | os.PathLike[str], precision: Precision = "fp32") -> tuple[Path, Path]:
    """(refs graph, clip graph) in the edge-export step's artifact folder, or beside a path to ``colorizer*.onnx``."""
    if precision not in ("fp32", "int8"):
        raise ExportError(f"ONNX colorizer precision must be 'fp32' or 'int8', got {precision!r}")
    p = Path(folder_or_path)
    if p.suffix == ".onnx":
        if p.name.startswith(COLORIZER_REFS_ONNX[: -len(".onnx")]):
            raise ExportError(
                f"'{p}' is the reference encoder; pass the clip graph '{COLORIZER_ONNX}' (or its int8 copy) or the run "
                "folder"
            )
        refs = p.with_name(COLORIZER_REFS_ONNX if ".int8." not in p.name else int8_name(COLORIZER_REFS_ONNX))
        return refs, p
    folder = p
    names = (
        (COLORIZER_REFS_ONNX, COLORIZER_ONNX)
        if precision == "fp32"
        else (int8_name(COLORIZER_REFS_ONNX), int8_name(COLORIZER_ONNX))
    )
    return folder / names[0], folder / names[1]


def onnx_colorizer(
    folder_or_onnx_path: str | os.PathLike[str], *, precision: Precision = "fp32", threads: int = 1
) -> OnnxColorizer:
    """The ONNX Runtime backend of ``scenecolor colorize`` (backend ``onnx``).

    Accepts the edge-export step's artifact folder or the path of ``colorizer.onnx`` / ``colorizer.int8.onnx``
    (its reference encoder is found beside it); ``scenecolor.workbook.runs.open_backend`` finds it in a run.
    """
    refs, clip = colorizer_files(folder_or_onnx_path, precision)
    return OnnxColorizer(refs, clip, threads=threads)
