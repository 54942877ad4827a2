"""Containers for quantised JPEG DCT coefficients.

A :class:`Coefficients` holds one image's header facts and a list of :class:`Component`,
each with its int16 coefficients as libjpeg decodes them: whole MCUs, blocks of 8x8 in natural
(row-major) order. Both are plain dataclasses constructible from numpy arrays, so transforms and
tests can build them directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .smoothing import smoothed

__all__ = ["Component", "Coefficients", "Progression", "COLORSPACES"]

#: The colour spaces a JPEG's components may be in (libjpeg's J_COLOR_SPACE names, lower case).
COLORSPACES = ("gray", "ycbcr", "rgb", "cmyk", "ycck")


def _as_int16(a: np.ndarray, what: str) -> np.ndarray:
    """Return ``a`` as int16 without silent wrap-around (integer input in range only)."""
    a = np.asarray(a)
    if a.dtype == np.int16:
        return a
    if a.dtype.kind not in "iub":
        raise TypeError(f"{what} must be an integer array, got dtype {a.dtype}")
    if a.size and (a.min() < -32768 or a.max() > 32767):
        raise ValueError(f"{what} values do not fit in int16")
    return a.astype(np.int16)


@dataclass(frozen=True)
class Progression:
    """Where a progressive file's scans left one component's first ten zig-zag coefficients: the
    state libjpeg's full decode uses to smooth blocks whose low frequencies are incomplete.

    Attributes:
        bits: for zig-zag coefficients 0..9, the point transform ``Al`` of the last scan that
            carried it: 0 exact, ``k > 0`` its ``k`` low bits unknown, -1 never sent.
        before: the same before the component's last scan (-1: unknown or the file's only scan);
            libjpeg uses it for the block rows the file's last scan did not reach with real data.
        good_rows: block rows ``[0, good_rows)`` were reached by the file's last scan with real
            data (all rows of an undamaged file).
    """

    bits: tuple
    before: tuple
    good_rows: int

    @property
    def complete(self) -> bool:
        """Whether every one of the ten coefficients is known exactly (nothing to smooth)."""
        return all(b == 0 for b in self.bits)


@dataclass(eq=False)
class Component:
    """One colour component's quantised DCT coefficients.

    Attributes:
        coefficients: int16 array ``(Hb, Wb, 8, 8)``: every block libjpeg decodes, covering whole
            MCUs (so a 4:2:0 luma grid is exactly twice the chroma grid); inside a block natural
            order, index ``8*row + col``. When read with ``layout="channels"`` this is a strided
            view of the ``(64, Hb, Wb)`` array (no copy).
        quant: uint16 array ``(8, 8)``, the quantisation table in natural order.
        sampling: ``(h, v)`` sampling factors.
        blocks: ``(hb, wb)``, the true size in blocks (libjpeg's height_in_blocks,
            width_in_blocks); defaults to the array's ``(Hb, Wb)``.
        progression: for a component read from a progressive file, where its scans left it
            (:class:`Progression`: what ``to_rgb`` needs to smooth as libjpeg does); None for
            anything else, including every transform's result (what jpegtran writes is complete).
    """

    coefficients: np.ndarray
    quant: np.ndarray
    sampling: tuple[int, int] = (1, 1)
    blocks: Optional[tuple[int, int]] = None
    progression: Optional[Progression] = None
    _channels: Optional[np.ndarray] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = _as_int16(self.coefficients, "coefficients")
        if c.ndim != 4 or c.shape[2:] != (8, 8):
            raise ValueError(f"coefficients must have shape (Hb, Wb, 8, 8), got {c.shape}")
        self.coefficients = c
        q = np.asarray(self.quant)
        if q.size != 64:
            raise ValueError(f"quant must have 64 entries, got shape {q.shape}")
        if q.dtype != np.uint16:
            if q.dtype.kind not in "iu" or q.min() < 0 or q.max() > 65535:
                raise ValueError("quant must hold integers in 0..65535")
            q = q.astype(np.uint16)
        self.quant = q.reshape(8, 8)
        self.sampling = (int(self.sampling[0]), int(self.sampling[1]))
        if self.blocks is None:
            self.blocks = (c.shape[0], c.shape[1])
        else:
            hb, wb = int(self.blocks[0]), int(self.blocks[1])
            if not (0 <= hb <= c.shape[0] and 0 <= wb <= c.shape[1]):
                raise ValueError(f"blocks {self.blocks} exceed the array's {c.shape[:2]}")
            self.blocks = (hb, wb)
        if self.progression is not None and not isinstance(self.progression, Progression):
            raise TypeError("progression must be a Progression or None")

    @classmethod
    def from_channels(cls, channels: np.ndarray, quant: np.ndarray, sampling: tuple[int, int] = (1, 1),
                      blocks: Optional[tuple[int, int]] = None) -> "Component":
        """Build a component from a ``(64, Hb, Wb)`` array; ``coefficients`` becomes a view of it."""
        ch = _as_int16(channels, "channels")
        if ch.ndim != 3 or ch.shape[0] != 64:
            raise ValueError(f"channels must have shape (64, Hb, Wb), got {ch.shape}")
        _, hb, wb = ch.shape
        view = ch.reshape(8, 8, hb, wb).transpose(2, 3, 0, 1)
        comp = cls(view, quant, sampling, blocks)
        comp._channels = ch
        return comp

    @property
    def shape(self) -> tuple[int, int]:
        """``(Hb, Wb)``: the decoded block grid (whole MCUs)."""
        return self.coefficients.shape[0], self.coefficients.shape[1]

    def channels(self) -> np.ndarray:
        """int16 ``(64, Hb, Wb)``: frequency ``8*row+col`` as channel. Computed at most once."""
        if self._channels is None:
            hb, wb = self.shape
            self._channels = np.ascontiguousarray(self.coefficients.transpose(2, 3, 0, 1)).reshape(64, hb, wb)
        return self._channels

    def dequantize(self) -> np.ndarray:
        """float32 ``(Hb, Wb, 8, 8)``: coefficients times the quantisation table."""
        return self.coefficients.astype(np.float32) * self.quant.astype(np.float32)

    def __repr__(self) -> str:
        hb, wb = self.shape
        return (f"Component(shape=({hb}, {wb}, 8, 8), blocks={self.blocks}, sampling={self.sampling}, "
                f"quant[0,0]={int(self.quant[0, 0])})")


@dataclass(eq=False)
class Coefficients:
    """One JPEG image as quantised DCT coefficients plus the header facts needed to use them.

    Attributes:
        width, height: image size in pixels.
        components: list of :class:`Component` in file order.
        colorspace: ``'gray' | 'ycbcr' | 'rgb' | 'cmyk' | 'ycck'``.
        progressive: the file was progressive (SOF2/SOF10).
        arithmetic: the file used arithmetic coding (SOF9/SOF10).
        orientation: EXIF orientation 1..8 (1 when absent or unreadable).
        warnings: libjpeg's messages for recoverable damage met while reading.
    """

    width: int
    height: int
    components: list
    colorspace: str = "ycbcr"
    progressive: bool = False
    arithmetic: bool = False
    orientation: int = 1
    warnings: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.colorspace not in COLORSPACES:
            raise ValueError(f"colorspace must be one of {COLORSPACES}, got {self.colorspace!r}")
        self.components = list(self.components)
        if not self.components:
            raise ValueError("at least one component is needed")
        for c in self.components:
            if not isinstance(c, Component):
                raise TypeError("components must be Component instances")
        self.width, self.height = int(self.width), int(self.height)
        self.orientation = int(self.orientation)
        self.warnings = list(self.warnings)

    # -- shortcuts --------------------------------------------------------------------------------
    def _luma_chroma(self, i: int) -> Optional[Component]:
        if self.colorspace in ("ycbcr", "ycck") and i < len(self.components):
            return self.components[i]
        if self.colorspace == "gray" and i == 0:
            return self.components[0]
        return None

    @property
    def y(self) -> Optional[Component]:
        """The luma component (YCbCr, YCCK or gray files), else None."""
        return self._luma_chroma(0)

    @property
    def cb(self) -> Optional[Component]:
        """The Cb component (YCbCr or YCCK files), else None."""
        return self._luma_chroma(1)

    @property
    def cr(self) -> Optional[Component]:
        """The Cr component (YCbCr or YCCK files), else None."""
        return self._luma_chroma(2)

    @property
    def max_sampling(self) -> tuple[int, int]:
        """``(max h, max v)`` sampling factors: the MCU is ``8*h x 8*v`` pixels."""
        return (max(c.sampling[0] for c in self.components), max(c.sampling[1] for c in self.components))

    def dequantize(self) -> list:
        """Per component, float32 ``(Hb, Wb, 8, 8)`` coefficients times quantisation table."""
        return [c.dequantize() for c in self.components]

    def to_ycbcr(self, idct: str = "islow", smoothing: bool = True) -> np.ndarray:
        """Decode to full-size component planes: uint8 ``(height, width, C)``, no colour conversion.

        ``smoothing``: for a progressive file whose scans leave some of the first nine AC
        coefficients incomplete (successive approximation never finished, scans missing or
        truncated), libjpeg's full decode estimates them from the neighbouring blocks' DC values
        (its block smoothing, ``do_block_smoothing``); this does the same, bit for bit with
        libjpeg-turbo 2.1+ (:mod:`jpegcoef.smoothing`). ``False``: the plain IDCT of the
        coefficients as they are. Nothing changes for other files.

        IDCT per block, vectorised in numpy: ``idct="islow"`` (default) reproduces libjpeg's
        accurate integer IDCT exactly, ``idct="float"`` is the textbook float IDCT (separable
        matrix products; planes within 1 level of libjpeg, RGB within 3). Then chroma upsampling to full size
        with libjpeg's own filters (its default "fancy" triangular h2v1/h1v2/h2v2 upsampling, box
        replication for other ratios). For YCbCr files the planes are Y, Cb, Cr; for gray one
        plane; for RGB/CMYK/YCCK the stored planes.
        """
        return _planes(self, idct, smoothing)

    def to_rgb(self, idct: str = "islow", smoothing: bool = True) -> np.ndarray:
        """Decode to RGB: uint8 ``(height, width, 3)``, after :meth:`to_ycbcr` (``idct``,
        ``smoothing`` as there), converted as libjpeg and Pillow do:

        - YCbCr: JFIF colour conversion in libjpeg's fixed-point arithmetic; gray is replicated
          to three channels; RGB files are returned as stored.
        - CMYK: taken in Adobe's inverted polarity (what Photoshop and Pillow write, and what
          Pillow assumes for every CMYK JPEG), ``R = C*K/255`` etc. in Pillow's integer
          arithmetic (``Image.open(f).convert("RGB")``, bit for bit).
        - YCCK: libjpeg's YCCK -> CMYK conversion (the first three planes YCC -> RGB, inverted;
          K as stored), then as CMYK.

        Raises:
            ValueError: a CMYK/YCCK image without 4 components, or a bad ``idct``.
        """
        planes = _planes(self, idct, smoothing)
        if self.colorspace == "ycbcr":
            return _ycc_to_rgb(planes)
        if self.colorspace == "gray":
            return np.repeat(planes, 3, axis=2)
        if self.colorspace == "rgb":
            return planes
        if planes.shape[-1] != 4:
            raise ValueError(f"a {self.colorspace} image needs 4 components, this one has {planes.shape[-1]}")
        if self.colorspace == "ycck":
            planes = np.concatenate([255 - _ycc_to_rgb(planes[..., :3]), planes[..., 3:]], axis=-1)
        return _inverted_cmyk_to_rgb(planes)

    def replace(self, **changes) -> "Coefficients":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        samp = "/".join(f"{h}x{v}" for h, v in (c.sampling for c in self.components))
        return (f"Coefficients({self.width}x{self.height}, {self.colorspace}, sampling {samp}, "
                f"progressive={self.progressive}, arithmetic={self.arithmetic}, "
                f"orientation={self.orientation}, warnings={len(self.warnings)})")


# -- pixels: reference IDCT, libjpeg's upsampling filters, JFIF colour conversion -------------------
def _idct_matrix() -> np.ndarray:
    x = np.arange(8)[:, None]
    u = np.arange(8)[None, :]
    m = np.cos((2 * x + 1) * u * np.pi / 16) / 2
    m[:, 0] /= np.sqrt(2)
    return m  # m[x, u]


_IDCT = _idct_matrix()


# libjpeg's accurate integer IDCT (jidctint.c, "islow"): 13 fraction bits, 2 extra bits in pass 1.
_CONST_BITS, _PASS1_BITS = 13, 2
_F = {name: int(round(v * (1 << _CONST_BITS))) for name, v in [
    ("0_298631336", 0.298631336), ("0_390180644", 0.390180644), ("0_541196100", 0.541196100),
    ("0_765366865", 0.765366865), ("0_899976223", 0.899976223), ("1_175875602", 1.175875602),
    ("1_501321110", 1.501321110), ("1_847759065", 1.847759065), ("1_961570560", 1.961570560),
    ("2_053119869", 2.053119869), ("2_562915447", 2.562915447), ("3_072711026", 3.072711026)]}


def _islow_1d(s: list) -> list:
    """One 8-point pass of the LL&M integer IDCT on arrays s[0..7]; outputs before descaling."""
    z2, z3 = s[2], s[6]
    z1 = (z2 + z3) * _F["0_541196100"]
    tmp2 = z1 - z3 * _F["1_847759065"]
    tmp3 = z1 + z2 * _F["0_765366865"]
    tmp0 = (s[0] + s[4]) << _CONST_BITS
    tmp1 = (s[0] - s[4]) << _CONST_BITS
    t10, t13, t11, t12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    o0, o1, o2, o3 = s[7], s[5], s[3], s[1]
    z1, z2, z3, z4 = o0 + o3, o1 + o2, o0 + o2, o1 + o3
    z5 = (z3 + z4) * _F["1_175875602"]
    o0 = o0 * _F["0_298631336"]
    o1 = o1 * _F["2_053119869"]
    o2 = o2 * _F["3_072711026"]
    o3 = o3 * _F["1_501321110"]
    z1 = z1 * -_F["0_899976223"]
    z2 = z2 * -_F["2_562915447"]
    z3 = z3 * -_F["1_961570560"] + z5
    z4 = z4 * -_F["0_390180644"] + z5
    o0 += z1 + z3
    o1 += z2 + z4
    o2 += z2 + z3
    o3 += z1 + z4
    return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]


def _descale(x: np.ndarray, n: int) -> np.ndarray:
    return (x + (1 << (n - 1))) >> n


def _range_limit(x: np.ndarray) -> np.ndarray:
    """libjpeg's post-IDCT range-limit table (clamp, with its wrap-around for wild values)."""
    i = x & 1023
    return np.select([i < 128, i < 512, i < 896], [i + 128, 255, 0], i - 896).astype(np.uint8)


