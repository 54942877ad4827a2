#!/usr/bin/env python3
"""Decode benchmark: jpegcoef against libjpeg-turbo's limit, Pillow and every peer (issue 3).

Usage::

    nice python experiments/bench_decode.py --corpus /path/to/jpegs [--passes 5] [--threads N]
        [--out experiments/results]
    python experiments/bench_decode.py --markdown experiments/results/decode-clean-*.json ...

One process, every file loaded into memory first.  For each image every per-image method runs
once, in an order shuffled afresh for every image (seeded); each method's time for a
pass is the sum of its per-image times, and the reported time is the median over passes.
Methods that work on a whole corpus (``read_batch``, the peers that must live in their own
process, the standalone C loop) run once per pass, in rotating order, between the per-image
passes.  The "limit" rows come from ``bench_limit.c`` (compiled here with gcc and pkg-config's
libjpeg flags): a bare C loop around ``jpeg_read_coefficients`` with one reused decompressor,
with and without copying the coefficients out, and libjpeg-turbo's own full RGB decode.  Their
in-process rows report the time measured inside C (the ctypes call is excluded).

Writes ``<out>/decode-<corpus>-<UTC time>.json`` and prints a table plus PASS/FAIL lines for the
issue's targets.  Peers that do not import are listed with the reason.  Install them with
``experiments/peers/install.sh``.

The module imports only the standard library at the top, because the same file runs as the
worker of the out-of-process peers (``--worker NAME``), possibly in another interpreter (the
torchjpeg venv).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIMIT_SOURCE = HERE / "bench_limit.c"
DEFAULT_TORCHJPEG_PYTHON = Path.home() / ".cache/jpegcoef-peers/torchjpeg-venv/bin/python"
MEMORY_ROUNDS = 20
MEMORY_LIMIT_MB = 5.0
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}

# Per-corpus thresholds of the issue: name -> (x Pillow, x libjpeg-turbo full decode or None).
CORPUS_TARGETS = {"clean": (1.9, 1.3), "grain12": (1.4, None)}
LIMIT_TOLERANCE = 0.03            # at most 3% slower than the bare C loop without copy-out
BATCH_SCALING = 1.8               # read_batch 2 threads vs 1 thread
PEER_MARGIN = 1.5                 # vs the fastest peer coefficient reader at one thread
COEF_PEERS = ("jpeglib", "jpegio", "jpeg2dct", "torchjpeg")
PAIR_KEYS = ("limit.coef", "jpegcoef.read.bytes.blocks", "jpegcoef.read.bytes.channels")


# ---------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------

@dataclass
class Method:
    """One row of the table.

    ``run(i)`` processes image ``i`` and returns either None (the caller times it) or the
    nanoseconds it measured itself (the C limit rows).  Whole-corpus methods instead have
    ``run_pass()`` doing one pass over all images and returning the seconds of each unit of
    work (one per image, or one per read_batch call); the pass time is their sum.
    """

    key: str
    label: str
    kind: str                     # "coef" | "rgb"
    source: str                   # "bytes" | "path"
    group: str                    # "limit" | "jpegcoef" | "baseline" | "peer"
    run: Optional[Callable[[int], Optional[float]]] = None
    run_pass: Optional[Callable[[], list[float]]] = None
    version: str = ""
    note: str = ""
    close: Optional[Callable[[], None]] = None
    extra: Optional[Callable[[], dict]] = None  # more facts for the JSON, asked after timing


@dataclass
class Unavailable:
    """A row that could not be measured, with the reason."""

    key: str
    label: str
    kind: str
    group: str
    status: str                   # "not installed" | "not installable" | "failed"
    reason: str


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return "?"


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# Peers that run per image: key -> (label, kind, source, distribution, factory).  A factory takes
# (paths, blobs) and returns the per-image callable; it imports the peer (ImportError = not
# installed).  The same factories serve the out-of-process workers.

def _pillow(paths, blobs):
    from io import BytesIO
    from PIL import Image

    def run(i):
        Image.open(BytesIO(blobs[i])).convert("RGB")  # convert() load()s the image first
    return run


def _simplejpeg(paths, blobs):
    import simplejpeg

    def run(i):
        simplejpeg.decode_jpeg(blobs[i], colorspace="RGB")
    return run


def _pyturbojpeg(paths, blobs):
    from turbojpeg import TJPF_RGB, TurboJPEG
    tj = TurboJPEG()

    def run(i):
        tj.decode(blobs[i], pixel_format=TJPF_RGB)
    return run


def _opencv(paths, blobs):
    import cv2
    import numpy as np
    cv2.setNumThreads(1)
    arrays = [np.frombuffer(b, np.uint8) for b in blobs]

    def run(i):
        if cv2.imdecode(arrays[i], cv2.IMREAD_COLOR) is None:
            raise ValueError(f"cv2.imdecode failed on {paths[i]}")
    return run


def _jpeglib(paths, blobs):
    import jpeglib
    names = [str(p) for p in paths]

    def run(i):
        jpeglib.read_dct(names[i]).load()  # read_dct is lazy: load() reads the coefficients
    return run


def _jpegio(paths, blobs):
    import jpegio
    names = [str(p) for p in paths]

    def run(i):
        jpegio.read(names[i])
    return run


def _jpeg2dct(paths, blobs):
    from jpeg2dct.numpy import load
    names = [str(p) for p in paths]

    def run(i):
        load(names[i], normalized=False)  # raw quantised coefficients, like the others
    return run


def _torchjpeg(paths, blobs):
    from torchjpeg.codec import read_coefficients
    names = [str(p) for p in paths]

    def run(i):
        read_coefficients(names[i])
    return run


PEERS = {
    "pillow": ("Pillow Image.open().convert('RGB')", "rgb", "bytes", "pillow", _pillow),
    "simplejpeg": ("simplejpeg.decode_jpeg", "rgb", "bytes", "simplejpeg", _simplejpeg),
    "pyturbojpeg": ("PyTurboJPEG TurboJPEG.decode", "rgb", "bytes", "PyTurboJPEG", _pyturbojpeg),
    "opencv": ("cv2.imdecode", "rgb", "bytes", "opencv-python-headless", _opencv),
    "jpeglib": ("jpeglib.read_dct().load()", "coef", "path", "jpeglib", _jpeglib),
    "jpegio": ("jpegio.read", "coef", "path", "jpegio", _jpegio),
    "jpeg2dct": ("jpeg2dct.numpy.load (own process)", "coef", "path", "jpeg2dct", _jpeg2dct),
    "torchjpeg": ("torchjpeg.codec.read_coefficients (own venv)", "coef", "path", "torchjpeg",
                  _torchjpeg),
}
OUT_OF_PROCESS = {"jpeg2dct", "torchjpeg"}


def _jpegcoef_from_path(layout: str):
    def factory(paths, blobs):
        jc = import_jpegcoef()
        names = [str(p) for p in paths]

        def run(i):
            jc.read(names[i], layout=layout)
        return run
    return factory


# jpegcoef run exactly like the out-of-process peers (alone in a worker, one image after the
# other): the like-for-like partner of jpeg2dct and torchjpeg, which cannot run interleaved.
OWN_PROCESS = {
    f"jpegcoef.read.path.{lay}.own": (f"jpegcoef.read(path, layout='{lay}') (own process)",
                                      "coef", "path", "jpegcoef", _jpegcoef_from_path(lay))
    for lay in ("blocks", "channels")}
WORKERS = {**{k: PEERS[k] for k in OUT_OF_PROCESS}, **OWN_PROCESS}


def peer_method(key: str, paths, blobs) -> Method | Unavailable:
    """Build an in-process peer row, or say why it is not available."""
    label, kind, source, dist, factory = PEERS[key]
    group = "baseline" if key == "pillow" else "peer"
    try:
        run = factory(paths, blobs)
    except Exception as exc:  # noqa: BLE001 - ImportError, missing shared library, ...
        return Unavailable(key, label, kind, group, "not installed", _short(exc))
    return Method(key, label, kind, source, group, run=run, version=_version(dist))


# ---------------------------------------------------------------------------------------------
# The C limit (bench_limit.c)
# ---------------------------------------------------------------------------------------------

LIMIT_MODES = {  # key -> (mode number in bench_limit.c, label, kind)
    "limit.coef": (0, "C loop: jpeg_read_coefficients, no copy-out", "coef"),
    "limit.coef_copy": (1, "C loop: jpeg_read_coefficients + copy-out", "coef"),
    "limit.rgb": (2, "C loop: libjpeg-turbo full RGB decode", "rgb"),
}
EXE_MODES = {"coef": "limit_exe.coef", "coef_copy": "limit_exe.coef_copy", "rgb": "limit_exe.rgb"}


def build_limit(workdir: Path) -> tuple[Path, Path, str]:
    """Compile bench_limit.c as a shared library and a program; returns (so, exe, version)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libjpeg"], check=True,
                               capture_output=True, text=True).stdout.split()
        version = subprocess.run(["pkg-config", "--modversion", "libjpeg"], check=True,
                                 capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"pkg-config libjpeg failed: {_short(exc)}") from exc
    so, exe = workdir / "bench_limit.so", workdir / "bench_limit"
    for extra, target in ((["-shared", "-fPIC"], so), ([], exe)):
        cmd = [gcc, "-O2", *extra, "-o", str(target), str(LIMIT_SOURCE), *flags]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[:500]}")
    return so, exe, version


