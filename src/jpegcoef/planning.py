"""Crop planning on the MCU grid: which window of a JPEG a sample needs, and the reference
(lossless, :mod:`jpegcoef.transforms`) and fast (one fused gather) ways to cut it."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import numpy as np

from . import transforms
from .coefficients import Coefficients, Component
from .convert import sampling_kind, to_420, window_fusable
from .formats import Format

__all__ = ["MCU", "crop_plan", "dct_crop", "dct_sample", "box_window", "box_direct", "cut_box", "mcu_shape"]

MCU = 16  # the 4:2:0 MCU, in pixels


@lru_cache(maxsize=256)
def _crops_first(sampling: tuple) -> bool:
    """Whether a file with these sampling factors takes the crop-first path (1 or 3 components
    whose MCU divides the 16-pixel grid), i.e. whether reading only its top rows is enough."""
    if len(sampling) == 1:
        return True
    if len(sampling) != 3 or any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in sampling):
        return False
    return MCU % (8 * max(h for h, _ in sampling)) == 0 and MCU % (8 * max(v for _, v in sampling)) == 0



# ------------------------------------------------------------------------------------------------
# DCT-domain crop/pad/flip
# ------------------------------------------------------------------------------------------------
def _pad(c: Coefficients, n: int, before_y: int, before_x: int) -> Coefficients:
    """Place a 4:2:0 image of at most ``n x n`` MCUs into an ``n x n``-MCU canvas of zero blocks."""
    comps = []
    for comp, f in zip(c.components, (2, 1, 1)):
        a = comp.coefficients
        out = np.zeros((n * f, n * f, 8, 8), np.int16)
        y0, x0 = before_y * f, before_x * f
        out[y0:y0 + a.shape[0], x0:x0 + a.shape[1]] = a
        comps.append(Component(out, comp.quant, comp.sampling, (n * f, n * f)))
    return c.replace(components=comps, width=n * MCU, height=n * MCU, warnings=list(c.warnings))


def crop_plan(height: int, width: int, crop: int, train: bool,
              rng: Optional[np.random.Generator]) -> tuple[int, int, int, int, int, int]:
    """``(top, left, rows, cols, pad_y, pad_x)`` in 16-pixel MCUs: a random (train) or centre
    (eval) window of ``crop/16`` MCUs inside the image's whole MCUs; along an axis where the
    image is smaller, all its MCUs (the partial last one too), centred in the canvas."""
    n = crop // MCU
    plan = []
    for size in (height, width):
        full = size // MCU
        if full >= n:
            start = int(rng.integers(0, full - n + 1)) if train else (full - n) // 2
            plan.append((start, n, 0))
        else:
            have = -(-size // MCU)
            plan.append((0, have, (n - have) // 2))
    (top, rows, pad_y), (left, cols, pad_x) = plan
    return top, left, rows, cols, pad_y, pad_x


def dct_crop(c: Coefficients, crop: int, train: bool, rng: Optional[np.random.Generator]) -> Coefficients:
    """The training/eval crop as :class:`Coefficients` (reference path, built from
    :mod:`jpegcoef.transforms`): window of :func:`crop_plan`, then 4:2:0, zero-block padding
    of small images (centred) and, training, a random horizontal flip."""
    top, left, rows, cols, pad_y, pad_x = crop_plan(c.height, c.width, crop, train, rng)
    n = crop // MCU
    out = transforms.crop(c, top * MCU, left * MCU, min(rows * MCU, c.height - top * MCU),
                          min(cols * MCU, c.width - left * MCU))
    out, _ = to_420(out)
    if out.height < crop or out.width < crop:
        out = _pad(out, n, pad_y, pad_x)
    if train and rng.random() < 0.5:
        out = transforms.hflip(out, edge="error")
    return out


def dct_sample(c: Coefficients, fmt: Format, crop: int, train: bool,
               rng: Optional[np.random.Generator], plan: Optional[tuple] = None,
               kind: Optional[str] = None) -> dict:
    """``fmt.host(dct_crop(c, ...))`` computed the fast way (same random draws, same result):
    files that are not 4:2:0 are cropped on their own grid and only the crop is converted; then
    one fused gather (:meth:`Format.host_window`).

    ``plan``: the :func:`crop_plan` already drawn from the full image's size (then ``c`` may be
    that image cut below the window, as ``read(..., max_height=...)`` returns it); ``kind``:
    :func:`~jpegcoef.convert.sampling_kind` of ``c`` when already known."""
    if plan is None:
        plan = crop_plan(c.height, c.width, crop, train, rng)
    top, left, rows, cols, pad_y, pad_x = plan
    if kind is None:
        kind = sampling_kind(c)
    if kind != "420" and not (window_fusable(c) and (top + rows) * MCU <= c.height
                              and (left + cols) * MCU <= c.width):
        c = transforms.crop(c, top * MCU, left * MCU, min(rows * MCU, c.height - top * MCU),
                            min(cols * MCU, c.width - left * MCU), copy=False)
        c, _ = to_420(c)
        top = left = 0
        kind = "420"
    flip = bool(train and rng.random() < 0.5)
    return fmt.host_window(c, top, left, rows, cols, crop // MCU, (pad_y, pad_x), flip, kind=kind)


def _mcu_divides_16(c: Coefficients) -> bool:
    mh, mw = transforms.mcu_size(c)
    return MCU % mh == 0 and MCU % mw == 0




# ------------------------------------------------------------------------------------------------
# Box windows (the resized-crop pipeline): the blocks that cover a pixel box
# ------------------------------------------------------------------------------------------------
def mcu_shape(c: Coefficients) -> tuple[int, int]:
    """``(height, width)`` in pixels of a file's MCU (8x8 for gray)."""
    if len(c.components) == 1:
        return 8, 8
    return 8 * max(comp.sampling[1] for comp in c.components), 8 * max(comp.sampling[0] for comp in c.components)


