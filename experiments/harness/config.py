"""The command line of ``experiments/run.py`` and its default schedules.

Every schedule setting defaults to ``None`` on the command line and is filled from a profile:

- ``synthetic`` (no ``--data``): the embedded generated dataset, a short schedule sized so any
  single variant trains, evaluates and is measured in under 10 minutes on 2 CPU cores.
- ``photos`` (``--dataset photos``): the real-photograph benchmark, the accuracy study's
  schedule (about 3 minutes per variant on 2 CPU cores).
- ``imagenet`` (with ``--data``): the papers' recipe (input size from the model, 90 epochs,
  5 warm-up epochs, lr 0.1 per 256 images, weight decay 1e-4, label smoothing 0.1).
"""
from __future__ import annotations

import argparse
import os
from typing import Any

#: The default schedules. ``crop=None`` means the model's own (paper) input size.
PROFILES: dict[str, dict[str, Any]] = {
    "synthetic": {
        "epochs": 2, "batch_size": 32, "crop": 64, "lr": 0.05, "momentum": 0.9,
        "weight_decay": 5e-5, "warmup_epochs": 0.5, "label_smoothing": 0.1, "workers": 0,
        "eval_every": 0, "clip_grad": 2.0,
        # the DCTNet gate (dctnet_gate) in 74 SGD steps. The penalty is now DCTNet's sum over
        # channels (it was the mean: lambda 4 then = 4/192 = 0.021 now), and the gate starts as
        # DCTNet's code initialises it (on-bias 2.0): the tuning below was done with the mean
        # and the old init, so the synthetic lambda is carried over, not re-tuned. With the
        # mean, the penalty lambda x fraction-on pulled each channel's logits by only lambda / 192, and the straight-through task signal is
        # noise until the network has learned something, so at lambda 0.05 and the network's
        # learning rate the gate never moves (every channel on, the flat heat map of the
        # 20261122 run). The gate's parameters learn at 20x the schedule's rate; lambda 4 is
        # where channels start to go off (3: 88% on, 4: 51%, 5: all but the two chroma DCs
        # off); and the gated model's whole input (the gate sees it first) is normalised with
        # the training split's statistics: with the shipped (photograph) statistics this
        # dataset's high-frequency channels are 2-8x unit scale and the gate kept the loudest
        # ones on. So dctnet_gate differs from dctnet in its input normalisation too.
        "gate_lambda": 0.021, "gate_lr_scale": 20.0, "gate_stats": "train",
        # jpegcoef.datasets.synthetic() knobs: images of 64-96 px so that a 64 px crop (DCT:
        # lossless crop, no rescaling) still shows most of each image
        "synthetic": {"size": (64, 96), "difficulty": 0.3}, "photos": {},
        # model options added unless --model-opt sets them: residual branches start at zero,
        # which makes a from-scratch ResNet-50 learn much faster in a short schedule
        "model_defaults": {"zero_init_residual": True},
        # per-model options added unless --model-opt sets them. hilo: layer2_stride=1. The 64 px
        # crop is an 8x8 block grid; with seeds/004's layer2 stride 2 (meant for a 56x56 grid)
        # the last stage runs on 1x1 maps, and even DCTNet at that stride stays near chance in
        # this schedule (10.8% top-1, 2 epochs). Stride 1 gives hilo the grid DCTNet has here
        # (8, 8, 4, 2 per stage; ResNet-50 at 64 px: 16, 8, 4, 2).
        "variant_defaults": {"hilo": {"layer2_stride": 1}},
    },
    # --dataset photos: jpegcoef.datasets.photos() (10 photographs shipped by scikit-image,
    # scikit-learn and matplotlib, one class each; 1200 train / 1000 val crops of 80-112 px from
    # disjoint checkerboard cells). One schedule and one augmentation policy (DCT-domain RRC +
    # flip; eval resize 73 -> centre 64) for every variant, sized so one run of
    # late_concat_rfa_thinner takes about 3 minutes on 2 CPU cores: the accuracy study's schedule.
    "photos": {
        "epochs": 4, "batch_size": 32, "crop": 64, "lr": 0.05, "momentum": 0.9,
        "weight_decay": 5e-5, "warmup_epochs": 0.5, "label_smoothing": 0.1, "workers": 0,
        "eval_every": 0, "clip_grad": 2.0,
        "gate_lambda": 0.021, "gate_lr_scale": 20.0, "gate_stats": "train",
        "synthetic": {}, "photos": {"train_per_class": 120, "val_per_class": 100},
        "model_defaults": {"zero_init_residual": True},
        # the 64 px crop is an 8x8 block grid, as in the synthetic profile (see there)
        "variant_defaults": {"hilo": {"layer2_stride": 1}},
    },
    # --dataset photos-v2: jpegcoef.datasets.photos_v2() (37 photographs from Debian's wallpaper
    # packages; 1184 train / 888 val crops of 80-112 px from interleaved checkerboard cells, the
    # cells moved by --photos-opt cut=N). The photos schedule (148 optimiser steps at batch 32):
    # one resnet50 run takes about 3.5 minutes on 2 CPU cores.
    "photos-v2": {
        "epochs": 4, "batch_size": 32, "crop": 64, "lr": 0.05, "momentum": 0.9,
        "weight_decay": 5e-5, "warmup_epochs": 0.5, "label_smoothing": 0.1, "workers": 0,
        "eval_every": 0, "clip_grad": 2.0,
        "gate_lambda": 0.021, "gate_lr_scale": 20.0, "gate_stats": "train",
        "synthetic": {}, "photos": {},
        "model_defaults": {"zero_init_residual": True},
        "variant_defaults": {"hilo": {"layer2_stride": 1}},
    },
    "imagenet": {
        "epochs": 90, "batch_size": 64, "crop": None, "lr": None, "momentum": 0.9,
        "weight_decay": 1e-4, "warmup_epochs": 5.0, "label_smoothing": 0.1, "workers": 8,  # at most the CPU count
        "gate_lambda": 2.6e-4, "gate_lr_scale": 1.0, "gate_stats": "shipped",
        "eval_every": 1, "clip_grad": 0.0,
        "synthetic": {}, "photos": {},
        "model_defaults": {}, "variant_defaults": {},
    },
}


