"""Lossless transforms of quantised DCT coefficients, exact as ``jpegtran`` does them.

Every function takes a :class:`~jpegcoef.Coefficients` and returns a new one (arrays are copied,
the input is never modified). All work is vectorised numpy on whole block grids.

In the DCT domain:

* a horizontal flip reverses the order of the blocks in each block row and negates the
  coefficients of odd horizontal frequency (``col`` odd in ``8*row + col``); a vertical flip does
  the same on block rows and odd vertical frequencies;
* a transpose swaps the block grid's axes, transposes each 8x8 block, each quantisation table and
  swaps every component's sampling factors;
* rotations are compositions: ``rot90 = hflip . transpose``, ``rot270 = vflip . transpose``,
  ``rot180 = vflip . hflip``, ``transverse = rot180 . transpose``.

Partial edge MCUs. A flip moves the right (or bottom) edge to the left (or top). When the image
size is not a multiple of the MCU size, the partial MCU at that edge cannot be moved losslessly
(its padding would land inside the image). ``edge="trim"`` (the default) follows
``jpegtran -trim``: that partial MCU column/row is dropped, so the result is a little smaller;
``edge="error"`` follows ``jpegtran -perfect`` and raises :class:`ValueError`. An image smaller
than one MCU along the flipped axis has nothing that can be mirrored losslessly, and trimming
would leave nothing: ``jpegtran -trim`` then leaves that axis as it is, and so does
``edge="trim"`` here (the result matches jpegtran's; ``edge="error"`` still raises). Transpose
never needs trimming. For MCU-aligned images the results are coefficient-identical to ``jpegtran
-perfect`` (the tests prove it against the ``jpegtran`` binary).

The MCU is ``8*max_h x 8*max_v`` pixels; for single-component (grayscale) images it is one
8x8 block, as libjpeg and jpegtran treat them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .coefficients import Coefficients, Component

__all__ = ["crop", "hflip", "vflip", "transpose", "transverse", "rotate", "apply_orientation",
           "mcu_size", "ORIENTATIONS"]

Edge = Literal["trim", "error"]

# (-1)**col and (-1)**row for a natural-order 8x8 block.
_ODD_COL = np.tile(np.array([1, -1] * 4, dtype=np.int16), (8, 1))
_ODD_ROW = np.ascontiguousarray(_ODD_COL.T)


def _sampling(c: Coefficients) -> list[tuple[int, int]]:
    """Effective sampling factors: (1, 1) for single-component images (libjpeg's rule)."""
    if len(c.components) == 1:
        return [(1, 1)]
    return [comp.sampling for comp in c.components]


def mcu_size(c: Coefficients) -> tuple[int, int]:
    """``(mcu_height, mcu_width)`` in pixels: ``8*max_v x 8*max_h`` (8x8 for one component)."""
    samp = _sampling(c)
    return 8 * max(v for _, v in samp), 8 * max(h for h, _ in samp)


def _true_blocks(width: int, height: int, sampling: tuple[int, int], hmax: int, vmax: int) -> tuple[int, int]:
    """libjpeg's ``(height_in_blocks, width_in_blocks)`` of a component."""
    h, v = sampling
    return -(-height * v // (8 * vmax)), -(-width * h // (8 * hmax))


def _rebuild(c: Coefficients, arrays: list[np.ndarray], width: int, height: int, *,
             transpose: bool = False, contiguous: bool = True, **changes) -> Coefficients:
    """New Coefficients with per-component ``arrays`` (already transformed) and a new size."""
    samp = _sampling(c)
    comps = []
    if transpose:
        samp = [(v, h) for h, v in samp]
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)
    for comp, arr, s in zip(c.components, arrays, samp):
        quant = comp.quant.T if transpose else comp.quant
        sampling = (comp.sampling[1], comp.sampling[0]) if transpose else comp.sampling
        hb, wb = _true_blocks(width, height, s, hmax, vmax)
        blocks = (min(hb, arr.shape[0]), min(wb, arr.shape[1]))
        arr = np.ascontiguousarray(arr) if contiguous else arr
        comps.append(Component(arr, np.ascontiguousarray(quant), sampling, blocks))
    return c.replace(components=comps, width=width, height=height, warnings=list(c.warnings), **changes)


def _trimmed(size: int, mcu: int, edge: Edge, what: str) -> int:
    """The image size kept along one axis for a flip of that axis."""
    if edge not in ("trim", "error"):
        raise ValueError(f"edge must be 'trim' or 'error', got {edge!r}")
    if size % mcu == 0:
        return size
    if edge == "error":
        raise ValueError(f"{what} {size} is not a multiple of the MCU size {mcu}: the partial edge MCU "
                         f"cannot be flipped losslessly (use edge='trim' to drop it, like jpegtran -trim)")
    # smaller than one MCU: nothing to mirror, nothing to trim (jpegtran -trim leaves it as is)
    return size - size % mcu if size >= mcu else size


def hflip(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    """Mirror left-right (``jpegtran -flip horizontal``)."""
    mcu_h, mcu_w = mcu_size(c)
    width = _trimmed(c.width, mcu_w, edge, "width")
    mcus = width // mcu_w
    arrays = []
    for comp, (h, _) in zip(c.components, _sampling(c)):
        a = comp.coefficients
        arrays.append(a[:, : mcus * h][:, ::-1] * _ODD_COL if mcus else a.copy())
    return _rebuild(c, arrays, width, c.height)


def vflip(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    """Mirror top-bottom (``jpegtran -flip vertical``)."""
    mcu_h, mcu_w = mcu_size(c)
    height = _trimmed(c.height, mcu_h, edge, "height")
    mcus = height // mcu_h
    arrays = []
    for comp, (_, v) in zip(c.components, _sampling(c)):
        a = comp.coefficients
        arrays.append(a[: mcus * v][::-1] * _ODD_ROW if mcus else a.copy())
    return _rebuild(c, arrays, c.width, height)


def transpose(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    """Swap rows and columns (``jpegtran -transpose``); never needs trimming (``edge`` is
    accepted for a uniform signature)."""
    arrays = [comp.coefficients.transpose(1, 0, 3, 2) for comp in c.components]
    return _rebuild(c, arrays, c.height, c.width, transpose=True)


def transverse(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    """Transpose across the other diagonal (``jpegtran -transverse``)."""
    return vflip(hflip(transpose(c), edge=edge), edge=edge)


def rotate(c: Coefficients, angle: int, *, edge: Edge = "trim") -> Coefficients:
    """Rotate clockwise by 90, 180 or 270 degrees (``jpegtran -rotate``)."""
    if angle == 90:
        return hflip(transpose(c), edge=edge)
    if angle == 180:
        return vflip(hflip(c, edge=edge), edge=edge)
    if angle == 270:
        return vflip(transpose(c), edge=edge)
    raise ValueError(f"angle must be 90, 180 or 270, got {angle!r}")


def _identity(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    return c.replace(components=[Component(comp.coefficients.copy(), comp.quant.copy(), comp.sampling,
                                           comp.blocks) for comp in c.components],
                     warnings=list(c.warnings))


#: EXIF orientation -> the transform that displays the image upright.
ORIENTATIONS = {
    1: _identity,
    2: hflip,
    3: lambda c, edge="trim": rotate(c, 180, edge=edge),
    4: vflip,
    5: transpose,
    6: lambda c, edge="trim": rotate(c, 90, edge=edge),
    7: transverse,
    8: lambda c, edge="trim": rotate(c, 270, edge=edge),
}


def apply_orientation(c: Coefficients, *, edge: Edge = "trim") -> Coefficients:
    """Apply the EXIF orientation (1-8) so the image is upright; the result has orientation 1."""
    if c.orientation not in ORIENTATIONS:
        raise ValueError(f"EXIF orientation must be 1..8, got {c.orientation}")
    out = ORIENTATIONS[c.orientation](c, edge=edge)
    out.orientation = 1
    return out


def crop(c: Coefficients, top: int, left: int, height: int, width: int, *, copy: bool = True) -> Coefficients:
    """Cut out ``height x width`` pixels at ``(top, left)`` (``jpegtran -crop WxH+left+top``).

    ``top`` and ``left`` must lie on the MCU grid (multiples of :func:`mcu_size`), else
    :class:`ValueError`; ``height`` and ``width`` may be any size that fits in the image (a
    partial last MCU is kept whole in the arrays, as libjpeg stores it). ``copy=False`` returns
    views into ``c``'s arrays (no copy; do not modify them).
    """
    for name, val in (("top", top), ("left", left), ("height", height), ("width", width)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool):
            raise TypeError(f"{name} must be an int, got {type(val).__name__}")
    top, left, height, width = int(top), int(left), int(height), int(width)
    mcu_h, mcu_w = mcu_size(c)
    if top < 0 or left < 0 or height <= 0 or width <= 0:
        raise ValueError(f"crop ({top}, {left}, {height}, {width}) needs top, left >= 0 and a positive size")
    if top % mcu_h or left % mcu_w:
        raise ValueError(f"crop origin ({top}, {left}) is off the MCU grid ({mcu_h}x{mcu_w} pixels)")
    if top + height > c.height or left + width > c.width:
        raise ValueError(f"crop ({top}, {left}, {height}, {width}) exceeds the image {c.height}x{c.width}")
    arrays = []
    my0, mx0 = top // mcu_h, left // mcu_w
    my1, mx1 = my0 + -(-height // mcu_h), mx0 + -(-width // mcu_w)
    for comp, (h, v) in zip(c.components, _sampling(c)):
        a = comp.coefficients[my0 * v: my1 * v, mx0 * h: mx1 * h]
        arrays.append(a.copy() if copy else a)
    return _rebuild(c, arrays, width, height, contiguous=copy)
