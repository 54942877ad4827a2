"""Class-stratified parts of the training split: ``--holdout`` and ``--train-fraction``.

- ``--holdout F`` (0 < F < 0.5) holds out a fraction F of every class of the training split;
  the run trains on the rest and is evaluated on the held-out images (with the evaluation
  transform), never on val, so a learning-rate sweep can choose without looking at val.
- ``--train-fraction F`` (0 < F <= 1) trains on a fraction F of every class (at least one image
  of each); with ``--holdout`` too, the holdout is taken first and the fraction of the rest.

Both are drawn by ``--fraction-seed S`` alone (not ``--seed``): class ``c``'s images (in the
scan's sorted path order) are put in the order of one permutation drawn from
``numpy.random.default_rng([S, c])``; the first ``round(F_holdout x n)`` are held out and the
next ``round(F x rest)`` train. So the parts are the same for every variant and every training
seed of a study, and a smaller fraction is a subset of a larger one (the data-scaling curve
adds images, it never swaps them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from jpegcoef.console import UsageError

#: (path, label) pairs, as :func:`jpegcoef.data.make_loader` takes a file list
Pairs = list[tuple[str, int]]


def _count(fraction: float, n: int) -> int:
    """``round(fraction x n)`` with halves rounded up (not to even: 0.5 x 5 is 3, not 2)."""
    return int(math.floor(fraction * n + 0.5))


def stratified(labels: Sequence[int], num_classes: int, *, fraction: float = 1.0,
               holdout: Optional[float] = None, seed: int = 0) -> tuple[list[int], list[int]]:
    """``(train indices, held-out indices)`` into ``labels``, each sorted, drawn per class.

    Per class of ``n`` images: ``min(n - 1, max(1, round(holdout x n)))`` held out (none for a
    class of one image: it stays in training), then ``max(1, round(fraction x rest))`` of the
    rest train. Labels outside ``[0, num_classes)`` (unlabelled files) are in neither part.
    Deterministic in ``seed``; nothing else random is consulted.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if holdout is not None and not 0.0 < holdout < 0.5:
        raise ValueError(f"holdout must be in (0, 0.5), got {holdout!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed!r}")
    labels = np.asarray(labels, dtype=np.int64)
    train: list[int] = []
    held: list[int] = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        n = len(idx)
        if n == 0:
            continue
        order = idx[np.random.default_rng([seed, c]).permutation(n)]
        n_held = min(n - 1, max(1, _count(holdout, n))) if holdout else 0
        rest = order[n_held:]
        n_train = max(1, _count(fraction, len(rest)))
        held += order[:n_held].tolist()
        train += rest[:n_train].tolist()
    return sorted(train), sorted(held)


@dataclass
class TrainSplit:
    """What the run trains and evaluates on: ``train`` (None: the whole ``train/`` folder, as
    before) and ``holdout`` (None: evaluate on ``val/``) as file lists, and what to record."""

    fraction: float = 1.0
    seed: int = 0
    holdout_fraction: Optional[float] = None
    train: Optional[Pairs] = None
    holdout: Optional[Pairs] = None
    scanned: Optional[int] = None   # images in train/ before either part was taken

    @property
    def subset(self) -> bool:
        """Whether the run trains on a part of ``train/`` (a file list) instead of all of it."""
        return self.train is not None

    @property
    def eval_split(self) -> str:
        """``"holdout"`` or ``"val"``: what the result's metrics were measured on."""
        return "holdout" if self.holdout is not None else "val"

    def files(self) -> Optional[list[str]]:
        """The training files (for ``--stats train`` over what is trained on), or None: all."""
        return None if self.train is None else [p for p, _ in self.train]

    def record(self) -> dict[str, Any]:
        """The ``dataset`` keys of the results file."""
        return {"train_fraction": self.fraction, "fraction_seed": self.seed,
                "holdout": self.holdout_fraction,
                "holdout_images": None if self.holdout is None else len(self.holdout),
                "train_images_scanned": self.scanned}

    def check_batches(self, batch_size: int, world_size: int, where: Path,
                      unreadable: Optional[Callable[[], Optional[Mapping[str, str]]]] = None) -> None:
        """A :class:`UsageError` when the part trained on fills no whole batch (the training
        loader drops the last partial one), naming the flags that made it that small.
        ``unreadable``: as :func:`harness.folders.check_batches` takes it (no file of the part
        can be read: that is said instead)."""
        if self.train is None:
            return
        need = batch_size * world_size
        n = len(self.train)
        if n < need:
            errors = unreadable() if unreadable is not None else None
            if errors:
                from .folders import no_images  # noqa: PLC0415
                raise no_images(where, errors, n, "train")
            flags = " and ".join(f for f, on in (("--holdout", self.holdout is not None),
                                                  ("--train-fraction", self.fraction < 1.0)) if on)
            raise UsageError(f"{where}: {n} of {self.scanned} images left to train on after {flags}, "
                             f"fewer than one batch of {need}"
                             f"{f' ({world_size} processes x {batch_size})' if world_size > 1 else ''}; "
                             f"use --batch-size {max(1, n // world_size)} or less, or a larger "
                             f"--train-fraction")

    def describe(self) -> str:
        """The console's words for the parts (empty when the whole split trains)."""
        if not self.subset:
            return ""
        out = []
        if self.holdout is not None:
            out.append(f"{len(self.holdout)} held out for evaluation (--holdout {self.holdout_fraction})")
        if self.fraction < 1.0:
            out.append(f"--train-fraction {self.fraction}")
        return f" of {self.scanned}; {', '.join(out)}; --fraction-seed {self.seed}"


def plan(args: Any, split: Path, classes: list[str], fmt: Any, crop: int) -> TrainSplit:
    """The :class:`TrainSplit` of ``args`` (``train_fraction``, ``holdout``, ``fraction_seed``)
    over the training folder ``split``, scanned as the loader scans it (``fmt``: the model's
    input format, so the DCT formats refuse non-JPEG images here as they do there). Without
    either option nothing is scanned and the run uses the folder itself (tar shards too)."""
    from jpegcoef import shards  # noqa: PLC0415
    from jpegcoef.folder import JpegFolder  # noqa: PLC0415

    fraction = float(getattr(args, "train_fraction", None) or 1.0)
    holdout = getattr(args, "holdout", None)
    seed = int(getattr(args, "fraction_seed", 0) or 0)
    out = TrainSplit(fraction=fraction, seed=seed, holdout_fraction=holdout)
    if fraction >= 1.0 and holdout is None:
        return out
    flags = " / ".join(f for f, on in (("--train-fraction", fraction < 1.0),
                                       ("--holdout", holdout is not None)) if on)
    if shards.is_shards(split):
        raise UsageError(f"{flags} take a part of an ImageFolder training split; {split} holds tar "
                         f"shards: prepare the part as its own folder instead")
    try:
        ds = JpegFolder(split, fmt, train=False, crop=crop, classes=classes)
    except (ValueError, FileNotFoundError) as e:
        from jpegcoef.console import UserError  # noqa: PLC0415
        raise UserError(str(e)) from None
    labels = [int(v) for v in ds.labels]
    train_idx, held_idx = stratified(labels, len(classes), fraction=fraction, holdout=holdout,
                                     seed=seed)
    paths = [str(p) for p in ds.paths]
    out.scanned = len(paths)
    out.train = [(paths[i], labels[i]) for i in train_idx]
    out.holdout = [(paths[i], labels[i]) for i in held_idx] if holdout is not None else None
    return out
