#!/usr/bin/env python3
"""Dense prediction on 2 CPU cores: semantic segmentation of the embedded synthetic set.

    python experiments/segment.py                      # the three backbones, default settings
    python experiments/segment.py --backbones dctnet24 --epochs 2 --crop 64
    python experiments/segment.py --synthetic-opt train_per_class=20 --no-progress

The dataset is ``jpegcoef.datasets.synthetic(masks=True)``: the same JPEGs as the default
classification set, each with its label map (0 background, ``1 + class`` the object's pixels).
A light FPN-style head (:class:`FPNHead`: a 1x1 lateral conv per pyramid level to ``--width``
channels, top-down nearest upsampling + add, one 3x3 conv + BN + ReLU, a 1x1 classifier, bilinear
upsampling to the crop's pixel size) sits on ``models.create(name, features_only=True)``; the
pyramid is, per reduction the backbone reaches, its deepest stage (:func:`pyramid_indices`;
the RGB stem's reduction-2 output left out). Everything is trained from scratch (AdamW,
warm-up then cosine, pixel-wise cross-entropy).

Crops: training takes a random ``--crop``-pixel window on the 16-pixel MCU grid plus a random
horizontal flip, evaluation the centre window -- for the DCT backbones exactly what the
library's lossless crop pipeline (:class:`jpegcoef.pipelines.BlockCrop`, ``augment="crop"``)
gives for the sample's seed; the mask (and, for the RGB baseline, the decoded pixels) is cut
at the same window by replaying the same draws (:func:`window`). So every backbone sees the
same pixels of the same images.

Reported per backbone (``experiments/results/segment-synthetic-<UTC time>.json``): mIoU over the
labels present in the validation masks (background included), pixel accuracy, per-label IoU,
training images/s (wall clock of the training loop, data loading included) and inference
images/s (the validation pass: read, crop, format, forward), measured in the same run, and the
parameters of backbone and head.

Default settings (crop 64, 5 epochs, batch 32) finish the three backbones in about 10 minutes
on a 2-core CPU (README, "Dense prediction").
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent / "src"):  # harness/; jpegcoef and jpegcoef.models (uninstalled)
    if str(_p) not in sys.path:
        sys.path.insert(0 if _p == HERE else len(sys.path), str(_p))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

PROG = "segment.py"
DEFAULT_BACKBONES = ("resnet50", "dctnet24", "late_concat_rfa_thinner")
SCHEMA = "jpegcoef.segment/1"


# -- the head ----------------------------------------------------------------------------------
class FPNHead(nn.Module):
    """Lateral 1x1 convs to ``width`` channels, top-down (nearest upsampling + add), a 3x3 conv +
    BN + ReLU on the finest level, a 1x1 classifier; :meth:`forward` upsamples the logits
    bilinearly to ``size`` (the input's pixel size)."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, width: int = 64) -> None:
        super().__init__()
        if not in_channels:
            raise ValueError("FPNHead needs at least one feature level")
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in in_channels)
        self.smooth = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = self.lateral[-1](feats[-1])
        for lateral, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            if x.shape[-2:] != f.shape[-2:]:
                x = F.interpolate(x, size=f.shape[-2:], mode="nearest")
            x = x + lateral(f)
        x = self.classifier(self.smooth(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    """A ``features_only`` backbone and an :class:`FPNHead`; ``forward(x, size)`` -> logits
    ``(N, num_classes, *size)``."""

    def __init__(self, backbone: nn.Module, num_classes: int, width: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = FPNHead(backbone.feature_info.channels(), num_classes, width)

    def forward(self, x: Any, size: tuple[int, int]) -> torch.Tensor:
        feats = self.backbone(*x) if isinstance(x, (tuple, list)) else self.backbone(x)
        return self.head(feats, size)


def pyramid_indices(feature_info) -> tuple[int, ...]:
    """Per reduction the backbone reaches (>= 4 input pixels), its deepest stage: the FPN
    levels. ``feature_info`` lists every stage (``features_only`` without ``out_indices``)."""
    deepest: dict[int, int] = {}
    for i, d in enumerate(feature_info.get_dicts()):
        if d["reduction"] >= 4:
            deepest[d["reduction"]] = i
    return tuple(deepest[r] for r in sorted(deepest))


def build(variant: str, num_classes: int, width: int = 64) -> tuple[Segmenter, str, dict]:
    """The segmenter of ``variant`` (a model name or an alias such as ``dctnet24``):
    ``(model, model name, model options)``."""
    from harness import variants  # noqa: PLC0415
    from jpegcoef import models  # noqa: PLC0415

    name, opts = variants.resolve(variant, models.names(), {})
    full = models.create(name, num_classes, features_only=True, **opts)
    backbone = models.create(name, num_classes, features_only=True,
                             out_indices=pyramid_indices(full.feature_info), **opts)
    return Segmenter(backbone, num_classes, width), name, opts


# -- data --------------------------------------------------------------------------------------
def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The per-sample seed of the crop pipeline (a function of seed, epoch and image only)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def window(height: int, width: int, crop: int, train: bool, seed: Optional[int]) -> tuple[int, int, bool]:
    """``(top, left, flip)`` in pixels of the crop ``pipelines.make(fmt, crop, train, "crop")`` takes for
    ``seed``: the same draws (``crop_plan``, then the flip) on the same generator."""
    from jpegcoef.planning import MCU, crop_plan  # noqa: PLC0415

    rng = np.random.default_rng(seed) if train else None
    top, left, rows, cols, pad_y, pad_x = crop_plan(height, width, crop, train, rng)
    if pad_y or pad_x or rows * MCU < crop or cols * MCU < crop:
        raise ValueError(f"crop {crop} does not fit a {width}x{height} image")
    flip = bool(train and rng.random() < 0.5)
    return top * MCU, left * MCU, flip


class SegmentationSet(torch.utils.data.Dataset):
    """``(host dict, mask)`` per image of ``split`` (``NNNNN.jpg`` + ``NNNNN.npy``): the model
    input's host arrays for ``fmt`` at the crop, and the uint8 label map of the same window."""

    def __init__(self, split: Path, classes: Sequence[str], fmt, crop: int, train: bool, seed: int) -> None:
        from jpegcoef import pipelines  # noqa: PLC0415

        self.items = []
        for label, name in enumerate(classes):
            for jpg in sorted((split / name).glob("*.jpg")):
                npy = jpg.with_suffix(".npy")
                if not npy.is_file():
                    raise FileNotFoundError(f"{npy}: no mask beside {jpg.name} (datasets.synthetic(masks=True))")
                self.items.append((jpg, npy, label))
        if not self.items:
            raise FileNotFoundError(f"{split}: no images")
        self.fmt, self.crop, self.train, self.seed = fmt, crop, train, seed
        self.epoch = 0
        # the lossless MCU-grid crop (DCT) or its pixel twin (RGB: PixelCrop), whose window and
        # flip window() replays for the mask
        self.pipeline = pipelines.make(fmt, crop, train, "crop")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[dict, np.ndarray]:
        jpg, npy, _ = self.items[index]
        mask = np.load(npy)
        seed = sample_seed(self.seed, self.epoch, index) if self.train else None
        top, left, flip = window(mask.shape[0], mask.shape[1], self.crop, self.train, seed)
        host = self.pipeline.host(str(jpg), seed, {})
        cut = (slice(top, top + self.crop), slice(left, left + self.crop))
        m = mask[cut][:, ::-1] if flip else mask[cut]
        return host, np.ascontiguousarray(m)

    def collate(self, samples: list) -> tuple[dict, torch.Tensor]:
        hosts, masks = zip(*samples)
        batch = self.fmt.collate(list(hosts))
        return batch, torch.from_numpy(np.stack(masks)).long()


def loader(ds: SegmentationSet, batch_size: int, shuffle: bool, seed: int, workers: int):
    """Batches of ``ds``; training order a function of (seed, epoch) (:func:`set_epoch`)."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle,
                                       num_workers=workers, collate_fn=ds.collate, generator=gen)


def set_epoch(ld, epoch: int, seed: int) -> None:
    ld.dataset.epoch = epoch
    ld.generator.manual_seed(seed * 1_000_003 + epoch)


# -- metrics -----------------------------------------------------------------------------------
def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """``n x n`` counts, rows = ground truth, columns = prediction."""
    idx = target.reshape(-1) * n + pred.reshape(-1)
    return torch.bincount(idx, minlength=n * n).reshape(n, n)


def scores(conf: np.ndarray) -> dict[str, Any]:
    """mIoU over the labels present in the ground truth (background included), pixel accuracy
    and per-label IoU (None for labels absent from the ground truth)."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    gt, pr = conf.sum(1), conf.sum(0)
    present = gt > 0
    iou = np.where(present, tp / np.maximum(gt + pr - tp, 1), np.nan)
    return {"miou": float(np.nanmean(iou)) if present.any() else None,
            "pixel_accuracy": float(tp.sum() / conf.sum()) if conf.sum() else None,
            "iou": [None if np.isnan(v) else float(v) for v in iou],
            "labels_present": int(present.sum())}


# -- one backbone ------------------------------------------------------------------------------
def lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * t))


def run_backbone(variant: str, root: Path, classes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from jpegcoef import formats  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    torch.manual_seed(args.seed)
    num_labels = len(classes) + 1
    model, name, opts = build(variant, num_labels, args.width)
    bb = model.backbone
    fmt = formats.get(bb.input_format, **bb.input_options)
    train_ds = SegmentationSet(root / "train", classes, fmt, args.crop, True, args.seed)
    val_ds = SegmentationSet(root / "val", classes, fmt, args.crop, False, args.seed)
    if len(train_ds) < args.batch_size:
        raise UsageError(f"--batch-size {args.batch_size}: the training split has only {len(train_ds)} images")
    train_ld = loader(train_ds, args.batch_size, True, args.seed, args.workers)
    val_ld = loader(val_ds, args.batch_size, False, args.seed, args.workers)
    size = (args.crop, args.crop)
    steps = len(train_ld) * args.epochs
    if args.max_steps is not None:
        steps = min(steps, args.max_steps)
    warmup = min(steps - 1, max(1, round(0.3 * len(train_ld)))) if steps > 1 else 0
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    progress = not args.no_progress

    history, step, train_images, train_time = [], 0, 0, 0.0
    for epoch in range(args.epochs):
        if step >= steps:
            break
        set_epoch(train_ld, epoch, args.seed)
        model.train()
        loss_sum, seen = 0.0, 0
        bar = tqdm(total=min(len(train_ld), steps - step), desc=f"{variant} ep {epoch + 1}/{args.epochs}",
                   unit="step", leave=False, dynamic_ncols=True, disable=not progress)
        t0 = time.perf_counter()
        for batch, target in train_ld:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps, warmup, args.lr)
            logits = model(fmt.device(batch), size)
            loss = F.cross_entropy(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = target.shape[0]
            loss_sum += float(loss.detach()) * n
            seen += n
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
            if step >= steps:
                break
        dt = time.perf_counter() - t0
        bar.close()
        train_time += dt
        train_images += seen
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "images": seen,
                        "time_s": dt, "images_per_s": seen / dt if dt else None})
        if not progress:
            print(f"[{variant}] epoch {epoch + 1}/{args.epochs}: loss {loss_sum / max(seen, 1):.4f}, "
                  f"{seen / dt:.1f} img/s", flush=True)

    model.eval()
    conf = torch.zeros(num_labels, num_labels, dtype=torch.int64)
    val_images, forward_time = 0, 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        for batch, target in tqdm(val_ld, desc=f"{variant} val", unit="batch", leave=False,
                                  dynamic_ncols=True, disable=not progress):
            t1 = time.perf_counter()
            logits = model(fmt.device(batch), size)
            forward_time += time.perf_counter() - t1
            conf += confusion(logits.argmax(1), target, num_labels)
            val_images += target.shape[0]
    infer_time = time.perf_counter() - t0
    sc = scores(conf.numpy())
    params_bb = sum(p.numel() for p in bb.parameters())
    params_head = sum(p.numel() for p in model.head.parameters())
    out = {
        "backbone": variant, "model": name, "model_options": opts, "train_set_images": len(train_ds),
        "input_format": bb.input_format, "format_options": dict(bb.input_options),
        "out_indices": list(bb.out_indices), "feature_info": bb.feature_info.get_dicts(),
        "metrics": {"miou": sc["miou"], "pixel_accuracy": sc["pixel_accuracy"],
                    "iou": dict(zip(["background"] + classes, sc["iou"])),
                    "labels_present": sc["labels_present"], "val_images": val_images,
                    "confusion": conf.tolist()},
        "measures": {"params": params_bb + params_head, "params_backbone": params_bb, "params_head": params_head,
                     "train_images_per_s": train_images / train_time if train_time else None,
                     "inference_images_per_s": val_images / infer_time if infer_time else None,
                     "inference_forward_images_per_s": val_images / forward_time if forward_time else None},
        "train": {"steps": step, "images": train_images, "time_s": train_time, "warmup_steps": warmup,
                  "history": history},
        "timing": {"inference_s": infer_time},
    }
    print(f"[{variant}] mIoU {sc['miou']:.4f}  pixel acc {sc['pixel_accuracy']:.4f}  "
          f"train {out['measures']['train_images_per_s']:.1f} img/s  "
          f"infer {out['measures']['inference_images_per_s']:.1f} img/s  "
          f"({out['measures']['params'] / 1e6:.2f} M params)", flush=True)
    return out