def _idct_islow(f: np.ndarray) -> np.ndarray:
    """Dequantised blocks (..., 8, 8) int64 -> pixels uint8 (..., 8, 8), bit-exact with jidctint.c."""
    ws = _islow_1d([f[..., k, :] for k in range(8)])                 # columns: rows k -> ws rows
    ws = np.stack([_descale(w, _CONST_BITS - _PASS1_BITS) for w in ws], axis=-2)
    px = _islow_1d([ws[..., :, k] for k in range(8)])                # rows: columns k -> pixels
    px = np.stack([_descale(p, _CONST_BITS + _PASS1_BITS + 3) for p in px], axis=-1)
    return _range_limit(px)


def _component_plane(comp: Component, idct: str = "islow", coefficients: Optional[np.ndarray] = None) -> np.ndarray:
    """IDCT of every block (of ``coefficients``, default the component's) -> uint8 plane (Hb*8, Wb*8).

    ``idct="islow"`` reproduces libjpeg's accurate integer IDCT bit for bit; ``"float"`` is the
    textbook separable float IDCT (matrix products), rounded and clamped.
    """
    coef = comp.coefficients if coefficients is None else coefficients
    hb, wb = coef.shape[:2]
    if idct == "islow":
        p = _idct_islow(coef.astype(np.int64) * comp.quant.astype(np.int64))
    elif idct == "float":
        f = coef.astype(np.float64) * comp.quant.astype(np.float64)
        p = np.clip(np.floor(_IDCT @ f @ _IDCT.T + 128.5), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"idct must be 'islow' or 'float', not {idct!r}")
    return p.transpose(0, 2, 1, 3).reshape(hb * 8, wb * 8)