from .protocols import PROTOCOLS  # noqa: E402  (the papers' data protocols)

PROG = "run.py"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and shows every default: the fixed ones argparse knows, and
    for schedule settings (None on the command line) the two profiles' values."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.help is argparse.SUPPRESS or "default" in text or not action.option_strings:
            return text
        dest = action.dest
        if action.default is None and any(dest in prof for prof in PROFILES.values()):
            vals = {name: prof.get(dest) for name, prof in PROFILES.items()}
            shown = ", ".join(f"{name} {_show(dest, v)}" for name, v in vals.items())
            return f"{text} (default: from --profile: {shown})".strip()
        if action.default not in (None, False, [], argparse.SUPPRESS):
            return f"{text} (default: %(default)s)".strip()
        return text


#: what a profile's None means, per setting
_NONE_MEANS = {"crop": "the model's input size", "lr": "0.1 x global batch / 256"}


def _show(dest: str, v: Any) -> str:
    return _NONE_MEANS.get(dest, "none") if v is None else str(v)


def build_parser() -> argparse.ArgumentParser:
    from jpegcoef import console  # noqa: PLC0415  (one-line errors, no abbreviations)

    p = console.ArgumentParser(
        prog=PROG,
        description="Train, evaluate and measure one or all jpegcoef model variants; evaluate a "
                    "trained checkpoint on a folder (--evaluate).",
        epilog="Examples:\n"
               "  python experiments/run.py --variant all            # every variant, embedded data\n"
               "  python experiments/run.py --variant dctnet --model-opt channels=64\n"
               "  python experiments/run.py --model resnet50 --data ~/my-photos -b 16 --epochs 10\n"
               "  python experiments/run.py --evaluate experiments/checkpoints/resnet50-my-photos/model.pt "
               "--data ~/my-photos\n"
               "  torchrun --nproc_per_node=8 experiments/run.py --variant late_concat_rfa_thinner "
               "--data /data/imagenet-jpeg\n"
               "  python experiments/run.py --summarize              # README results table\n"
               "\nWhere things go: results JSON in experiments/results/, logs in experiments/runs/, "
               "checkpoints in experiments/checkpoints/<variant>-<dataset>/ (last.pt to resume, model.pt "
               "for 'jpegcoef predict'); the embedded dataset in $JPEGCOEF_CACHE (~/.cache/jpegcoef).\n"
               "Exit status: 0 done, 1 a data problem (missing folder, no images, a failed variant), "
               "2 a command-line problem (unknown option or value, a device this machine lacks).\n",
        formatter_class=_HelpFormatter)
    a = p.add_argument
    a("--version", action="version", version=console.version_text(PROG))
    a("--variant", "--model", dest="variant",
      help="variant name, comma-separated list, or 'all' (see --list); --model is an alias")
    a("--model-opt", action="append", metavar="KEY=VALUE", default=[],
      help="model option passed to models.create (repeatable), e.g. channels=64, gate=true, "
           "antialias=blur")
    a("--update-readme", action="store_true",
      help="with --summarize: also write the table between README.md's results-table markers")
    a("--list", action="store_true", help="list variants and exit")
    a("--summarize", action="store_true",
      help="print the README's markdown results table from the results files and exit")
    g = p.add_argument_group("data")
    g.add_argument("--data", help="root with train/ and val/, each an ImageFolder or a folder of "
                                  "tar shards ('jpegcoef prepare --shards N'; default: the embedded "
                                  "synthetic dataset, generated on first use)")
    g.add_argument("--dataset", choices=["synthetic", "photos", "photos-v2"],
                   help="without --data, the generated dataset: synthetic (the default: shapes and "
                        "textures, the fast smoke run), photos (v1: crops of the 10 photographs that "
                        "scikit-image, scikit-learn and matplotlib ship: pip install 'jpegcoef[photos]') "
                        "or photos-v2 (the study's: 37 photographs from Debian's wallpaper packages, "
                        "jpegcoef.datasets.PACKAGES_V2); each selects its profile")
    g.add_argument("--photos-opt", action="append", metavar="KEY=VALUE",
                   help="jpegcoef.datasets.photos() / photos_v2() option (repeatable; e.g. "
                        "train_per_class=100, size=(80,112); photos-v2: cut=1 moves the cells); "
                        "replaces the profile's")
    g.add_argument("--format-opt", action="append", metavar="KEY=VALUE",
                   help="input-format option passed to jpegcoef.formats.get (repeatable; e.g. "
                        "upsample=repeat for dctnet's chroma: bilinear (default), dct, repeat)")
    g.add_argument("--synthetic-opt", action="append", metavar="KEY=VALUE",
                   help="jpegcoef.datasets.synthetic() option for the embedded dataset "
                        "(repeatable; e.g. difficulty=0.3, size=(64,96), train_per_class=200); "
                        "replaces the profile's")
    g.add_argument("--dataset-name", help="name used in result files (default: folder name)")
    g.add_argument("--crop", type=int, help="crop size in pixels (DCT formats: multiple of 16)")
    g.add_argument("--augment", choices=["rrc", "crop", "rgb-reencode"], default=None,
                   help="training augmentation of the DCT formats: rrc (default; DCT-domain RandomResizedCrop + "
                        "flip, evaluation by resize + centre crop), crop (lossless MCU-grid crop + flip, centre "
                        "crop for evaluation) or rgb-reencode (pixels, RRC, re-encode); rgb: pixel RRC, or with "
                        "crop the same 16-px-grid windows on pixels (no resize; centre window for evaluation)")
    g.add_argument("--workers", type=int, help="data-loader worker processes")
    g.add_argument("--on-error", choices=["raise", "skip"], default="skip",
                   help="unreadable files: skip (leave them out; the console and the results "
                        "JSON list them) or raise (stop at the first one: a one-line error "
                        "naming it, exit status 1) (default: skip)")
    g.add_argument("--train-fraction", type=float, default=1.0, metavar="F",
                   help="train on a class-stratified random fraction F (0 < F <= 1) of the training "
                        "split, at least one image per class, drawn by --fraction-seed (not --seed: the "
                        "same images for every variant and seed; a smaller F is a subset of a larger "
                        "one); with --holdout, a fraction of what is left after the holdout")
    g.add_argument("--holdout", type=float, metavar="F",
                   help="hold out a class-stratified fraction F (0 < F < 0.5) of the training split "
                        "(drawn by --fraction-seed), train on the rest and evaluate on the held-out "
                        "images (evaluation transform) instead of val: the result says "
                        "eval_split 'holdout' (for choosing e.g. the learning rate without val)")
    g.add_argument("--fraction-seed", type=int, default=0, metavar="S",
                   help="seed of the --train-fraction and --holdout draws (>= 0)")
    s = p.add_argument_group("schedule")
    s.add_argument("--profile", choices=sorted(PROFILES),
                   help="default schedule (default: synthetic without --data, else imagenet)")
    s.add_argument("--protocol", choices=sorted(PROTOCOLS),
                   help="a paper's data protocol (experiments/harness/protocols.py): gueguen (RRC 224, "
                        "eval 256 -> 224), dctnet (RRC 448, eval 512 -> 448, full-resolution chroma, "
                        "training-set statistics, torchvision ResNet-50 baseline at half the DCT crop: "
                        "RRC 224, eval 256 -> 224, its 4.09-GMAC setting), hilo (seeds/004: "
                        "448, layer2 stride 2, baseline dctnet24_s2, threshold 0.85); --crop N scales it "
                        "(evaluation resize 256/224 x N); without --data the crop is the profile's")
    s.add_argument("--epochs", type=int, help="training epochs")
    s.add_argument("--step-budget", type=int, metavar="N",
                   help="train for exactly N optimiser steps in all instead of --epochs (N / steps "
                        "per epoch epochs, the last one partial; warm-up and cosine over the N steps, "
                        "the floor on step N); the high/low model splits N between its two steps "
                        "(N//2 and N - N//2, or by --hilo-step1-fraction), each with its own "
                        "warm-up and cosine")
    s.add_argument("-b", "--batch-size", type=int, help="images per process per step")
    s.add_argument("--lr", type=float, help="peak learning rate (imagenet profile: "
                                            "0.1 x global batch / 256)")
    s.add_argument("--momentum", type=float, help="SGD momentum")
    s.add_argument("--weight-decay", type=float, help="on conv/linear weights (not BN, biases)")
    s.add_argument("--warmup-epochs", type=float, help="linear learning-rate warm-up, in epochs")
    s.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing")
    s.add_argument("--clip-grad", type=float,
                   help="clip the gradient norm to this value (0: off)")
    s.add_argument("--gate-lambda", type=float,
                   help="weight of the gate's channel-usage term (gated dctnet): the loss adds "
                        "lambda x the number of input channels on (summed over channels, batch mean: "
                        "DCTNet's equation; 192x the old per-channel mean)")
    s.add_argument("--gate-lr-scale", type=float,
                   help="learning rate of the gate's parameters as a multiple of the "
                        "schedule's (gated dctnet)")
    g.add_argument("--stats", metavar="JSON",
                   help="per-channel normalisation of the DCT input formats: a file written by "
                        "'jpegcoef stats DIR -o FILE', or 'train' for the training split's, "
                        "computed at start (default: the statistics shipped with jpegcoef, "
                        "measured on photographs); the RGB baseline ignores it")
    s.add_argument("--gate-stats", choices=["shipped", "train"],
                   help="input normalisation of gated models: the statistics shipped with "
                        "jpegcoef (photographs) or the training split's, computed at start; "
                        "--stats FILE takes precedence")
    s.add_argument("--hilo-step1-fraction", type=float,
                   help="split --epochs between the high/low model's two steps, this fraction "
                        "for step 1 (default: no split; as in seeds/004 each step trains for "
                        "--epochs epochs with its own warm-up and cosine)")
    s.add_argument("--hilo-threshold", type=float,
                   help="early-exit threshold for evaluation (default: the model's, 0.85)")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms (bit-exact resume on the same machine)")
    d = p.add_argument_group("device")
    d.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    d.add_argument("--amp", nargs="?", const="on", choices=["auto", "on", "off"], default="auto",
                   help="mixed precision; --amp alone = on (auto: on for CUDA)")
    d.add_argument("--no-amp", dest="amp", action="store_const", const="off",
                   help="no mixed precision (= --amp off)")
    d.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                   help="channels_last memory format (auto: on for CUDA)")
    d.add_argument("--compile", action="store_true", help="torch.compile the model")
    e = p.add_argument_group("evaluation and measurement")
    e.add_argument("--eval-every", type=int, help="evaluate every N epochs (0: at the end only)")
    e.add_argument("--shift-max", type=int, default=16,
                   help="largest shift in pixels for shift consistency (0: skip)")
    e.add_argument("--no-measure", action="store_true",
                   help="skip speed measurements (params/MACs/bytes are still reported)")
    e.add_argument("--paper-macs", action="store_true",
                   help="also count MACs at the paper's input size (models.summary)")
    e.add_argument("--measure-seconds", type=float, default=3.0,
                   help="time budget of each speed measurement")
    o = p.add_argument_group("output")
    o.add_argument("--results-dir", help="where result JSON files go (default: experiments/results)")
    o.add_argument("--checkpoint-dir", help="default: experiments/checkpoints")
    o.add_argument("--run-dir", help="logs (CSV, TensorBoard); default: experiments/runs")
    o.add_argument("--resume", nargs="?", const="auto", metavar="PATH",
                   help="continue from a checkpoint: PATH, or alone the last checkpoint of the "
                        "same variant and dataset (checkpoint-dir/<variant>-<dataset>/last.pt)")
    o.add_argument("--log-every", type=int, default=20, help="CSV step log interval")
    o.add_argument("--print-every", type=float, default=60.0, metavar="SECONDS",
                   help="without progress bars (stderr not a terminal): a plain progress line "
                        "this often within an epoch (0: only the end-of-epoch line)")
    o.add_argument("--no-progress", action="store_true",
                   help="no progress bars (there are none anyway when stderr is not a terminal: "
                        "then each epoch prints one line)")
    o.add_argument("--all-results", action="store_true",
                   help="with --summarize: also use result files git does not track (local runs); "
                        "by default a results folder inside a git checkout contributes only its "
                        "committed files")
    v = p.add_argument_group("inference")
    v.add_argument("--evaluate", metavar="CHECKPOINT",
                   help="evaluate a trained checkpoint (model.pt or last.pt) on --data's --split "
                        "and exit: top-1/top-5; classes are matched by name")
    v.add_argument("--split", default="val", help="with --evaluate: the folder under --data")
    v.add_argument("--eval-only", action="store_true",
                   help="with --checkpoint PATH: the same as --evaluate PATH (timm's spelling)")
    v.add_argument("--checkpoint", metavar="PATH", help="with --eval-only: the checkpoint to evaluate")
    # Test hook: SIGKILL this process after N training steps (simulates a crash mid-epoch).
    o.add_argument("--debug-kill-after-steps", type=int, help=argparse.SUPPRESS)
    return p


