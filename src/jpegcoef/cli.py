"""The ``jpegcoef`` command line: argument parsing only; the work lives in the modules.

Errors are one line on stderr (:mod:`jpegcoef.console`): exit status 1 for the data (a missing
folder, no images, unreadable files), 2 for the command line; output into a closed pipe ends
quietly; progress bars are drawn only on a terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import console
from .console import UsageError, UserError
from .errors import JpegError

PROG = "jpegcoef"


def _cmd_info(args: argparse.Namespace) -> int:
    from .info import info
    status = 0
    for i, path in enumerate(args.files):
        try:
            text = info(path)
        except (JpegError, OSError) as e:
            print(f"{PROG} info: {console._describe(e)}", file=sys.stderr)
            status = 1
            continue
        if i:
            print()
        print(text)
    return status


def _cmd_stats(args: argparse.Namespace) -> int:
    from . import stats
    try:
        r = stats.main(args.directory, output=args.output, limit=args.limit, on_error=args.on_error,
                       progress=console.progress_enabled(False if args.no_progress else None))
    except JpegError:
        raise
    except ValueError as e:  # no JPEG files / none readable
        raise UserError(str(e)) from None
    total = r["images"] + len(r["skipped"])
    if r["skipped"]:
        console.print_warning(f"{PROG} stats", console.skipped_summary(r["skipped"], total)
                              + ' (not counted; listed under "skipped" in the JSON)')
    if r["warned"]:
        console.print_warning(f"{PROG} stats", console.skipped_summary(
            r["warned"], total, what="files read with libjpeg warnings").replace(" skipped:", ":")
            + ' (counted; listed under "warned")')
    if args.output:
        print(f"{PROG} stats: {r['images']} images -> {args.output}", file=sys.stderr)
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import SettingsChanged, prepare
    try:
        r = prepare(args.src, args.dst, short_side=args.short_side, quality=args.quality,
                    workers=args.workers, overwrite=args.overwrite,
                    progress=console.progress_enabled(False if args.no_progress else None))
    except SettingsChanged as e:
        raise UserError(str(e)) from None
    except ValueError as e:  # empty source, DST inside SRC
        raise UserError(str(e)) from None
    print(f"{PROG} prepare: {r['images']} images: {r['done']} written, {r['existing']} kept "
          f"(already made with these settings), {len(r['failed'])} failed -> {args.dst} "
          f"(settings in {r['record']})")
    if r["failed"]:
        console.print_warning(f"{PROG} prepare", console.skipped_summary(r["failed"], r["images"], 5)
                              + f" (all listed in {r['record']})")
    return 1 if r["failed"] else 0


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _quality(text: str) -> int:
    v = _positive(text)
    if v > 100:
        raise argparse.ArgumentTypeError(f"JPEG quality is 1..100, got {v}")
    return v


def _add_parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help,
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = console.ArgumentParser(prog=PROG, description="JPEG DCT coefficients for CNNs.")
    p.add_argument("--version", action="version", version=console.version_text(PROG))
    sub = p.add_subparsers(dest="command", required=True, parser_class=console.ArgumentParser)

    s = _add_parser(sub, "info", "describe JPEG files: size, colour space, sampling, progressive, "
                                 "quantisation tables, warnings")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.set_defaults(func=_cmd_info)

    s = _add_parser(sub, "stats", "per-frequency coefficient mean/std over a folder of JPEGs (JSON); "
                                  "unreadable files are skipped and reported")
    s.add_argument("directory")
    s.add_argument("-o", "--output", help="JSON file to write (default: stdout)")
    s.add_argument("--limit", type=_positive, help="use at most this many files")
    s.add_argument("--on-error", choices=["skip", "raise"], default="skip")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    s.set_defaults(func=_cmd_stats)

    s = _add_parser(sub, "prepare", "re-encode a dataset once: short side N, 4:2:0 JPEG (resumable; "
                                    "the settings are recorded in DST/.jpegcoef-prepare.json)")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--short-side", type=_positive, default=256)
    s.add_argument("--quality", type=_quality, default=95)
    s.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    s.add_argument("--overwrite", "--force", action="store_true",
                   help="re-encode every file, also when DST was prepared with other settings")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    s.set_defaults(func=_cmd_prepare)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jpegcoef`` console script; returns the exit status."""
    def go() -> int:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)

    try:
        return console.run(PROG, go)
    except SystemExit as e:  # argparse: --help / --version (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