def _fancy_h(a: np.ndarray, bias_left: int, bias_right: int, shift: int) -> np.ndarray:
    """libjpeg's horizontal triangular 2x upsampling of (integer) column sums ``a``."""
    a = a.astype(np.int32)
    left = np.concatenate([a[:, :1], a[:, :-1]], axis=1)
    right = np.concatenate([a[:, 1:], a[:, -1:]], axis=1)
    out = np.empty((a.shape[0], a.shape[1] * 2), np.int32)
    out[:, 0::2] = (3 * a + left + bias_left) >> shift
    out[:, 1::2] = (3 * a + right + bias_right) >> shift
    return out


def _vsums(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3*near + far for the upper and lower output rows (edge rows replicated)."""
    a = a.astype(np.int32)
    above = np.concatenate([a[:1], a[:-1]], axis=0)
    below = np.concatenate([a[1:], a[-1:]], axis=0)
    return 3 * a + above, 3 * a + below


def _interleave_rows(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out = np.empty((top.shape[0] * 2,) + top.shape[1:], top.dtype)
    out[0::2] = top
    out[1::2] = bottom
    return out


def _upsample(plane: np.ndarray, fh: int, fv: int, height: int, width: int) -> np.ndarray:
    """Upsample a component plane (already cropped to its downsampled size) by (fh, fv)."""
    dw = plane.shape[1]
    if (fh, fv) == (1, 1):
        out = plane
    elif (fh, fv) == (2, 1) and dw > 2:
        out = _fancy_h(plane, 1, 2, 2)
    elif (fh, fv) == (1, 2):
        top, bottom = _vsums(plane)
        out = _interleave_rows((top + 1) >> 2, (bottom + 2) >> 2)
    elif (fh, fv) == (2, 2) and dw > 2:
        top, bottom = _vsums(plane)
        out = _interleave_rows(_fancy_h(top, 8, 7, 4), _fancy_h(bottom, 8, 7, 4))
    else:
        out = np.repeat(np.repeat(plane, fv, axis=0), fh, axis=1)
    return out[:height, :width].astype(np.uint8)


def _planes(c: "Coefficients", idct: str = "islow", smoothing: bool = True) -> np.ndarray:
    mh, mv = c.max_sampling
    arrays = smoothed(c) if smoothing else None
    out = []
    for i, comp in enumerate(c.components):
        h, v = comp.sampling
        if mh % h or mv % v:
            raise ValueError(f"sampling {h}x{v} does not divide the maximum {mh}x{mv}")
        dh = -(-c.height * v // mv)              # libjpeg's downsampled_height / width
        dw = -(-c.width * h // mh)
        plane = _component_plane(comp, idct, None if arrays is None else arrays[i])[:dh, :dw]
        out.append(_upsample(plane, mh // h, mv // v, c.height, c.width))
    return np.stack(out, axis=-1)


def _ycc_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """JFIF YCbCr -> RGB in libjpeg's fixed-point arithmetic (jdcolor.c, 16 fraction bits)."""
    one_half = 1 << 15

    def fix(x: float) -> int:
        return int(x * (1 << 16) + 0.5)

    y = ycc[..., 0].astype(np.int32)
    cb = ycc[..., 1].astype(np.int32) - 128
    cr = ycc[..., 2].astype(np.int32) - 128
    r = y + ((fix(1.40200) * cr + one_half) >> 16)
    g = y + ((-fix(0.34414) * cb - fix(0.71414) * cr + one_half) >> 16)
    b = y + ((fix(1.77200) * cb + one_half) >> 16)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)



def _inverted_cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """Adobe (inverted) CMYK uint8 ``(..., 4)`` -> RGB as Pillow converts it: Pillow un-inverts
    the stored values (its ``CMYK;I`` raw mode), then ``R = nk - C*nk/255`` with ``nk = 255 - K``
    and its rounded division by 255 (``MULDIV255``), which is ``C' * K' / 255`` in stored values."""
    stored = cmyk.astype(np.int32)
    nk = stored[..., 3:]
    t = (255 - stored[..., :3]) * nk + 128
    return np.clip(nk - (((t >> 8) + t) >> 8), 0, 255).astype(np.uint8)
