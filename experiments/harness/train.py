"""One run of one variant: data, model, training, checkpoints, evaluation, measurements,
results file. Called by ``experiments/run.py`` once per variant."""
from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from jpegcoef import console
from jpegcoef.console import UsageError, UserError

from . import checkpoint, evaluate, folders, measure, protocols, results, schedule, splits, variants
from .distributed import DistInfo, all_reduce_sum, barrier
from .logs import RunLog

EXPERIMENTS = Path(__file__).resolve().parents[1]
REPO = EXPERIMENTS.parent


# -- set-up helpers ----------------------------------------------------------------------------
def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def dataset_root(args: argparse.Namespace, info: DistInfo) -> tuple[Path, str]:
    """The ImageFolder root (train/ and val/) and the dataset's name: ``--data``, or the
    generated dataset ``--dataset`` names (``jpegcoef.datasets.synthetic`` or ``photos``)."""
    if args.data:
        root = folders.check_root(Path(args.data).expanduser())
        return root, args.dataset_name or root.resolve().name
    from jpegcoef import datasets  # noqa: PLC0415

    name = getattr(args, "dataset", None) or "synthetic"
    make = {"synthetic": datasets.synthetic, "photos": datasets.photos,
            "photos-v2": datasets.photos_v2}[name]
    opt_name = "photos" if name == "photos-v2" else name  # --photos-opt serves both versions
    opts = dict(getattr(args, opt_name, None) or {})
    for key, value in opts.items():
        if isinstance(value, list):
            opts[key] = tuple(value)
    known = [k for k in inspect.signature(make).parameters if k not in ("root", "progress", "sources")]
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise UsageError(f"--{opt_name}-opt: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    try:
        if info.is_main:  # generate once, then every rank finds it
            root = Path(make(progress=console.progress_enabled(False if args.no_progress else None), **opts))
        barrier(info)
        if not info.is_main:
            root = Path(make(progress=False, **opts))
    except (ValueError, RuntimeError) as exc:  # a bad value; photos: the packages are missing
        raise UserError(f"--dataset {name}: {exc}") from None
    return root, args.dataset_name or name


def crop_for(model: nn.Module, requested: int | None) -> int:
    """The crop in pixels: ``requested`` or the model's own input size (from example_input)."""
    if requested is not None:
        if model.input_format != "rgb" and requested % 16:
            raise UsageError(f"--crop {requested}: DCT inputs need a multiple of 16 pixels")
        return requested
    x = model.example_input(1)
    t = x[0] if isinstance(x, (tuple, list)) else x
    return int(t.shape[-1]) * (1 if model.input_format == "rgb" else 8)


def set_loader_epoch(loader, epoch: int, seed: int) -> None:
    """Make epoch ``epoch``'s shuffle/augmentation a function of (seed, epoch) only, so a
    resumed run sees the same batches as an uninterrupted one."""
    for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None),
                getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(seed * 1_000_003 + epoch)


def channel_names(fmt: Any, count: int) -> list[str]:
    """Names like ``Y0``, ``Cb9`` of the channels of a ``dctnet``-format input, in the order
    the format emits them ([Y | Cb | Cr], natural index 8*row+col within a component)."""
    y, c = getattr(fmt, "y_index", None), getattr(fmt, "c_index", None)
    if y is not None and c is not None and len(y) + 2 * len(c) == count:
        return ([f"Y{i}" for i in y] + [f"Cb{i}" for i in c] + [f"Cr{i}" for i in c])
    return [f"c{i}" for i in range(count)]


def train_split_stats(split: Path, files: Optional[list[str]] = None) -> dict[str, Any]:
    """Per-channel mean/std of the dequantised DCT coefficients of ``split`` (``jpegcoef stats``
    over the training images, as DCTNet normalises its inputs), as recorded in the results.
    ``files``: only these (the part ``--train-fraction`` / ``--holdout`` trains on: held-out
    images are not looked at, not even unlabelled)."""
    from jpegcoef import shards, stats  # noqa: PLC0415

    def compute(paths: list) -> dict[str, Any]:
        try:
            return stats.compute(paths, on_error="skip", progress=False)
        except ValueError as e:  # none of the files could be read (or no files at all)
            raise UserError(f"{split}: no training image could be read for the training "
                            f"statistics (--stats train / --gate-stats train): {e}") from None

    if files is not None:
        st = compute(files)
        return {"source": "train split, the part trained on (--train-fraction / --holdout; "
                          "jpegcoef.stats.compute)", "images": st["images"],
                "mean": st["mean"], "std": st["std"]}
    if shards.is_shards(split):
        raise UsageError(f"--gate-stats train reads an ImageFolder split; {split} holds tar shards: "
                         "pass --stats FILE ('jpegcoef stats' over the images) instead")
    st = compute(stats.list_jpegs(split))
    return {"source": "train split (jpegcoef.stats.compute)", "images": st["images"],
            "mean": st["mean"], "std": st["std"]}


def stats_file(path: str) -> dict[str, Any]:
    """The statistics JSON of ``--stats`` (written by ``jpegcoef stats``), checked up front so a
    wrong file fails before any training, and recorded in the results with its path."""
    from jpegcoef import formats  # noqa: PLC0415

    try:
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
        formats.load_stats(st)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"--stats {path}: not a statistics file of 'jpegcoef stats' ({e})") from None
    return {"source": str(path), **st}


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _source_state() -> tuple[str | None, bool | None]:
    """The commit checked out and whether tracked files differed from it, taken once when the
    harness is imported: that is the code this process runs, even if the tree changes later."""
    commit = _git("rev-parse", "HEAD") or None
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return commit, (None if status is None else bool(status))


