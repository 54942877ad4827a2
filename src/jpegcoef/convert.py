"""Bring any JPEG's coefficients to the 4:2:0 YCbCr layout the DCT formats take.

:func:`to_420` converts gray, 4:4:4, 4:2:2, 4:4:0, 4:1:1, RGB-colour-space (exact linear maps in
the DCT domain, :mod:`jpegcoef.dctmaps`) and CMYK/YCCK (decoded and re-encoded) files;
:func:`sampling_kind` names a file's layout; :func:`window_fusable` says which layouts a crop
window can be converted alone (bit-identical to converting the whole file).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from .coefficients import Coefficients, Component
from .dctmaps import downsample_exact, resample_axis

__all__ = ["to_420", "sampling_kind", "window_fusable"]


def _chroma_to_420(comp: Component, fy: int, fx: int, rows: int, cols: int) -> np.ndarray:
    """int16 ``(rows, cols, 8, 8)``: a whole chroma component brought to the 4:2:0 grid by
    :func:`downsample_exact` (odd grids edge-padded first, the result cropped or edge-padded
    to ``rows x cols`` blocks)."""
    a = comp.coefficients
    pr, pc = (-a.shape[0]) % fy, (-a.shape[1]) % fx
    if pr or pc:
        a = np.pad(a, ((0, pr), (0, pc), (0, 0), (0, 0)), mode="edge")
    h, w = a.shape[0] // fy, a.shape[1] // fx
    out = _to_int16(downsample_exact(a, comp.quant, fy, fx, _ALL64)).reshape(h, w, 8, 8)
    return _fit(out, rows, cols)


_ALL64 = tuple(range(64))


def _fit(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Crop or edge-pad a block grid to exactly ``rows x cols`` blocks."""
    a = a[:rows, :cols]
    pr, pc = rows - a.shape[0], cols - a.shape[1]
    if pr or pc:
        a = np.pad(a, ((0, pr), (0, pc), (0, 0), (0, 0)), mode="edge")
    return a


def _to_int16(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), -32768, 32767).astype(np.int16)


_ONES = np.ones((8, 8), np.uint16)
_FUSABLE = ("gray", "444", "422", "440")


def window_fusable(c: Coefficients) -> bool:
    """Whether :meth:`Format.host_window` converts windows of ``c`` to 4:2:0 itself: gray, or
    YCbCr whose luma has the highest sampling factors, all factors 1 or 2 (4:4:4, 4:2:2,
    4:4:0 and mixes of them). For such files :func:`to_420` of a window of whole 16-pixel MCUs
    is window-local: luma kept, chroma dequantised and box-averaged per 16x16 pixels."""
    comps = c.components
    if len(comps) == 1:
        return c.colorspace == "gray"
    if len(comps) != 3 or c.colorspace != "ycbcr":
        return False
    samp = [comp.sampling for comp in comps]
    if any(h not in (1, 2) or v not in (1, 2) for h, v in samp):
        return False
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)
    return samp[0] == (hmax, vmax)


def _reencode(src: Any, quality: int = 95) -> Coefficients:
    """Decode with Pillow (handles CMYK/YCCK/Adobe), re-encode RGB as 4:2:0 in memory, read."""
    from .reader import read

    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=quality, subsampling=2)
    return read(buf.getvalue())


def sampling_kind(c: Coefficients) -> str:
    """A short name for a file's layout: ``'420'``, ``'444'``, ``'422'``, ``'440'``, ``'411'``,
    ``'gray'``, ``'rgb'``, ``'cmyk'``, ``'ycck'`` or ``'h1v1-h2v1-...'`` for anything else."""
    if c.colorspace in ("gray", "rgb", "cmyk", "ycck"):
        return c.colorspace
    s = [comp.sampling for comp in c.components]
    name = _KIND_NAMES.get(tuple(s))
    return name if name is not None else "-".join(f"h{h}v{v}" for h, v in s)


_KIND_NAMES = {((2, 2), (1, 1), (1, 1)): "420", ((1, 1), (1, 1), (1, 1)): "444",
               ((2, 1), (1, 1), (1, 1)): "422", ((1, 2), (1, 1), (1, 1)): "440",
               ((4, 1), (1, 1), (1, 1)): "411"}


