"""The ``jpegcoef`` command line: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .errors import JpegError


def _cmd_info(args: argparse.Namespace) -> int:
    from .info import info
    status = 0
    for i, path in enumerate(args.files):
        try:
            text = info(path)
        except (JpegError, OSError) as e:
            print(f"jpegcoef info: {e}", file=sys.stderr)
            status = 1
            continue
        if i:
            print()
        print(text)
    return status


def _cmd_stats(args: argparse.Namespace) -> int:
    from . import stats
    stats.main(args.directory, output=args.output, limit=args.limit, on_error=args.on_error)
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare
    r = prepare(args.src, args.dst, short_side=args.short_side, quality=args.quality, workers=args.workers)
    print(f"jpegcoef prepare: {r['done']} written, {r['existing']} already there, {len(r['failed'])} failed")
    for path, err in r["failed"].items():
        print(f"  failed: {path}: {err}", file=sys.stderr)
    return 1 if r["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jpegcoef", description="JPEG DCT coefficients for CNNs.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="describe JPEG files: size, colour space, sampling, "
                                    "progressive, quantisation tables, warnings")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("stats", help="per-frequency coefficient mean/std over a folder of JPEGs (JSON)")
    s.add_argument("directory")
    s.add_argument("-o", "--output", help="JSON file to write (default: stdout)")
    s.add_argument("--limit", type=int, help="use at most this many files")
    s.add_argument("--on-error", choices=["skip", "raise"], default="skip")
    s.set_defaults(func=_cmd_stats)

    s = sub.add_parser("prepare", help="re-encode a dataset once: short side N, 4:2:0 JPEG (resumable)")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--short-side", type=int, default=256)
    s.add_argument("--quality", type=int, default=95)
    s.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    s.set_defaults(func=_cmd_prepare)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jpegcoef`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
