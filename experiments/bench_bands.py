#!/usr/bin/env python3
"""Partial progressive decoding: ``read(bands=...)`` against a whole read (issue 15, item 3).

Usage::

    flock /tmp/jpegcoef-heavy.lock nice python experiments/bench_bands.py \\
        --corpus /work/shared/corpus/grain12 [--workdir /tmp/jpegcoef-bands] [--passes 5]

Makes two progressive copies of every corpus file in ``--workdir`` (not the repository):
``jpegtran -progressive`` (libjpeg's default scan script: every AC band is 1-5/6-63 for luma
and 1-63 for chroma, each with successive approximation) and ``jpegtran -scans`` with
:data:`SPLIT_SCRIPT` (every component's AC split into bands 1-8 and 9-63, with successive
approximation). All files are loaded into memory; then every pass reads every image once with
each method, the methods in an order shuffled afresh for every image (seeded); a method's pass
time is the sum of its per-image times and the reported time is the median over passes. Before
timing, every banded read is checked against the whole read of the same file: its needed
coefficients equal, every other coefficient equal or zero (the run stops otherwise).

The need is dct24's: luma frequencies rows 0-3 x cols 0-3, chroma {0, 1, 8, 9} (natural order).
Writes ``<out>/bands-<corpus>-<UTC time>.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402

import jpegcoef  # noqa: E402
from jpegcoef.reader import _decoder  # noqa: E402

DCT24 = ([8 * r + c for r in range(4) for c in range(4)], [0, 1, 8, 9], [0, 1, 8, 9])
SPLIT_SCRIPT = ("0 1 2: 0 0 0 1;\n0: 1 8 0 2;\n0: 9 63 0 2;\n1: 1 8 0 1;\n2: 1 8 0 1;\n"
                "1: 9 63 0 1;\n2: 9 63 0 1;\n0: 1 8 2 1;\n0: 9 63 2 1;\n0 1 2: 0 0 1 0;\n"
                "1: 1 8 1 0;\n2: 1 8 1 0;\n1: 9 63 1 0;\n2: 9 63 1 0;\n0: 1 8 1 0;\n0: 9 63 1 0;\n")


def _one_component(script: str) -> str:
    lines = [ln.replace("0 1 2:", "0:") for ln in script.splitlines() if not ln.startswith(("1:", "2:"))]
    return "\n".join(lines) + "\n"


def make_copies(corpus: list[Path], workdir: Path) -> dict[str, list[Path]]:
    """{set name: paths}: the originals, a jpegtran -progressive copy and a split-band copy."""
    sets = {"baseline": corpus, "progressive": [], "split": []}
    scripts = {}
    for name, text in (("3", SPLIT_SCRIPT), ("1", _one_component(SPLIT_SCRIPT))):
        scripts[name] = workdir / f"split-{name}.txt"
        scripts[name].parent.mkdir(parents=True, exist_ok=True)
        scripts[name].write_text(text)
    for src in corpus:
        ncomp = len(jpegcoef.read(src).components)
        for kind, args in (("progressive", ["-progressive"]),
                           ("split", ["-scans", str(scripts["1" if ncomp == 1 else "3"])])):
            dst = workdir / kind / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                subprocess.run(["jpegtran", "-copy", "none", *args, "-outfile", str(dst), str(src)], check=True)
            sets[kind].append(dst)
    return sets


def check_and_count(blobs: list[bytes], bands) -> dict:
    """Every banded read against the whole read; scans decoded / skipped in total."""
    decoded = skipped = 0
    for data in blobs:
        full = jpegcoef.read(data)
        part = jpegcoef.read(data, bands=bands)
        info = _decoder()[1]
        decoded += info.num_scans
        skipped += info.scans_skipped
        for i, (p, f) in enumerate(zip(part.components, full.components)):
            a = p.coefficients.reshape(-1, 64)
            b = f.coefficients.reshape(-1, 64)
            need = list(bands[i]) if i < len(bands) else list(range(64))
            if not (np.array_equal(a[:, need], b[:, need]) and np.all((a == b) | (a == 0))):
                raise SystemExit(f"banded read differs from the whole read (component {i})")
    return {"scans_decoded": decoded, "scans_skipped": skipped}


def time_methods(methods: dict, n: int, passes: int, seed: int) -> tuple[dict, dict]:
    """({method: [seconds per pass]}, {method: sum over images of the fastest pass}): per image
    the methods run in a freshly shuffled order. The second ("robust") drops calls the scheduler
    interrupted (the machine is shared)."""
    rng = random.Random(seed)
    names = list(methods)
    out = {k: [] for k in names}
    best = {k: [float("inf")] * n for k in names}
    for _ in range(passes):
        acc = dict.fromkeys(names, 0.0)
        for i in range(n):
            rng.shuffle(names)
            for k in names:
                t0 = time.perf_counter()
                r = methods[k](i)
                dt = time.perf_counter() - t0
                del r
                acc[k] += dt
                best[k][i] = min(best[k][i], dt)
        for k in names:
            out[k].append(acc[k])
    return out, {k: sum(v) for k, v in best.items()}


def build_methods(blobs: dict[str, list[bytes]], layout: str) -> dict:
    read = jpegcoef.read
    b, p, s = blobs["baseline"], blobs["progressive"], blobs["split"]
    return {
        "baseline.full": lambda i: read(b[i], layout=layout),
        "progressive.full": lambda i: read(p[i], layout=layout),
        "progressive.dct24": lambda i: read(p[i], layout=layout, bands=DCT24),
        # every frequency needed: the scan walk runs, finds nothing to skip, the file is read whole
        "progressive.walk": lambda i: read(p[i], layout=layout, bands=(None, None, None)),
        "split.full": lambda i: read(s[i], layout=layout),
        "split.dct24": lambda i: read(s[i], layout=layout, bands=DCT24),
        "split.dc": lambda i: read(s[i], layout=layout, bands=([0], [0], [0])),
    }


def summarise(times: dict[str, list[float]], robust: dict[str, float], n: int, counts: dict) -> dict:
    res = {}
    for k, ts in times.items():
        med = statistics.median(ts)
        res[k] = {"median_s": med, "ms_per_image": 1e3 * med / n, "robust_s": robust[k],
                  "robust_ms_per_image": 1e3 * robust[k] / n, "passes_s": ts}
    for k in res:
        base = k.split(".")[0] + ".full"
        res[k]["vs_full_read_of_same_files"] = res[base]["median_s"] / res[k]["median_s"]
        res[k]["robust_vs_full_read_of_same_files"] = res[base]["robust_s"] / res[k]["robust_s"]
        res[k]["vs_baseline_read"] = res["baseline.full"]["median_s"] / res[k]["median_s"]
        res[k].update(counts.get(k, {}))
    return res


def format_table(res: dict) -> str:
    lines = [f"{'method':<20} {'ms/image':>9} {'(robust)':>9} {'vs full read':>13} {'(robust)':>9} "
             f"{'vs baseline':>12} {'scans skipped':>14}"]
    for k, r in res.items():
        skipped = f"{r['scans_skipped']}/{r['scans_decoded'] + r['scans_skipped']}" if "scans_skipped" in r else ""
        lines.append(f"{k:<20} {r['ms_per_image']:>9.3f} {r['robust_ms_per_image']:>9.3f} "
                     f"{r['vs_full_read_of_same_files']:>12.3f}x {r['robust_vs_full_read_of_same_files']:>8.3f}x "
                     f"{r['vs_baseline_read']:>11.2f}x {skipped:>14}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--workdir", default="/tmp/jpegcoef-bands")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--layout", default="blocks", choices=["blocks", "channels"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    corpus = sorted(p for p in Path(args.corpus).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    sets = make_copies(corpus, Path(args.workdir) / Path(args.corpus).name)
    blobs = {k: [p.read_bytes() for p in v] for k, v in sets.items()}
    counts = {"progressive.dct24": check_and_count(blobs["progressive"], DCT24),
              "split.dct24": check_and_count(blobs["split"], DCT24),
              "split.dc": check_and_count(blobs["split"], ([0], [0], [0]))}
    methods = build_methods(blobs, args.layout)
    for k in methods:                                  # warm up (pool, caches)
        for i in range(min(20, len(corpus))):
            methods[k](i)
    times, robust = time_methods(methods, len(corpus), args.passes, args.seed)
    res = summarise(times, robust, len(corpus), counts)
    print(format_table(res))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report = {
        "corpus": str(args.corpus), "files": len(corpus), "passes": args.passes, "layout": args.layout,
        "need": {"y": DCT24[0], "cb": DCT24[1], "cr": DCT24[2]}, "split_script": SPLIT_SCRIPT,
        "copies": "jpegtran -copy none -progressive / -scans split_script, libjpeg-turbo "
                  + jpegcoef.libjpeg_version(),
        "bytes": {k: sum(map(len, v)) for k, v in blobs.items()},
        "command": " ".join([sys.executable, *sys.argv]), "started_utc": stamp,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "results": res,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bands-{Path(args.corpus).name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