SOURCE_COMMIT, SOURCE_DIRTY = _source_state()


def git_commit() -> str | None:
    """The commit of the code this process loaded (see :func:`_source_state`)."""
    return SOURCE_COMMIT


def model_options(args: argparse.Namespace, variant: str,
                  available: list[str]) -> tuple[str, dict[str, Any]]:
    """(model name, options) of ``variant``: its alias's options, then ``--model-opt``, then
    (only where neither sets a key) the profile's ``variant_defaults`` for that model and its
    ``model_defaults`` for every model."""
    model_name, model_opts = variants.resolve(variant, available,
                                              variants.parse_model_opts(args.model_opt))
    for defaults in (args.variant_defaults.get(model_name, {}), args.model_defaults):
        for key, value in defaults.items():
            model_opts.setdefault(key, value)
    return model_name, model_opts


def phases(variant_model: nn.Module, epochs: int,
           step1_fraction: float | None = None) -> list[tuple[int, int]]:
    """``[(phase, epochs)]``: one phase of ``epochs``, or the high/low model's two training steps.

    seeds/004 trains each of the two steps as a full run of the schedule (SGD, cosine, the same
    number of epochs), so by default each step gets ``epochs`` epochs (its own warm-up and
    cosine). With ``step1_fraction`` the ``epochs`` are instead split between the two steps.
    """
    if hasattr(variant_model, "set_step"):
        if step1_fraction is None:
            return [(1, epochs), (2, epochs)]
        if epochs < 2:
            raise UsageError("--hilo-step1-fraction splits --epochs between the high/low "
                             "model's two steps: --epochs must be >= 2")
        e1 = min(epochs - 1, max(1, round(epochs * step1_fraction)))
        return [(1, e1), (2, epochs - e1)]
    return [(0, epochs)]


def phase_of(plan: list[tuple[int, int]], epoch: int) -> tuple[int, int, int]:
    """(phase, first epoch of the phase, epochs in the phase) for 0-based ``epoch``."""
    start = 0
    for ph, n in plan:
        if epoch < start + n:
            return ph, start, n
        start += n
    raise ValueError(epoch)


def budget_phases(variant_model: nn.Module, budget: int,
                  step1_fraction: float | None = None) -> list[tuple[int, int]]:
    """``[(phase, optimiser steps)]`` of ``--step-budget budget``: one phase of ``budget`` steps,
    or the high/low model's two training steps sharing it: ``budget // 2`` and
    ``budget - budget // 2`` (with ``step1_fraction``, ``round(budget x fraction)`` for step 1,
    at least one step each), so the model takes ``budget`` steps in all, like any other."""
    if budget < 1:
        raise UsageError("--step-budget must be >= 1")
    if hasattr(variant_model, "set_step"):
        if budget < 2:
            raise UsageError(f"--step-budget {budget}: the high/low model trains in two steps "
                             f"and splits the budget between them: it needs at least 2")
        s1 = budget // 2 if step1_fraction is None else \
            min(budget - 1, max(1, round(budget * step1_fraction)))
        return [(1, s1), (2, budget - s1)]
    return [(0, budget)]


