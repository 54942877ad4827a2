"""The accuracy study: every family against resnet50 on real photographs, 3 seeds, one schedule.

Each row of :data:`STUDY` is trained, evaluated and measured by ``experiments/run.py`` on
``--dataset photos`` (``jpegcoef.datasets.photos()``: crops of the photographs that scikit-image,
scikit-learn and matplotlib ship) under the ``photos`` profile: the same epochs, batch, learning
rate, augmentation (RandomResizedCrop + flip; DCT-domain for DCT inputs; evaluation resize +
centre crop) and crop size for every variant. Then all rows are timed side by side in one run
(``bench_models.py --size CROP``: interleaved rounds, so machine load affects all alike) and the
study is written as one JSON with mean +- std of top-1 over the seeds, MACs and images/s.

    python experiments/study.py                       # the study: 7 rows x seeds 0,1,2 (~70 min, 2 cores)
    python experiments/study.py --rows resnet50,late_concat_rfa_thinner --seeds 0
    python experiments/study.py --ablations           # also the ablation rows (seed 0 unless --seeds)
    python experiments/study.py --summarize           # aggregate the runs already in --runs-dir
    python experiments/study.py --from-json experiments/results/study-photos-<time>.json --update-readme

Runs already present in ``--runs-dir`` (one JSON per row and seed) are not repeated, so an
interrupted study continues where it stopped. Writes
``experiments/results/study-photos-<UTC time>.json`` and prints the table.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

HERE = Path(__file__).resolve().parent
BASELINE = "resnet50"
#: the papers' claim the study tests: a DCT variant is within this many top-1 points of resnet50
TARGET_POINTS = 1.0


@dataclass(frozen=True)
class Row:
    """One line of the study: a label, the run.py variant, and extra run.py arguments."""
    label: str
    variant: str
    args: tuple[str, ...] = ()
    note: str = ""
    ablation_of: Optional[str] = None


#: The study (issue 12): resnet50 against each family's variants.
STUDY: list[Row] = [
    Row("resnet50", "resnet50", note="RGB baseline (Gueguen et al., DCTNet)"),
    Row("upsampling_rfa", "upsampling_rfa", note="Gueguen et al."),
    Row("late_concat_rfa", "late_concat_rfa", note="Gueguen et al."),
    Row("late_concat_rfa_thinner", "late_concat_rfa_thinner", note="Gueguen et al."),
    Row("dctnet24", "dctnet24", note="Xu et al. (DCTNet), 24 channels"),
    Row("dctnet64", "dctnet64", note="Xu et al. (DCTNet), 64 channels"),
    Row("hilo", "hilo", note="seeds/004 high/low split (two steps, each --epochs)"),
]

#: Ablations: one factor changed against a study row, to explain a measured gap.
ABLATIONS: list[Row] = [
    # augmentation: is the DCT-domain RandomResizedCrop the cause? The same model trained on
    # pixel RRC re-encoded to JPEG (the pixel pipeline's augmentation, then the DCT input)
    Row("late_concat_rfa_thinner/augment=rgb-reencode", "late_concat_rfa_thinner",
        ("--augment", "rgb-reencode"),
        "pixel RandomResizedCrop + flip, re-encoded to JPEG, instead of the DCT-domain RRC",
        "late_concat_rfa_thinner"),
    # augmentation: no scale augmentation at all, for both kinds of input
    Row("late_concat_rfa_thinner/augment=crop", "late_concat_rfa_thinner", ("--augment", "crop"),
        "no scale augmentation: lossless MCU-grid crop + flip", "late_concat_rfa_thinner"),
    Row("resnet50/augment=crop", "resnet50", ("--augment", "crop"),
        "no scale augmentation for RGB either (pixel crop + flip)", "resnet50"),
    # normalisation: the training split's per-channel statistics instead of the shipped ones
    Row("late_concat_rfa_thinner/stats=train", "late_concat_rfa_thinner", ("--stats", "train"),
        "DCT input normalised with the training split's per-channel mean/std", "late_concat_rfa_thinner"),
    # schedule: does the gap shrink when both train twice as long (a slower start, or a limit)?
    Row("resnet50/epochs=8", "resnet50", ("--epochs", "8"), "twice the epochs", "resnet50"),
    Row("late_concat_rfa_thinner/epochs=8", "late_concat_rfa_thinner", ("--epochs", "8"),
        "twice the epochs", "late_concat_rfa_thinner"),
    # input channels: all 192 coefficients (as the Gueguen family takes them) in DCTNet's
    # architecture, against its 24 lowest frequencies
    Row("dctnet24/channels=192", "dctnet192", (),
        "all 64 frequencies of Y, Cb and Cr (the Gueguen family's input) in DCTNet's network",
        "dctnet24"),
    # chroma: DCTNet's full-resolution chroma against repeated blocks
    Row("dctnet24/chroma=repeat", "dctnet24", ("--format-opt", "upsample=repeat"),
        "chroma blocks repeated 2x2 (jpeg2dct's layout) instead of the DCT of the bilinearly "
        "upsampled chroma (DCTNet's)", "dctnet24"),
]


@dataclass
class RunResult:
    row: Row
    seed: int
    path: Path
    data: dict[str, Any] = field(repr=False)


def _run_name(row: Row, seed: int) -> str:
    return row.label.replace("/", "__").replace("=", "-") + f"-seed{seed}.json"


@contextmanager
def _locked(path: Optional[str]) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (shared with other heavy jobs on this machine)."""
    if not path:
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def train_one(row: Row, seed: int, args: argparse.Namespace, runs_dir: Path) -> Path:
    """Run ``run.py`` for one row and seed; return the result JSON copied into ``runs_dir``."""
    out = runs_dir / _run_name(row, seed)
    with tempfile.TemporaryDirectory(prefix="jpegcoef-study-") as tmp:
        cmd = [sys.executable, str(HERE / "run.py"), "--variant", row.variant,
               "--dataset", args.dataset, "--seed", str(seed), "--shift-max", "0",
               "--results-dir", tmp, "--checkpoint-dir", str(Path(tmp) / "ck"),
               "--run-dir", str(Path(tmp) / "runs"), "--no-progress",
               *row.args, *args.run_args]
        print(f"[study] {row.label} seed {seed}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        with _locked(args.lock):
            proc = subprocess.run(cmd, cwd=HERE.parent, text=True, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"run.py failed for {row.label} seed {seed} "
                               f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        found = sorted(Path(tmp).glob("*.json"))
        if len(found) != 1:
            raise RuntimeError(f"expected one result JSON from run.py, found {found}")
        data = json.loads(found[0].read_text())
        data["study"] = {"row": row.label, "seed": seed, "run_args": list(row.args) + args.run_args,
                         "wall_s": time.perf_counter() - t0}
        out.write_text(json.dumps(data, indent=1))
        top1 = data["metrics"]["top1"]
        print(f"[study] {row.label} seed {seed}: top-1 {100 * top1:.1f}% "
              f"({data['timing']['total_s']:.0f} s) -> {out}", flush=True)
    return out


def _spec(data: dict[str, Any]) -> str:
    """bench_models.py variant spec ('name:key=value,...') of a run's resolved model."""
    opts = {k: v for k, v in data["model_options"].items() if k != "zero_init_residual"}
    if data["model"] == "hilo":
        opts.setdefault("threshold", 1.1)  # random weights: no sample exits, the full cost
    return data["model"] + (":" + ",".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                           for k, v in opts.items()) if opts else "")


def speed(results: list[RunResult], args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    """Time every row's model side by side in one bench_models.py run at the study's crop."""
    first: dict[str, RunResult] = {}
    for r in results:
        first.setdefault(r.row.label, r)
    specs = {label: _spec(r.data) for label, r in first.items()}
    crop = next(iter(first.values())).data["schedule"]["crop"]
    classes = next(iter(first.values())).data["dataset"]["classes"]
    unique = list(dict.fromkeys(specs.values()))
    with tempfile.TemporaryDirectory(prefix="jpegcoef-study-bench-") as tmp:
        cmd = [sys.executable, str(HERE / "bench_models.py"), "--variants", ";".join(unique),
               "--size", str(crop), "--batch-sizes", str(args.speed_batch), "--iters",
               str(args.speed_iters), "--rounds", str(args.speed_rounds),
               "--num-classes", str(classes), "--results-dir", tmp]
        print(f"[study] speed, side by side: {' '.join(cmd[1:])}", flush=True)
        with _locked(args.lock):
            subprocess.run(cmd, cwd=HERE.parent, check=True, stdout=subprocess.DEVNULL)
        path = next(Path(tmp).glob("models-*.json"))
        bench = json.loads(path.read_text())
        shutil.copy(path, runs_dir / "speed.json")
    by_spec = {r["variant"]: r for r in bench["results"]}
    info = {k: bench[k] for k in ("command", "utc", "device", "device_name", "threads",
                                  "load_average_start", "load_average_end", "size")}
    info["batch_size"] = args.speed_batch
    return {"bench": info,
            "rows": {label: by_spec[spec] for label, spec in specs.items()}}


def _mean_or_none(xs: Iterable[Optional[float]]) -> Optional[float]:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else None


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else float("nan"))


def aggregate(results: list[RunResult], speed_info: Optional[dict[str, Any]],
              rows: list[Row]) -> dict[str, Any]:
    """Mean +- std per row over its seeds, with MACs, images/s and the gap to resnet50."""
    by_row: dict[str, list[RunResult]] = {}
    for r in results:
        by_row.setdefault(r.row.label, []).append(r)
    out_rows = []
    base = by_row.get(BASELINE)
    base_mean = _mean_std([100 * r.data["metrics"]["top1"] for r in base])[0] if base else None
    for row in rows:
        runs = sorted(by_row.get(row.label, []), key=lambda r: r.seed)
        if not runs:
            continue
        top1 = [100 * r.data["metrics"]["top1"] for r in runs]
        top5 = [100 * r.data["metrics"]["top5"] for r in runs]
        m, s = _mean_std(top1)
        meas = runs[0].data["measures"]
        entry: dict[str, Any] = {
            "row": row.label, "variant": row.variant, "run_args": list(row.args), "note": row.note,
            "ablation_of": row.ablation_of, "model": runs[0].data["model"],
            "model_options": runs[0].data["model_options"],
            "input_format": runs[0].data["input_format"],
            "seeds": [r.seed for r in runs], "top1": top1, "top1_mean": m, "top1_std": s,
            "top5_mean": statistics.fmean(top5),
            "params": meas["params"], "macs": meas["macs"],
            "train_images_per_s": _mean_or_none(r.data["measures"].get("train_images_per_s")
                                                for r in runs),
            "hilo_early_exit": (runs[0].data.get("hilo") or {}).get("early_exit_fraction"),
            "run_seconds": [r.data["timing"]["total_s"] for r in runs],
        }
        if base_mean is not None:
            entry["top1_gap_vs_resnet50"] = m - base_mean
            entry["within_target"] = (m - base_mean) >= -TARGET_POINTS
        if row.ablation_of:  # against the row it changes, at the same seeds
            parent = {r.seed: 100 * r.data["metrics"]["top1"] for r in by_row.get(row.ablation_of, [])}
            same = [s for s in entry["seeds"] if s in parent]
            if same:
                entry["top1_change_vs_row"] = m - statistics.fmean(parent[s] for s in same)
        if speed_info and row.label in speed_info["rows"]:
            sp = speed_info["rows"][row.label]
            entry["inference_images_per_s"] = sp["images_per_s"]
            entry["speedup_vs_resnet50"] = sp.get("speedup_vs_resnet50")
            entry["macs_bench"] = sp.get("macs_per_image_with_exits", sp["macs_per_image"])
        out_rows.append(entry)
    return {"rows": out_rows}


def _fmt(x: Optional[float], spec: str, suffix: str = "") -> str:
    return "" if x is None else format(x, spec) + suffix


def table(study: dict[str, Any]) -> str:
    """The study as a markdown table (the README's and the report's)."""
    lines = ["| variant | top-1 % (mean ± std) | Δ vs resnet50 | ablation: Δ vs its row | top-5 % | "
             "GMACs | inference img/s | speed-up | train img/s | seeds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in study["rows"]:
        std = "" if math.isnan(r["top1_std"]) else f" ± {r['top1_std']:.1f}"
        gap = r.get("top1_gap_vs_resnet50")
        gap_s = "" if gap is None or r["row"] == BASELINE else f"{gap:+.1f}"
        inf = r.get("inference_images_per_s")
        sp = r.get("speedup_vs_resnet50")
        tr = r["train_images_per_s"]
        lines.append(f"| {r['row']} | {r['top1_mean']:.1f}{std} | {gap_s} | "
                     f"{_fmt(r.get('top1_change_vs_row'), '+.1f')} | {r['top5_mean']:.1f} | "
                     f"{r['macs'] / 1e9:.3f} | {_fmt(inf, '.0f')} | {_fmt(sp, '.2f', 'x')} | "
                     f"{_fmt(tr, '.0f')} | {len(r['seeds'])} |")
    return "\n".join(lines)


def _load_runs(runs_dir: Path, rows: list[Row], seeds: list[int]) -> list[RunResult]:
    out = []
    for row in rows:
        for seed in seeds:
            p = runs_dir / _run_name(row, seed)
            if p.exists():
                out.append(RunResult(row, seed, p, json.loads(p.read_text())))
    return out


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes integers like 0,1,2, got {text!r}")
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:3]))
    p.add_argument("--rows", help="comma-separated row labels (default: the study's 7; "
                                  f"known: {', '.join(r.label for r in STUDY + ABLATIONS)})")
    p.add_argument("--seeds", type=_parse_seeds, default=None,
                   help="comma-separated seeds (default: 0,1,2 for the study, 0 for ablations)")
    p.add_argument("--ablations", action="store_true", help="also run the ablation rows")
    p.add_argument("--dataset", default="photos", choices=["photos", "synthetic"])
    p.add_argument("--runs-dir", default=str(HERE / "results" / "study-photos"),
                   help="one result JSON per row and seed (kept; a present run is not repeated)")
    p.add_argument("--results-dir", default=str(HERE / "results"))
    p.add_argument("--summarize", action="store_true",
                   help="no training: aggregate the runs in --runs-dir")
    p.add_argument("--no-speed", action="store_true", help="skip the side-by-side speed run")
    p.add_argument("--from-json", metavar="STUDY_JSON",
                   help="no runs: print the table of a study JSON written before")
    p.add_argument("--update-readme", action="store_true",
                   help="also write the table between README.md's study-table markers")
    p.add_argument("--speed-batch", type=int, default=32)
    p.add_argument("--speed-iters", type=int, default=6)
    p.add_argument("--speed-rounds", type=int, default=3)
    p.add_argument("--lock", default=os.environ.get("JPEGCOEF_LOCK"),
                   help="flock this file around each run (share the machine with other heavy "
                        "jobs; default: $JPEGCOEF_LOCK)")
    p.add_argument("run_args", nargs="*", help="after '--': extra run.py arguments for every run")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.from_json:
        try:
            study = json.loads(Path(args.from_json).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"--from-json {args.from_json}: {exc}")
        if study.get("schema") != "jpegcoef.study/1":
            parser.error(f"--from-json {args.from_json}: not a study JSON (schema jpegcoef.study/1)")
        return _report(study, Path(args.from_json), args.update_readme)
    known = {r.label: r for r in STUDY + ABLATIONS}
    if args.rows:
        labels = [s.strip() for s in args.rows.split(",") if s.strip()]
        unknown = [s for s in labels if s not in known]
        if unknown:
            parser.error(f"unknown rows {unknown}; known: {', '.join(known)}")
        plan = [(known[s], args.seeds or [0, 1, 2]) for s in labels]
    else:
        plan = [(r, args.seeds or [0, 1, 2]) for r in STUDY]
        if args.ablations:
            plan += [(r, args.seeds or [0]) for r in ABLATIONS]
    rows = [r for r, _ in plan]
    runs_dir = Path(args.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)

    if not args.summarize:
        # seed-major: every row gets seed 0 before any gets seed 1, so a cut-short study still
        # compares all rows
        for seed in sorted({s for _, seeds in plan for s in seeds}):
            for row, seeds in plan:
                if seed in seeds and not (runs_dir / _run_name(row, seed)).exists():
                    train_one(row, seed, args, runs_dir)
    results = _load_runs(runs_dir, rows, sorted({s for _, seeds in plan for s in seeds}))
    if not results:
        print(f"no runs in {runs_dir} for these rows and seeds", file=sys.stderr)
        return 1
    speed_info = None if args.no_speed else speed(results, args, runs_dir)
    study = aggregate(results, speed_info, rows)
    first = results[0].data
    study.update({
        "schema": "jpegcoef.study/1",
        "study": "accuracy against resnet50 on real photographs (jpegcoef.datasets.photos)",
        "command": " ".join(["python", "experiments/study.py"] + (argv if argv is not None
                                                                  else sys.argv[1:])),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target_points": TARGET_POINTS, "baseline": BASELINE,
        "dataset": {k: first["dataset"].get(k) for k in ("name", "classes", "train_images",
                                                          "val_images", "generator",
                                                          "photos_options")},
        "schedule": first["schedule"], "speed": speed_info and speed_info["bench"],
        "environment": first["environment"],
        "runs_dir": os.path.relpath(runs_dir.absolute(), HERE.parent),
    })
    from harness.results import utc_stamp, write_json  # noqa: PLC0415

    path = write_json(study, args.results_dir, f"study-{args.dataset}-{utc_stamp()}")
    print(f"wrote {path}")
    return _report(study, path, args.update_readme)