def limit_methods(so: Path, blobs: list[bytes], version: str) -> list[Method]:
    """The in-process limit rows: one ctypes call per image, time measured inside C."""
    lib = ctypes.CDLL(str(so))
    lib.limit_new.restype = ctypes.c_void_p
    lib.limit_free.argtypes = [ctypes.c_void_p]
    lib.limit_message.restype = ctypes.c_char_p
    lib.limit_message.argtypes = [ctypes.c_void_p]
    lib.limit_run.restype = ctypes.c_double
    lib.limit_run.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong]
    ctx = lib.limit_new()
    if not ctx:
        raise RuntimeError("limit_new failed")
    sizes = [len(b) for b in blobs]
    limit_run = lib.limit_run

    def make(mode: int) -> Callable[[int], float]:
        def run(i: int) -> float:
            ns = limit_run(ctx, mode, blobs[i], sizes[i])
            if ns < 0:
                raise ValueError(lib.limit_message(ctx).decode(errors="replace"))
            return ns
        return run

    methods = [Method(key, label, kind, "bytes", "limit", run=make(mode), version=version)
               for key, (mode, label, kind) in LIMIT_MODES.items()]
    methods[0].close = lambda: lib.limit_free(ctx)
    return methods


def exe_methods(exe: Path, listfile: Path, n: int, version: str) -> list[Method]:
    """The standalone C program, one invocation per pass (file loading is not timed)."""
    cache: dict[str, list[list[float]]] = {}

    def run_mode(mode: str) -> list[float]:
        # The program runs all three modes interleaved in one pass; the first of the three
        # rows asked for in a pass launches it and the other two take their numbers from it.
        if not cache.get(mode):
            proc = subprocess.run([str(exe), "1", f"@{listfile}"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"bench_limit failed: {proc.stderr.strip()[:300]}")
            for line in proc.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 8 and parts[0] == "pass" and int(parts[5]) != n:
                    raise RuntimeError(f"bench_limit read {parts[5]} images, expected {n}")
                if parts and parts[0] == "times":
                    if len(parts) != 4 + n:
                        raise RuntimeError(f"bench_limit timed {len(parts) - 4} images, not {n}")
                    cache.setdefault(parts[3], []).append([float(x) * 1e-9 for x in parts[4:]])
        return cache[mode].pop(0)

    labels = {"coef": "C program: jpeg_read_coefficients, no copy-out",
              "coef_copy": "C program: jpeg_read_coefficients + copy-out",
              "rgb": "C program: libjpeg-turbo full RGB decode"}
    return [Method(EXE_MODES[m], labels[m], "rgb" if m == "rgb" else "coef", "bytes", "limit",
                   run_pass=(lambda m=m: run_mode(m)), version=version,
                   note="standalone process, no Python")
            for m in ("coef", "coef_copy", "rgb")]


# ---------------------------------------------------------------------------------------------
# jpegcoef
# ---------------------------------------------------------------------------------------------

def import_jpegcoef():
    """Import jpegcoef, from the installed package or from this checkout's src/."""
    try:
        import jpegcoef
        return jpegcoef
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import jpegcoef  # noqa: F811 - second try from the checkout
        return jpegcoef


JPEGCOEF_ROWS = {  # key -> (label, kind, source)
    "jpegcoef.read.bytes.blocks": ("jpegcoef.read(bytes, layout='blocks')", "coef", "bytes"),
    "jpegcoef.read.bytes.channels": ("jpegcoef.read(bytes, layout='channels')", "coef", "bytes"),
    "jpegcoef.read.path.blocks": ("jpegcoef.read(path, layout='blocks')", "coef", "path"),
    "jpegcoef.read.path.channels": ("jpegcoef.read(path, layout='channels')", "coef", "path"),
    "jpegcoef.decode_rgb": ("jpegcoef.decode_rgb(bytes) (our C full decode)", "rgb", "bytes"),
    "jpegcoef.read.bytes.blocks.h224": ("jpegcoef.read(bytes, max_height=224) (top rows only)",
                                        "coef", "bytes"),
}


def jpegcoef_methods(paths, blobs, threads: int, batch_size: int) -> list[Method | Unavailable]:
    """jpegcoef.read in both layouts from bytes and path, decode_rgb, read_batch at 1 and N."""
    try:
        jc = import_jpegcoef()
        read, read_batch, decode_rgb = jc.read, jc.read_batch, jc.decode_rgb
    except Exception as exc:  # noqa: BLE001
        reason = _short(exc)
        rows = [Unavailable(k, lab, kind, "jpegcoef", "not installed", reason)
                for k, (lab, kind, _) in JPEGCOEF_ROWS.items()]
        for t in sorted({1, threads}):
            rows.append(Unavailable(f"jpegcoef.read_batch.t{t}", f"jpegcoef.read_batch threads={t}",
                                    "coef", "jpegcoef", "not installed", reason))
        return rows
    version = getattr(jc, "__version__", _version("jpegcoef"))
    names = [str(p) for p in paths]
    def read_bytes_blocks(i: int) -> None:
        read(blobs[i])

    def read_bytes_channels(i: int) -> None:
        read(blobs[i], layout="channels")

    def read_path_blocks(i: int) -> None:
        read(names[i])

    def read_path_channels(i: int) -> None:
        read(names[i], layout="channels")

    def decode(i: int) -> None:
        decode_rgb(blobs[i])

    def read_bytes_top(i: int) -> None:
        read(blobs[i], max_height=224)

    fns = dict(zip(JPEGCOEF_ROWS, (read_bytes_blocks, read_bytes_channels, read_path_blocks,
                                   read_path_channels, decode, read_bytes_top)))
    rows: list[Method | Unavailable] = [
        Method(k, lab, kind, src, "jpegcoef", run=fns[k], version=version)
        for k, (lab, kind, src) in JPEGCOEF_ROWS.items()]
    chunks = [blobs[i:i + batch_size] for i in range(0, len(blobs), batch_size)]

    cpu: dict[int, list[float]] = {}
    wall: dict[int, list[float]] = {}

    def batch_pass(t: int) -> list[float]:
        units = []
        c0 = time.process_time()
        for chunk in chunks:
            t0 = time.perf_counter()
            out = read_batch(chunk, threads=t)
            units.append(time.perf_counter() - t0)
            if len(out) != len(chunk):
                raise RuntimeError(f"read_batch returned {len(out)} results for {len(chunk)}")
            del out
        # CPU seconds the process got per wall second: near t when the threads really ran in
        # parallel; lower when the GIL or other processes held them back.
        cpu.setdefault(t, []).append(time.process_time() - c0)
        wall.setdefault(t, []).append(sum(units))
        return units

    def cpu_stats(t: int) -> dict:
        if not cpu.get(t):
            return {}
        return {"cpu_per_wall_median": statistics.median(c / w for c, w in zip(cpu[t], wall[t])),
                "cpu_seconds_per_pass_median": statistics.median(cpu[t])}

    for t in sorted({1, threads}):
        rows.append(Method(f"jpegcoef.read_batch.t{t}",
                           f"jpegcoef.read_batch(bytes, threads={t})", "coef", "bytes",
                           "jpegcoef", run_pass=(lambda t=t: batch_pass(t)), version=version,
                           note=f"batches of {batch_size}", extra=(lambda t=t: cpu_stats(t))))
    return rows


# ---------------------------------------------------------------------------------------------
# Out-of-process workers (jpeg2dct, torchjpeg, memory)
# ---------------------------------------------------------------------------------------------

def _load_list(listfile: str) -> tuple[list[Path], list[bytes]]:
    paths = [Path(line) for line in Path(listfile).read_text().splitlines() if line.strip()]
    return paths, [p.read_bytes() for p in paths]


def worker_main(name: str, listfile: str) -> int:
    """Serve one peer: print a JSON 'ready' line, then one JSON line per 'pass' read on stdin."""
    paths, blobs = _load_list(listfile)
    try:
        run = WORKERS[name][4](paths, blobs)
        for i in range(min(len(blobs), 10)):  # warm-up, and proof that it works here
            run(i)
    except Exception as exc:  # noqa: BLE001
        print(json.dumps({"ready": False, "error": _short(exc)}), flush=True)
        return 0
    print(json.dumps({"ready": True, "version": _version(WORKERS[name][3]),
                      "python": sys.executable}), flush=True)
    perf = time.perf_counter_ns
    for line in sys.stdin:
        if line.strip() != "pass":
            break
        gc.collect()
        units = [0] * len(blobs)
        for i in range(len(blobs)):
            t0 = perf()
            run(i)
            units[i] = perf() - t0
        print(json.dumps({"images": len(blobs), "unit_seconds": [u * 1e-9 for u in units]}),
              flush=True)
    return 0


class Worker:
    """A peer running in its own process; one request per pass."""

    def __init__(self, key: str, python: str, listfile: Path, n: int):
        self.key, self.n = key, n
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", key, "--filelist", str(listfile)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        line = self.proc.stdout.readline()
        try:
            hello = json.loads(line)
        except json.JSONDecodeError:
            err = self.proc.stderr.read().strip().splitlines()
            self.close()
            raise RuntimeError(err[-1] if err else f"worker exited ({line!r})") from None
        if not hello.get("ready"):
            self.close()
            raise ImportError(hello.get("error", "worker failed"))
        self.version = hello.get("version", "?")
        self.python = hello.get("python", python)

    def run_pass(self) -> list[float]:
        self.proc.stdin.write("pass\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if reply["images"] != self.n or len(reply["unit_seconds"]) != self.n:
            raise RuntimeError(f"worker timed {reply['images']} images, expected {self.n}")
        return [float(u) for u in reply["unit_seconds"]]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def worker_method(key: str, python: str | None, listfile: Path, n: int,
                  missing_reason: str = "") -> Method | Unavailable:
    label, kind, source, _, _ = WORKERS[key]
    group = "jpegcoef" if key in OWN_PROCESS else "peer"
    if python is None:
        return Unavailable(key, label, kind, group, "not installed", missing_reason)
    try:
        w = Worker(key, python, listfile, n)
    except Exception as exc:  # noqa: BLE001
        return Unavailable(key, label, kind, group, "not installed", _short(exc))
    note = "own process" if python == sys.executable else f"own process: {python}"
    return Method(key, label, kind, source, group, run_pass=w.run_pass, version=w.version,
                  note=note, close=w.close)


def _rss_now_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def memory_main(listfile: str, threads: int, rounds: int) -> int:
    """Peak-RSS growth over `rounds` reads of the corpus (after one warm-up round)."""
    paths, blobs = _load_list(listfile)
    names = [str(p) for p in paths]
    jc = import_jpegcoef()

    def one_round() -> None:
        for i, b in enumerate(blobs):
            jc.read(b)
            jc.read(b, layout="channels")
            jc.read(names[i])
            jc.decode_rgb(b)
        for k in range(0, len(blobs), 64):
            jc.read_batch(blobs[k:k + 64], threads=threads)

    one_round()
    gc.collect()
    peak0, rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _rss_now_kb()
    for _ in range(rounds):
        one_round()
    gc.collect()
    peak1, rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _rss_now_kb()
    print(json.dumps({
        "rounds": rounds, "images_per_round": len(blobs), "threads": threads,
        "per_round": "read(bytes), read(bytes, layout='channels'), read(path), decode_rgb(bytes)"
                     " per image, then read_batch in batches of 64",
        "peak_rss_before_kb": peak0, "peak_rss_after_kb": peak1,
        "rss_before_kb": rss0, "rss_after_kb": rss1,
        "peak_growth_mb": (peak1 - peak0) / 1024, "rss_growth_mb": (rss1 - rss0) / 1024}))
    return 0


def measure_memory(listfile: Path, threads: int, rounds: int) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "memory",
                           "--filelist", str(listfile), "--threads", str(threads),
                           "--rounds", str(rounds)], capture_output=True, text=True)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        return {"status": "failed", "reason": err[-1] if err else f"exit {proc.returncode}"}
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


