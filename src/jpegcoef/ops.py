"""The device step of the resized-crop pipeline as a list of small operations.

Each operation is a small class over the functional core in :mod:`jpegcoef.augment` (the style of
torchvision's transforms v2 and FFCV's pipelines): it takes the three planes of a batch
(:class:`Planes`) and the batch's host-drawn parameters (its boxes, flips, jitter factors), and
returns new planes; :class:`DevicePipeline` runs them in order on whatever device the batch is
on, then hands the planes to the input format (``Format.from_planes``), which selects channels,
aligns chroma and normalises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import torch

from . import augment

__all__ = ["Planes", "Dequantise", "ResizedCrop", "HorizontalFlip", "ColorJitter", "DevicePipeline"]


@dataclass
class Planes:
    """Dequantised float32 coefficient planes ``(N, 64, H, W)`` of Y, Cb and Cr, each at its
    own block grid."""

    y: torch.Tensor
    cb: torch.Tensor
    cr: torch.Tensor


class Dequantise:
    """int16 coefficients times their quantisation tables (``batch["q"]``, ``(N, 3, 64)``)."""

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> Planes:
        q = batch["q"].to(torch.float32)[:, :, :, None, None]
        return Planes(*(batch[k].to(torch.float32).mul_(q[:, i]) for i, k in enumerate(("y", "cb", "cr"))))


class ResizedCrop:
    """Each sample's box (``batch["box"]``, luma pixels) resized to ``size`` pixels: Y to
    ``size/8`` blocks, chroma (its box scaled by ``batch["csub"]``) to ``size/16`` blocks,
    the 4:2:0 grid of the model input (:func:`jpegcoef.augment.resized_crop`).

    ``bounded``: the filter may read pixels outside the box, up to the image's edge (resize
    then crop, the evaluation protocol; ``batch["valid"]`` gives the image's extent in the
    window); otherwise only the box (crop then resize, RandomResizedCrop)."""

    def __init__(self, size: int, *, antialias: bool = True, bounded: bool = False) -> None:
        if size % 16:
            raise ValueError(f"size must be a multiple of 16, got {size}")
        self.size, self.antialias, self.bounded = size, antialias, bounded

    def __call__(self, p: Planes, batch: Mapping[str, torch.Tensor]) -> Planes:
        box = batch["box"].to(p.y.device, torch.float64)
        csub = batch["csub"].to(p.y.device, torch.float64)
        cbox = box * torch.cat([csub, csub], 1)
        yb = cb_b = None
        if self.bounded:
            valid = batch["valid"].to(p.y.device, torch.float64)
            zeros = torch.zeros_like(valid)
            yb = torch.cat([zeros, valid], 1).to(torch.int64)
            cv = torch.minimum(torch.ceil(valid * csub - 1e-9), torch.tensor(p.cb.shape[2:], device=p.y.device) * 8.0)
            cb_b = torch.cat([zeros, cv], 1).to(torch.int64)
        y = augment.resized_crop(p.y, box, self.size // 8, antialias=self.antialias, bounds=yb)
        cb = augment.resized_crop(p.cb, cbox, self.size // 16, antialias=self.antialias, bounds=cb_b)
        cr = augment.resized_crop(p.cr, cbox, self.size // 16, antialias=self.antialias, bounds=cb_b)
        return Planes(y, cb, cr)


class HorizontalFlip:
    """Mirror the samples whose ``batch["flip"]`` is set (exact, :func:`jpegcoef.augment.hflip`)."""

    def __call__(self, p: Planes, batch: Mapping[str, torch.Tensor]) -> Planes:
        mask = batch["flip"].to(p.y.device, torch.bool)
        return Planes(augment.hflip(p.y, mask), augment.hflip(p.cb, mask), augment.hflip(p.cr, mask))


class ColorJitter:
    """Brightness, contrast, saturation and hue, in that order, with the per-sample factors the
    host drew (``batch["jitter"]``, ``(N, 4)``; see :func:`draw_jitter`): exact linear maps of
    the planes, torchvision ColorJitter's semantics without its final clamp."""

    _OPS: Sequence[Callable] = (augment.adjust_brightness, augment.adjust_contrast,
                                augment.adjust_saturation, augment.adjust_hue)

    def __call__(self, p: Planes, batch: Mapping[str, torch.Tensor]) -> Planes:
        f = batch["jitter"].to(p.y.device, torch.float32)
        y, cb, cr = p.y, p.cb, p.cr
        for i, op in enumerate(self._OPS):
            y, cb, cr = op(y, cb, cr, f[:, i])
        return Planes(y, cb, cr)


def draw_jitter(rng, strength: Sequence[float]) -> list[float]:
    """Host-side factors of :class:`ColorJitter` for ``strength = (b, c, s, h)``, as
    torchvision's ColorJitter draws them (uniform in ``[1-b, 1+b]`` etc., hue in ``[-h, h]``;
    the order of the operations is fixed here, torchvision permutes it)."""
    b, c, s, h = strength
    return [float(rng.uniform(max(0.0, 1 - b), 1 + b)), float(rng.uniform(max(0.0, 1 - c), 1 + c)),
            float(rng.uniform(max(0.0, 1 - s), 1 + s)), float(rng.uniform(-h, h))]


class DevicePipeline:
    """``Dequantise`` then ``ops`` in order, then ``finish(y, cb, cr)`` (the format's
    ``from_planes``): the whole device step of the resized-crop pipeline."""

    def __init__(self, ops: Sequence[Callable], finish: Callable, dequantise: Optional[Callable] = None) -> None:
        self.ops, self.finish = list(ops), finish
        self.dequantise = dequantise or Dequantise()

    def __call__(self, batch: Mapping[str, torch.Tensor]):
        p = self.dequantise(batch)
        for op in self.ops:
            p = op(p, batch)
        return self.finish(p.y, p.cb, p.cr)
