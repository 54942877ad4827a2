"""Evaluation: top-1/top-5, shift consistency, gate selection frequency, high/low early exit.

All functions take a model, a loader yielding ``(dict_of_tensors, labels)`` and the matching
``jpegcoef.formats`` object whose ``device(batch)`` makes the model input on the device.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


class NoImages(RuntimeError):
    """An evaluation loader that produced no image (every file skipped as unreadable)."""


# -- plumbing shared with training -------------------------------------------------------------
def batch_to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return {k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}


def model_input(fmt: Any, batch: dict[str, torch.Tensor], device: torch.device,
                channels_last: bool = False) -> Inputs:
    """Host batch -> device -> ``fmt.device`` (dequantise, normalise, ...) -> model input."""
    x = fmt.device(batch_to_device(batch, device))
    if channels_last:
        x = _map(x, lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t)
    return x


def call(model: nn.Module, x: Inputs) -> torch.Tensor:
    return model(*x) if isinstance(x, (tuple, list)) else model(x)


def autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model under DDP / torch.compile wrappers (where ``last_gate`` etc. live)."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def _map(x: Inputs, fn) -> Inputs:
    return tuple(fn(t) for t in x) if isinstance(x, (tuple, list)) else fn(x)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> list[int]:
    """Number of samples whose label is among the top-k logits, for each k (k capped at C)."""
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices
    hit = top.eq(labels.view(-1, 1))
    return [int(hit[:, :min(k, maxk)].any(dim=1).sum()) for k in ks]


# -- accuracy ----------------------------------------------------------------------------------
def confusion_counts(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (num_classes, num_classes) int64 matrix on the CPU, ``[true][pred]`` counting the
    samples; labels outside ``[0, num_classes)`` (unlabelled files) are left out."""
    pred, labels = pred.reshape(-1).long(), labels.reshape(-1).long()
    keep = (labels >= 0) & (labels < num_classes)
    flat = labels[keep] * num_classes + pred[keep]
    return torch.bincount(flat, minlength=num_classes * num_classes).view(
        num_classes, num_classes).cpu()


def per_class_top1(matrix: list[list[int]], classes: list[str]) -> dict[str, float | None]:
    """``{class name: diagonal / row sum}`` of a confusion matrix (rows: the true class); None for
    a class with no image in the evaluated split."""
    if len(matrix) != len(classes):
        raise ValueError(f"a {len(matrix)}-class confusion matrix for {len(classes)} class names")
    out: dict[str, float | None] = {}
    for i, (name, row) in enumerate(zip(classes, matrix)):
        total = sum(row)
        out[name] = row[i] / total if total else None
    return out