def box_direct(c: Coefficients) -> bool:
    """Whether the resized-crop pipeline takes ``c``'s components at their own grids: gray, or
    YCbCr whose luma has the highest sampling factors (4:2:0, 4:4:4, 4:2:2, 4:4:0, 4:1:1, ...).
    Others (RGB colour space, CMYK, YCCK, Cb and Cr sampled differently, luma not the finest)
    go through :func:`to_420` first."""
    comps = c.components
    if len(comps) == 1:
        return c.colorspace == "gray"
    if len(comps) != 3 or c.colorspace != "ycbcr" or comps[1].sampling != comps[2].sampling:
        return False
    return comps[0].sampling == (max(s.sampling[0] for s in comps), max(s.sampling[1] for s in comps))


def box_window(box: tuple, mcu: tuple[int, int], height: int, width: int, margin: float = 0.0) -> tuple:
    """``(top, left, rows, cols)`` in MCUs of ``mcu`` pixels: the whole MCUs covering the pixel
    ``box`` (top, left, h, w; floats allowed) grown by ``margin`` pixels, inside the image."""
    top, left, h, w = box
    out = []
    for start, size, m, full in ((top, h, mcu[0], height), (left, w, mcu[1], width)):
        lo = max(0, math.floor((start - margin) / m))
        hi = min(-(-full // m), math.ceil((start + size + margin) / m))
        out.append((lo, max(hi - lo, 1)))
    (t, rows), (lft, cols) = out
    return t, lft, rows, cols


def cut_box(c: Coefficients, box: tuple, margin: float = 0.0) -> dict[str, np.ndarray]:
    """Host arrays of the resized-crop pipeline: every component's coefficients over the MCUs
    covering ``box`` (+ ``margin``), int16 blocks ``(bh, bw, 64)`` at its own grid (the reader's
    own layout: the cut is a copy of whole rows), plus
    ``q`` (uint16 ``(3, 64)``), ``box`` (float64 (4,): the box in luma pixels relative to the
    window), ``valid`` (float64 (2,): the window's pixels inside the image) and ``csub``
    (float64 (2,): chroma pixels per luma pixel, vertical and horizontal). ``c`` satisfies
    :func:`box_direct`; it may be cut below the box (``read(max_height=...)``). Gray files get
    zero chroma (neutral) at half resolution."""
    mh, mw = mcu_shape(c)
    t, lft, rows, cols = box_window(box, (mh, mw), c.height, c.width, margin)
    comps = c.components
    vmax, hmax = mh // 8, mw // 8
    out: dict[str, np.ndarray] = {}
    for key, comp in zip(("y", "cb", "cr"), comps):
        h, v = (1, 1) if len(comps) == 1 else comp.sampling
        a = comp.coefficients[t * v:(t + rows) * v, lft * h:(lft + cols) * h]
        out[key] = np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], 64)
    if len(comps) == 1:
        zeros = np.zeros((-(-out["y"].shape[0] // 2), -(-out["y"].shape[1] // 2), 64), np.int16)
        out["cb"], out["cr"] = zeros, zeros.copy()
        quant = (comps[0].quant, _ONES, _ONES)
        csub = (0.5, 0.5)
    else:
        quant = tuple(comp.quant for comp in comps)
        csub = (comps[1].sampling[1] / vmax, comps[1].sampling[0] / hmax)
    out["q"] = np.concatenate([q.reshape(64) for q in quant]).reshape(3, 64).astype(np.uint16)
    y0, x0 = t * mh, lft * mw
    out["box"] = np.array([box[0] - y0, box[1] - x0, box[2], box[3]], np.float64)
    out["valid"] = np.array([min(c.height - y0, rows * mh), min(c.width - x0, cols * mw)], np.float64)
    out["csub"] = np.array(csub, np.float64)
    return out


_ONES = np.ones((8, 8), np.uint16)
