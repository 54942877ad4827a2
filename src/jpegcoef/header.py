"""The JPEG header walk: size and sampling from the frame header, before any coefficient is read."""
from __future__ import annotations

from typing import Optional, Union



__all__ = ["jpeg_frame", "file_frame"]

# ------------------------------------------------------------------------------------------------
# Frame header (size and sampling before the coefficients are read)
# ------------------------------------------------------------------------------------------------
# SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC)
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field: TEM, RST0-7, SOI
_STANDALONE = frozenset([0x01, 0xD8, *range(0xD0, 0xD8)])


def jpeg_frame(data: Union[bytes, bytearray, memoryview]) -> Optional[tuple[int, int, tuple]]:
    """``(height, width, sampling)`` from a JPEG's first frame header (SOF marker), or None.

    ``sampling`` holds each component's ``(h, v)`` factors. Only the marker segments before the
    SOF are walked (a few steps; nothing is decoded), the way libjpeg walks them: bytes before
    a marker and fill bytes are skipped. None when the data does not start with SOI, reaches
    SOS/EOI or its end before a SOF, or the SOF is malformed -- the caller then reads the
    whole file and lets libjpeg judge it.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:  # extraneous bytes before a marker (libjpeg skips them, warning)
            i += 1
            continue
        m = data[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m in _STANDALONE or m == 0x00:
            i += 2
            continue
        if m == 0xDA or m == 0xD9:  # SOS or EOI before any SOF
            return None
        length = (data[i + 2] << 8) | data[i + 3]
        if m in _SOF_MARKERS:
            if length < 8 or i + 2 + length > n:
                return None
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            ncomp = data[i + 9]
            if length != 8 + 3 * ncomp or ncomp == 0 or height == 0 or width == 0:
                return None
            samp = tuple((data[i + 11 + 3 * k] >> 4, data[i + 11 + 3 * k] & 15) for k in range(ncomp))
            return height, width, samp
        if length < 2:
            return None
        i += 2 + length
    return None



_HEAD = 16384  # bytes read for the frame header (the markers before SOF: EXIF, ICC, tables)


def file_frame(path: str) -> Optional[tuple[int, int, tuple]]:
    """:func:`jpeg_frame` of a file, from its first bytes (the whole file when the markers
    before the frame header are longer than that); None as there."""
    with open(path, "rb", buffering=0) as f:
        head = f.read(_HEAD)
        frame = jpeg_frame(head)
        if frame is None and len(head) == _HEAD:  # long APPn segments: look further
            frame = jpeg_frame(head + f.readall())
    return frame