def to_420(c: Coefficients, src: Any = None) -> tuple[Coefficients, str]:
    """Bring any JPEG to 4:2:0 YCbCr coefficients; returns ``(coefficients, kind)``.

    ``kind`` is :func:`sampling_kind` of the input (``'420'`` means nothing was done). The
    result has Y sampled 2x2 and Cb, Cr 1x1, block grids covering whole 16x16 MCUs.

    Conversions:

    * other YCbCr samplings (4:4:4, 4:2:2, 4:4:0, 4:1:1, mixed): exact DCT-domain resampling of
      the chroma components -- box-average downsampling and pixel-replication upsampling are
      linear maps between blocks of coefficients, applied to the dequantised coefficients.
      When the luma has the highest factors and all factors are 1 or 2 (4:4:4, 4:2:2, 4:4:0,
      their mixes: :func:`window_fusable`), the chroma downsampling is one map per 4:2:0 block
      evaluated exactly in float64 (weights on a 2**-bits grid fine enough that no sum rounds),
      so :meth:`Format.host_window` computes the same bits for a window and only the channels
      it selects; the other layouts use float32 products.
    * gray: Y as is, Cb = Cr = 0 (exactly neutral chroma).
    * RGB colour space (Adobe transform 0): the JFIF RGB->YCbCr matrix is linear and its level
      shift cancels, so it is applied to the dequantised coefficients directly, then chroma is
      downsampled as above.
    * CMYK, YCCK: no linear map to YCbCr exists (the conversion to RGB multiplies channels), so
      these are decoded with Pillow and re-encoded in memory (quality 95, 4:2:0); this needs
      ``src`` (the path or bytes the coefficients came from).

    Resampled components are stored unquantised: int16 of the rounded dequantised values with
    an all-ones quantisation table (8-bit DCT values fit in int16; error <= 0.5, far below any
    quantisation step). Untouched components keep their coefficients and table.
    """
    kind = sampling_kind(c)
    if kind == "420":
        return c, kind
    if kind in ("cmyk", "ycck"):
        if src is None:
            raise ValueError(f"{kind} JPEGs are converted by decoding and re-encoding; pass src=")
        out = _reencode(src)
        if sampling_kind(out) != "420":
            raise ValueError(f"re-encoding a {kind} JPEG gave {sampling_kind(out)}, expected 4:2:0")
        return out, kind
    if kind == "gray":
        return _gray_to_420(c), kind
    if len(c.components) != 3:
        raise ValueError(f"cannot convert a {len(c.components)}-component {c.colorspace} JPEG to YCbCr")
    return _colour_to_420(c, kind), kind


def _gray_to_420(c: Coefficients) -> Coefficients:
    """Y as is (on whole 16-pixel MCUs), Cb = Cr = 0 (exactly neutral chroma)."""
    my, mx = -(-c.height // 16), -(-c.width // 16)
    y = c.components[0]
    comps = [Component(_fit(y.coefficients, 2 * my, 2 * mx), y.quant, (2, 2), y.blocks)]
    zeros = np.zeros((my, mx, 8, 8), np.int16)
    comps += [Component(zeros, _ONES, (1, 1), (my, mx)), Component(zeros.copy(), _ONES, (1, 1), (my, mx))]
    return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings))


def _full_res(c: Coefficients, i: int, target: float) -> np.ndarray:
    """Component ``i`` dequantised and resampled to ``target`` x full resolution (float32)."""
    samp = [comp.sampling for comp in c.components]
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)
    h, v = samp[i]
    a = resample_axis(c.components[i].dequantize(), 0, target / (v / vmax))
    return resample_axis(a, 1, target / (h / hmax))


def _colour_to_420(c: Coefficients, kind: str) -> Coefficients:
    """Three-component YCbCr (any sampling) or RGB colour space to 4:2:0 YCbCr."""
    my, mx = -(-c.height // 16), -(-c.width // 16)
    samp = [comp.sampling for comp in c.components]
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)
    if kind == "rgb":  # the JFIF matrix is linear and its level shift cancels
        r, g, b = (_full_res(c, i, 1.0) for i in range(3))
        ya = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b
        cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b
        y = Component(_to_int16(_fit(ya, 2 * my, 2 * mx)), _ONES, (2, 2))
        chroma = [resample_axis(resample_axis(p, 0, 0.5), 1, 0.5) for p in (cb, cr)]
    elif samp[0] == (hmax, vmax):
        y0 = c.components[0]
        y = Component(_fit(y0.coefficients, 2 * my, 2 * mx), y0.quant, (2, 2))
        if window_fusable(c):  # chroma 1x or 2x per axis: exact, as Format.host_window does
            y.blocks = (-(-c.height // 8), -(-c.width // 8))
            comps = [y] + [Component(_chroma_to_420(comp, 2 * s[1] // vmax, 2 * s[0] // hmax, my, mx),
                                     _ONES, (1, 1), (my, mx)) for comp, s in zip(c.components[1:], samp[1:])]
            return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings))
        chroma = [_full_res(c, i, 0.5) for i in (1, 2)]
    else:
        y = Component(_to_int16(_fit(_full_res(c, 0, 1.0), 2 * my, 2 * mx)), _ONES, (2, 2))
        chroma = [_full_res(c, i, 0.5) for i in (1, 2)]
    y.blocks = (-(-c.height // 8), -(-c.width // 8))
    comps = [y] + [Component(_to_int16(_fit(a, my, mx)), _ONES, (1, 1), (my, mx)) for a in chroma]
    return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings))


