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

__all__ = ["Component", "Coefficients", "COLORSPACES"]

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
    """

    coefficients: np.ndarray
    quant: np.ndarray
    sampling: tuple[int, int] = (1, 1)
    blocks: Optional[tuple[int, int]] = None
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

    def replace(self, **changes) -> "Coefficients":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        samp = "/".join(f"{h}x{v}" for h, v in (c.sampling for c in self.components))
        return (f"Coefficients({self.width}x{self.height}, {self.colorspace}, sampling {samp}, "
                f"progressive={self.progressive}, arithmetic={self.arithmetic}, "
                f"orientation={self.orientation}, warnings={len(self.warnings)})")


def _component_unchecked(coefficients: np.ndarray, quant: np.ndarray, sampling: tuple[int, int],
                         blocks: tuple[int, int], channels: Optional[np.ndarray] = None) -> Component:
    """Build a :class:`Component` from arrays already known to be valid (the reader's fast path)."""
    comp = object.__new__(Component)
    comp.__dict__.update(coefficients=coefficients, quant=quant, sampling=sampling, blocks=blocks,
                         _channels=channels)
    return comp


def _coefficients_unchecked(**fields) -> Coefficients:
    """Build a :class:`Coefficients` from fields already known to be valid (the reader's fast path)."""
    obj = object.__new__(Coefficients)
    obj.__dict__.update(fields)
    return obj