# ---------------------------------------------------------------------------------------------
# Timing loop
# ---------------------------------------------------------------------------------------------

def time_methods(per_image: list[Method], per_pass: list[Method], n: int, passes: int,
                 failed: dict[str, str], progress: bool) -> dict[str, list[list[float]]]:
    """Run every method for `passes` passes; returns key -> per pass, the seconds of each unit
    of work (an image; a read_batch call for the read_batch rows).

    Per-image methods run in a fresh random order for every image (seeded), so that no method
    always follows the same one: a fixed cyclic rotation makes a method that always runs right
    after another reader of the same bytes look faster (warm caches).
    """
    from tqdm import tqdm

    units: dict[str, list[list[float]]] = {m.key: [] for m in per_image + per_pass}
    perf = time.perf_counter_ns
    rng = random.Random(0)
    active = list(per_image)
    for i in range(min(n, 10)):  # warm-up (untimed); drops what does not work
        for m in list(active):
            try:
                m.run(i)
            except Exception as exc:  # noqa: BLE001
                failed[m.key] = f"image {i}: {_short(exc)}"
                active.remove(m)
    for p in range(passes):
        gc.collect()
        acc = {m.key: [0.0] * n for m in active}
        for i in tqdm(range(n), desc=f"pass {p + 1}/{passes}", leave=False, disable=not progress,
                      mininterval=1.0):
            order = list(active)
            rng.shuffle(order)
            for m in order:
                t0 = perf()
                try:
                    own = m.run(i)
                except Exception as exc:  # noqa: BLE001
                    failed[m.key] = f"image {i}: {_short(exc)}"
                    continue
                t1 = perf()
                acc[m.key][i] = (own if own is not None else (t1 - t0)) * 1e-9
        active = [m for m in active if m.key not in failed]
        for m in active:
            units[m.key].append(acc[m.key])
        whole = [m for m in per_pass if m.key not in failed]
        k = p % len(whole) if whole else 0
        for m in whole[k:] + whole[:k]:
            gc.collect()
            try:
                units[m.key].append(m.run_pass())
            except Exception as exc:  # noqa: BLE001
                failed[m.key] = _short(exc)
    return units


