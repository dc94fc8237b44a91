"""scenecolor: a reproducible workbook for scene-aware, reference-based video colorization."""

__version__ = "0.1.0"
