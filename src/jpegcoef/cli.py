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
                    workers=args.workers, overwrite=args.overwrite, shards=args.shards,
                    progress=console.progress_enabled(False if args.no_progress else None))
    except SettingsChanged as e:
        raise UserError(str(e)) from None
    except ValueError as e:  # empty source, DST inside SRC, shards of another plan
        raise UserError(str(e)) from None
    where = f" in {r['shards']} shards" if "shards" in r else ""
    print(f"{PROG} prepare: {r['images']} images: {r['done']} written, {r['existing']} kept "
          f"(already made with these settings), {len(r['failed'])} failed -> {args.dst}{where} "
          f"(settings in {r['record']})")
    if r["failed"]:
        console.print_warning(f"{PROG} prepare", console.skipped_summary(r["failed"], r["images"], 5)
                              + f" (all listed in {r['record']})")
    return 1 if r["failed"] else 0


def _load_classifier(path: str, device: str):
    import torch  # noqa: PLC0415

    from . import inference  # noqa: PLC0415
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device {device}: expected cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available; use --device cpu")
    try:
        return inference.load(path, device=dev)
    except ValueError as e:  # not a jpegcoef checkpoint
        raise UserError(str(e)) from None


def _cmd_predict(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    clf = _load_classifier(args.checkpoint, args.device)
    rows = clf.predict(args.files, top_k=args.top_k, batch_size=args.batch_size,
                       short_side=args.short_side)
    for r in rows:
        if args.json:
            print(json.dumps({**r, "top": [{"class": c, "probability": p} for c, p in r["top"]]}
                             if "top" in r else r))
        elif "top" in r:
            print(f"{r['file']}: " + ", ".join(f"{c} {100 * p:.1f}%" for c, p in r["top"]))
    warned = {r["file"]: r["warning"] for r in rows if "warning" in r}
    if warned:  # one line, as 'jpegcoef stats' says it (not Python's warning with a source line)
        console.print_warning(f"{PROG} predict", console.skipped_summary(
            warned, len(rows), 5, what="files read with libjpeg warnings").replace(" skipped:", ":")
            + " (predicted from what libjpeg recovered)")
    failed = {r["file"]: r["error"] for r in rows if "error" in r}
    if failed:
        console.print_warning(f"{PROG} predict", console.skipped_summary(failed, len(rows), 5))
    return 1 if failed else 0


def _cmd_export(args: argparse.Namespace) -> int:
    from . import inference  # noqa: PLC0415

    clf = _load_classifier(args.checkpoint, "cpu")
    try:
        path = inference.export(clf, args.output, example_files=args.example or None, kind=args.kind)
    except (ValueError, ImportError) as e:
        raise UserError(str(e)) from None
    names = ", ".join(inference.input_names(clf.format))
    print(f"{PROG} export: {args.checkpoint} -> {path} ({inference.EXPORT_KINDS[args.kind][0]}; "
          f"inputs {names}; load with jpegcoef.inference.load_exported)")
    return 0


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
    s.add_argument("--shards", type=_positive, default=None, metavar="N",
                   help="write each split as N WebDataset-style tar shards (DST/<split>/<split>-000000.tar ...)")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    s.set_defaults(func=_cmd_prepare)

    s = _add_parser(sub, "predict", "classify JPEG files with a trained checkpoint of "
                                    "experiments/run.py (model.pt or last.pt): top-k classes")
    s.add_argument("checkpoint")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("-k", "--top-k", type=_positive, default=5)
    s.add_argument("--json", action="store_true", help="one JSON object per file")
    s.add_argument("--short-side", type=_positive, default=None,
                   help="re-encode each file to this short side first (default: the training "
                        "images' 'jpegcoef prepare' setting recorded in the checkpoint, if any)")
    s.add_argument("-b", "--batch-size", type=_positive, default=32)
    s.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    s.set_defaults(func=_cmd_predict)

    s = _add_parser(sub, "export", "write a trained checkpoint as a torch.export program (.pt2), "
                                   "TorchScript module or ONNX model that takes the host tensors "
                                   "(int16 coefficients + uint16 tables, int32 in ONNX, or uint8 "
                                   "pixels) and returns logits")
    s.add_argument("checkpoint")
    s.add_argument("output", help="the file to write (.pt2 for export, .pt for torchscript, .onnx)")
    s.add_argument("--kind", choices=("export", "torchscript", "onnx"), default="export",
                   help="export: torch.export; torchscript: torch.jit.trace; onnx: needs the onnx "
                        "and onnxscript packages (default: %(default)s)")
    s.add_argument("--example", nargs="+", metavar="FILE",
                   help="JPEG files for the example input (default: zeros of the crop's shape)")
    s.set_defaults(func=_cmd_export)
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