# ---------------------------------------------------------------------------------------------
# Results, targets, table
# ---------------------------------------------------------------------------------------------

def summarise(rows: list[Method | Unavailable], units: dict[str, list[list[float]]],
              failed: dict[str, str], n: int, total_bytes: int) -> dict[str, dict]:
    """Per row: median over passes of the pass time (the headline), images/s, MB/s, ratios to
    Pillow, to libjpeg-turbo's full decode (C loop) and to the coefficient limit (C loop).

    Also a "robust" estimate for a shared, loaded CPU: the sum over units of work (images, or
    read_batch calls) of each unit's fastest time over the passes, which drops the calls that
    the scheduler interrupted.  It flatters every row the same way; the ratios are what count.
    """
    out: dict[str, dict] = {}
    for r in rows:
        if isinstance(r, Unavailable):
            out[r.key] = {"label": r.label, "kind": r.kind, "group": r.group, "status": r.status,
                          "reason": r.reason}
            continue
        entry = {"label": r.label, "kind": r.kind, "source": r.source, "group": r.group,
                 "version": r.version, "note": r.note, **(r.extra() if r.extra else {})}
        per_pass = units.get(r.key, [])
        if r.key in failed or not per_pass:
            entry.update(status="failed", reason=failed.get(r.key, "no timing"))
        else:
            secs = [sum(u) for u in per_pass]
            med = statistics.median(secs)
            best = sum(min(col) for col in zip(*per_pass))
            entry.update(status="ok", pass_seconds=secs, median_seconds=med,
                         images_per_s=n / med, mb_per_s=total_bytes / med / 1e6,
                         spread=(max(secs) - min(secs)) / med,
                         robust={"seconds": best, "images_per_s": n / best})
        out[r.key] = entry
    refs = {"x_pillow": "pillow", "x_turbo_full": "limit.rgb", "x_limit": "limit.coef"}
    for e in out.values():
        if e.get("status") != "ok":
            continue
        for field_, ref in refs.items():
            r = out.get(ref, {})
            ok = r.get("status") == "ok" and (field_ != "x_limit" or e["kind"] == "coef")
            e[field_] = e["images_per_s"] / r["images_per_s"] if ok else None
            e["robust"][field_] = (e["robust"]["images_per_s"] / r["robust"]["images_per_s"]
                                   if ok else None)
    return out


