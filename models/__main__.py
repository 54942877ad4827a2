"""Command line: ``python -m jpegcoef.models summary [NAME ...] [-o key=value ...] [--json]``.

Prints parameters, MACs at the example input and the receptive field / stride after each stage
of every named model (all registered names by default).
"""
from __future__ import annotations

import argparse
import ast
import json
import sys

from . import names, summary
from .summary import format_table


def _option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"options look like key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed: object = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value  # a bare string such as antialias=blur
    return key, parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jpegcoef.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="parameters, MACs and receptive fields")
    p.add_argument("names", nargs="*", help=f"model names (default: all of {', '.join(names())})")
    p.add_argument("-o", "--option", type=_option, action="append", default=[],
                   help="model option key=value, applied to every name (repeatable)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--size", type=int, default=None, help="input size in pixels")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("list", help="registered names and their input formats")
    args = parser.parse_args(argv)
    if args.command == "list":
        from . import info
        for n in names():
            print(f"{n:<26} {info(n).input_format:<8} {info(n).doc}")
        return 0
    unknown = [n for n in args.names if n not in names()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {', '.join(names())}")
    options = dict(args.option)
    try:
        rows = [summary(n, num_classes=args.num_classes, size=args.size, **options)
                for n in (args.names or names())]
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