def resolve_eval_only(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``--eval-only --checkpoint PATH`` is ``--evaluate PATH``; either half alone is a usage error."""
    if args.eval_only != bool(args.checkpoint):
        parser.error("--eval-only and --checkpoint PATH go together (the same as --evaluate PATH)")
    if args.eval_only:
        if args.evaluate and args.evaluate != args.checkpoint:
            parser.error("--evaluate and --eval-only --checkpoint name different checkpoints")
        args.evaluate = args.checkpoint
    return args


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill every unset schedule value from the profile (chosen by ``--data`` when unset)."""
    from jpegcoef.console import UsageError  # noqa: PLC0415
    from .variants import parse_model_opts  # noqa: PLC0415  (same key=value syntax)

    if args.data and args.dataset:
        raise UsageError("--dataset names a generated dataset; it does not go with --data")
    budget = getattr(args, "step_budget", None)
    if budget is not None:
        if budget < 1:
            raise UsageError("--step-budget must be >= 1")
        if args.epochs is not None:
            raise UsageError("--step-budget N replaces --epochs (N optimiser steps in all): "
                             "give one of them")
    fraction = getattr(args, "train_fraction", 1.0)
    if fraction is None or not 0.0 < fraction <= 1.0:
        raise UsageError("--train-fraction must be in (0, 1]")
    holdout = getattr(args, "holdout", None)
    if holdout is not None and not 0.0 < holdout < 0.5:
        raise UsageError("--holdout must be in (0, 0.5)")
    if getattr(args, "fraction_seed", 0) < 0:
        raise UsageError("--fraction-seed must be >= 0")
    if not args.data and args.dataset is None:
        args.dataset = "synthetic"
    if args.profile is None:
        args.profile = "imagenet" if args.data else args.dataset
    args.format_opts = {}
    if getattr(args, "format_opt", None):
        try:
            args.format_opts = parse_model_opts(args.format_opt)
        except ValueError as exc:
            raise UsageError(str(exc).replace("--model-opt", "--format-opt")) from None
    for name in ("synthetic", "photos"):
        items = getattr(args, f"{name}_opt", None)
        if items is not None:
            try:
                setattr(args, name, parse_model_opts(items))
            except ValueError as exc:
                raise UsageError(str(exc).replace("--model-opt", f"--{name}-opt")) from None
    from . import protocols  # noqa: PLC0415

    try:
        protocols.apply(args, PROFILES[args.profile].get("crop"))
    except ValueError as exc:
        from jpegcoef.console import UsageError  # noqa: PLC0415
        raise UsageError(str(exc)) from None
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key, None) is None:
            if key == "workers":  # no more loader processes than this machine has CPUs
                value = min(value, os.cpu_count() or 1)
            setattr(args, key, value)
    args.variant_defaults = protocols.merge_variant_defaults(args.variant_defaults,
                                                             args.protocol_variant_defaults)

    if args.epochs < 1:
        raise UsageError("--epochs must be >= 1")
    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if args.hilo_step1_fraction is not None and not 0.0 < args.hilo_step1_fraction < 1.0:
        raise UsageError("--hilo-step1-fraction must be in (0, 1)")
    if args.workers is not None and args.workers < 0:
        raise UsageError("--workers must be >= 0")
    return args