def evaluate_targets(corpus: str, res: dict[str, dict], memory: dict, threads: int,
                     pair: Optional[dict[str, dict]] = None) -> list[dict]:
    """The issue's targets as measured here: PASS / FAIL / N/A with the numbers.

    ``pair``: the limit and jpegcoef.read(bytes) rows of the run with only those interleaved.
    """
    def ips(key, robust=False):
        e = res.get(key, {}) if not key.startswith("pair:") else (pair or {}).get(key[5:], {})
        if e.get("status") != "ok":
            return None
        return e["robust"]["images_per_s"] if robust and "robust" in e else e["images_per_s"]

    targets: list[dict] = []

    def add(name, value, threshold, op, detail, na_reason=""):
        """value: a number, None, or (headline ratio, robust ratio) from ratio()."""
        value, robust = value if isinstance(value, tuple) else (value, None)
        if value is None:
            targets.append({"target": name, "result": "N/A", "value": None,
                            "threshold": threshold, "detail": na_reason or detail})
            return
        ok = value >= threshold if op == ">=" else value < threshold
        t = {"target": name, "result": "PASS" if ok else "FAIL", "value": value,
             "threshold": threshold, "detail": detail}
        if robust is not None:
            ok_r = robust >= threshold if op == ">=" else robust < threshold
            t.update(value_robust=robust, result_robust="PASS" if ok_r else "FAIL")
        targets.append(t)

    def ratio(a, b):
        """(median-based ratio, robust ratio) of a's speed to b's, or None."""
        if not (ips(a) and ips(b)):
            return None
        return ips(a) / ips(b), ips(a, True) / ips(b, True)

    def missing(*keys):
        return "not measured: " + ", ".join(k for k in keys if not ips(k))

    layouts = ("blocks", "channels")
    if corpus in CORPUS_TARGETS:
        x_pil, x_turbo = CORPUS_TARGETS[corpus]
        for lay in layouts:
            key = f"jpegcoef.read.bytes.{lay}"
            add(f"read (bytes, {lay}) >= {x_pil}x Pillow on {corpus}", ratio(key, "pillow"),
                x_pil, ">=", f"{ips(key) or 0:.0f} vs {ips('pillow') or 0:.0f} images/s",
                missing(key, "pillow"))
            if x_turbo:
                add(f"read (bytes, {lay}) >= {x_turbo}x libjpeg-turbo full decode on {corpus}",
                    ratio(key, "limit.rgb"), x_turbo, ">=",
                    f"{ips(key) or 0:.0f} vs {ips('limit.rgb') or 0:.0f} images/s",
                    missing(key, "limit.rgb"))
    else:
        targets.append({"target": f"x Pillow / x full decode on {corpus}", "result": "N/A",
                        "value": None, "threshold": None,
                        "detail": "the issue sets these only for 'clean' and 'grain12'"})
    for lay in layouts:
        key = f"jpegcoef.read.bytes.{lay}"
        r = ratio(key, "limit.coef")
        add(f"read (bytes, {lay}) within {LIMIT_TOLERANCE:.0%} of the C limit (no copy-out)",
            r, 1 - LIMIT_TOLERANCE, ">=",
            f"{ips(key) or 0:.0f} vs {ips('limit.coef') or 0:.0f} images/s "
            f"(ratio = limit time / read time)", missing(key, "limit.coef"))
        if pair:
            add(f"read (bytes, {lay}) within {LIMIT_TOLERANCE:.0%} of the C limit, "
                f"interleaved with the limit only", ratio("pair:" + key, "pair:limit.coef"),
                1 - LIMIT_TOLERANCE, ">=",
                f"{ips('pair:' + key) or 0:.0f} vs {ips('pair:limit.coef') or 0:.0f} images/s",
                missing("pair:" + key, "pair:limit.coef"))
    if threads == 2:
        add(f"read_batch 2 threads >= {BATCH_SCALING}x 1 thread",
            ratio("jpegcoef.read_batch.t2", "jpegcoef.read_batch.t1"), BATCH_SCALING, ">=",
            f"{ips('jpegcoef.read_batch.t2') or 0:.0f} vs "
            f"{ips('jpegcoef.read_batch.t1') or 0:.0f} images/s; CPU/wall with 2 threads "
            f"{res.get('jpegcoef.read_batch.t2', {}).get('cpu_per_wall_median', 0):.2f} "
            f"(2.0 if the two threads had two CPUs to themselves)",
            missing("jpegcoef.read_batch.t2", "jpegcoef.read_batch.t1"))
    else:
        add(f"read_batch 2 threads >= {BATCH_SCALING}x 1 thread", None, BATCH_SCALING, ">=", "",
            f"run with --threads 2 (this run: {threads})")
    # Like for like: in-process peers (jpeglib, jpegio) against jpegcoef interleaved in the
    # same process; out-of-process peers (jpeg2dct, torchjpeg) against jpegcoef run the same
    # way in its own worker.  The binding peer is the one with the smallest ratio.
    for lay in layouts:
        pairs = [(ratio(f"jpegcoef.read.path.{lay}" + (".own" if k in OUT_OF_PROCESS else ""), k),
                  k) for k in COEF_PEERS if ips(k)]
        pairs = [(r, k) for r, k in pairs if r is not None]
        name = (f"read(path, {lay}) >= {PEER_MARGIN}x the fastest peer coefficient reader "
                f"(1 thread, from files, like for like)")
        if not pairs:
            add(name, None, PEER_MARGIN, ">=", "", "no peer coefficient reader or jpegcoef row "
                "measured")
            continue
        worst, peer = min(pairs)
        mine = f"jpegcoef.read.path.{lay}" + (".own" if peer in OUT_OF_PROCESS else "")
        add(name, worst, PEER_MARGIN, ">=",
            f"binding peer {peer}: {ips(mine):.0f} vs {ips(peer):.0f} images/s; all: " +
            ", ".join(f"{k} {r[0]:.2f}" for r, k in sorted(pairs, key=lambda x: x[1])))
    growth = memory.get("peak_growth_mb") if memory.get("status") == "ok" else None
    add(f"peak RSS growth over {MEMORY_ROUNDS} corpus reads < {MEMORY_LIMIT_MB} MB", growth,
        MEMORY_LIMIT_MB, "<",
        f"{growth if growth is not None else 0:.2f} MB (current RSS growth "
        f"{memory.get('rss_growth_mb', 0):.2f} MB)", memory.get("reason", ""))
    return targets


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else format("-", spec.rstrip("f.0123456789") or "")