def step_plan(plan: list[tuple[int, int]], steps_per_epoch: int,
              budget_plan: list[tuple[int, int]] | None = None) -> list[tuple[int, int, int]]:
    """``[(phase, epochs, optimiser steps)]``: the epoch ``plan`` (every epoch whole), or with a
    ``budget_plan`` (:func:`budget_phases`) each phase's steps in ``ceil(steps / steps_per_epoch)``
    epochs, the last one cut short. Each phase's warm-up and cosine span its own steps."""
    if budget_plan is None:
        return [(ph, n, n * steps_per_epoch) for ph, n in plan]
    return [(ph, -(-n // steps_per_epoch), n) for ph, n in budget_plan]


def epoch_steps(plan: list[tuple[int, int, int]], epoch: int,
                steps_per_epoch: int) -> tuple[int, int, int, int]:
    """``(phase, first epoch of the phase, optimiser steps in the phase, steps in this epoch)``
    for 0-based ``epoch`` of a :func:`step_plan`."""
    start = 0
    for ph, n, steps in plan:
        if epoch < start + n:
            return ph, start, steps, min(steps_per_epoch, steps - (epoch - start) * steps_per_epoch)
        start += n
    raise ValueError(epoch)


def warmup_steps(warmup_epochs: float, steps_per_epoch: int, total_steps: int) -> int:
    """Warm-up steps of a phase of ``total_steps``: ``warmup_epochs`` epochs of steps, capped so
    at least the phase's last step is cosine's (which then ends on the floor there: on step N
    of ``--step-budget N``); none for a phase of one step."""
    if warmup_epochs <= 0 or total_steps < 2:
        return 0
    return max(0, min(total_steps - 2, round(warmup_epochs * steps_per_epoch)))


def resume_path(resume: str | None, default: Path) -> Path | None:
    """The checkpoint ``--resume`` names: PATH (which must exist), or alone (``"auto"``) the
    run's own ``last.pt`` when there is one; None: start afresh."""
    if resume is None:
        return None
    if resume == "auto":
        if default.is_dir():
            raise UserError(f"--resume: {default} is a directory, not a checkpoint file")
        return default if default.exists() else None
    path = Path(resume).expanduser()
    if path.is_dir():
        inside = path / "last.pt"
        hint = f" (resume from {inside})" if inside.is_file() else ""
        raise UserError(f"--resume {path} is a directory, not a checkpoint file{hint}")
    if not path.is_file():
        raise UserError(f"--resume {path} does not exist")
    return path


def resume_state(path: Path, device: torch.device, auto: bool) -> dict[str, Any]:
    """The checkpoint ``--resume`` continues from: a :class:`UserError` naming ``path`` when it
    cannot be read or is not a resumable checkpoint (``last.pt``; ``model.pt`` holds only the
    weights). ``auto``: found by a plain ``--resume``, so the message says how to start afresh."""
    fresh = "; delete it to start afresh" if auto else ""
    try:
        state = checkpoint.load(path, map_location=device)
    except (OSError, ValueError) as e:  # damaged, not a torch file, not a dictionary
        raise UserError(f"--resume: {e}{fresh}") from None
    missing = [k for k in checkpoint.RESUME_KEYS if k not in state]
    if missing:
        hint = (" (model.pt holds only the weights: resume from last.pt)"
                if "model" in state and "optimizer" not in state else "")
        raise UserError(f"--resume: {path}: not a resumable checkpoint of experiments/run.py "
                        f"(it lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''})"
                        f"{hint}{fresh}")
    return state


def inference_record(variant: str, model_name: str, model_opts: dict[str, Any], classes: list[str],
                     fmt_name: str, fmt_opts: dict[str, Any], crop: int, root: Path,
                     augment: Optional[str] = None) -> dict[str, Any]:
    """What ``jpegcoef predict`` and ``--evaluate`` need besides the weights (every checkpoint
    carries it under ``"inference"``)."""
    from jpegcoef.inference import model_record  # noqa: PLC0415

    return model_record(model=model_name, model_options=model_opts, classes=classes,
                        input_format=fmt_name,
                        format_options={k: v for k, v in fmt_opts.items() if k != "stats"},
                        stats=fmt_opts.get("stats"), crop=crop,
                        prepared=folders.prepared_settings(root), variant=variant, augment=augment)


def phase_label(phase: int, plan: list[tuple[int, int]]) -> str:
    """'' for one-phase training; ``' (hilo step 1/2: high model)'`` for the high/low model."""
    if len(plan) < 2:
        return ""
    what = {1: "high model", 2: "low model + exit"}.get(phase, "")
    return f" (hilo step {phase}/{len(plan)}{': ' + what if what else ''})"


def print_plan(variant: str, args: argparse.Namespace, root: Path, dataset_name: str,
               train_loader: Any, classes: list[str], ckpt_path: Path, run_dir: Path,
               plan: list[tuple[int, int]], device: torch.device,
               part: Optional[splits.TrainSplit] = None,
               budget_plan: Optional[list[tuple[int, int]]] = None) -> None:
    """Where the data comes from and where everything goes, before the first epoch."""
    src = "generated embedded dataset" if not args.data else "--data"
    budget = ""
    if budget_plan is not None:
        budget = (f"; --step-budget {sum(n for _, n in budget_plan)} optimiser steps"
                  f"{'' if len(budget_plan) < 2 else ' (' + ' + '.join(str(n) for _, n in budget_plan) + ')'}")
    lines = [f"data {root} ({src}; {len(classes)} classes, {len(train_loader.dataset)} training images"
             f"{part.describe() if part is not None else ''}"
             f"{'' if len(plan) < 2 else f'; hilo trains in {len(plan)} steps'}{budget}) on {device}",
             f"checkpoints {ckpt_path.parent}/ (last.pt: resume with --resume; model.pt at the end)",
             f"log {run_dir / 'log.csv'}",
             f"results {Path(args.results_dir or results.RESULTS_DIR)}/"]
    for line in lines:
        print(f"[{variant}] {line}", flush=True)


def report_skipped(variant: str, loaders: dict[str, Any], final: bool) -> None:
    """One console line: files skipped so far (count, first names), all named in the results."""
    skipped: dict[str, str] = {}
    total = 0
    for ld in loaders.values():
        skipped.update(_skipped(getattr(ld.dataset, "skipped", None)))
        total += len(ld.dataset)
    if skipped:
        where = "listed in the results JSON" if final else "so far; all listed in the results JSON"
        console.print_warning(f"[{variant}]", f"{console.skipped_summary(skipped, total)} ({where})")


# -- the run -----------------------------------------------------------------------------------
def run_variant(args: argparse.Namespace, variant: str, info: DistInfo,
                device: torch.device) -> dict[str, Any] | None:
    """Train, evaluate and measure ``variant``; rank 0 writes and returns the results dict."""
    from jpegcoef import models  # noqa: PLC0415
    from jpegcoef import formats  # noqa: PLC0415
    from jpegcoef.folder import SampleError  # noqa: PLC0415

    t_start = time.perf_counter()
    progress = info.is_main and console.progress_enabled(False if args.no_progress else None)
    model_name, model_opts = model_options(args, variant, models.names())
    root, dataset_name = dataset_root(args, info)
    t_data = time.perf_counter() - t_start

    seed_everything(args.seed, args.deterministic)
    classes = folders.class_names(root / "train")
    num_classes = len(classes)
    try:
        model = models.create(model_name, num_classes=num_classes, **model_opts)
    except (TypeError, ValueError) as exc:  # a --model-opt value the model refuses
        raise UsageError(f"--variant {variant} {model_opts}: {exc}") from None
    # the resolved input recipe (Gueguen models) goes into results and checkpoints, so a model
    # rebuilds as trained even after the default recipe changes
    model_opts = {**model_opts, **getattr(model, "recipe", {})}
    if args.hilo_threshold is not None:
        if not hasattr(model, "threshold"):
            raise UsageError("--hilo-threshold only applies to the high/low model")
        model.threshold = args.hilo_threshold
    budget = getattr(args, "step_budget", None)
    # checked now, before any data is read: hilo needs a budget of 2 or more
    budget_plan = None if budget is None else budget_phases(model, budget, args.hilo_step1_fraction)
    # --protocol dctnet: an RGB model at half the DCT crop (DCTNet's 448 against ResNet-50's 224)
    crop = crop_for(model, protocols.model_crop(getattr(args, "protocol_settings", None), args.crop,
                                                model.input_format))
    fmt_name, fmt_opts = model.input_format, dict(model.input_options)
    extra = getattr(args, "format_opts", None) or {}
    if extra and fmt_name == "rgb":
        raise UsageError(f"--format-opt: {variant} takes RGB pixels, which have no format options")
    if "stats" in extra or "channels" in extra:
        raise UsageError("--format-opt: channels come from the model and stats from --stats")
    fmt_opts.update(extra)

    def make_format(opts: dict[str, Any]) -> Any:
        try:
            return formats.get(fmt_name, **opts)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--format-opt: {exc}") from None

    # --holdout / --train-fraction: the parts of train/ (drawn by --fraction-seed alone), before
    # the training statistics, which then cover only what is trained on
    wants_part = (getattr(args, "train_fraction", 1.0) or 1.0) < 1.0 or \
        getattr(args, "holdout", None) is not None
    part = splits.plan(args, root / "train", classes, make_format(fmt_opts) if wants_part else None,
                       crop)
    part.check_batches(args.batch_size, info.world_size, root / "train",
                       unreadable=lambda: probe_files(part.train, fmt_name, fmt_opts, crop, args.augment))
    if args.stats == "train" and fmt_name != "rgb":
        fmt_opts["stats"] = train_split_stats(root / "train", part.files())  # computed at start
    elif args.stats and fmt_name != "rgb":
        fmt_opts["stats"] = stats_file(args.stats)
    train_stats = (model_opts.get("gate") and args.gate_stats == "train") or \
        getattr(args, "protocol_stats", None) == "train"
    if fmt_name != "rgb" and train_stats and not args.stats:
        fmt_opts["stats"] = train_split_stats(root / "train", part.files())  # formats.get reads mean/std
    fmt = make_format(fmt_opts)
    cuda = device.type == "cuda"
    amp = args.amp == "on" or (args.amp == "auto" and cuda)
    channels_last = args.channels_last == "on" or (args.channels_last == "auto" and cuda)
    lr = args.lr if args.lr is not None else 0.1 * args.batch_size * info.world_size / 256

    # rgb: pixel RRC, or with --augment crop the same grid windows on pixels (rgb-reencode is
    # a DCT-format pipeline: rgb keeps its RRC there, as in --variant all)
    augment = args.augment if fmt_name != "rgb" or args.augment == "crop" else None

    def loader(split: str, train: bool, size: int, distributed: bool):
        """A loader of ``split``: ``train`` (the folder, or its --train-fraction / --holdout
        part), ``val``, or ``holdout`` (the held-out training images); ``train`` chooses the
        transform (augmentation or the evaluation's resize + centre crop), not the images."""
        return split_loader(split, train, size, distributed, root=root, part=part, args=args,
                            fmt_name=fmt_name, fmt_opts=fmt_opts, augment=augment,
                            classes=classes, world_size=info.world_size)

    eval_split = part.eval_split
    train_loader = loader("train", True, crop, info.world_size > 1)
    folders.check_batches(len(train_loader.dataset), args.batch_size, info.world_size, root / "train")
    _VAL_CACHE.clear()  # a loader of an earlier variant (another format) must not be reused
    _val_loader_cache(loader, crop, eval_split)  # val's classes are checked now, not after training
    steps_per_epoch = len(train_loader)

    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    gate_lambda = args.gate_lambda if model_opts.get("gate") else None
    gate_lr_scale = args.gate_lr_scale if model_opts.get("gate") else None
    optimizer = schedule.make_optimizer(model, lr, args.momentum, args.weight_decay,
                                        lr_scales={"gate.": gate_lr_scale} if gate_lr_scale
                                        else None)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    if budget_plan is None:
        plan = phases(model, args.epochs, args.hilo_step1_fraction)
        steps = step_plan(plan, steps_per_epoch)
    else:  # --step-budget: each phase's steps, in as many epochs as they need (the last cut short)
        steps = step_plan([], steps_per_epoch, budget_plan)
        plan = [(ph, n) for ph, n, _ in steps]
    total_epochs = sum(n for _, n in plan)

    run_key = f"{variant}-{dataset_name}"
    ckpt_path = Path(args.checkpoint_dir or EXPERIMENTS / "checkpoints") / run_key / "last.pt"
    inference = inference_record(variant, model_name, model_opts, classes, fmt_name, fmt_opts,
                                 crop, root, augment=train_loader.dataset.augment if (fmt_name != "rgb" or augment) else None)
    config = {"variant": variant, "model": model_name, "model_options": model_opts,
              "epochs": args.epochs, "batch_size": args.batch_size, "crop": crop, "lr": lr,
              "augment": train_loader.dataset.augment, "seed": args.seed, "world_size": info.world_size, "dataset": str(root),
              "plan": plan, "gate_lambda": gate_lambda, "gate_lr_scale": gate_lr_scale,
              "input_stats": (fmt_opts.get("stats") or {}).get("source", "shipped")}
    if budget_plan is not None:  # only when set: a checkpoint of an epoch run still resumes
        config["step_budget"] = budget_plan
    if part.subset:
        config["train_part"] = {k: v for k, v in part.record().items()
                                if k in ("train_fraction", "fraction_seed", "holdout")}
    start_epoch, global_step, history, train_time, train_images = 0, 0, [], 0.0, 0
    compute_time, compute_images = 0.0, 0
    run_dir = Path(args.run_dir or EXPERIMENTS / "runs") / f"{run_key}-{results.utc_stamp()}"
    resumed = False
    resume_from = resume_path(args.resume, ckpt_path)
    if resume_from is not None:
        state = resume_state(resume_from, device, auto=args.resume == "auto")
        if state.get("config") != config:
            old = state.get("config") or {}
            diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
            raise UsageError(f"--resume: {resume_from} was written with different settings "
                             f"(checkpoint, now): {diff}")
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start_epoch, global_step = state["epoch"], state["global_step"]
            history = list(state["history"])
            train_time, train_images = state["train_time"], state["train_images"]
            compute_time, compute_images = state["compute_time"], state["compute_images"]
            run_dir = Path(state["run_dir"])
            checkpoint.set_rng_state(state["rng"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:  # same settings, other contents
            first = (str(e).strip().splitlines() or [""])[0]
            raise UserError(f"--resume: {resume_from}: its saved state does not fit this run "
                            f"({type(e).__name__}: {first})") from None
        resumed = True
        if info.is_main:
            print(f"[{variant}] resuming from {resume_from} after epoch {start_epoch}", flush=True)
    elif args.resume and info.is_main:
        print(f"[{variant}] --resume: no checkpoint at {ckpt_path}, starting afresh", flush=True)

    log = RunLog(run_dir, enabled=info.is_main, resume=resumed)
    if info.is_main:
        print_plan(variant, args, root, dataset_name, train_loader, classes, ckpt_path, run_dir,
                   plan, device, part=part, budget_plan=budget_plan)
    if args.compile:
        model = torch.compile(model)
    bare = evaluate.unwrap(model)
    net = model
    kill_after = args.debug_kill_after_steps
    steps_this_process = 0
    current_phase = None

    for epoch in range(start_epoch, total_epochs):
        phase, phase_start, total_steps, this_epoch = epoch_steps(steps, epoch, steps_per_epoch)
        if phase != current_phase:
            if phase:
                bare.set_step(phase)
            if info.world_size > 1:
                net = DDP(model, device_ids=[device.index] if cuda else None,
                          find_unused_parameters=False)
            current_phase = phase
        set_loader_epoch(train_loader, epoch, args.seed)
        net.train()
        warmup = warmup_steps(args.warmup_epochs, steps_per_epoch, total_steps)
        loss_sum = correct = seen = 0.0
        t_epoch = time.perf_counter()
        last_line = 0.0
        bar = None
        if progress:
            from tqdm import tqdm  # noqa: PLC0415
            bar = tqdm(total=this_epoch, desc=f"{variant} ep {epoch + 1}/{total_epochs}",
                       unit="step", leave=False, dynamic_ncols=True)
        # a --step-budget phase's last epoch stops after its share of the steps
        batches = train_loader if this_epoch >= steps_per_epoch else \
            itertools.islice(train_loader, this_epoch)
        for i, (batch, labels) in enumerate(batches):
            t0 = time.perf_counter()
            step_in_phase = (epoch - phase_start) * steps_per_epoch + i
            cur_lr = schedule.lr_at(step_in_phase, total_steps, warmup, lr)
            schedule.set_lr(optimizer, cur_lr)
            x = evaluate.model_input(train_loader.dataset.pipeline, batch, device, channels_last)
            labels = labels.to(device, non_blocking=cuda)
            with evaluate.autocast(device, amp):
                logits = evaluate.call(net, x)
                loss = F.cross_entropy(logits.float(), labels,
                                       label_smoothing=args.label_smoothing)
                if gate_lambda:
                    loss = loss + gate_lambda * bare.gate_penalty()  # channels on, summed (DCTNet eq.)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"[{variant}] loss is {float(loss)} at epoch "
                                         f"{epoch + 1} step {i}; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.clip_grad:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None],
                                         args.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            n = labels.numel()
            loss_sum += float(loss.detach()) * n
            correct += int((logits.detach().argmax(1) == labels).sum())
            seen += n
            if cuda:
                torch.cuda.synchronize(device)
            if i > 0 or epoch > start_epoch:  # first step: allocation / kernel selection
                compute_time += time.perf_counter() - t0
                compute_images += n
            global_step += 1
            steps_this_process += 1
            elapsed = time.perf_counter() - t_epoch
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{cur_lr:.3g}",
                                img_s=f"{seen * info.world_size / elapsed:.1f}")
            elif info.is_main and args.print_every and elapsed - last_line >= args.print_every:
                last_line = elapsed  # no terminal: a plain line now and then instead of a bar
                print(f"[{variant}] epoch {epoch + 1}/{total_epochs} step {i + 1}/{this_epoch} "
                      f"loss {loss_sum / seen:.4f} lr {cur_lr:.3g} "
                      f"{seen * info.world_size / elapsed:.1f} img/s", flush=True)
            if args.log_every and global_step % args.log_every == 0:
                log.write(kind="step", epoch=epoch + 1, step=global_step, phase=phase, lr=cur_lr,
                          loss=float(loss.detach()), images_per_s=seen * info.world_size / elapsed)
            if kill_after is not None and steps_this_process >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # test hook: a crash mid-epoch
        if bar is not None:
            bar.close()
        dt = time.perf_counter() - t_epoch
        loss_sum, correct, seen = all_reduce_sum([loss_sum, correct, seen], info, device)
        if not seen:  # every file skipped (the check before training read one: they changed)
            raise folders.no_images(root / "train", _skipped(train_loader.dataset.skipped),
                                    len(train_loader.dataset), "train")
        train_time += dt
        train_images += int(seen)
        row = {"epoch": epoch + 1, "phase": phase, "lr": cur_lr,
               "train_loss": loss_sum / seen, "train_top1": correct / seen,
               "images_per_s": seen / dt, "time_s": dt}
        if args.eval_every and (epoch + 1) % args.eval_every == 0 and epoch + 1 < total_epochs:
            if info.is_main:  # on the held-out part with --holdout (val is never looked at)
                val = _val_loader_cache(loader, crop, eval_split)
                ev = evaluate.evaluate(model, val, val.dataset.pipeline, device, amp=amp,
                                       channels_last=channels_last, progress=progress,
                                       num_classes=num_classes)
                row.update(val_top1=ev["top1"], val_top5=ev["top5"])
            barrier(info)
        history.append(row)
        if info.is_main:
            log.write(kind="epoch", epoch=epoch + 1, step=global_step, phase=phase, lr=cur_lr,
                      loss=row["train_loss"], train_top1=row["train_top1"],
                      images_per_s=row["images_per_s"], val_top1=row.get("val_top1"),
                      val_top5=row.get("val_top5"), time_s=dt)
            val_txt = (f" val-top1 {100 * row['val_top1']:.1f}%" if "val_top1" in row else "")
            print(f"[{variant}] epoch {epoch + 1}/{total_epochs}{phase_label(phase, plan)} "
                  f"loss {row['train_loss']:.4f} train-top1 {100 * row['train_top1']:.1f}%{val_txt} "
                  f"{row['images_per_s']:.1f} img/s {dt:.0f}s", flush=True)
            if epoch == start_epoch:
                report_skipped(variant, {"train": train_loader}, final=False)
            checkpoint.save({
                "inference": inference,
                "config": config, "model": bare.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "epoch": epoch + 1, "global_step": global_step,
                "history": history, "train_time": train_time, "train_images": train_images,
                "compute_time": compute_time, "compute_images": compute_images,
                "run_dir": str(run_dir), "rng": checkpoint.rng_state()}, ckpt_path)
        barrier(info)

    # -- evaluation and measurement (rank 0; the others wait) --------------------------------
    result = None
    if info.is_main:
        # model.pt first: an evaluation that fails on the data keeps the trained model
        model_file = checkpoint.save({"inference": inference, "model": bare.state_dict()},
                                     ckpt_path.with_name("model.pt"))
        try:
            result = _finish(args, variant, model_name, model_opts, model, bare, fmt, fmt_name,
                             fmt_opts, loader, train_loader, device, crop, amp, channels_last, lr,
                             gate_lambda, plan, history, train_time, train_images, compute_time,
                             compute_images, info, root, dataset_name, num_classes, t_data,
                             t_start, classes=classes, optimizer_steps=global_step, part=part,
                             steps=steps, steps_per_epoch=steps_per_epoch, budget_plan=budget_plan)
        except UserError as e:
            raise type(e)(f"{e} (the trained model is saved: {model_file})") from None
        except SampleError as e:  # --on-error raise, on a file of the evaluated split
            raise UserError(f"{folders.sample_error(e)} (the trained model is saved: "
                            f"{model_file})") from None
        result["_model"] = str(model_file)
        print(f"[{variant}] model for 'jpegcoef predict' / '--evaluate': {model_file}", flush=True)
    log.close()
    barrier(info)
    return result


_VAL_CACHE: dict[tuple[str, int], Any] = {}


def _val_loader_cache(make, crop: int, split: str = "val"):
    """The evaluation loader of ``split`` (``val``, or ``holdout`` under --holdout) at ``crop``,
    made once per variant (the evaluation transform: ``train=False``)."""
    key = (split, crop)
    if key not in _VAL_CACHE:
        _VAL_CACHE.clear()
        _VAL_CACHE[key] = make(split, False, crop, False)
    return _VAL_CACHE[key]


def split_loader(split: str, train: bool, size: int, distributed: bool, *, root: Path,
                 part: splits.TrainSplit, args: argparse.Namespace, fmt_name: str,
                 fmt_opts: dict[str, Any], augment: Optional[str], classes: list[str],
                 world_size: int = 1):
    """The loader of one split of a run: ``train`` (``root/train``, or the file list of its
    ``--train-fraction`` / ``--holdout`` part), ``val`` (``root/val``) or ``holdout`` (the
    held-out training images, a file list). ``train`` picks the transform: the training
    augmentation (shuffled, last partial batch dropped) or the evaluation's (resize + centre
    crop, in order): the held-out images are always evaluated with the evaluation transform
    when ``train`` is False, as val is. Labels index ``classes`` (train's)."""
    from jpegcoef import data as jdata  # noqa: PLC0415
    from jpegcoef.loader import TooFewImages  # noqa: PLC0415

    where = root / ("train" if split == "holdout" else split)
    source: Any = where
    if split == "train" and part.train is not None:
        source = part.train
    elif split == "holdout":
        if part.holdout is None:
            raise ValueError("no --holdout part to load")
        source = part.holdout
    try:
        ld = jdata.make_loader(source, fmt_name, train=train, crop=size,
                               batch_size=args.batch_size, workers=args.workers,
                               seed=args.seed, on_error=args.on_error,
                               augment=augment,
                               classes=classes, distributed=distributed, **fmt_opts)
    except TooFewImages as e:  # the command-line wording (names the flag), or: none readable
        folders.check_batches(e.images, args.batch_size, world_size, where,
                              unreadable=lambda: probe_files(source, fmt_name, fmt_opts, size,
                                                             augment, classes))
        raise
    except (ValueError, FileNotFoundError) as e:  # a data problem the scan names: one line, exit 1
        raise UserError(str(e)) from None
    if isinstance(source, list):  # a file list: labels are train's already; name its classes
        ld.dataset.classes = list(classes)
    folders.align_labels(ld.dataset, classes, where)  # train's class list, by name
    if train:
        folders.check_loaded(ld.dataset, classes, where)
    folders.check_readable(ld.dataset, where, split)  # reads files until one loads: before training
    return ld


def probe_files(source: Any, fmt_name: str, fmt_opts: dict[str, Any], crop: int,
                augment: Optional[str], classes: Optional[list[str]] = None) -> Optional[dict[str, str]]:
    """``{file: error}`` when no file of ``source`` (a folder or a file list) can be read, else
    None (:func:`folders.unreadable`, with the evaluation transform); None too when ``source``
    cannot even be scanned (the loader says why)."""
    from jpegcoef.folder import JpegFolder  # noqa: PLC0415

    if source is None:
        return None
    try:
        ds = JpegFolder(source, fmt_name, train=False, crop=crop, on_error="skip",
                        augment=augment if fmt_name != "rgb" or augment == "crop" else None,
                        classes=classes, **fmt_opts)
    except (TypeError, ValueError, OSError):
        return None
    return folders.unreadable(ds)


def check_outputs(args: argparse.Namespace) -> None:
    """``--results-dir``, ``--checkpoint-dir`` and ``--run-dir`` (or their defaults) are folders
    this process can write in (or make): checked before anything trains, so that a result is
    not lost after training (:func:`folders.check_output_dir`)."""
    for flag, value, default in (("--results-dir", args.results_dir, results.RESULTS_DIR),
                                 ("--checkpoint-dir", args.checkpoint_dir, EXPERIMENTS / "checkpoints"),
                                 ("--run-dir", args.run_dir, EXPERIMENTS / "runs")):
        folders.check_output_dir(Path(value) if value else Path(default), flag)


def _finish(args, variant, model_name, model_opts, model, bare, fmt, fmt_name, fmt_opts, loader,
            train_loader, device, crop, amp, channels_last, lr, gate_lambda, plan, history,
            train_time, train_images, compute_time, compute_images, info, root, dataset_name,
            num_classes, t_data, t_start, *, classes: list[str], optimizer_steps: int,
            part: splits.TrainSplit, steps: list[tuple[int, int, int]], steps_per_epoch: int,
            budget_plan: Optional[list[tuple[int, int]]] = None) -> dict[str, Any]:
    from jpegcoef import models  # noqa: PLC0415

    progress = console.progress_enabled(False if args.no_progress else None)
    t_eval = time.perf_counter()
    eval_split = part.eval_split  # "holdout": the held-out training images, never val
    val_loader = _val_loader_cache(loader, crop, eval_split)
    _VAL_CACHE.clear()
    try:
        ev = evaluate.evaluate(model, val_loader, val_loader.dataset.pipeline, device, amp=amp,
                               channels_last=channels_last, progress=progress,
                               num_classes=num_classes)
    except evaluate.NoImages:  # every file skipped (the check before training read one)
        raise folders.no_images(root / ("train" if eval_split == "holdout" else eval_split),
                                _skipped(val_loader.dataset.skipped), len(val_loader.dataset),
                                eval_split) from None
    metrics: dict[str, Any] = {"top1": ev["top1"], "top5": ev["top5"], "val_loss": ev["loss"]}
    if args.shift_max > 0:
        unit = evaluate.SHIFT_UNIT_PX  # the same pixel shifts for every input format
        shift_loader = loader(eval_split, False, crop + args.shift_max, False)
        metrics.update({k: v for k, v in evaluate.shift_consistency(
            model, shift_loader, shift_loader.dataset.pipeline, device, crop=crop, shift_max=args.shift_max, unit=unit,
            seed=args.seed, amp=amp, channels_last=channels_last, progress=progress).items()
            if k != "images"})
    gate = None
    if ev["gate_frequency"] is not None:
        freq = ev["gate_frequency"]
        gate = {"lambda": gate_lambda, "frequency": freq,
                "channels": channel_names(fmt, len(freq)), "mean_on": float(np.mean(freq))}
    hilo = None
    if ev["early_exit_rate"] is not None:
        thresholds = sorted(set([round(float(t), 3) for t in np.linspace(0.0, 1.0, 21)]
                                + [float(bare.threshold)]))
        sw = evaluate.hilo_sweep(model, val_loader, val_loader.dataset.pipeline, device, thresholds, amp=amp,
                                 channels_last=channels_last, progress=progress)
        hilo = {"threshold": float(bare.threshold), "early_exit_rate": ev["early_exit_rate"],
                "avg_macs": ev["avg_macs"], **sw}
    t_eval = time.perf_counter() - t_eval

    # measurements
    t_meas = time.perf_counter()
    first_batch, _ = next(iter(val_loader))
    from jpegcoef.ring import head  # noqa: PLC0415
    one = head(first_batch, 1)
    saved_thr = getattr(bare, "threshold", None)
    if saved_thr is not None:
        bare.threshold = 2.0  # count the whole network (no early exit)
    macs_full = measure.count_macs(model, evaluate.model_input(val_loader.dataset.pipeline, one, device, channels_last))
    if saved_thr is not None:
        bare.threshold = saved_thr
    paper = None
    if args.paper_macs:  # a full-size forward (DCTNet: 13.5 GMACs): only when asked
        paper = models.summary(model_name, **model_opts).get("macs")
    meas: dict[str, Any] = {
        "params": measure.count_params(model),
        "macs": int(hilo["avg_macs"]) if hilo else macs_full,
        "macs_full": macs_full,
        "macs_at_paper_size": paper,
        "bytes_per_image": int(fmt.bytes_per_image(first_batch)),
        "train_images_per_s": compute_images * info.world_size / compute_time
        if compute_time > 0 else None,
        "train_loop_images_per_s": train_images / train_time if train_time > 0 else None,
        "device": device.type, "device_name": measure.device_name(device),
        "torch_threads": torch.get_num_threads(), "world_size": info.world_size,
        "inference_images_per_s": None, "inference_batch": None, "pipeline_images_per_s": None,
    }
    if not args.no_measure:
        meas["load_average_at_measure"] = [round(v, 2) for v in os.getloadavg()]
        meas.update(measure.inference_speed(model, val_loader.dataset.pipeline, first_batch, device, amp=amp,
                                            channels_last=channels_last,
                                            seconds=args.measure_seconds))
        meas.update(measure.pipeline_speed(train_loader, seconds=args.measure_seconds))
    t_meas = time.perf_counter() - t_meas

    ds_skipped: dict[str, str] = {}
    kinds: dict[str, dict] = {}
    for split, ld in (("train", train_loader), (eval_split, val_loader)):
        ds_skipped.update(_skipped(getattr(ld.dataset, "skipped", None)))
        report = getattr(ld.dataset, "report", None)
        if callable(report):
            kinds[split] = report().get("kinds", {})
    result = {
        "variant": variant, "model": model_name, "model_options": model_opts,
        "input_format": fmt_name,
        "format_options": {k: v for k, v in fmt_opts.items() if k != "stats"},
        "input_stats": fmt_opts.get("stats"),
        "dataset": {"name": dataset_name, "root": str(root), "classes": num_classes,
                    "train_images": len(train_loader.dataset), "val_images": len(val_loader.dataset),
                    "generator": None if args.data else args.dataset,
                    "synthetic_options": None if args.data or args.dataset != "synthetic" else
                    {k: list(v) if isinstance(v, tuple) else v for k, v in args.synthetic.items()},
                    "photos_options": None if args.data or args.dataset not in ("photos", "photos-v2") else
                    {k: list(v) if isinstance(v, tuple) else v for k, v in args.photos.items()},
                    "file_kinds": kinds,
                    "skipped": [{"path": k, "error": v} for k, v in sorted(ds_skipped.items())],
                    **part.record()},
        "eval_split": eval_split,
        "optimizer_steps": int(optimizer_steps),
        "images_seen": int(train_images),
        "confusion": {"classes": list(classes), "matrix": ev["confusion"]},
        "per_class_top1": evaluate.per_class_top1(ev["confusion"], list(classes)),
        "schedule": {"epochs": args.epochs if budget_plan is None else
                     sum(n for _, n in budget_plan) / steps_per_epoch,
                     "step_budget": None if budget_plan is None else sum(n for _, n in budget_plan),
                     "steps_per_epoch": steps_per_epoch,
                     "batch_size": args.batch_size,
                     "world_size": info.world_size, "crop": crop, "lr": lr,
                     "augment": train_loader.dataset.augment,
                     "momentum": args.momentum, "weight_decay": args.weight_decay,
                     "warmup_epochs": args.warmup_epochs, "label_smoothing": args.label_smoothing,
                     "clip_grad": args.clip_grad, "seed": args.seed,
                     "deterministic": args.deterministic, "amp": amp,
                     "channels_last": channels_last, "compile": args.compile,
                     "workers": args.workers, "profile": args.profile,
                     "protocol": getattr(args, "protocol_settings", None),
                     "gate_lambda": gate_lambda,
                     "gate_lr_scale": args.gate_lr_scale if gate_lambda is not None else None,
                     "gate_stats": args.gate_stats if gate_lambda is not None else None,
                     "hilo_step_epochs": ([n for _, n in plan] if budget_plan is None else
                                          [n / steps_per_epoch for _, n in budget_plan])
                     if len(plan) > 1 else None,
                     "hilo_step_steps": [n for _, _, n in steps] if len(steps) > 1 else None},
        "metrics": metrics, "measures": meas, "gate": gate, "hilo": hilo, "history": history,
        "timing": {"dataset_s": t_data, "train_s": train_time, "eval_s": t_eval,
                   "measure_s": t_meas, "total_s": time.perf_counter() - t_start},
        "environment": {**measure.environment(), "git_commit": git_commit(),
                        "git_dirty": SOURCE_DIRTY,
                        "command": " ".join([Path(sys.executable).name] + sys.argv)},
    }
    path = results.write(result, args.results_dir or results.RESULTS_DIR)
    result["_path"] = str(path)
    report_skipped(variant, {"train": train_loader, eval_split: val_loader}, final=True)
    print(f"[{variant}] {'val' if eval_split == 'val' else 'held-out train'} top-1 "
          f"{100 * metrics['top1']:.1f}%  top-5 {100 * metrics['top5']:.1f}%  "
          f"({len(val_loader.dataset)} images) -> {path}", flush=True)
    return result


def _skipped(items: Any) -> dict[str, str]:
    """``dataset.skipped`` (path -> error, or a list of paths / (path, error)) as a dict."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for item in items:
        if isinstance(item, (tuple, list)) and item:
            out[str(item[0])] = str(item[1]) if len(item) > 1 else ""
        else:
            out[str(item)] = ""
    return out
