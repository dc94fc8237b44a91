"""``scenecolor manifest scan|verify|fetch``: the data manifests from the command line.

Each subcommand calls one function of :mod:`scenecolor.data.manifests.format`; this module only parses
arguments and prints. ``verify`` exits 1 when an entry fails (every failure is printed), 2 when
the manifest itself is unusable.
"""

from __future__ import annotations

import argparse
import sys
import warnings


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected three comma-separated numbers like 0.7,0.15,0.15, got '{text}'"
        ) from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three fractions (train,val,test), got {len(values)}")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``manifest`` and its subcommands."""
    parser = subparsers.add_parser("manifest", help="scan, verify or fetch the media a data manifest lists")
    sub = parser.add_subparsers(dest="manifest_command", required=True, metavar="ACTION")

    scan = sub.add_parser("scan", help="write a manifest (sha256, probe, splits) for a folder of your own videos")
    scan.add_argument("folder", metavar="DIR", help="folder searched recursively for videos")
    scan.add_argument("--out", required=True, metavar="FILE", help="manifest to write (.yaml, .yml or .json)")
    scan.add_argument("--seed", type=int, default=0, help="seed of the split hash (default 0)")
    scan.add_argument(
        "--split",
        type=_fractions,
        default=(0.7, 0.15, 0.15),
        metavar="TRAIN,VAL,TEST",
        help="split fractions (default 0.7,0.15,0.15)",
    )
    scan.add_argument(
        "--group-by",
        choices=("file", "folder"),
        default="file",
        help="split per file, or per sub-folder so clips of one source share a split",
    )
    scan.add_argument(
        "--ext",
        action="append",
        metavar="EXT",
        help="video extension to include (repeatable; default: the common video extensions, see "
        "scenecolor.data.manifests.scan)",
    )
    scan.add_argument("--name", help="manifest name (default: the folder's name)")
    scan.add_argument("--skip-corrupt", action="store_true", help="leave out unreadable videos instead of failing")
    scan.set_defaults(func=_scan)

    verify = sub.add_parser("verify", help="check every listed file exists and has its sha256")
    verify.add_argument("manifest", metavar="FILE", help="the manifest (.yaml, .yml or .json)")
    verify.add_argument("--id", dest="ids", action="append", metavar="ID", help="check only this entry (repeatable)")
    verify.set_defaults(func=_verify)

    fetch = sub.add_parser("fetch", help="download entries that have a url, sha256 checked before saving")
    fetch.add_argument("manifest", metavar="FILE", help="the manifest (.yaml, .yml or .json)")
    fetch.add_argument(
        "--dest", metavar="DIR", help="download folder (default: where each entry's path points, so verify finds it)"
    )
    fetch.add_argument("--id", dest="ids", action="append", metavar="ID", help="fetch only this entry (repeatable)")
    fetch.add_argument(
        "--trust-on-first-use",
        action="store_true",
        help="accept entries without sha256 and record the hash of their first download",
    )
    fetch.add_argument("--no-extract", dest="extract", action="store_false", help="do not unpack archives")
    fetch.add_argument("--force", action="store_true", help="download again even if a good copy is present")
    fetch.set_defaults(func=_fetch)


def _scan(args: argparse.Namespace) -> int:
    from scenecolor.data.manifests import format as manifests
    from scenecolor.data.manifests import scan as manifest_scan

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = manifest_scan.scan(
            args.folder,
            out=args.out,
            split_fractions=args.split,
            seed=args.seed,
            extensions=tuple(args.ext) if args.ext else manifest_scan.VIDEO_EXTENSIONS,
            group_by=args.group_by,
            skip_corrupt=args.skip_corrupt,
            name=args.name,
        )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    counts = {s: sum(e.split == s for e in manifest.entries) for s in manifests.SPLITS}
    print(
        f"wrote {args.out}: {len(manifest.entries)} videos "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']})"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from scenecolor.data.manifests import format as manifests

    manifest = manifests.Manifest.load(args.manifest)
    results = manifests.verify(manifest, ids=args.ids)
    for result in results:
        print(result.message)
    bad = [r for r in results if not r.ok]
    if bad:
        print(
            f"scenecolor manifest verify: {len(bad)} of {len(results)} entries of '{args.manifest}' failed "
            f"({', '.join(f'{r.entry_id}: {r.status}' for r in bad)})",
            file=sys.stderr,
        )
        return 1
    print(f"all {len(results)} entries of '{args.manifest}' verified")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from scenecolor.data.manifests import fetch as manifest_fetch
    from scenecolor.data.manifests import format as manifests

    manifest = manifests.Manifest.load(args.manifest)
    results = manifest_fetch.fetch_manifest(
        manifest,
        dest_dir=args.dest,
        ids=args.ids,
        trust_on_first_use=args.trust_on_first_use,
        extract=args.extract,
        force=args.force,
    )
    for r in results:
        action = "downloaded" if r.downloaded else "present   "
        line = f"{action} {r.entry_id}  {r.path}  sha256 {r.sha256}"
        if r.extracted_to is not None:
            line += f"  -> extracted to {r.extracted_to}"
        print(line)
    recorded = [r.entry_id for r in results if r.recorded]
    if recorded:
        print(f"recorded sha256 of {', '.join(recorded)} (trust on first use) into '{args.manifest}'")
    return 0