def format_table(res: dict[str, dict]) -> str:
    """The console table; the starred columns are the robust estimate (see summarise)."""
    head = (f"{'method':<50} {'kind':<4} {'src':<5} {'img/s':>6} {'MB/s':>6} {'xPillow':>7} "
            f"{'xTurbo':>6} {'xLimit':>6} {'spread':>6} {'img/s*':>6} {'xLimit*':>7}")
    lines = [head, "-" * len(head)]
    for e in res.values():
        if e["status"] == "ok":
            rb = e["robust"]
            lines.append(f"{e['label'][:50]:<50} {e['kind']:<4} {e['source']:<5} "
                         f"{e['images_per_s']:>6.0f} {e['mb_per_s']:>6.1f} "
                         f"{_fmt(e['x_pillow'], '>7.2f')} {_fmt(e['x_turbo_full'], '>6.2f')} "
                         f"{_fmt(e['x_limit'], '>6.3f')} {e['spread']:>6.0%} "
                         f"{rb['images_per_s']:>6.0f} {_fmt(rb['x_limit'], '>7.3f')}")
        else:
            lines.append(f"{e['label'][:50]:<50} {e['kind']:<4} {e['status']}: "
                         f"{e['reason'][:90]}")
    lines.append("img/s: n / median pass time; spread: (max - min) / median of the pass times; "
                 "*: robust estimate (each image's fastest pass)")
    return "\n".join(lines)


