"""Edge export: both networks as ONNX files (float and int8), their ONNX Runtime backend, latency, and
optional TensorRT engines.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "export_onnx": "scenecolor.export.onnx",
    "check_parity": "scenecolor.export.onnx",
    "quantize_int8": "scenecolor.export.onnx",
    "export_embedder": "scenecolor.export.models",
    "export_colorizer": "scenecolor.export.models",
    "quantize_colorizer": "scenecolor.export.models",
    "OnnxColorizer": "scenecolor.export.models",
    "onnx_colorizer": "scenecolor.export.models",
    "measure_latency": "scenecolor.export.latency",
    "tensorrt_skip_reason": "scenecolor.export.tensorrt",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