def readme_block(study: dict[str, Any], path: Path) -> str:
    """The README's study block: the table, its setting and the command that made it."""
    d, s = study["dataset"], study["schedule"]
    sp = study.get("speed") or {}
    head = (f"**photos** ({d['classes']} classes, {d['train_images']} train / {d['val_images']} val "
            f"crops of real photographs; crop {s['crop']} px, {s['epochs']} epochs, batch "
            f"{s['batch_size']}, augment {s['augment']}; top-1 mean ± std over seeds; inference "
            f"images/s side by side at batch {sp.get('batch_size', '?')} on "
            f"{sp.get('device_name', '?')}, {sp.get('threads', '?')} threads)")
    return (f"{head}\n\n{table(study)}\n\nProduced by `{study['command']}` "
            f"(`{Path(path).name}`; per-run JSON in `{study.get('runs_dir', '?')}/`).")


def _report(study: dict[str, Any], path: Path, update_readme: bool) -> int:
    print(table(study))
    if update_readme:
        from harness.results import update_readme as write_block  # noqa: PLC0415

        readme = HERE.parent / "README.md"
        try:
            changed = write_block(readme, readme_block(study, path), marker="study-table")
        except ValueError as exc:
            print(f"study: {exc}", file=sys.stderr)
            return 1
        print(f"{'updated' if changed else 'unchanged'}: {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
