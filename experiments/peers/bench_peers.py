#!/usr/bin/env python3
"""Pipeline peers benchmark: FFCV and NVIDIA DALI (CPU) on the ImageNet training transform
(issue 15), driven from the main environment.

Usage::

    flock /tmp/jpegcoef-heavy.lock nice python experiments/peers/bench_peers.py \\
        --corpus /path/to/jpegs [--threads 1 2] [--batch 32] [--rounds 3] [--min-cpu 2]
        [--rows ffcv-rrc dali-rrc ...] [--out experiments/results]

Each peer lives in its own venv (``experiments/peers/install.sh --ffcv --dali``) and runs in a
worker process (``experiments/peers/pipelines.py``, which says exactly what each pipeline does).
For every thread count all rows' workers are started (built, warmed up), then ``--rounds``
rounds run interleaved round-robin, each worker running whole epochs until ``--min-cpu``
CPU-seconds; reported per row: the median over rounds of images per wall second and of images
per CPU-second of the worker (user + system, all threads: the per-core rate), and the cores it
used (CPU-seconds / wall seconds).  Writes ``<out>/pipeline-peers-<corpus>-<UTC time>.json``.

For experiments/bench_pipeline.py: ``run_ffcv(files, batch_size, threads)`` and
``run_dali(files, batch_size, threads)`` (or :func:`run_peer` with a row of :data:`ROWS`) return
``{"images_per_s", "images_per_cpu_s", "cores", "rounds", ...}`` and raise
:class:`PeerUnavailable` (with the reason) when the peer's venv is missing or the peer fails;
:class:`PeerWorker` gives one round at a time, to interleave with other pipelines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "pipelines.py"
VENV_ROOT = Path.home() / ".cache/jpegcoef-peers"
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}

#: peer -> (venv directory, environment variable naming another python for it)
VENVS = {"ffcv": (VENV_ROOT / "ffcv-venv", "JPEGCOEF_FFCV_PYTHON"),
         "dali": (VENV_ROOT / "dali-venv", "JPEGCOEF_DALI_PYTHON")}

#: benchmark row -> (peer, options passed to its pipeline; see pipelines.py)
ROWS = {
    "ffcv-rrc": ("ffcv", {}),                              # FFCV's standard: re-encoded at q90
    "ffcv-rrc-original": ("ffcv", {"jpeg_source": "original"}),  # the files' own bytes
    "dali-rrc": ("dali", {}),                              # DALI's recipe: ROI decode + resize
    "dali-rrc-full": ("dali", {"decoder": "full"}),        # full decode + random_resized_crop
}


class PeerUnavailable(RuntimeError):
    """The peer is not installed here or failed to start; the message says why."""


def peer_python(peer: str) -> Path:
    """The python of the peer's venv ($JPEGCOEF_<PEER>_PYTHON overrides); PeerUnavailable if
    there is none."""
    if peer not in VENVS:
        raise ValueError(f"unknown peer {peer!r} (known: {', '.join(VENVS)})")
    venv, var = VENVS[peer]
    python = Path(os.environ.get(var) or venv / "bin/python")
    if not python.exists():
        raise PeerUnavailable(f"no {peer} venv at {python} (experiments/peers/install.sh --{peer}, "
                              f"or set {var})")
    return python


class PeerWorker:
    """One peer pipeline running in its venv's python; :meth:`round` times one round."""

    def __init__(self, peer: str, files, batch_size: int = 32, threads: int = 1, crop: int = 224,
                 python: str | os.PathLike | None = None, dump: str | None = None, **options):
        files = [Path(f).resolve() for f in files]
        if not files:
            raise ValueError("no files")
        python = Path(python) if python else peer_python(peer)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"jpegcoef-{peer}-"))
        (self.tmp / "files.txt").write_text("".join(f"{f}\n" for f in files))
        cmd = [str(python), str(WORKER), peer, "--filelist", str(self.tmp / "files.txt"),
               "--batch", str(batch_size), "--threads", str(threads), "--crop", str(crop), "--serve"]
        cmd += ["--dump", dump] if dump else []
        for key, value in options.items():
            cmd += ["--option", f"{key}={value}"]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = open(self.tmp / "stderr.log", "w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env)
        self.info = self._reply()
        if not self.info.get("ready"):
            self.close()
            raise PeerUnavailable(f"{peer}: {self.info.get('error', 'worker failed')}")

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.log.seek(0)
            err = [x for x in self.log.read().splitlines() if x.strip()]
            return {"ready": False, "error": err[-1] if err else f"worker exited ({line!r})"}

    def round(self, min_cpu: float = 2.0) -> dict:
        """Whole epochs until ``min_cpu`` CPU-seconds: images, wall_s, cpu_s and rates."""
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        reply = self._reply()
        if "images" not in reply:
            raise RuntimeError(f"worker failed: {reply.get('error')}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "PeerWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def summarise(info: dict, rounds: list[dict]) -> dict:
    """Medians over rounds beside the setup facts."""
    med = {k: statistics.median(r[k] for r in rounds)
           for k in ("images_per_s", "images_per_cpu_s", "cores", "images_per_cpu_s_host_only")
           if k in rounds[0]}
    extra = ({"images_per_cpu_s_host_only": round(med["images_per_cpu_s_host_only"], 1)}
             if "images_per_cpu_s_host_only" in med else {})
    return {"images_per_s": round(med["images_per_s"], 1),
            "images_per_cpu_s": round(med["images_per_cpu_s"], 1), **extra,
            "cores": round(med["cores"], 2),
            "rounds_wall": [round(r["images_per_s"], 1) for r in rounds],
            "rounds_cpu": [round(r["images_per_cpu_s"], 1) for r in rounds],
            "images_timed": sum(r["images"] for r in rounds),
            **{k: v for k, v in info.items() if k not in ("ready", "files")}}


def run_peer(row: str, files, batch_size: int = 32, threads: int = 1, rounds: int = 3,
             min_cpu: float = 2.0, **options) -> dict:
    """One row of :data:`ROWS` (or a bare peer name): ``rounds`` timed rounds, medians."""
    peer, row_options = ROWS.get(row, (row, {}))
    with PeerWorker(peer, files, batch_size, threads, **{**row_options, **options}) as w:
        return summarise(w.info, [w.round(min_cpu) for _ in range(rounds)])


def run_ffcv(files, batch_size: int = 32, threads: int = 1, rounds: int = 3, min_cpu: float = 2.0,
             **options) -> dict:
    """FFCV's loader on the ImageNet training transform (options: jpeg_source='reencode' |
    'original', jpeg_quality=90, cache_dir=None)."""
    return run_peer("ffcv", files, batch_size, threads, rounds, min_cpu, **options)


def run_dali(files, batch_size: int = 32, threads: int = 1, rounds: int = 3, min_cpu: float = 2.0,
             **options) -> dict:
    """DALI's CPU pipeline on the ImageNet training transform (options: decoder='fused' |
    'full')."""
    return run_peer("dali", files, batch_size, threads, rounds, min_cpu, **options)


class JpegcoefRow:
    """A jpegcoef pipeline of experiments/bench_pipeline.py (``PIPELINES``), in this process,
    measured as that benchmark does, for a side-by-side reference: threads 1 = the loader in
    the main process (workers=0), threads N > 1 = N DataLoader worker processes."""

    def __init__(self, name: str, files: list[Path], batch_size: int, threads: int, crop: int):
        import importlib.util
        import torch
        spec = importlib.util.spec_from_file_location("bench_pipeline", HERE.parent / "bench_pipeline.py")
        self.bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.bench)
        if name not in self.bench.PIPELINES:
            raise ValueError(f"unknown jpegcoef pipeline {name!r} (bench_pipeline.PIPELINES: "
                             f"{', '.join(self.bench.PIPELINES)})")
        torch.set_num_threads(1)
        opts = dict(self.bench.PIPELINES[name])
        fmt = opts.pop("format")
        workers = 0 if threads == 1 else threads
        self.loader = self.bench.D.make_loader(files, fmt, train=True, crop=crop, batch_size=batch_size,
                                               workers=workers, seed=0, on_error="skip", **opts)
        self.bench.epoch(self.loader)  # warm-up
        self.info = {"workers": workers, "steps": f"jpegcoef.data.make_loader({fmt}, {opts}, "
                     "train=True) + format.device on the CPU",
                     "versions": {"jpegcoef": getattr(self.bench.jpegcoef, "__version__", "?"),
                                  "libjpeg_turbo": self.bench.jpegcoef.reader.libjpeg_version(),
                                  "torch": torch.__version__}}

    def round(self, min_cpu: float = 2.0) -> dict:
        n, wall, cpu, dev = self.bench.measure(self.loader, min_cpu)
        return {"images": n, "wall_s": wall, "cpu_s": cpu, "images_per_s": n / wall,
                "images_per_cpu_s": n / cpu, "cores": cpu / wall,
                "images_per_cpu_s_host_only": n / max(cpu - dev, 1e-9)}

    def close(self) -> None:
        del self.loader


def list_jpegs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def measure(rows: list[str], files: list[Path], threads: int, args, cache_dir: Path) -> dict:
    """Start every row's worker at this thread count (and the jpegcoef reference rows), then
    interleaved rounds; row -> result."""
    workers, results = {}, {}
    try:
        for name in args.reference:
            workers[f"jpegcoef-{name}"] = JpegcoefRow(name, files, args.batch, threads, args.crop)
        for row in rows:
            peer, options = ROWS[row]
            if peer == "ffcv":
                options = {**options, "cache_dir": str(cache_dir)}
            try:
                workers[row] = PeerWorker(peer, files, args.batch, threads, args.crop, **options)
            except PeerUnavailable as exc:
                results[row] = {"status": "not installed", "reason": str(exc)}
        timed: dict = {row: [] for row in workers}
        for r in range(args.rounds):
            order = list(workers)[r % max(len(workers), 1):] + list(workers)[: r % max(len(workers), 1)]
            for row in order:
                timed[row].append(workers[row].round(args.min_cpu))
                t = timed[row][-1]
                print(f"  round {r} threads={threads} {row:18s} {t['images_per_s']:8.1f} img/s wall "
                      f"{t['images_per_cpu_s']:8.1f} img/CPU-s {t['cores']:5.2f} cores", flush=True)
        for row, w in workers.items():
            results[row] = {"status": "ok", **summarise(w.info, timed[row])}
    finally:
        for w in workers.values():
            w.close()
    return results


def ratios(results: dict) -> dict:
    """Per thread count: each jpegcoef reference row's images per CPU-second over the fastest
    peer's (with the device step; and host only, the device step left to the accelerator)."""
    out = {}
    for t, per in results.items():
        peers = {r: v["images_per_cpu_s"] for r, v in per.items()
                 if v.get("status") == "ok" and not r.startswith("jpegcoef-")}
        if not peers:
            continue
        best = max(peers, key=peers.get)
        out[str(t)] = {"fastest_peer": best, **{
            r: {"with_device_step": round(v["images_per_cpu_s"] / peers[best], 2),
                "host_only": round(v["images_per_cpu_s_host_only"] / peers[best], 2)}
            for r, v in per.items() if r.startswith("jpegcoef-") and v.get("status") == "ok"}}
    return out


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-cpu", type=float, default=2.0)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--reference", nargs="*", default=[], metavar="PIPELINE",
                    help="also run these jpegcoef pipelines of experiments/bench_pipeline.py "
                         "(e.g. rgb dct24), interleaved with the peers")
    ap.add_argument("--limit", type=int, help="use at most this many files")
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    args = ap.parse_args(argv)
    files = list_jpegs(args.corpus)[: args.limit]
    if not files:
        print(f"no JPEG files in {args.corpus}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    cache_dir = Path(tempfile.mkdtemp(prefix="jpegcoef-beton-"))
    try:
        results = {t: measure(args.rows, files, t, args, cache_dir) for t in args.threads}
        jpegcoef_ratios = ratios(results)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    load_after = os.getloadavg()
    rows = [{"pipeline": row, "threads": t, **res} for t, per in results.items()
            for row, res in per.items()]
    report = {
        "benchmark": "pipeline-peers",
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": _commit(),
        "corpus": str(args.corpus), "files": len(files), "crop": args.crop, "batch": args.batch,
        "rounds": args.rounds, "min_cpu_s_per_round": args.min_cpu,
        "transform": "decode, RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3), horizontal flip p=0.5, "
                     "normalise (ImageNet mean/std) to float32 N x 3 x crop x crop",
        "machine": {"platform": platform.platform(), "cpu": _cpu_model(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in load_after]},
        "results": rows,
        "jpegcoef_over_fastest_peer_per_core": jpegcoef_ratios,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"pipeline-peers-{args.corpus.name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print_table(report)
    for t, per in report["jpegcoef_over_fastest_peer_per_core"].items():
        for row, v in per.items():
            if row != "fastest_peer":
                print(f"threads={t}: {row} / {per['fastest_peer']} per core: {v['with_device_step']}x "
                      f"(host only {v['host_only']}x)")
    print(f"wrote {path}")
    return 0


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"\ncorpus {report['corpus']} ({report['files']} files), crop {report['crop']}, batch "
          f"{report['batch']}, median of {report['rounds']} rounds, load avg "
          f"{m['loadavg_before'][0]:.1f} -> {m['loadavg_after'][0]:.1f}")
    print(f"{'pipeline':20s}{'threads':>8s}{'img/s':>10s}{'img/CPU-s':>11s}{'cores':>7s}  notes")
    for r in report["results"]:
        if r["status"] != "ok":
            print(f"{r['pipeline']:20s}{r['threads']:8d}  {r['status']}: {r['reason']}")
            continue
        conv = r.get("conversion_s")
        note = (f"{r['image_bytes'] / 1e6:.1f} MB of JPEG in the .beton, conversion {conv:.1f} s"
                if conv else "")
        if "images_per_cpu_s_host_only" in r:
            note = f"{r['images_per_cpu_s_host_only']:.1f} img/CPU-s without the device step"
        print(f"{r['pipeline']:20s}{r['threads']:8d}{r['images_per_s']:10.1f}"
              f"{r['images_per_cpu_s']:11.1f}{r['cores']:7.2f}  {note}")


if __name__ == "__main__":
    sys.exit(main())
