"""Specific exceptions: each names the input that is wrong and says how to fix it.

The CLI prints the message of any :class:`ScenecolorError` and exits with status 2, so a user
sees one clear sentence instead of a traceback from deep inside a decoder.
"""

from __future__ import annotations


class ScenecolorError(Exception):
    """Base class of every error the user can fix."""


class ParameterError(ScenecolorError, ValueError):
    """A profile or notebook parameter is unknown, of the wrong type or out of range."""


class MissingUpstreamError(ScenecolorError):
    """A step needs the artifacts of an earlier step that has not run in this run folder."""


class StepFailedError(ScenecolorError):
    """A notebook cell failed while the runner executed a step."""


class VideoError(ScenecolorError):
    """A video file cannot be used."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video path does not exist."""


class CorruptVideoError(VideoError):
    """The file exists but cannot be decoded (truncated, not a video, unsupported codec)."""


class EmptyVideoError(VideoError):
    """The file decodes but holds no frames."""


class ManifestError(ScenecolorError):
    """A manifest is malformed or refers to something that is not there."""


class ChecksumMismatchError(ManifestError):
    """A file's sha256 differs from the one its manifest records."""


class CheckpointError(ScenecolorError):
    """A checkpoint is missing, corrupt or was written for another architecture."""


class DataError(ScenecolorError):
    """Input arrays or stores have the wrong shape, type or content."""


class ExportError(ScenecolorError):
    """A model cannot be exported, checked, quantized or run by ONNX Runtime / TensorRT."""
