"""Thread safety: concurrent reads give exactly the serial results.

8 threads each read the whole bundled corpus (every edge case, including the failing ones, plus
damaged copies) in their own shuffled order, at the same time, in both layouts, from bytes and
from paths (files are then read in C); read_batch on 8 threads likewise. Every result must equal the serial read of the same input: coefficients,
quantisation tables, header fields, warnings, or the same error message.
"""

from __future__ import annotations

import pathlib
import random
import threading
import warnings

import numpy as np

import jpegcoef
from jpegcoef import JpegError

DATA = pathlib.Path(__file__).parent / "data"
THREADS = 8


def corpus() -> list[bytes]:
    """Every bundled JPEG (ok, warning, error and refused cases) plus truncated/flipped copies."""
    files = [p.read_bytes() for p in sorted(DATA.glob("*.jpg"))]
    damaged = []
    for i, data in enumerate(files):
        if len(data) > 600:
            damaged.append(data[: len(data) * 2 // 3])                 # truncated in the scan
            flipped = bytearray(data)
            flipped[len(data) // 2] ^= 0x5A
            damaged.append(bytes(flipped))                             # corrupt entropy data
    return files + damaged


def summary(data, layout: str):
    """What a read of bytes or a path gives, as comparable values (arrays compared separately)."""
    try:
        c = jpegcoef.read(data, layout=layout)
    except JpegError as e:
        return ("error", e.libjpeg_message)
    return ("ok", c)


def same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if (x.width, x.height, x.colorspace, x.progressive, x.arithmetic, x.orientation, x.warnings) != \
       (y.width, y.height, y.colorspace, y.progressive, y.arithmetic, y.orientation, y.warnings):
        return False
    return len(x.components) == len(y.components) and all(
        p.sampling == q.sampling and p.blocks == q.blocks and np.array_equal(p.quant, q.quant)
        and np.array_equal(p.coefficients, q.coefficients)
        for p, q in zip(x.components, y.components))


def test_concurrent_reads_equal_serial_reads(tmp_path):
    items = corpus()
    paths = []
    for i, data in enumerate(items):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        serial = {layout: [summary(d, layout) for d in items] for layout in ("blocks", "channels")}
        assert sum(s[0] == "error" for s in serial["blocks"]) >= 5
        assert sum(s[0] == "ok" for s in serial["blocks"]) >= 40

        mismatches: list = []
        errors: list = []
        start = threading.Barrier(THREADS)

        def worker(t: int) -> None:
            try:
                order = list(range(len(items)))
                random.Random(t).shuffle(order)
                start.wait()
                for k, i in enumerate(order):
                    layout = ("blocks", "channels")[(t + k) % 2]
                    src = paths[i] if (t + k) % 3 == 0 else items[i]
                    if not same(summary(src, layout), serial[layout][i]):
                        mismatches.append((t, i, layout, type(src).__name__))
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        assert not mismatches, mismatches[:10]


def test_read_batch_on_8_threads_equals_serial(tmp_path):
    items = corpus()
    order = list(range(len(items)))
    random.Random(1).shuffle(order)
    shuffled = []
    for k, i in enumerate(order):          # every other input as a path
        if k % 2:
            shuffled.append(tmp_path / f"{i}.jpg")
            shuffled[-1].write_bytes(items[i])
        else:
            shuffled.append(items[i])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        for layout in ("blocks", "channels"):
            serial = [summary(d, layout) for d in shuffled]
            batch = jpegcoef.read_batch(shuffled, threads=THREADS, errors="return", layout=layout)
            got = [("error", r.libjpeg_message) if isinstance(r, JpegError) else ("ok", r) for r in batch]
            bad = [i for i, (a, b) in enumerate(zip(serial, got)) if not same(a, b)]
            assert not bad, bad[:10]


def test_read_batch_shares_the_work_and_nests():
    """read_batch: the calling thread and the helpers all pull images (each thread reads some),
    results stay in input order, and a read_batch inside a helper thread (whose pool is busy)
    does not deadlock."""
    import jpegcoef.reader as reader

    items = [p.read_bytes() for p in sorted(DATA.glob("gen-4*.jpg"))] * 4
    seen: dict = {}
    orig = reader._read_src

    def spy(src, *args):
        seen.setdefault(threading.current_thread().name, 0)
        seen[threading.current_thread().name] += 1
        if threading.current_thread() is not threading.main_thread():
            threading.Event().wait(0.001)      # let the calling thread take some images too
        return orig(src, *args)

    reader._read_src = spy
    try:
        out = jpegcoef.read_batch(items, threads=2)
    finally:
        reader._read_src = orig
    assert len(seen) == 2 and all(v > 0 for v in seen.values()), seen
    for data, c in zip(items, out):
        assert same(("ok", c), ("ok", jpegcoef.read(data)))

    def nested():
        return jpegcoef.read_batch(items[:6], threads=2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        inner = reader._pool(1).submit(nested).result(timeout=60)
    assert [c.width for c in inner] == [jpegcoef.read(d).width for d in items[:6]]


def test_read_batch_keeps_one_pool_per_thread_count():
    """Batches smaller than ``threads`` reuse the pool of that thread count (no pool, and no
    threads with their decoders, per batch size)."""
    import jpegcoef.reader as reader

    items = [p.read_bytes() for p in sorted(DATA.glob("gen-4*.jpg"))][:9]
    before = set(reader._pools)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jpegcoef.JpegWarning)
        for n in range(2, 10):
            out = jpegcoef.read_batch(items[:n], threads=16)
            assert [c.width for c in out] == [jpegcoef.read(d).width for d in items[:n]]
    assert set(reader._pools) - before <= {15}
