"""Resource limits of the reader: max_pixels (decompression bombs) and max_scans (scan flooding).

- A header claiming 65000x65000 pixels is refused before any large allocation: shown in a
  child process whose address space is capped (any allocation of the image's size would fail),
  next to the same read with the limit switched off, which does try to allocate it.
- A progressive file of 10,000 tiny scans (crafted here by repeating one scan) is refused by
  the default max_scans, and with the limit off it still finishes quickly with the right data.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import jpegcoef
from jpegcoef import JpegError

DATA = pathlib.Path(__file__).parent / "data"


def test_max_pixels_boundary():
    """The limit is on width * height as the header states it (gen-7x9.jpg: 63 pixels)."""
    src = DATA / "gen-7x9.jpg"
    assert jpegcoef.read(src, max_pixels=63).width == 7
    with pytest.raises(JpegError, match=r"7x9 = 63 pixels, over the limit of 62 \(max_pixels\)"):
        jpegcoef.read(src, max_pixels=62)
    with pytest.raises(JpegError, match="max_pixels"):
        jpegcoef.read_batch([src], max_pixels=62)
    with pytest.raises(JpegError, match="max_pixels"):
        jpegcoef.decode_rgb(src, max_pixels=62)


_CHILD = textwrap.dedent("""
    import json, resource, sys
    import jpegcoef
    data = open(sys.argv[1], "rb").read()
    def vm_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    # cap the address space 512 MB above what the process uses now
    cap = vm_bytes() + (512 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = {}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, kwargs in (("default", {}), ("layout_channels", {"layout": "channels"}),
                         ("decode", None), ("no_limit", {"max_pixels": None})):
        try:
            if kwargs is None:
                jpegcoef.decode_rgb(data)
            else:
                jpegcoef.read(data, **kwargs)
            out[name] = "ok"
        except jpegcoef.JpegError as e:
            out[name] = "JpegError: " + str(e)
        except MemoryError as e:
            out[name] = "MemoryError"
        if name == "decode":
            out["peak_growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps(out))
""")


def test_max_pixels_refuses_65000x65000_before_allocating(tmp_path):
    huge = DATA / "bad-huge-dimensions.jpg"   # 640 bytes, header claims 65000x65000
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(huge)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("default", "layout_channels", "decode"):
        assert "65000x65000" in out[name] and "max_pixels" in out[name], out
    # the refusals did not grow the peak resident memory (only libjpeg's small header state)
    assert out["peak_growth_kb"] < 4096, out
    # without the limit the same read asks for the whole coefficient buffer (12.7 GB) and fails
    # under the 512 MB cap: the refusal above happened before that allocation
    assert out["no_limit"].startswith("JpegError") and "memory" in out["no_limit"].lower(), out


# -- scan flooding ------------------------------------------------------------------------------


def _scans(data: bytes) -> tuple[bytes, list[bytes]]:
    """(header before the first SOS, [each scan: its tables, SOS segment, entropy-coded data])."""
    first = None
    i = 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF
        if data[i + 1] == 0xDA:
            first = i
            break
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    assert first is not None
    scans, start, i = [], first, first
    while True:
        i += 2 + ((data[i + 2] << 8) | data[i + 3])      # past the SOS segment
        while not (data[i] == 0xFF and data[i + 1] not in (0x00, *range(0xD0, 0xD8))):
            i += 1                                         # entropy data (stuffed 0xFF00, RSTn)
        scans.append(data[start:i])
        start = i            # tables between scans (DHT) belong to the next scan
        while data[i + 1] not in (0xDA, 0xD9):
            i += 2 + ((data[i + 2] << 8) | data[i + 3])
        if data[i + 1] == 0xD9:
            return data[:first], scans


def _flooded(n_scans: int) -> tuple[bytes, jpegcoef.Coefficients]:
    """A progressive file with n_scans scans: one AC first scan repeated (idempotent: it writes
    the same coefficients each time), so the right answer is the original file's coefficients."""
    c = jpegcoef.read(DATA / "gen-17x333.jpg")
    prog = jpegcoef.write(dataclasses.replace(c, progressive=True, warnings=[]))
    original = jpegcoef.read(prog)
    header, scans = _scans(prog)
    def sos(scan: bytes) -> bytes:
        i = 0
        while scan[i + 1] != 0xDA:     # skip the scan's DHT segments
            i += 2 + ((scan[i + 2] << 8) | scan[i + 3])
        return scan[i + 4:]          # Ns, Ns x (id, tables), Ss, Se, Ah<<4|Al

    # the first AC first scan (Ss > 0, Ah == 0)
    j = next(k for k, s in enumerate(scans)
             if sos(s)[1 + 2 * sos(s)[0]] > 0 and sos(s)[3 + 2 * sos(s)[0]] >> 4 == 0)
    repeat = n_scans - len(scans)
    assert repeat > 0
    body = b"".join(scans[: j + 1]) + scans[j] * repeat + b"".join(scans[j + 1:])
    return header + body + b"\xff\xd9", original


def test_scan_flooding_refused_by_max_scans_and_bounded_without_it():
    data, original = _flooded(10_000)
    t0 = time.perf_counter()
    with pytest.raises(JpegError, match=r"More than 1000 scans \(max_scans\)"):
        jpegcoef.read(data)
    with pytest.raises(JpegError, match=r"More than 50 scans"):
        jpegcoef.read(data, max_scans=50, layout="channels")
    with pytest.raises(JpegError, match="max_scans"):
        jpegcoef.decode_rgb(data)
    refused = time.perf_counter() - t0
    assert refused < 10, refused

    # with the limit off, 10,000 scans: no hang, and the right coefficients
    for kwargs in ({"max_scans": None}, {"max_scans": 10_000}, {"max_scans": None, "layout": "channels"}):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = jpegcoef.read(data, **kwargs)
        elapsed = time.perf_counter() - t0
        assert elapsed < 10, (kwargs, elapsed)
        for a, b in zip(original.components, got.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
    with pytest.raises(JpegError, match=r"More than 9999 scans"):
        jpegcoef.read(data, max_scans=9999)
