"""Lazy re-exports for a package's ``__init__`` (PEP 562): its public API by name, modules loaded on first use.

A package lists its public names once, each with the module that defines it::

    EXPORTS = {"rgb_to_lab": "scenecolor.core.color", "Encoding": "scenecolor.core.encoding"}
    __all__ = list(EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

``from scenecolor.core import rgb_to_lab`` then imports ``scenecolor.core.color`` alone, and
``import scenecolor.colorize`` imports no torch: the command line starts without the stacks of the
commands it does not run (tests/e2e/test_cli_startup.py).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` that resolve each name of ``exports`` (name -> the
    module defining it) on first access and keep it as a module attribute.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the dotted name of the module that defines it.

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's namespace; an unknown name raises AttributeError.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