def markdown_table(files: list[str], rows: str = "", robust: bool = False) -> str:
    """One markdown table over several result files (a column group per corpus); ``rows``:
    comma-separated row keys to keep (exact keys, in that order; default: all); ``robust``:
    show the robust estimate (each image's fastest pass) instead of the median."""
    runs = [json.loads(Path(f).read_text()) for f in files]
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r["methods"] if k not in keys]
    if rows:
        wanted = [k.strip() for k in rows.split(",") if k.strip()]
        unknown = [k for k in wanted if k not in keys]
        if unknown:
            raise SystemExit(f"error: unknown rows {unknown}; known: {keys}")
        keys = wanted
    head = "| method | from | " + " | ".join(
        f"{r['corpus']} images/s | x Pillow | x libjpeg-turbo full decode" for r in runs) + " |"
    lines = [head, "|---|---" + "|---:" * (3 * len(runs)) + "|"]
    for k in keys:
        entries = [r["methods"].get(k) for r in runs]
        first = next(e for e in entries if e)
        cells = []
        for e in entries:
            if not e or e["status"] != "ok":
                cells += [e["status"] if e else "-", "", ""]
            else:
                v = e["robust"] if robust else e
                cells += [f"{v['images_per_s']:.0f}", _fmt(v["x_pillow"], ".2f"),
                          _fmt(v["x_turbo_full"], ".2f")]
        lines.append(f"| {first['label'].replace('|', '/')} | {first.get('source', '')} | "
                     + " | ".join(cells) + " |")
    how = ("robust estimate (sum over images of each image's fastest pass) over"
           if robust else "median of")
    notes = [f"{r['corpus']}: {r['n_files']} files, {r['mean_kb']:.0f} KB mean, {how} "
             f"{r['passes']} passes, load average {r['loadavg_start'][0]:.1f} -> "
             f"{r['loadavg_end'][0]:.1f} on {r['machine']['cpus']} CPUs ({r['started']})"
             for r in runs]
    return ("\n".join(lines) + "\n\nOne thread unless stated. \"C loop\" rows: bench_limit.c "
            "called per image inside the benchmark process, timed in C; \"C program\": the "
            "same loop as a standalone program.  " + "; ".join(notes) + ".")


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = "?"
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "numpy": _version("numpy"), "git": commit,
            "niceness": os.nice(0)}


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def list_corpus(corpus: Path) -> list[Path]:
    if not corpus.is_dir():
        raise SystemExit(f"error: --corpus {corpus} is not a directory")
    paths = sorted(p for p in corpus.iterdir() if p.suffix.lower() in JPEG_SUFFIXES
                   and p.is_file())
    if not paths:
        raise SystemExit(f"error: no JPEG files (*.jpg, *.jpeg) in {corpus}")
    return paths


def find_torchjpeg_python(arg: str | None) -> tuple[str | None, str]:
    cand = Path(arg or os.environ.get("JPEGCOEF_TORCHJPEG_PYTHON", DEFAULT_TORCHJPEG_PYTHON))
    if cand.exists():
        return str(cand), ""
    return None, (f"no torchjpeg venv at {cand}: torchjpeg pins torch 2.4.1 / torchvision "
                  f"0.19.1, so it needs its own venv (experiments/peers/install.sh --torchjpeg; "
                  f"PyPI's CUDA build, ~5 GB)")


