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


# -- Python-level fuzzing ---------------------------------------------------------------------

#: Small real files of every kind (baseline/progressive/arithmetic, gray, 16-bit tables, EXIF,
#: restart markers): small so that a few thousand inputs take a few seconds.
SEED_FILES = ["gen-7x9.jpg", "gen-1x1.jpg", "gen-250x3.jpg", "gen-17x333.jpg",
              "pillow-hopper_16bit_qtables.jpg", "pillow-hopper_orientation_6.jpg",
              "turbo-testimgari-arithmetic.jpg", "ijg-testimgp-progressive.jpg",
              "pillow-icc-after-SOF.jpg", "gen-420-q5.jpg", "turbo-testorig.jpg",
              "gen-420-progressive-split-bands.jpg"]
MARKERS = bytes([0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC9, 0xCA, 0xCC, 0xD0, 0xD8, 0xD9, 0xDA, 0xDB,
                 0xDD, 0xE0, 0xE1, 0xEE, 0xFE, 0xFF, 0x00])


def mutate(data: bytes, rng: np.random.Generator, others: list[bytes]) -> bytes:
    """One random mutation: truncation, byte/bit flips, marker edit, wrong segment length,
    header field change, region deletion/duplication, or a splice with another file."""
    b = bytearray(data)
    n = len(b)
    op = int(rng.integers(9)) if n else 7
    if op == 0:                                   # truncate
        del b[int(rng.integers(n + 1)):]
    elif op == 1:                                 # flip bits
        for _ in range(int(rng.integers(1, 5))):
            b[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    elif op == 2:                                 # random bytes
        for _ in range(int(rng.integers(1, 9))):
            b[int(rng.integers(n))] = int(rng.integers(256))
    elif op in (3, 4, 5):                         # marker edit / wrong length / header field
        segs = [off for off, _, _ in segments(bytes(b))]
        if not segs:
            b[int(rng.integers(n))] ^= 0xFF
        else:
            at = segs[int(rng.integers(len(segs)))]
            if op == 3:
                b[at + 1] = MARKERS[int(rng.integers(len(MARKERS)))]
            elif op == 4:
                length = (b[at + 2] << 8) | b[at + 3]
                length = int(rng.choice([0, 1, 2, 0xFFFF, length + int(rng.integers(1, 17)),
                                         length - int(rng.integers(1, 17))])) & 0xFFFF
                b[at + 2: at + 4] = length.to_bytes(2, "big")
            else:
                i = at + 4 + int(rng.integers(16))
                if i < n:
                    b[i] = int(rng.integers(256))
    elif op == 6:                                 # delete a region
        i = int(rng.integers(n))
        del b[i: i + int(rng.integers(1, 64))]
    elif op == 7:                                 # duplicate a region (e.g. part of a scan)
        i = int(rng.integers(n + 1))
        j = min(n, i + int(rng.integers(1, 4096)))
        k = int(rng.integers(n + 1))
        b[k:k] = b[i:j]
    else:                                         # splice with another file
        other = others[int(rng.integers(len(others)))]
        b = b[: int(rng.integers(n + 1))] + other[int(rng.integers(len(other) + 1)):]
    return bytes(b)


def fuzz_inputs(count: int, seed: int) -> list[bytes]:
    files = [(DATA / f).read_bytes() for f in SEED_FILES]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        data = files[int(rng.integers(len(files)))]
        for _ in range(int(rng.integers(1, 4))):
            data = mutate(data, rng, files)
        out.append(data)
    return out


def test_fuzz_read_returns_or_raises_jpegerror():
    """5,000 mutated files through read() (both layouts, strict, bands), decode_rgb() and write():
    each returns or raises JpegError, each within 2 s."""
    inputs = fuzz_inputs(5000, seed=7)
    outcomes = {"ok": 0, "error": 0}
    slowest = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        for i, data in enumerate(inputs):
            t0 = time.perf_counter()
            try:
                c = jpegcoef.read(data, layout="channels" if i % 2 else "blocks")
                outcomes["ok"] += 1
                assert c.width >= 1 and c.height >= 1 and 1 <= len(c.components) <= 4
                for comp in c.components:
                    assert comp.coefficients.dtype == np.int16 and comp.coefficients.ndim == 4
                if i % 5 == 0:
                    try:
                        jpegcoef.write(c)
                    except JpegError:
                        pass
            except JpegError as e:
                outcomes["error"] += 1
                assert str(e)
            if i % 3 == 0:
                try:
                    jpegcoef.read(data, strict=True)
                except JpegError:
                    pass
            if i % 7 == 0:
                try:
                    jpegcoef.decode_rgb(data)
                except JpegError:
                    pass
            if i % 4 == 1:                    # partial progressive decoding (bands)
                try:
                    part = jpegcoef.read(data, bands=([0, 1, 8, 9], [0], [0]))
                    assert 1 <= len(part.components) <= 4
                except JpegError:
                    pass
            slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 2.0, slowest
    # the mutations neither destroy everything nor leave everything intact
    assert outcomes["ok"] > 300 and outcomes["error"] > 300, outcomes


def test_fuzz_read_batch_matches_read():
    """read_batch(errors="return") over mutated files: in order, each slot a Coefficients or a
    JpegError, equal to what read() gives for the same input."""
    inputs = fuzz_inputs(600, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        t0 = time.perf_counter()
        batch = jpegcoef.read_batch(inputs, threads=4, errors="return")
        assert time.perf_counter() - t0 < 60
        assert len(batch) == len(inputs)
        for data, got in zip(inputs, batch):
            try:
                want = jpegcoef.read(data)
            except JpegError as e:
                assert isinstance(got, JpegError), type(got)
                assert got.libjpeg_message == e.libjpeg_message
                continue
            assert isinstance(got, jpegcoef.Coefficients), got
            assert got.warnings == want.warnings
            for a, b in zip(want.components, got.components):
                np.testing.assert_array_equal(a.coefficients, b.coefficients)
                np.testing.assert_array_equal(a.quant, b.quant)
        with pytest.raises(JpegError):
            bad = next(i for i, r in enumerate(batch) if isinstance(r, JpegError))
            jpegcoef.read_batch(inputs[: bad + 1], threads=2)
