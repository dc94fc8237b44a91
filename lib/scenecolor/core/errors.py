"""Specific exceptions: each names the input that is wrong and says how to fix it.

The CLI prints the message of any :class:`ScenecolorError` and exits with status 2, so a user
sees one clear sentence instead of a traceback from deep inside a decoder.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass


class ScenecolorError(Exception):
    """Base class of every error the user can fix."""


class ParameterError(ScenecolorError, ValueError):
    """A profile or notebook parameter is unknown, of the wrong type or out of range.

    ``parameter``: the argument at fault, when the message opens with its name (``crf 60 is out of range``); the
    CLI words that name as its own flag (``scenecolor.cli.worded``), so library messages name no flag.
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter

    def __reduce__(self) -> tuple[Any, ...]:  # keep ``parameter`` across processes
        return type(self), (str(self), self.parameter)


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


def parameter_error(exc: ValidationError, where: str, allowed: Iterable[str] = ()) -> ParameterError:
    """One :class:`ParameterError` for every problem pydantic found in ``where``'s values.

    Each problem names the parameter and its value; an unknown name lists the ``allowed`` ones.
    """
    problems = []
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or "?"
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            problems.append(f"unknown parameter '{key}' (allowed: {', '.join(allowed)})")
        else:
            problems.append(f"parameter '{key}' = {err.get('input')!r}: {err['msg']}")
    return ParameterError(f"{where}: " + "; ".join(problems))


T = TypeVar("T")


def validated(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen pydantic dataclass: its fields' ``Annotated[type, Field(...)]`` are the one
    declaration of their types, ranges and descriptions, and a bad value raises :class:`ParameterError`.

    It stays a dataclass (``fields``, ``asdict``, ``replace`` work, defaults are plain values), so the
    command lines built from it and the checkpoints that store it need nothing else.
    """
    pyd = dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)
    init = pyd.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise parameter_error(exc, pyd.__name__, pyd.__pydantic_fields__) from None

    pyd.__init__ = __init__  # type: ignore[method-assign]
    return pyd
