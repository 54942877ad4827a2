#!/usr/bin/env python3
"""Train, evaluate and measure jpegcoef model variants; write one results JSON per variant.

    python experiments/run.py --variant all           # every variant on the embedded dataset
    python experiments/run.py --variant dctnet --model-opt channels=64
    python experiments/run.py --variant dctnet_gate --epochs 6 --resume
    torchrun --nproc_per_node=2 experiments/run.py --variant resnet50 --data /data/imagenette
    python experiments/run.py --summarize             # markdown table of experiments/results
    python experiments/run.py --summarize --update-readme   # ... and into README.md
    python experiments/run.py --list                  # variant names and aliases

Without ``--data`` the embedded synthetic dataset is generated on first use (10 classes,
1200 train / 400 val JPEGs of 64-96 px) and the short ``synthetic`` schedule is used: crop
64 px, 2 epochs, batch 32, SGD momentum 0.9, lr 0.05 with 0.5 epoch warm-up then cosine,
weight decay 5e-5, label smoothing 0.1, gradient-norm clip 2, zero-initialised residual
branches (see ``harness/config.py``). The high/low model trains in seeds/004's two steps, each a
full run of that schedule (2 + 2 epochs; ``--hilo-step1-fraction`` splits ``--epochs`` instead),
and in this profile uses ``layer2_stride=1`` (the 64 px crop is an 8x8 block grid; stride 2 would
leave its last stage 1x1 maps). With ``--data`` the ``imagenet`` profile applies (the
model's own input size, 90 epochs, ...). Results go to
``experiments/results/<variant>-<dataset>-<time>.json`` (schema: ``harness/results.py``),
logs to ``experiments/runs/`` and checkpoints to ``experiments/checkpoints/``.

The committed results under ``experiments/results/`` come from
``nice python experiments/run.py --variant all --no-progress`` on the project's shared 2-core CPU.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent, HERE.parent / "src"):  # harness/, models/, jpegcoef (uninstalled)
    if str(p) not in sys.path:
        sys.path.insert(0 if p == HERE else len(sys.path), str(p))

# Shared CPUs: idle OpenMP threads sleep instead of spinning (set before torch loads; an
# explicit OMP_WAIT_POLICY in the environment wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from harness import config, results, variants  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = config.build_parser().parse_args(argv)
    if args.summarize:
        table = results.markdown(results.load_all(args.results_dir or results.RESULTS_DIR))
        print(table, end="")
        if args.update_readme:
            changed = results.update_readme(HERE.parent / "README.md", table)
            print(f"README.md {'updated' if changed else 'already up to date'}", file=sys.stderr)
        return 0

    from jpegcoef import models  # noqa: PLC0415  (after sys.path set-up)

    available = models.names()
    if args.list:
        for name in sorted(set(available) | set(variants.ALIASES)):
            try:
                model, opts = variants.resolve(name, available, {})
            except ValueError:
                continue
            extra = f"  = {model} {opts}" if (model, opts) != (name, {}) else ""
            star = "*" if name in variants.ALL else " "
            print(f"{star} {name}{extra}")
        print("(* = in --variant all)")
        return 0
    if not args.variant:
        config.build_parser().error("--variant is required (or --list / --summarize)")
    try:
        names = variants.expand(args.variant, available)
        for name in names:  # check every variant (and --model-opt) before training any
            variants.resolve(name, available, variants.parse_model_opts(args.model_opt))
    except ValueError as exc:
        config.build_parser().error(str(exc))
    config.fill_defaults(args)

    from harness import distributed, train  # noqa: PLC0415

    info, device = distributed.init(args.device)
    done, failed = [], []
    try:
        for name in names:
            try:
                r = train.run_variant(args, name, info, device)
            except Exception:  # one broken variant must not stop the others
                if len(names) == 1 or info.world_size > 1:
                    raise
                traceback.print_exc()
                failed.append(name)
                continue
            if r is not None:
                done.append(r)
    finally:
        distributed.cleanup(info)
    if info.is_main and done:
        print()
        print(results.text_table(done))
    if failed:
        print(f"FAILED variants: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
