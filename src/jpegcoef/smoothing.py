"""libjpeg-turbo's block smoothing of progressive JPEGs, for ``Coefficients.to_rgb``.

When a progressive file's scans leave any of the first nine AC coefficients (zig-zag 1..9) of a
component incomplete (successive approximation never finished, scans missing, truncated data),
libjpeg's full decode does not run its IDCT on the coefficients as they are: each block's missing
low frequencies are estimated from the DC values of the 5x5 blocks around it (``jdcoefct.c``,
``decompress_smooth_data``, libjpeg-turbo 2.1 and later). An estimate replaces a coefficient only
where it is still zero and not known exactly; it is clamped to what the unknown low bits can
hold. When no AC coefficient has arrived at all, the DC is re-estimated too ("DC interpolation").

This module reproduces that, bit for bit, vectorised over whole block grids: the kernels below
are libjpeg's (one 5x5 table per coefficient), and the neighbour indices follow libjpeg's edge
rules exactly (including its quirks on two-block-wide rows and the first two iMCU rows).
The state it needs comes from the reader (:class:`~jpegcoef.coefficients.Progression` on each
component of a progressive read).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


__all__ = ["smoothed", "ZIGZAG_NATURAL"]

#: Natural-order (8*row+col) positions of zig-zag coefficients 0..9.
ZIGZAG_NATURAL = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24)


def _k(*rows: tuple) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


_Z = (0, 0, 0, 0, 0)
# 5x5 weights of the neighbouring DC values (rows: two above .. two below; columns: two left ..
# two right), per zig-zag coefficient 1..5, without DC interpolation (some AC data arrived).
_AC_KERNELS = {
    1: _k(_Z, _Z, (-7, 50, 0, -50, 7), _Z, _Z),
    2: _k((0, 0, -7, 0, 0), (0, 0, 50, 0, 0), _Z, (0, 0, -50, 0, 0), (0, 0, 7, 0, 0)),
    3: _k((0, 0, -1, 0, 0), (0, 0, 13, 0, 0), (0, 0, -24, 0, 0), (0, 0, 13, 0, 0), (0, 0, -1, 0, 0)),
    4: _k((0, -1, 0, 1, 0), (-1, 10, 0, -10, 1), _Z, (1, -10, 0, 10, -1), (0, 1, 0, -1, 0)),
    5: _k(_Z, _Z, (-1, 13, -24, 13, -1), _Z, _Z),
}
# With DC interpolation (no AC coefficient arrived): zig-zag 1..9, then the DC itself (key 0).
_DC_KERNELS = {
    1: _k((-1, -1, 0, 1, 1), (-3, 13, 0, -13, 3), (-3, 38, 0, -38, 3), (-3, 13, 0, -13, 3),
          (-1, -1, 0, 1, 1)),
    2: _k((-1, -3, -3, -3, -1), (-1, 13, 38, 13, -1), _Z, (1, -13, -38, -13, 1), (1, 3, 3, 3, 1)),
    3: _k((0, 0, 1, 0, 0), (0, 2, 7, 2, 0), (0, -5, -14, -5, 0), (0, 2, 7, 2, 0), (0, 0, 1, 0, 0)),
    4: _k((-1, 0, 0, 0, 1), (0, 9, 0, -9, 0), _Z, (0, -9, 0, 9, 0), (1, 0, 0, 0, -1)),
    5: _k(_Z, (0, 2, -5, 2, 0), (1, 7, -14, 7, 1), (0, 2, -5, 2, 0), _Z),
    6: _k(_Z, (0, 1, 0, -1, 0), (0, 2, 0, -2, 0), (0, 1, 0, -1, 0), _Z),
    7: _k(_Z, (0, 1, -3, 1, 0), _Z, (0, -1, 3, -1, 0), _Z),
    8: _k(_Z, (0, 1, 0, -1, 0), (0, -3, 0, 3, 0), (0, 1, 0, -1, 0), _Z),
    9: _k(_Z, (0, 1, 2, 1, 0), _Z, (0, -1, -2, -1, 0), _Z),
    0: _k((-2, -6, -8, -6, -2), (-6, 6, 42, 6, -6), (-8, 42, 152, 42, -8), (-6, 6, 42, 6, -6),
          (-2, -6, -8, -6, -2)),
}


def _neighbour_rows(hb: int, v: int, imcu_rows: int) -> np.ndarray:
    """(5, hb): the block rows libjpeg takes the DC values from, two above .. two below each row."""
    r = np.arange(hb)
    imcu, br = r // v, r % v
    last = imcu_rows - 1
    rows_in = np.where(imcu < last, v, np.where(hb % v, hb % v, v))   # true rows of each iMCU row
    prev = np.where(r > 0, r - 1, r)
    prev2 = np.where((br > 1) | (imcu > 1), r - 2, prev)
    nxt = np.where((br < rows_in - 1) | (imcu < last), r + 1, r)
    nxt2 = np.where((br < rows_in - 2) | (imcu + 1 < last), r + 2, nxt)
    return np.stack([prev2, prev, r, nxt, nxt2])


def _neighbour_cols(wb: int) -> np.ndarray:
    """(5, wb): the block columns, two left .. two right. libjpeg slides a window of DC values
    along the row; on a row two blocks wide the window keeps the first block on the right."""
    if wb == 2:
        return np.array([[0, 0], [0, 0], [0, 1], [1, 0], [0, 0]])
    b = np.arange(wb)
    return np.clip(b[None, :] + np.arange(-2, 3)[:, None], 0, wb - 1)


def _predict(num: np.ndarray, q: int, al: Optional[int]) -> np.ndarray:
    """libjpeg's estimate from ``num`` (Q00 times the weighted DC sum) for quantiser ``q``,
    clamped to ``2**al - 1`` in magnitude when ``al > 0``; as the int16 libjpeg stores."""
    mag = (q * 128 + np.abs(num)) // (q * 256)
    if al is not None and al > 0:
        mag = np.minimum(mag, (1 << al) - 1)
    return np.where(num < 0, -mag, mag).astype(np.int16)


def _smooth_rows(out: np.ndarray, grid: np.ndarray, rows: slice, quant: np.ndarray, latch: tuple) -> None:
    """Estimate the missing coefficients of block rows ``rows`` of ``out`` (Hb, Wb, 64) in place,
    with ``latch`` (libjpeg's coef_bits of zig-zag 0..9 for those rows)."""
    change_dc = all(b == -1 for b in latch[1:10])
    kernels = _DC_KERNELS if change_dc else _AC_KERNELS
    g = grid[:, :, rows]
    wb = g.shape[3]
    q00 = int(quant[0])
    block = out[rows, :wb]
    for zz in range(1, 10):
        al = latch[zz]
        if zz not in kernels or al == 0:
            continue
        pos = ZIGZAG_NATURAL[zz]
        num = q00 * np.einsum("ij,ijhw->hw", kernels[zz], g)
        pred = _predict(num, int(quant[pos]), al)
        target = block[:, :, pos]
        np.copyto(target, pred, where=target == 0)
    if change_dc:
        block[:, :, 0] = _predict(q00 * np.einsum("ij,ijhw->hw", kernels[0], g), q00, None)


def _smooth_component(comp: Any, prog: Any, true_blocks: tuple, imcu_rows: int) -> np.ndarray:
    """The coefficients libjpeg runs its IDCT on for one component: (Hb, Wb, 8, 8) int16."""
    hb, wb = true_blocks
    coef = comp.coefficients
    dc = coef[:hb, :wb, 0, 0].astype(np.int64)
    rows = _neighbour_rows(hb, comp.sampling[1], imcu_rows)
    cols = _neighbour_cols(wb)
    grid = dc[rows[:, None, :, None], cols[None, :, None, :]]          # (5, 5, hb, wb)
    out = np.array(coef, dtype=np.int16, order="C").reshape(coef.shape[0], coef.shape[1], 64)
    quant = comp.quant.reshape(64)
    good = max(0, min(hb, prog.good_rows))
    if good:
        _smooth_rows(out, grid, slice(0, good), quant, prog.bits)
    if good < hb:
        _smooth_rows(out, grid, slice(good, hb), quant, prog.before)
    return out.reshape(coef.shape)


def _applies(c: Any) -> bool:
    """libjpeg's ``smoothing_ok``: a progressive file, every component with its state, non-zero
    quantisers for the ten coefficients, a DC at least partly known; and something to estimate."""
    if not c.progressive:
        return False
    useful = False
    for comp in c.components:
        prog = comp.progression
        if prog is None or prog.bits[0] < 0:
            return False
        if (comp.quant.reshape(64)[list(ZIGZAG_NATURAL)] == 0).any():
            return False
        useful = useful or any(b != 0 for b in prog.bits[1:10])
    return useful


def smoothed(c: Any) -> Optional[list]:
    """Per component, the (Hb, Wb, 8, 8) int16 coefficients libjpeg-turbo's full decode runs its
    IDCT on, with its block smoothing applied; None when it would not smooth this image."""
    if not _applies(c):
        return None
    mh, mv = c.max_sampling
    imcu_rows = -(-c.height // (8 * mv))
    out = []
    for comp in c.components:
        h, v = comp.sampling
        true_blocks = (-(-c.height * v // (8 * mv)), -(-c.width * h // (8 * mh)))
        if comp.coefficients.shape[0] < true_blocks[0] or comp.coefficients.shape[1] < true_blocks[1]:
            raise ValueError(f"component grid {comp.coefficients.shape[:2]} is smaller than the "
                             f"image's {true_blocks} blocks")
        out.append(_smooth_component(comp, comp.progression, true_blocks, imcu_rows))
    return out
