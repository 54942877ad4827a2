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
