"""DCT-domain linear maps: resampling and colour maps between blocks of JPEG coefficients.

JPEG stores each 8x8 block as its orthonormal type-II DCT (``X = C x C^T``, :func:`dct_matrix`).
Every operation here is linear in the dequantised coefficients, so it is a matrix applied to them:

* host side (numpy, used by :mod:`jpegcoef.formats` to bring files to 4:2:0): box-average
  downsampling and pixel-replication upsampling by whole factors (:func:`resample_axis`), and
  the exact float64 chroma downsampling (:func:`downsample_exact`) whose weights lie on a
  grid fine enough that no sum rounds, so a window and the whole image give the same bits;
* device side (torch): the interpolation maps of :mod:`jpegcoef.augment` are built from
  :func:`dct_matrix` as well.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["dct_matrix", "resample_1d", "upsample_matrix", "axis_matrices", "gemm", "resample_axis",
           "down_map", "exact_bits", "down_weights", "downsample_exact"]

_WEIGHTS: dict = {}  # (fy, fx, out_index, quantisation table bytes) -> dequantising weights


# ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix ``C`` (``X = C x``); JPEG's 8x8 FDCT is ``C X C^T``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


@lru_cache(maxsize=None)
def resample_1d(factor: int, down: bool) -> np.ndarray:
    """1-D map between ``factor`` blocks and one block of DCT coefficients.

    ``down``: ``(8, factor*8)``: DCT of the box-averaged (by ``factor``) pixels of ``factor``
    adjacent blocks. Else ``(factor*8, 8)``: DCTs of the ``factor`` blocks made by replicating
    each pixel of one block ``factor`` times.
    """
    c = dct_matrix(8)
    n = 8 * factor
    inv = np.kron(np.eye(factor), c.T)  # block-diagonal IDCT of factor blocks
    fwd = np.kron(np.eye(factor), c)
    rep = np.zeros((n, 8))
    rep[np.arange(n), np.arange(n) // factor] = 1.0
    if down:
        return c @ (rep.T / factor) @ inv  # average factor pixels -> one block
    return fwd @ rep @ c.T


def upsample_matrix() -> np.ndarray:
    """``(2, 2, 64, 64)``: coefficients of the four 8x8 blocks (dy, dx) of a 2x pixel-replicated
    block, as a linear map of the source block's 64 coefficients (natural order)."""
    u = resample_1d(2, False).reshape(2, 8, 8)  # (half, out freq, in freq)
    # out[i, j, r, s] = sum_{a, b} u[i, r, a] u[j, s, b] X[a, b]
    m = np.einsum("ira,jsb->ijrsab", u, u)
    return m.reshape(2, 2, 64, 64)


@lru_cache(maxsize=None)
def axis_matrices(factor: int, down: bool, dtype: str = "float32") -> np.ndarray:
    """``(in, out)`` matrices for right-multiplication (see :func:`resample_1d`)."""
    return np.ascontiguousarray(resample_1d(factor, down).T.astype(dtype))


GEMM_SINGLE_THREAD = 262_144  # OpenBLAS runs a GEMM on one thread when M*N*K is at most this