# -- command line ------------------------------------------------------------------------------
from jpegcoef.console import ArgumentParser, UsageError, UserError  # noqa: E402


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return v
    return parse


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", default=",".join(DEFAULT_BACKBONES),
                   help="comma-separated model names or aliases (default %(default)s)")
    p.add_argument("--epochs", type=_positive(int), default=5, help="training epochs (default %(default)s)")
    p.add_argument("--crop", type=_positive(int), default=64,
                   help="crop side in pixels, a multiple of 16 (default %(default)s)")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="(default %(default)s)")
    p.add_argument("--lr", type=_positive(float), default=2e-3, help="AdamW peak lr (default %(default)s)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="(default %(default)s)")
    p.add_argument("--width", type=_positive(int), default=64, help="FPN channels (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default %(default)s)")
    p.add_argument("--threads", type=_positive(int), default=2, help="torch threads (default %(default)s)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default %(default)s)")
    p.add_argument("--max-steps", type=_positive(int), default=None,
                   help="stop training after this many steps per backbone (smoke tests)")
    p.add_argument("--synthetic-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a datasets.synthetic option (classes, train_per_class, val_per_class, size, "
                        "difficulty, seed, quality), repeatable")
    p.add_argument("--results-dir", default=str(HERE / "results"), help="(default experiments/results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (plain lines per epoch)")
    return p


def dataset_options(items: list[str]) -> dict[str, Any]:
    from harness import variants  # noqa: PLC0415

    allowed = ("classes", "train_per_class", "val_per_class", "size", "difficulty", "seed", "quality")
    opts: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise UsageError(f"--synthetic-opt {item!r}: takes KEY=VALUE with KEY one of {', '.join(allowed)}")
        v = variants.parse_value(value)
        opts[key] = tuple(v) if isinstance(v, list) else v
    return opts


def check_args(args: argparse.Namespace) -> list[str]:
    """The backbone list, checked; UsageError for any bad combination."""
    from harness import variants  # noqa: PLC0415
    from jpegcoef import models  # noqa: PLC0415

    names = [s.strip() for s in args.backbones.split(",") if s.strip()]
    if not names:
        raise UsageError("--backbones is empty")
    if len(set(names)) != len(names):
        raise UsageError(f"--backbones {args.backbones}: a backbone is named twice")
    for n in names:
        try:
            variants.resolve(n, models.names(), {})
        except ValueError as e:
            raise UsageError(f"--backbones: {e}") from None
    if args.crop % 16:
        raise UsageError(f"--crop {args.crop}: must be a multiple of 16 (the DCT crops are cut on the MCU grid)")
    if args.workers < 0:
        raise UsageError(f"--workers {args.workers}: must be >= 0")
    return names


def _main(argv: Optional[list[str]]) -> int:
    args = build_parser().parse_args(argv)
    backbones = check_args(args)
    opts = dataset_options(args.synthetic_opt)
    from harness import measure, results  # noqa: PLC0415
    from harness.train import SOURCE_COMMIT, SOURCE_DIRTY  # noqa: PLC0415
    from jpegcoef import datasets  # noqa: PLC0415

    try:
        params = datasets._params(**opts)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--synthetic-opt: {e}") from None
    if params["size"][0] < args.crop:
        raise UsageError(f"--crop {args.crop}: larger than the smallest image side {params['size'][0]}")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    root = datasets.synthetic(**opts, masks=True, progress=not args.no_progress)
    classes = datasets.class_names(params["classes"])
    t_data = time.perf_counter() - t_start
    runs = []
    for variant in backbones:
        t0 = time.perf_counter()
        r = run_backbone(variant, root, classes, args)
        r["timing"]["total_s"] = time.perf_counter() - t0
        runs.append(r)
    stamp = results.utc_stamp()
    out = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task": "segmentation",
        "dataset": {"name": "synthetic", "root": str(root), "params": params, "labels": ["background"] + classes,
                    "train_images": runs[0]["train_set_images"], "val_images": runs[0]["metrics"]["val_images"]},
        "config": {"backbones": backbones, "epochs": args.epochs, "crop": args.crop, "batch_size": args.batch_size,
                   "optimizer": "AdamW", "lr": args.lr, "weight_decay": args.weight_decay, "warmup_epochs": 0.3,
                   "schedule": "linear warm-up then cosine", "head": "FPN", "head_width": args.width,
                   "seed": args.seed, "threads": args.threads, "workers": args.workers,
                   "max_steps": args.max_steps, "train_crop": "random MCU-aligned window + horizontal flip",
                   "eval_crop": "centre MCU-aligned window"},
        "results": runs,
        "timing": {"dataset_s": t_data, "total_s": time.perf_counter() - t_start},
        "environment": {**measure.environment(), "device": "cpu",
                        "device_name": measure.device_name(torch.device("cpu")),
                        "git_commit": SOURCE_COMMIT, "git_dirty": SOURCE_DIRTY,
                        "command": " ".join(["python", "experiments/segment.py", *(argv if argv is not None
                                                                                    else sys.argv[1:])])},
    }
    path = results.write_json(out, args.results_dir, f"segment-synthetic-{stamp}")
    print(f"results -> {path} ({out['timing']['total_s']:.0f} s)", flush=True)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Exit status: 0 done, 1 a data problem, 2 a usage error (one line on stderr, no traceback)."""
    from jpegcoef import console  # noqa: PLC0415

    try:
        return console.run(PROG, lambda: _main(argv))
    except SystemExit as e:  # argparse: --help (0) and its usage errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