@torch.no_grad()
def evaluate(model: nn.Module, loader, fmt: Any, device: torch.device, *, amp: bool = False,
             channels_last: bool = False, desc: str = "eval", progress: bool = True,
             num_classes: int | None = None, info: Any = None) -> dict[str, Any]:
    """Top-1/top-5/loss over ``loader``; the confusion matrix of the same predictions; gate
    frequencies and early-exit stats when present.

    The prediction of an image is the first of its top-5 (one ``topk`` per batch), so the
    confusion matrix's diagonal sums to exactly the top-1 count. With ``info`` (a
    :class:`~harness.distributed.DistInfo`) of a distributed run every count is summed over the
    ranks with ``all_reduce`` (each rank then evaluates its own shard of the split, and every
    rank must call this); without it (or in one process) the counts are this process's.
    ``num_classes`` sizes the matrix up front (default: the logits' width, seen on the first
    batch); give it under DDP so that a rank with an empty shard still sends a matrix.

    Returns ``{"images", "top1", "top5", "loss", "confusion" (list of rows: ``[true][pred]``
    image counts), "gate_frequency" (list | None), "early_exit_rate" (float | None),
    "avg_macs" (float | None)}``.
    """
    from tqdm import tqdm  # noqa: PLC0415

    from .distributed import all_reduce_sum  # noqa: PLC0415

    model.eval()
    bare = unwrap(model)
    n = c1 = c5 = 0
    loss_sum = 0.0
    gate_sum = None
    exits = 0
    macs_sum = 0.0
    has_exit = False
    confusion: torch.Tensor | None = (None if num_classes is None else
                                      torch.zeros(num_classes, num_classes, dtype=torch.int64))
    for batch, labels in tqdm(loader, desc=desc, leave=False, disable=not progress):
        x = model_input(fmt, batch, device, channels_last)
        labels = labels.to(device)
        with autocast(device, amp):
            logits = call(model, x).float()
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        classes = logits.shape[1]
        top = logits.topk(min(5, classes), dim=1).indices
        pred = top[:, 0]
        c1 += int((pred == labels).sum())
        c5 += int(top.eq(labels.view(-1, 1)).any(dim=1).sum())
        counts = confusion_counts(pred, labels, classes)
        if confusion is not None and confusion.shape != counts.shape:
            raise ValueError(f"the model gives {classes} logits for a {len(confusion)}-class "
                             f"confusion matrix")
        confusion = counts if confusion is None else confusion + counts
        n += labels.numel()
        gate = getattr(bare, "last_gate", None)
        if gate is not None:
            s = gate.detach().float().sum(dim=0).cpu()
            gate_sum = s if gate_sum is None else gate_sum + s
        if getattr(bare, "last_exit", None) is not None:
            has_exit = True
            exits += int(bare.last_exit.sum())
            macs_sum += float(bare.last_macs) * labels.numel()
    if info is not None and info.world_size > 1:
        # one all_reduce of every sum (float64: exact for counts below 2**53); every rank's
        # model has the same classes, so the matrices (and gate vectors) line up
        k = int(confusion.shape[0]) if confusion is not None else 0
        g = len(gate_sum) if gate_sum is not None else 0
        flat = [float(n), float(c1), float(c5), loss_sum, float(exits), macs_sum, float(has_exit)]
        flat += (confusion.flatten().tolist() if confusion is not None else [])
        flat += (gate_sum.tolist() if gate_sum is not None else [])
        summed = all_reduce_sum(flat, info, device)
        n, c1, c5, exits = (int(round(v)) for v in (summed[0], summed[1], summed[2], summed[4]))
        loss_sum, macs_sum, has_exit = summed[3], summed[5], summed[6] > 0
        if confusion is not None:
            confusion = torch.tensor([round(v) for v in summed[7:7 + k * k]],
                                     dtype=torch.int64).view(k, k)
        if gate_sum is not None:
            gate_sum = torch.tensor(summed[7 + k * k:7 + k * k + g])
    if n == 0:
        raise NoImages("evaluation loader produced no images")
    return {
        "images": n,
        "top1": c1 / n,
        "top5": c5 / n,
        "loss": loss_sum / n,
        "confusion": confusion.tolist() if confusion is not None else None,
        "gate_frequency": (gate_sum / n).tolist() if gate_sum is not None else None,
        "early_exit_rate": exits / n if has_exit else None,
        "avg_macs": macs_sum / n if has_exit else None,
    }


# -- shift consistency -------------------------------------------------------------------------
#: Shift unit of the consistency metric for EVERY input format: one 4:2:0 MCU (16 px), the
#: smallest shift a DCT input with subsampled chroma takes as a lossless crop. RGB models are
#: shifted by the same multiples of 16 px (not by 1 px), so the numbers of the two kinds compare
#: (issue 12: Zhang's protocol with random offsets per axis, drawn from the run's seed, so every
#: variant of one seed sees the same offsets for the same batches).
SHIFT_UNIT_PX = 16


