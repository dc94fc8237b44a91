"""``scenecolor run``: execute the workbook's notebooks with a profile, reusing unchanged steps."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command."""
    p = subparsers.add_parser(
        "run",
        help="run the numbered notebooks with papermill into reports/<run-id>/",
        description=(
            "Execute notebooks 00..06 in order with a parameter profile. Unchanged steps (same notebook, "
            "parameters, library code and input checksums) are reused from earlier runs."
        ),
    )
    p.add_argument("--profile", default="sample", help="smoke | sample | full | PATH.yaml (default: sample)")
    p.add_argument("--from", dest="start", metavar="NN", help="first step to execute (earlier ones must be cached)")
    p.add_argument("--until", metavar="NN", help="last step to execute")
    p.add_argument("--only", metavar="NN", action="append", help="execute only this step (repeatable)")
    p.add_argument("--force", action="store_true", help="execute the selected steps even when cached")
    p.add_argument("--reports", type=Path, default=None, help="reports folder (default: <repo>/reports)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel (default: 'scenecolor' if installed, else python3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from scenecolor.workbook import runner

    result = runner.run_workbook(
        args.profile,
        reports=args.reports,
        start=args.start,
        until=args.until,
        only=args.only,
        force=args.force,
        kernel=args.kernel,
        progress=not args.no_progress,
    )
    reused = [r.step for r in result.records if r.status == "reused"]
    executed = [r.step for r in result.records if r.status == "executed"]
    total = sum(r.wall_time_s for r in result.records)
    print(f"run folder: {result.run_dir}")
    print(f"executed: {', '.join(executed) or 'none'}")
    print(f"reused:   {', '.join(reused) or 'none'}")
    print(f"step time: {total:.1f} s; report: {result.run_dir / 'index.html'}")
    return 0 if result.ok else 1
