"""Python-level fuzzing of the reader, and regression tests for bugs the fuzzers found.

The C fuzz drivers (csrc/fuzz/, README "Security") run far more inputs under the sanitizers;
this test checks the Python surface: every mutated input either returns :class:`Coefficients`
or raises :class:`JpegError` (never another exception, never a crash), in bounded time.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
import time
import warnings

import numpy as np
import pytest

import jpegcoef
from jpegcoef import JpegError

DATA = pathlib.Path(__file__).parent / "data"


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, marker, total length) of each marker segment before the first SOS (and the SOS)."""
    out, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = (data[i + 2] << 8) | data[i + 3]
        out.append((i, marker, 2 + length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def strip_markers(data: bytes, marker: int) -> bytes:
    """``data`` without its header segments of type ``marker`` (e.g. 0xDB: every DQT)."""
    out, last = bytearray(data[:2]), 2
    for off, m, n in segments(data):
        if m != marker:
            out += data[off: off + n]
        last = off + n
        if m == 0xDA:
            break
    return bytes(out + data[last:])


# -- regressions ------------------------------------------------------------------------------


def test_tables_of_a_previous_file_are_never_used():
    """A file without quantisation tables is an error, also right after a file that had them.

    Regression: the per-thread libjpeg object was reused, and libjpeg keeps tables across
    images, so a DQT-less file decoded silently with the previous file's tables.
    """
    good = (DATA / "gen-7x9.jpg").read_bytes()
    bare = strip_markers(good, 0xDB)
    assert len(bare) < len(good)
    outcomes = []

    def run():   # a new thread: a new decoder, so the first read below is on a fresh object
        for src in (bare, good, bare, good, bare):
            for layout in ("blocks", "channels"):
                try:
                    jpegcoef.read(src, layout=layout)
                    outcomes.append("ok")
                except JpegError as e:
                    outcomes.append(str(e))
            try:
                jpegcoef.decode_rgb(src)
                outcomes.append("ok")
            except JpegError as e:
                outcomes.append(str(e))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    missing = "Quantization table 0x00 was not defined"
    assert outcomes == [missing] * 3 + ["ok"] * 3 + [missing] * 3 + ["ok"] * 3 + [missing] * 3


def _with_coefficient(c: jpegcoef.Coefficients, block: tuple, k: int, value: int):
    comps = []
    for i, comp in enumerate(c.components):
        coef = comp.coefficients.copy()
        if i == 0:
            coef[block][k // 8, k % 8] = value
        comps.append(jpegcoef.Component(coef, comp.quant.copy(), comp.sampling, comp.blocks))
    return dataclasses.replace(c, components=comps, warnings=[])


@pytest.mark.parametrize("progressive,arithmetic", [(False, False), (True, False), (False, True), (True, True)])
def test_write_refuses_coefficients_outside_the_8bit_range(progressive, arithmetic):
    """Out-of-range coefficients raise JpegError; the range limits themselves round-trip exactly.

    Regression: libjpeg-turbo's sequential Huffman encoder wrote an AC value of 1500 (and the
    arithmetic encoder a DC difference over 2^15) into a corrupt file without any error, so
    write() returned bytes that decoded to other numbers.
    """
    c = dataclasses.replace(jpegcoef.read(DATA / "gen-7x9.jpg"), progressive=progressive,
                            arithmetic=arithmetic)
    for k, value in ((5, 1500), (5, -1024), (0, 1024), (0, -1025), (0, -32000)):
        with pytest.raises(JpegError, match="out of the 8-bit JPEG range"):
            jpegcoef.write(_with_coefficient(c, (0, 0), k, value))
    for k, value in ((5, 1023), (5, -1023), (0, 1023), (0, -1024)):
        bad = _with_coefficient(c, (0, 0), k, value)
        back = jpegcoef.read(jpegcoef.write(bad))
        assert not back.warnings
        for a, b in zip(bad.components, back.components):
            hb, wb = a.blocks
            np.testing.assert_array_equal(a.coefficients[:hb, :wb], b.coefficients[:hb, :wb])