def crop_input(x: Inputs, full: int, offset: tuple[int, int], size: int) -> Inputs:
    """Crop a model input made from ``full`` x ``full`` pixels to ``size`` x ``size`` pixels
    starting at pixel ``offset`` (y, x). Each tensor's cell size (1 px for RGB, 8 px for a DCT
    block, 16 px for 4:2:0 chroma blocks) is ``full // width``; offsets must be multiples of it."""
    def one(t: torch.Tensor) -> torch.Tensor:
        h, w = t.shape[-2:]
        if full % w or full % h:
            raise ValueError(f"input of {full} px does not map onto a {h}x{w} grid")
        cy, cx = full // h, full // w
        oy, ox = offset
        if oy % cy or ox % cx or size % cy or size % cx:
            raise ValueError(f"offset {offset} / size {size} not a multiple of the {cy}x{cx} px cell")
        return t[..., oy // cy:(oy + size) // cy, ox // cx:(ox + size) // cx]
    return _map(x, one)


def shift_offsets(rng: np.random.Generator, shift_max: int, unit: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two different random (y, x) offsets in ``[0, shift_max]``, multiples of ``unit`` px."""
    choices = np.arange(0, shift_max + 1, unit)
    if len(choices) < 2:
        raise ValueError(f"shift_max {shift_max} allows no shift in units of {unit} px")
    while True:
        a = tuple(int(v) for v in rng.choice(choices, 2))
        b = tuple(int(v) for v in rng.choice(choices, 2))
        if a != b:
            return a, b


@torch.no_grad()
def shift_consistency(model: nn.Module, loader, fmt: Any, device: torch.device, *, crop: int,
                      shift_max: int, unit: int, seed: int = 0, amp: bool = False,
                      channels_last: bool = False, progress: bool = True) -> dict[str, Any]:
    """Zhang's consistency: how often the top-1 class agrees between two crops of ``crop`` px
    of the same image that differ by a shift. ``loader`` yields centre crops of
    ``crop + shift_max`` px; each batch gets two different random (y, x) offsets in units of
    ``unit`` px (run.py: :data:`SHIFT_UNIT_PX` for every format)."""
    from tqdm import tqdm  # noqa: PLC0415

    model.eval()
    rng = np.random.default_rng(seed)
    full = crop + shift_max
    agree = n = 0
    for batch, labels in tqdm(loader, desc="shift", leave=False, disable=not progress):
        x = model_input(fmt, batch, device, channels_last)
        a, b = shift_offsets(rng, shift_max, unit)
        with autocast(device, amp):
            pa = call(model, crop_input(x, full, a, crop)).argmax(dim=1)
            pb = call(model, crop_input(x, full, b, crop)).argmax(dim=1)
        agree += int((pa == pb).sum())
        n += pa.numel()
    if n == 0:
        raise NoImages("shift-consistency loader produced no images")
    return {"shift_consistency": agree / n, "shift_max_px": shift_max, "shift_unit_px": unit,
            "images": n}


# -- high/low early exit -----------------------------------------------------------------------
@torch.no_grad()
def hilo_sweep(model: nn.Module, loader, fmt: Any, device: torch.device,
               thresholds: Iterable[float], *, amp: bool = False, channels_last: bool = False,
               progress: bool = True) -> dict[str, Any]:
    """Accuracy, early-exit rate and average MACs of the high/low model for many thresholds.

    Two measured passes: threshold 0 (every image exits after the low model: its logits and
    MACs) and threshold above 1 (no image exits: the high model's logits and the full MACs).
    For a threshold t an image exits when its low-model top-1 probability is >= t, so the
    answer and the cost at every t follow from those two passes without re-running the model.
    """
    bare = unwrap(model)
    saved = bare.threshold
    outs = {}
    try:
        for key, thr in (("low", 0.0), ("full", 2.0)):
            bare.threshold = thr
            model.eval()
            logits, labels_all, macs = [], [], 0.0
            for batch, labels in _progress(loader, f"hilo {key}", progress):
                x = model_input(fmt, batch, device, channels_last)
                with autocast(device, amp):
                    out = call(model, x).float()
                logits.append(out.cpu())
                labels_all.append(labels)
                macs += float(bare.last_macs) * labels.numel()
            outs[key] = (torch.cat(logits), torch.cat(labels_all), macs / sum(map(len, labels_all)))
    finally:
        bare.threshold = saved
    low, labels, macs_low = outs["low"]
    high, _, macs_full = outs["full"]
    p_low, pred_low = F.softmax(low, dim=1).max(dim=1)
    pred_high = high.argmax(dim=1)
    rows = []
    for t in thresholds:
        ex = p_low >= t
        pred = torch.where(ex, pred_low, pred_high)
        rate = float(ex.float().mean())
        rows.append({"threshold": float(t), "top1": float((pred == labels).float().mean()),
                     "exit_rate": rate, "avg_macs": rate * macs_low + (1 - rate) * macs_full})
    return {"macs_low": macs_low, "macs_full": macs_full,
            "top1_low": float((pred_low == labels).float().mean()),
            "top1_high": float((pred_high == labels).float().mean()), "sweep": rows}


def _progress(it, desc: str, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415
    return tqdm(it, desc=desc, leave=False, disable=not enabled)


# -- a trained checkpoint on a folder (run.py --evaluate) ----------------------------------------
def run_checkpoint(args: Any) -> int:
    """``run.py --evaluate CHECKPOINT --data DIR [--split val]``: top-1/top-5 of a trained model
    on ``DIR/<split>``, classes matched to the checkpoint's by name; one line on stdout."""
    from pathlib import Path  # noqa: PLC0415

    from jpegcoef import console, inference  # noqa: PLC0415
    from jpegcoef import data as jdata  # noqa: PLC0415
    from jpegcoef.console import UsageError, UserError  # noqa: PLC0415
    from jpegcoef.folder import SampleError  # noqa: PLC0415

    from . import distributed, folders  # noqa: PLC0415

    if not args.data:
        raise UsageError("--evaluate needs --data DIR (an ImageFolder root; DIR/--split is evaluated)")
    root = folders.check_root(Path(args.data).expanduser(), (args.split,))
    device = distributed.pick_device(args.device)
    try:
        clf = inference.load(args.evaluate, device=device)
    except ValueError as e:
        raise UserError(str(e)) from None
    split = root / args.split
    trained_on, here = clf.record.get("prepared"), folders.prepared_settings(root)
    if trained_on and here != trained_on:
        console.print_warning(folders.PROG, f"{root} was not prepared like the training images "
                                            f"({here or 'no jpegcoef prepare record'} vs {trained_on})")
    try:  # as training's loaders: a data problem the scan names (non-JPEG files) is one line
        loader = jdata.make_loader(split, clf.format, train=False, crop=clf.crop,
                                   batch_size=args.batch_size or 64, workers=args.workers or 0,
                                   on_error=args.on_error, augment=clf.augment)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    folders.align_labels(loader.dataset, clf.classes, split)
    try:
        folders.check_readable(loader.dataset, split, args.split)
        progress = console.progress_enabled(False if args.no_progress else None)
        ev = evaluate(clf.model, loader, loader.dataset.pipeline, device, progress=progress)
    except SampleError as e:  # --on-error raise
        raise folders.sample_error(e) from None
    except NoImages:  # every file skipped after all (changed since the check): name them
        raise folders.no_images(split, getattr(loader.dataset, "skipped", {}) or {},
                                len(loader.dataset), args.split) from None
    skipped = dict(getattr(loader.dataset, "skipped", {}) or {})
    console.print_warning(folders.PROG, console.skipped_summary(skipped, len(loader.dataset)))
    print(f"{args.evaluate} on {split}: top-1 {100 * ev['top1']:.1f}%  top-5 {100 * ev['top5']:.1f}%  "
          f"loss {ev['loss']:.4f}  ({ev['images']} images, {len(clf.classes)} classes)", flush=True)
    return 0
