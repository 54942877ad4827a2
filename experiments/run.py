#!/usr/bin/env python3
"""Train, evaluate and measure jpegcoef model variants; write one results JSON per variant.

    python experiments/run.py --variant all           # every variant on the embedded dataset
    python experiments/run.py --variant dctnet --model-opt channels=64
    python experiments/run.py --variant late_concat_rfa_thinner --dataset photos   # real photographs
    python experiments/run.py --variant dctnet24 --format-opt upsample=repeat      # an input-format option
    python experiments/run.py --variant dctnet_gate --epochs 6 --resume
    python experiments/run.py --model resnet50 --data ~/photos -b 16   # your own ImageFolder
    python experiments/run.py --evaluate experiments/checkpoints/resnet50-photos/model.pt --data ~/photos
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
model's own input size, 90 epochs, ...). ``--dataset photos`` instead generates
``jpegcoef.datasets.photos()`` (crops of the photographs scikit-image, scikit-learn and
matplotlib ship; ``pip install -e ".[photos]"``) and uses the ``photos`` profile, the accuracy
study's schedule (``experiments/study.py``: crop 64, 4 epochs, 1200 train / 1000 val images).
Results go to
``experiments/results/<variant>-<dataset>-<time>.json`` (schema: ``harness/results.py``),
logs to ``experiments/runs/`` and checkpoints to ``experiments/checkpoints/<variant>-<dataset>/``
(``last.pt`` to resume, ``model.pt`` for ``jpegcoef predict`` and ``--evaluate``); each run
prints these paths. ``--summarize`` tables only the result files git tracks (a local rerun does
not replace a committed row unless ``--all-results``) and says on stderr which it left out.

The committed results under ``experiments/results/`` come from
``nice python experiments/run.py --variant all --no-progress`` on the project's shared 2-core CPU.
"""
from __future__ import annotations

import inspect
import os
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent / "src"):  # harness/; jpegcoef and jpegcoef.models (uninstalled)
    if str(p) not in sys.path:
        sys.path.insert(0 if p == HERE else len(sys.path), str(p))

# Shared CPUs: idle OpenMP threads sleep instead of spinning (set before torch loads; an
# explicit OMP_WAIT_POLICY in the environment wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from harness import config, results, variants  # noqa: E402


def summarize(args) -> int:
    """The README's markdown table from the results files (committed ones only inside a git
    checkout, unless --all-results); which files were used or left out goes to stderr."""
    directory = Path(args.results_dir or results.RESULTS_DIR)
    chosen, notes = results.choose(results.load_all(directory), results.tracked(directory),
                                   include_untracked=args.all_results)
    table = results.markdown(chosen)
    print(table, end="")
    for note in notes:
        print(f"{config.PROG} --summarize: {note}", file=sys.stderr)
    if args.update_readme:
        changed = results.update_readme(HERE.parent / "README.md", table)
        print(f"README.md {'updated' if changed else 'already up to date'}", file=sys.stderr)
    return 0


def list_variants(available: list[str]) -> int:
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


def _unknown_options(models, model_name: str, opts: dict) -> list[str]:
    """Option names the model's builder does not take (none when it takes ``**kwargs``)."""
    params = inspect.signature(models.info(model_name).builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return sorted(k for k in opts if k not in params)


def check_variants(args, models) -> list[str]:
    """Every variant name and option name, checked before anything trains (usage errors);
    an option's value is checked when that variant's model is built."""
    from harness import train  # noqa: PLC0415
    from jpegcoef.console import UsageError  # noqa: PLC0415

    available = models.names()
    try:
        names = variants.expand(args.variant, available)
        variants.parse_model_opts(args.model_opt)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config.fill_defaults(args)
    for name in names:
        try:
            model_name, opts = train.model_options(args, name, available)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        unknown = _unknown_options(models, model_name, opts)
        if unknown:
            params = [p for p in inspect.signature(models.info(model_name).builder).parameters
                      if p != "num_classes"]
            raise UsageError(f"--model-opt {', '.join(unknown)}: not an option of {model_name} "
                             f"(variant {name}); it takes {', '.join(params)}")
    return names


def train_all(args, names: list[str]) -> int:
    from harness import distributed, folders, train  # noqa: PLC0415
    from jpegcoef.console import DATA_ERRORS, UserError  # noqa: PLC0415
    from jpegcoef.folder import SampleError  # noqa: PLC0415

    train.check_outputs(args)  # before anything trains: a result is not lost after it
    info, device = distributed.init(args.device)
    done, failed = [], []
    try:
        for name in names:
            try:
                r = train.run_variant(args, name, info, device)
            except (UserError, *DATA_ERRORS):  # the same for every variant: stop, one line
                raise
            except SampleError as exc:  # --on-error raise: an unreadable file, for every variant
                raise folders.sample_error(exc) from None
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


def _main(argv: list[str] | None) -> int:
    parser = config.build_parser()
    args = config.resolve_eval_only(parser.parse_args(argv), parser)
    if args.summarize:
        return summarize(args)
    from jpegcoef import models  # noqa: PLC0415  (after sys.path set-up)

    if args.list:
        return list_variants(models.names())
    if args.evaluate:
        from harness import evaluate  # noqa: PLC0415
        return evaluate.run_checkpoint(args)
    if not args.variant:
        parser.error("--variant is required (or --list / --summarize / --evaluate CHECKPOINT)")
    return train_all(args, check_variants(args, models))


def main(argv: list[str] | None = None) -> int:
    """The exit status: 0 done, 1 a data problem or a failed variant, 2 a usage error; user
    errors are one line on stderr (jpegcoef.console), never a traceback."""
    from jpegcoef import console  # noqa: PLC0415

    try:
        return console.run(config.PROG, lambda: _main(argv))
    except SystemExit as e:  # argparse: --help / --version (0) and its usage errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
