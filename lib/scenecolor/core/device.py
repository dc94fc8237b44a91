"""Which torch device a command or notebook runs its networks on: ``auto``, ``cpu`` or ``cuda``.

One function so that the command line's and the notebooks' ``device`` parameter mean the same
thing everywhere: ``auto`` takes the first CUDA GPU when torch sees one, else the CPU; ``cuda``
asked for on a machine without one runs on the CPU and says so, rather than failing halfway.
"""

from __future__ import annotations

import warnings

import torch

from scenecolor.core.errors import ParameterError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceFallbackWarning(UserWarning):
    """CUDA was asked for but torch sees no CUDA GPU: the work runs on the CPU."""


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``.

    Args:
        name: ``auto`` (CUDA when ``torch.cuda.is_available()``, else CPU), ``cpu``, ``cuda`` or
            ``cuda:N``.

    Returns:
        A ``torch.device``. ``cuda`` on a machine without a CUDA GPU returns the CPU device and
        emits a :class:`DeviceFallbackWarning` that says so.

    Raises:
        ParameterError: ``name`` is none of the above, or ``cuda:N`` names a GPU that is not there.
    """
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise ParameterError(f"device {name!r}: write cuda or cuda:N with N a GPU index (0, 1, ...)")
        if not torch.cuda.is_available():
            warnings.warn(
                f"device {name!r} was asked for but torch sees no CUDA GPU on this machine; running on the CPU "
                "(ask for the device 'cpu' to silence this)",
                DeviceFallbackWarning,
                stacklevel=2,
            )
            return torch.device("cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ParameterError(
                f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s); use cuda:0 .. "
                f"cuda:{torch.cuda.device_count() - 1} or auto"
            )
        return torch.device(text)
    raise ParameterError(f"device {name!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