def gemm(g: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``g @ m`` for a tall ``g`` and a small ``m``, in row chunks small enough that BLAS stays on
    one thread (threaded tiny GEMMs oversubscribe the CPUs of DataLoader workers and run up to
    100x slower on a busy machine)."""
    rows, k = g.shape
    n = m.shape[1]
    chunk = max(1, GEMM_SINGLE_THREAD // (k * n))
    if rows <= chunk:
        return g @ m
    out = np.empty((rows, n), np.result_type(g, m))
    for s in range(0, rows, chunk):
        np.matmul(g[s:s + chunk], m, out=out[s:s + chunk])
    return out


def resample_axis(a: np.ndarray, axis: int, scale: float) -> np.ndarray:
    """Resample dequantised blocks ``(Hb, Wb, 8, 8)`` along block ``axis`` (0 rows, 1 columns)
    by ``scale`` (1/4, 1/2, 1, 2 or 4); one matrix product over the whole grid."""
    if scale == 1:
        return a
    hb, wb = a.shape[:2]
    if scale < 1:
        f = int(round(1 / scale))
        n = a.shape[axis]
        pad = (-n) % f
        if pad:
            widths = [(0, 0)] * 4
            widths[axis] = (0, pad)
            a = np.pad(a, widths, mode="edge")
            hb, wb = a.shape[:2]
        m = axis_matrices(f, True, a.dtype.name)  # (f*8, 8)
        if axis == 1:  # (y, g, j, r, l) -> (y, g, r, j*8+l) @ m -> (y, g, r, i)
            g = a.reshape(hb, wb // f, f, 8, 8).transpose(0, 1, 3, 2, 4).reshape(-1, f * 8)
            return gemm(g, m).reshape(hb, wb // f, 8, 8)
        # (g, j, x, r, l) -> (g, x, l, j*8+r) @ m -> (g, x, l, i) -> (g, x, i, l)
        g = a.reshape(hb // f, f, wb, 8, 8).transpose(0, 2, 4, 1, 3).reshape(-1, f * 8)
        return gemm(g, m).reshape(hb // f, wb, 8, 8).transpose(0, 1, 3, 2)
    f = int(round(scale))
    m = axis_matrices(f, False, a.dtype.name)  # (8, f*8)
    if axis == 1:  # (y, x, r, l) @ m -> (y, x, r, j, i) -> (y, x, j, r, i)
        out = gemm(np.ascontiguousarray(a).reshape(-1, 8), m).reshape(hb, wb, 8, f, 8).transpose(0, 1, 3, 2, 4)
        return out.reshape(hb, wb * f, 8, 8)
    # (y, x, l, r) @ m -> (y, x, l, j, i) -> (y, j, x, i, l)
    out = gemm(np.ascontiguousarray(a.transpose(0, 1, 3, 2)).reshape(-1, 8), m).reshape(hb, wb, 8, f, 8)
    return out.transpose(0, 3, 1, 4, 2).reshape(hb * f, wb, 8, 8)


# Chroma to the 4:2:0 grid, exactly: the box average of fy x fx blocks (fy, fx in {1, 2}) as one
# linear map of the dequantised input coefficients, with weights rounded to multiples of
# 2**-bits. With ``bits`` chosen from the quantisation table's maximum, every product and every
# partial sum is an integer multiple of 2**-bits below 2**53 in magnitude, i.e. exactly
# representable in float64: the sum is exact whatever the summation order (BLAS blocking, FMA,
# how many outputs or rows are computed), so a window and the whole image give the same bits,
# and computing only the selected output frequencies changes nothing.
@lru_cache(maxsize=None)
def down_map(fy: int, fx: int) -> np.ndarray:
    """float64 ``(fy*fx*64, 64)``: the output block's coefficients ``(i, j)`` (columns, natural
    order) from the ``fy x fx`` input blocks' coefficients ``(p, q, a, b)`` (rows), for the box
    average of ``fy x fx`` pixels (factor 1: identity)."""
    d = {1: np.eye(8), 2: resample_1d(2, True)}
    m = np.einsum("ipa,jqb->pqabij", d[fy].reshape(8, fy, 8), d[fx].reshape(8, fx, 8))
    return m.reshape(fy * fx * 64, 64)


@lru_cache(maxsize=None)
def exact_bits(fy: int, fx: int, qmax: int) -> int:
    """Fraction bits of the weights so that ``sum |coef * q * weight|`` stays below 2**52 for any
    int16 coefficients and quantisation values up to ``qmax``."""
    m = down_map(fy, fx)
    l1 = float(np.abs(m).sum(0).max()) + 1.0  # + rounding of the weights (<= K/2 * 2**-bits)
    return int(math.floor(52 - math.log2(32768.0 * max(qmax, 1) * l1)))


@lru_cache(maxsize=None)
def down_weights(fy: int, fx: int, bits: int, out_index: tuple) -> np.ndarray:
    """Integer-valued float64 ``(fy*fx*64, len(out_index))``: ``rint(map * 2**bits)``."""
    return np.ascontiguousarray(np.rint(down_map(fy, fx)[:, list(out_index)] * 2.0 ** bits))


def downsample_exact(x: np.ndarray, quant: np.ndarray, fy: int, fx: int, out_index: tuple) -> np.ndarray:
    """float64 ``(h*w, len(out_index))``: the ``out_index`` coefficients (natural order) of each
    ``fy x fx`` box-averaged group of the dequantised blocks ``x`` (int16 ``(h*fy, w*fx, 8, 8)``,
    quantisation table ``quant``), output blocks in row-major order; exact (see above): the
    same value for a block whatever else is computed with it. One gather and one matrix
    product over the grid."""
    hb, wb = x.shape[:2]
    h, w = hb // fy, wb // fx
    q = np.ascontiguousarray(quant, np.uint16).reshape(64)
    key = (fy, fx, out_index, q.tobytes())
    wq = _WEIGHTS.get(key)
    if wq is None:  # per quantisation table (a dataset has few): the weights times q * 2**-bits
        bits = exact_bits(fy, fx, int(q.max()))
        wq = down_weights(fy, fx, bits, out_index) * np.tile(q.astype(np.float64) * 2.0 ** -bits, fy * fx)[:, None]
        if len(_WEIGHTS) >= 512:
            _WEIGHTS.clear()
        _WEIGHTS[key] = wq
    g = np.empty((h, w, fy, fx, 64), np.float64)
    g[...] = x.reshape(h, fy, w, fx, 64).transpose(0, 2, 1, 3, 4)
    return gemm(g.reshape(h * w, fy * fx * 64), wq)
