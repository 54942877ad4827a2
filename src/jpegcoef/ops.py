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
from typing import Callable, Mapping, Sequence

import torch

from . import augment

__all__ = ["Planes", "ResizedCrop", "HorizontalFlip", "ColorJitter", "DevicePipeline"]


@dataclass
class Planes:
    """Dequantised float32 coefficient planes ``(N, 64, H, W)`` of Y, Cb and Cr, each at its
    own block grid."""

    y: torch.Tensor
    cb: torch.Tensor
    cr: torch.Tensor


class ResizedCrop:
    """The source op: each sample's window of int16 coefficient blocks ``(bh, bw, 64)`` (packed in
    ``batch["y"]``, ``["cb"]``, ``["cr"]``, shapes in ``batch["<key>_shape"]``) dequantised (``batch["q"]``) and
    its box (``batch["box"]``, luma pixels of the window) resized to ``size`` pixels: Y to
    ``size/8`` blocks, chroma (its box scaled by ``batch["csub"]``) to ``size/16`` blocks, the
    4:2:0 grid of the model input (:func:`jpegcoef.augment.resized_crop`).

    Samples are taken in groups of about ``group`` of similar window size, each group padded
    to its own largest window only (padding costs matrix products, not correctness: each
    sample's maps read its own box). ``bounded``: the filter may read pixels outside the box,
    up to the image's edge (resize then crop, the evaluation protocol; ``batch["valid"]`` is
    the image's extent in the window); otherwise only the box (crop then resize, RRC)."""

    def __init__(self, size: int, *, antialias: bool = True, bounded: bool = False, group: int = 16) -> None:
        if size % 16:
            raise ValueError(f"size must be a multiple of 16, got {size}")
        self.size, self.antialias, self.bounded, self.group = size, antialias, bounded, group

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> Planes:
        shapes = {k: batch[k + "_shape"].cpu() for k in ("y", "cb", "cr")}
        offsets = {k: torch.cumsum(v.prod(1), 0) - v.prod(1) for k, v in shapes.items()}  # packed starts
        n = shapes["y"].shape[0]
        dev = batch["y"].device
        out = [torch.empty((n, 64, self.size // f, self.size // f), dtype=torch.float32, device=dev)
               for f in (8, 16, 16)]
        order = torch.argsort(shapes["y"][:, 0] * shapes["y"][:, 1], stable=True)
        groups = -(-n // self.group)
        for idx in torch.tensor_split(order, groups):
            for comp, (k, o) in enumerate(zip(("y", "cb", "cr"), out)):
                o[idx.to(dev)] = self._resize(batch, shapes[k], offsets[k], idx, k, comp)
        return Planes(*out)

    def _resize(self, batch: Mapping[str, torch.Tensor], shapes: torch.Tensor, offsets: torch.Tensor,
                idx: torch.Tensor, key: str, comp: int) -> torch.Tensor:
        """One component of one group: unpack, dequantise, resize."""
        flat = batch[key]
        dev = flat.device
        hm, wm = int(shapes[idx, 0].max()), int(shapes[idx, 1].max())
        blocks = torch.zeros((len(idx), hm, wm, 64), dtype=torch.int16, device=dev)
        for j, i in enumerate(idx.tolist()):
            h, w, _ = shapes[i].tolist()
            o = int(offsets[i])
            blocks[j, :h, :w] = flat[o:o + 64 * h * w].view(h, w, 64)
        ii = idx.to(dev)
        x = blocks.permute(0, 3, 1, 2).to(torch.float32)  # (n, 64, hm, wm) planes
        x.mul_(batch["q"][ii, comp].to(torch.float32)[:, :, None, None])
        box = batch["box"][ii].to(torch.float64)
        if comp:
            csub = batch["csub"][ii].to(torch.float64)
            box = box * torch.cat([csub, csub], 1)
        bounds = None
        if self.bounded:
            valid = batch["valid"][ii].to(torch.float64)
            if comp:
                valid = torch.minimum(torch.ceil(valid * batch["csub"][ii].to(torch.float64) - 1e-9),
                                      torch.tensor([8.0 * hm, 8.0 * wm], dtype=torch.float64, device=dev))
            bounds = torch.cat([torch.zeros_like(valid), valid], 1).to(torch.int64)
        f = 8 if comp == 0 else 16
        return augment.resized_crop(x, box, self.size // f, antialias=self.antialias, bounds=bounds)


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
    """``source(batch)`` (e.g. :class:`ResizedCrop`), then ``ops`` in order, then
    ``finish(y, cb, cr)`` (the format's ``from_planes``): the whole device step."""

    def __init__(self, source: Callable, ops: Sequence[Callable], finish: Callable) -> None:
        self.source, self.ops, self.finish = source, list(ops), finish

    def __call__(self, batch: Mapping[str, torch.Tensor]):
        p = self.source(batch)
        for op in self.ops:
            p = op(p, batch)
        return self.finish(p.y, p.cb, p.cr)