def loop_main(args) -> int:
    """Run one row alone in a tight loop for --seconds (to profile it with perf/callgrind)."""
    paths = list_corpus(Path(args.corpus))
    blobs = [p.read_bytes() for p in paths]
    key = args.loop
    workdir = Path(tempfile.mkdtemp(prefix="bench_decode_"))
    try:
        if key.startswith("limit."):
            so, _, version = build_limit(workdir)
            rows: list = limit_methods(so, blobs, version)
        elif key.startswith("jpegcoef."):
            rows = jpegcoef_methods(paths, blobs, args.threads, args.batch_size)
        elif key in PEERS:
            rows = [peer_method(key, paths, blobs)]
        else:
            rows = []
        row = next((r for r in rows if r.key == key), None)
        if row is None:
            raise SystemExit(f"error: unknown row {key!r} for --loop")
        if isinstance(row, Unavailable):
            raise SystemExit(f"error: {key}: {row.status}: {row.reason}")
        images, t0 = 0, time.perf_counter()
        while images == 0 or time.perf_counter() - t0 < args.seconds:  # at least one pass
            if row.run is not None:
                for i in range(len(blobs)):
                    row.run(i)
            else:
                row.run_pass()
            images += len(blobs)
        elapsed = time.perf_counter() - t0
        print(f"{key}: {images} images in {elapsed:.2f} s = {images / elapsed:.0f} images/s "
              f"(wall, including loop overhead)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run_benchmark(args) -> dict:
    corpus = Path(args.corpus)
    paths = list_corpus(corpus)
    blobs = [p.read_bytes() for p in paths]
    n, total_bytes = len(blobs), sum(map(len, blobs))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = os.getloadavg()
    print(f"corpus {corpus}: {n} files, {total_bytes / n / 1024:.1f} KB mean; passes "
          f"{args.passes}, threads {args.threads}; load {load_start[0]:.2f}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="bench_decode_"))
    listfile = workdir / "files.txt"
    listfile.write_text("".join(f"{p.resolve()}\n" for p in paths))
    rows: list[Method | Unavailable] = []
    try:
        try:
            so, exe, libjpeg_version = build_limit(workdir)
            rows += limit_methods(so, blobs, libjpeg_version)
            rows += exe_methods(exe, listfile, n, libjpeg_version)
        except Exception as exc:  # noqa: BLE001
            libjpeg_version = "?"
            rows += [Unavailable(k, lab, kind, "limit", "failed", _short(exc))
                     for k, (_, lab, kind) in LIMIT_MODES.items()]
        rows += jpegcoef_methods(paths, blobs, args.threads, args.batch_size)
        for key in PEERS:
            if key in OUT_OF_PROCESS:
                continue
            rows.append(peer_method(key, paths, blobs))
        skip = tuple(k.strip() for k in args.skip.split(",") if k.strip())
        for key in OWN_PROCESS:
            if not any(key.startswith(k) for k in skip):
                rows.append(worker_method(key, sys.executable, listfile, n))
        if not any("jpeg2dct".startswith(k) for k in skip):
            rows.append(worker_method("jpeg2dct", sys.executable, listfile, n))
        if not any("torchjpeg".startswith(k) for k in skip):
            tj_python, tj_reason = find_torchjpeg_python(args.torchjpeg_python)
            rows.append(worker_method("torchjpeg", tj_python, listfile, n, tj_reason))
        for r in [r for r in rows if r.key.startswith(skip)] if skip else []:
            rows.remove(r)
            if isinstance(r, Method) and r.close and r.key != "limit.coef":
                r.close()

        per_image = [r for r in rows if isinstance(r, Method) and r.run is not None]
        per_pass = [r for r in rows if isinstance(r, Method) and r.run_pass is not None]
        failed: dict[str, str] = {}
        units = time_methods(per_image, per_pass, n, args.passes, failed, not args.no_progress)
        # The limit comparison again with nothing else interleaved: no third-party reader
        # evicting caches between calls (the main run charges jpegcoef's larger cache
        # footprint -- Python, numpy, cffi -- on every image).
        pair = [r for r in per_image if r.key in PAIR_KEYS and r.key not in failed]
        pair_failed: dict[str, str] = {}
        pair_units = (time_methods(pair, [], n, args.passes, pair_failed, not args.no_progress)
                      if len(pair) > 1 else {})
    finally:
        for r in rows:
            if isinstance(r, Method) and r.close:
                r.close()
    memory = ({"status": "skipped", "reason": "--no-memory"} if args.no_memory else
              measure_memory(listfile, args.threads, MEMORY_ROUNDS))
    shutil.rmtree(workdir, ignore_errors=True)

    res = summarise(rows, units, failed, n, total_bytes)
    pair_res = summarise(pair, pair_units, pair_failed, n, total_bytes) if pair_units else {}
    for e in pair_res.values():
        e.pop("x_pillow", None), e.pop("x_turbo_full", None)
    name = corpus.resolve().name
    report = {
        "benchmark": "decode", "corpus": name, "corpus_dir": str(corpus.resolve()),
        "n_files": n, "total_bytes": total_bytes, "mean_kb": total_bytes / n / 1024,
        "passes": args.passes, "threads": args.threads, "batch_size": args.batch_size,
        "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
        "machine": {**machine_info(), "libjpeg_turbo": libjpeg_version},
        "method": ("per-image methods interleaved per image in a shuffled order; whole-corpus "
                   "methods once per pass in rotating order; median of per-pass totals; "
                   "limit rows timed inside C; bytes preloaded in memory"),
        "methods": res, "memory": memory,
        "limit_pair": {"note": "limit.coef and jpegcoef.read(bytes) interleaved with nothing "
                               "else, same passes", "methods": pair_res},
    }
    report["targets"] = evaluate_targets(name, res, memory, args.threads, pair_res)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="directory of JPEG files")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads of the multithreaded read_batch row (default: CPU count)")
    ap.add_argument("--batch-size", type=int, default=64, help="files per read_batch call")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for the JSON")
    ap.add_argument("--torchjpeg-python", help="python of the torchjpeg venv (default: "
                    "$JPEGCOEF_TORCHJPEG_PYTHON or ~/.cache/jpegcoef-peers/torchjpeg-venv)")
    ap.add_argument("--skip", default="", help="comma-separated row keys (or key prefixes) to "
                    "leave out, e.g. 'torchjpeg,jpegio,limit_exe'")
    ap.add_argument("--no-memory", action="store_true", help="skip the RSS measurement")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--loop", metavar="KEY", help="run only row KEY (e.g. limit.coef, "
                    "jpegcoef.read.bytes.blocks, pillow) in a loop for --seconds, for profiling")
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="duration of --loop (0: exactly one pass, e.g. under callgrind)")
    ap.add_argument("--markdown", nargs="+", metavar="JSON",
                    help="print one markdown table from result files and exit")
    ap.add_argument("--rows", default="", help="with --markdown: comma-separated row keys")
    ap.add_argument("--robust", action="store_true",
                    help="with --markdown: the robust estimate instead of the median")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--filelist", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=MEMORY_ROUNDS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "memory":
        return memory_main(args.filelist, args.threads, args.rounds)
    if args.worker:
        return worker_main(args.worker, args.filelist)
    if args.markdown:
        print(markdown_table(args.markdown, args.rows, args.robust))
        return 0
    if not args.corpus:
        ap.error("--corpus is required")
    if args.loop:
        return loop_main(args)
    if args.passes < 1 or args.threads < 1 or args.batch_size < 1:
        ap.error("--passes, --threads and --batch-size must be >= 1")

    report = run_benchmark(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["started"].replace("-", "").replace(":", "")
    path = out / f"decode-{report['corpus']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(format_table(report["methods"]))
    cpus = report["machine"]["cpus"] or 1
    busiest = max(report["loadavg_start"][0], report["loadavg_end"][0])
    if busiest > cpus / 2:
        print(f"WARNING: load average {busiest:.1f} on {cpus} CPUs: other processes compete for "
              f"the CPU, so absolute numbers and thread scaling are unreliable (ratios between "
              f"per-image rows, measured interleaved, are the usable result)")
    if report["limit_pair"]["methods"]:
        print("interleaved with the limit only:")
        for e in report["limit_pair"]["methods"].values():
            if e["status"] == "ok":
                print(f"  {e['label'][:50]:<50} {e['images_per_s']:>6.0f} img/s "
                      f"xLimit {_fmt(e['x_limit'], '.3f')}   robust {e['robust']['images_per_s']:>6.0f}"
                      f" img/s xLimit {_fmt(e['robust']['x_limit'], '.3f')}")
    mem = report["memory"]
    if mem.get("status") == "ok":
        print(f"memory: peak RSS {mem['peak_rss_before_kb'] / 1024:.1f} -> "
              f"{mem['peak_rss_after_kb'] / 1024:.1f} MB over {mem['rounds']} rounds")
    else:
        print(f"memory: {mem.get('status')}: {mem.get('reason')}")
    print("targets:")
    print("  (verdict on the medians; in brackets the verdict on the robust estimate)")
    for t in report["targets"]:
        val = f"{t['value']:.3f}" if t["value"] is not None else "-"
        rob = (f" [{t['result_robust']} {t['value_robust']:.3f}]" if "value_robust" in t
               else "")
        print(f"  {t['result']:<4} {t['target']}: {val}{rob} ({t['detail']})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
