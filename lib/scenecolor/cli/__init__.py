"""The ``scenecolor`` command line: every command calls the same library functions as the notebooks.

Each module of this package adds its command(s) with ``register(subparsers)``; a module may
also add benchmarks under ``scenecolor bench`` with ``register_bench(bench_subparsers)``.
A :class:`~scenecolor.core.errors.ScenecolorError` is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from types import ModuleType

from scenecolor.core.errors import ParameterError, ScenecolorError

__all__ = ["FLAG_OF", "add_device_argument", "build_parser", "main", "worded"]


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda`` for a command that runs a network (read by
    :func:`scenecolor.core.device.resolve_device` when the command runs, so --help imports no torch)."""
    parser.add_argument(
        "--device",
        default="auto",
        metavar="{auto,cpu,cuda}",
        help="where the networks run: auto = a CUDA GPU when torch sees one, else the CPU; cuda (or cuda:N) on a "
        "machine without one runs on the CPU with a warning (default %(default)s)",
    )


def _command_modules(only: str | None = None) -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or (only is not None and info.name != only):
            continue
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return modules


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, with the commands of every module in this package.

    With ``command``, only the module of that name registers (when it adds that command): the
    parser ``scenecolor COMMAND ...`` needs, without importing the other commands' modules.
    """
    parser = argparse.ArgumentParser(
        prog="scenecolor",
        description="Scene-aware, reference-based video colorization workbook.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = _command_modules(command)
    if command is not None:
        for module in modules:
            if hasattr(module, "register"):
                module.register(sub)
        if command in sub.choices:
            return parser
        return build_parser()
    bench = sub.add_parser("bench", help="benchmarks printed as ratios measured in one run")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="WHAT")
    for module in modules:
        if hasattr(module, "register"):
            module.register(sub)
        if hasattr(module, "register_bench"):
            module.register_bench(bench_sub)
    return parser


#: library parameters whose flag is not their name with dashes (one ``--reference`` per image)
FLAG_OF = {"reference_files": "--reference", "reference_images": "--reference"}


def worded(exc: ScenecolorError) -> str:
    """The error's message with the parameter it opens with worded as the command-line flag
    (``merge must be ...`` -> ``--merge must be ...``; ``reference_files: ...`` -> ``--reference: ...``)."""
    text = str(exc)
    name = exc.parameter if isinstance(exc, ParameterError) else None
    if name and text.startswith(name):
        return FLAG_OF.get(name, "--" + name.replace("_", "-")) + text[len(name) :]
    return text


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"scenecolor: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scenecolor`` command; each command sets ``func(args) -> int``.

    Only the named command's module is imported (``bench`` and options before the command load them all).
    Warnings (a header frame count the decode contradicts, CUDA asked for on a machine without it)
    print as one line on stderr, each once.
    """
    words = sys.argv[1:] if argv is None else argv
    first = words[0] if words and not words[0].startswith("-") else None
    parser = build_parser(None if first == "bench" else first)
    args = parser.parse_args(words)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except ScenecolorError as exc:
        print(f"scenecolor {args.command}: error: {worded(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
