"""Memory: 20,000 reads, a quarter of them failing, do not grow the resident set by 2 MB.

Failing reads cover every error path of the C reader: libjpeg errors in the header and in the
scan (strict mode), refusals by max_pixels and max_scans, and not-a-JPEG. The other reads use
both layouts, read_batch, decode_rgb and write. RSS is read from /proc/self/statm after a
warm-up (allocator pools, thread decoders, pools of read_batch already in place).
"""

from __future__ import annotations

import gc
import os
import pathlib
import warnings

import pytest

import jpegcoef
from jpegcoef import JpegError

DATA = pathlib.Path(__file__).parent / "data"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def workload(rounds: int) -> tuple[int, int]:
    """``rounds`` x 8 reads, 2 of each 8 failing. Returns (reads, failures)."""
    good = [(DATA / f).read_bytes() for f in ("gen-7x9.jpg", "gen-1x1.jpg", "gen-250x3.jpg")]
    good.append(DATA / "pillow-icc-after-SOF.jpg")           # a path: read by the C library
    progressive = (DATA / "ijg-testimgp-progressive.jpg").read_bytes()
    failing = [
        ((DATA / "bad-truncated-in-header.jpg").read_bytes(), {}),           # libjpeg error, header
        (DATA / "bad-not-a-jpeg.jpg", {}),                                   # not a JPEG, by path
        ((DATA / "bad-huge-dimensions.jpg").read_bytes(), {}),               # max_pixels
        ((DATA / "bad-truncated-mid-scan.jpg").read_bytes()[:1500], {"strict": True}),  # in scan
        (progressive, {"max_scans": 3}),                                     # max_scans, mid-file
        (good[0], {"max_pixels": 10}),
    ]
    reads = failures = 0
    for r in range(rounds):
        batch = [good[(r + k) % len(good)] for k in range(6)]
        if r % 4 == 0:                               # 6 good reads as one batch on 2 threads
            jpegcoef.read_batch(batch, threads=2, layout=("blocks", "channels")[r % 8 // 4])
        else:                                        # 6 good reads one by one
            for k, data in enumerate(batch):
                c = jpegcoef.read(data, layout="channels" if k % 2 else "blocks")
            if r % 8 == 1:
                jpegcoef.write(c)
                jpegcoef.decode_rgb(batch[1])
        reads += 6
        for data, kwargs in (failing[r % len(failing)], failing[(r + 3) % len(failing)]):
            try:
                jpegcoef.read(data, **kwargs)
            except JpegError:
                failures += 1
            reads += 1
    return reads, failures


def test_20000_reads_quarter_failing_do_not_grow_rss():
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc/self/statm (Linux)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        workload(250)                       # warm-up: 2,000 reads
        gc.collect()
        before = rss_bytes()
        reads, failures = workload(2500)    # 20,000 reads
        gc.collect()
        growth = rss_bytes() - before
    print(f"RSS growth over {reads} reads: {growth / 1024:.0f} KB")
    assert reads == 20_000 and failures == 5_000, (reads, failures)
    assert growth < 2 * 1024 * 1024, f"RSS grew by {growth / 1024:.0f} KB over {reads} reads"
