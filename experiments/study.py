"""The accuracy study: every family against resnet50 on real photographs, seeds x cuts, one schedule.

Each row of :data:`STUDY` is trained, evaluated and measured by ``experiments/run.py`` on
``--dataset photos-v2`` (``jpegcoef.datasets.photos_v2()``: crops of 37 photographs that
Debian's wallpaper packages ship, train and val cells interleaved over each photograph) under the
``photos-v2`` profile: the same epochs, batch, learning rate, augmentation (RandomResizedCrop + flip;
DCT-domain for DCT inputs; evaluation resize + centre crop) and crop size for every variant. Each
row runs for every training seed (``--seeds``) on every dataset cut (``--cuts``: the cut seed moves
the train/val cells, so dataset variance is measured apart from training-seed variance). Then all
rows are timed side by side in one run (``bench_models.py --size CROP``: interleaved rounds, so
machine load affects all alike) and the study is written as one JSON: per row mean +- std of top-1,
the seed and cut spreads, the paired difference against resnet50 (same seed and cut) with its 95%
interval, the summed per-class confusion matrix, MACs and images/s.

    python experiments/study.py                        # the study: 6 rows x seeds 0,1,2 x cuts 0,1
    python experiments/study.py --ablations recipe     # + the input-recipe ablations (item groups below)
    python experiments/study.py --ablations all --jobs 2
    python experiments/study.py --rows resnet50,late_concat_rfa_thinner --seeds 0 --cuts 0
    python experiments/study.py --summarize            # aggregate the runs already in --runs-dir
    python experiments/study.py --from-json experiments/results/study-photos-v2-<time>.json --update-readme

Ablation groups (``--ablations GROUP[,GROUP]`` or ``all``): ``recipe`` (the Gueguen input:
frequency subset dropped or masked, input normalisation), ``lr`` (a learning-rate sweep per row,
scored on a held-out 20% of train, never on val), ``schedule`` (2x and 4x the epochs; no gradient
clipping; no label smoothing), ``budget`` (hilo's two steps inside the others' optimiser-step
budget), ``scaling`` (25% and 50% of train: the data-scaling curve).

Runs already present in ``--runs-dir`` (one JSON per row, cut and seed) are not repeated, so an
interrupted study continues where it stopped, across sessions. Writes
``experiments/results/study-<dataset>-<UTC time>.json`` and prints the table.
"""
from __future__ import annotations

import argparse
import concurrent.futures
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
#: optimiser steps of one 4-epoch photos-v2 run (1184 train images, batch 32, last partial
#: batch dropped: 37 steps per epoch): the budget every row of the ``budget`` group gets
STEP_BUDGET = 4 * (1184 // 32)


@dataclass(frozen=True)
class Row:
    """One line of the study: a label, the run.py variant, extra run.py arguments, and (for an
    ablation) the row it changes, its group and its default seeds and cuts."""
    label: str
    variant: str
    args: tuple[str, ...] = ()
    note: str = ""
    ablation_of: Optional[str] = None
    group: str = "study"
    seeds: tuple[int, ...] = (0, 1, 2)
    cuts: tuple[int, ...] = (0, 1)


#: The study (issue 26): resnet50 against each family, under the default input recipe (the
#: Gueguen rows: ``models.resnet.DEFAULT_RECIPE``, dct24; the paper's is the recipe ablation).
STUDY: list[Row] = [
    Row("resnet50", "resnet50", note="RGB baseline (Gueguen et al., DCTNet)"),
    Row("upsampling_rfa", "upsampling_rfa", note="Gueguen et al."),
    Row("late_concat_rfa", "late_concat_rfa", note="Gueguen et al."),
    Row("late_concat_rfa_thinner", "late_concat_rfa_thinner", note="Gueguen et al."),
    Row("dctnet24", "dctnet24", note="Xu et al. (DCTNet), 24 channels"),
    Row("hilo", "hilo", note="high/low split: two steps, each --epochs (twice the others' "
                              "optimiser steps; the budget group splits them)"),
]


def _abl(parent: str, what: str, args: tuple[str, ...], note: str, group: str,
         variant: Optional[str] = None, seeds: tuple[int, ...] = (0, 1),
         cuts: tuple[int, ...] = (0,)) -> Row:
    return Row(f"{parent}/{what}", variant or parent, args, note, parent, group, seeds, cuts)


def _mo(*opts: str) -> tuple[str, ...]:
    return tuple(a for o in opts for a in ("--model-opt", o))


_PAPER = ("channels=192", "input_norm=bn")
#: Ablations: one factor changed against a study row, to explain a measured gap.
ABLATIONS: list[Row] = [
    # -- recipe: the Gueguen input (item 2). Each changes what the first layer sees; the rows
    # run the default (dct24: DCTNet-24's frequencies only, per-coefficient BN).
    *[_abl(r, "recipe=paper", _mo(*_PAPER),
           "the paper's input: all 192 coefficients, per-coefficient BatchNorm", "recipe")
      for r in ("late_concat_rfa_thinner", "late_concat_rfa", "upsampling_rfa")],
    _abl("late_concat_rfa_thinner", "mask=24", _mo("channels=192", "input_norm=bn", "mask=24"),
         "192 coefficients + BN, all but DCTNet-24's frequencies zeroed after the BN (full width)",
         "recipe"),
    *[_abl(r, "recipe=low24", _mo("recipe=low24"),
           "DCTNet-24's frequencies at the natural scale times a learned gain (the default "
           "before the photos-v2 study)", "recipe", cuts=(0, 1))
      for r in ("late_concat_rfa_thinner", "late_concat_rfa", "upsampling_rfa")],
    _abl("late_concat_rfa_thinner", "drop=64", _mo("channels=64", "input_norm=bn"),
         "DCTNet-64's frequencies only + BN", "recipe"),
    _abl("late_concat_rfa_thinner", "norm=natural", _mo("channels=192", "input_norm=natural"),
         "192 coefficients, one scale per component, no input BN (the natural spectrum)",
         "recipe"),
    _abl("late_concat_rfa_thinner", "norm=gain", _mo("channels=192", "input_norm=gain"),
         "192 coefficients at the natural scale times a learned per-frequency gain", "recipe"),
    _abl("late_concat_rfa_thinner", "drop=24+natural", _mo("channels=24", "input_norm=natural"),
         "DCTNet-24's frequencies at the natural scale, no learned gain", "recipe"),
    # -- lr: a small sweep per row, scored on a held-out 20% of train (item 3)
    *[_abl(r, f"lr={lr}", ("--lr", str(lr), "--holdout", "0.2"),
           f"lr {lr}, evaluated on a held-out 20% of train (not val)", "lr", seeds=(0,))
      for r in ("resnet50", "late_concat_rfa", "late_concat_rfa_thinner", "dctnet24")
      for lr in (0.0125, 0.025, 0.05, 0.1)],
    # -- schedule (item 3)
    *[_abl(r, f"epochs={e}", ("--epochs", str(e)), f"{e // 4}x the epochs", "schedule", seeds=(0,))
      for r in ("resnet50", "late_concat_rfa") for e in (8, 16)],
    *[_abl(r, "clip=off", ("--clip-grad", "0"), "no gradient clipping", "schedule", seeds=(0,))
      for r in ("resnet50", "late_concat_rfa")],
    *[_abl(r, "smoothing=off", ("--label-smoothing", "0"), "no label smoothing", "schedule",
           seeds=(0,)) for r in ("resnet50", "late_concat_rfa")],
    # -- budget: hilo inside the same number of optimiser steps as every other row
    _abl("hilo", f"steps={STEP_BUDGET}", ("--step-budget", str(STEP_BUDGET)),
         f"{STEP_BUDGET} optimiser steps in all, split between its two steps", "budget",
         seeds=(0, 1, 2)),
    # -- scaling: the data-scaling curve (item 4)
    *[_abl(r, f"train={f}", ("--train-fraction", str(f)), f"{int(100 * f)}% of train", "scaling",
           seeds=(0, 1, 2))
      for r in ("resnet50", "late_concat_rfa", "late_concat_rfa_thinner", "dctnet24")
      for f in (0.25, 0.5)],
]
GROUPS = ("recipe", "lr", "schedule", "budget", "scaling")


@dataclass
class RunResult:
    row: Row
    seed: int
    path: Path
    data: dict[str, Any] = field(repr=False)
    cut: int = 0


def _run_name(row: Row, seed: int, cut: int = 0) -> str:
    return row.label.replace("/", "__").replace("=", "-") + f"-cut{cut}-seed{seed}.json"


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


def run_command(row: Row, seed: int, cut: int, args: argparse.Namespace, tmp: str) -> list[str]:
    """The run.py command line of one row, seed and cut."""
    cmd = [sys.executable, str(HERE / "run.py"), "--variant", row.variant,
           "--dataset", args.dataset, "--seed", str(seed), "--shift-max", "0",
           "--results-dir", tmp, "--checkpoint-dir", str(Path(tmp) / "ck"),
           "--run-dir", str(Path(tmp) / "runs"), "--no-progress"]
    if args.dataset == "photos-v2":
        cmd += ["--photos-opt", f"cut={cut}"]
    return cmd + [*row.args, *args.run_args]


def train_one(row: Row, seed: int, args: argparse.Namespace, runs_dir: Path, cut: int = 0,
              threads: Optional[int] = None) -> Path:
    """Run ``run.py`` for one row, seed and cut; return the result JSON copied into ``runs_dir``."""
    out = runs_dir / _run_name(row, seed, cut)
    with tempfile.TemporaryDirectory(prefix="jpegcoef-study-") as tmp:
        cmd = run_command(row, seed, cut, args, tmp)
        print(f"[study] {row.label} cut {cut} seed {seed}: {' '.join(cmd[1:])}", flush=True)
        env = dict(os.environ)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        t0 = time.perf_counter()
        with _locked(args.lock):
            proc = subprocess.run(cmd, cwd=HERE.parent, text=True, capture_output=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"run.py failed for {row.label} cut {cut} seed {seed} "
                               f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        found = sorted(Path(tmp).glob("*.json"))
        if len(found) != 1:
            raise RuntimeError(f"expected one result JSON from run.py, found {found}")
        data = json.loads(found[0].read_text())
        data["study"] = {"row": row.label, "seed": seed, "cut": cut,
                         "run_args": list(row.args) + args.run_args,
                         "wall_s": time.perf_counter() - t0, "threads": threads}
        tmp_out = out.with_suffix(".part")
        tmp_out.write_text(json.dumps(data, indent=1))
        os.replace(tmp_out, out)
        top1 = data["metrics"]["top1"]
        print(f"[study] {row.label} cut {cut} seed {seed}: top-1 {100 * top1:.1f}% "
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


#: two-sided 95% Student t quantiles by degrees of freedom (1.96 beyond the table)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
         17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def t975(dof: int) -> float:
    """The 97.5% quantile of Student's t with ``dof`` degrees of freedom (table; conservative
    between entries)."""
    if dof < 1:
        raise ValueError("need at least 2 pairs for an interval")
    return _T975.get(dof) or next((_T975[k] for k in sorted(_T975) if k > dof), 1.96)


def paired(diffs: list[float]) -> dict[str, Any]:
    """Mean of paired differences with its 95% t interval (None bounds for a single pair)."""
    m = statistics.fmean(diffs)
    if len(diffs) < 2:
        return {"mean": m, "ci95": None, "n": len(diffs)}
    half = t975(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return {"mean": m, "ci95": [m - half, m + half], "n": len(diffs)}


def spreads(runs: list[RunResult]) -> dict[str, Optional[float]]:
    """Seed spread (std over seeds within a cut, pooled) and cut spread (std of the per-cut
    means), in top-1 points: training-seed variance apart from dataset variance."""
    by_cut: dict[int, list[float]] = {}
    for r in runs:
        by_cut.setdefault(r.cut, []).append(100 * r.data["metrics"]["top1"])
    within = [statistics.variance(v) for v in by_cut.values() if len(v) > 1]
    cut_means = [statistics.fmean(v) for v in by_cut.values()]
    return {"seed_std": math.sqrt(statistics.fmean(within)) if within else None,
            "cut_std": statistics.stdev(cut_means) if len(cut_means) > 1 else None}


def _confusion(runs: list[RunResult]) -> Optional[dict[str, Any]]:
    """The per-class confusion (true x predicted) summed over a row's runs, when recorded."""
    mats = [r.data.get("confusion") for r in runs]
    if not mats or any(m is None for m in mats):
        return None
    first = mats[0]
    matrix = first["matrix"] if isinstance(first, dict) else first
    total = [[0] * len(matrix) for _ in matrix]
    for m in mats:
        mm = m["matrix"] if isinstance(m, dict) else m
        for i, row in enumerate(mm):
            for j, v in enumerate(row):
                total[i][j] += int(v)
    classes = first.get("classes") if isinstance(first, dict) else None
    acc = [row[i] / max(1, sum(row)) for i, row in enumerate(total)]
    return {"classes": classes, "matrix": total, "per_class_top1": acc}


def aggregate(results: list[RunResult], speed_info: Optional[dict[str, Any]],
              rows: list[Row]) -> dict[str, Any]:
    """Per row over its (cut, seed) runs: mean +- std, seed and cut spreads, the paired
    difference against resnet50 (and, for an ablation, against its row) at the same cuts and
    seeds with 95% intervals, MACs, images/s, optimiser steps and the summed confusion."""
    by_row: dict[str, dict[tuple[int, int], RunResult]] = {}
    for r in results:
        by_row.setdefault(r.row.label, {})[(r.cut, r.seed)] = r
    top = {label: {k: 100 * r.data["metrics"]["top1"] for k, r in runs.items()}
           for label, runs in by_row.items()}
    base = top.get(BASELINE)
    base_mean = statistics.fmean(base.values()) if base else None
    out_rows = []
    for row in rows:
        runs = [by_row[row.label][k] for k in sorted(by_row.get(row.label, {}))]
        if not runs:
            continue
        top1 = [100 * r.data["metrics"]["top1"] for r in runs]
        top5 = [100 * r.data["metrics"]["top5"] for r in runs]
        m, s = _mean_std(top1)
        meas = runs[0].data["measures"]
        entry: dict[str, Any] = {
            "row": row.label, "variant": row.variant, "run_args": list(row.args), "note": row.note,
            "group": row.group, "ablation_of": row.ablation_of, "model": runs[0].data["model"],
            "model_options": runs[0].data["model_options"],
            "input_format": runs[0].data["input_format"],
            "format_options": runs[0].data.get("format_options"),
            "seeds": [r.seed for r in runs], "cuts": [r.cut for r in runs],
            "top1": top1, "top1_mean": m, "top1_std": s, **spreads(runs),
            "top5_mean": statistics.fmean(top5),
            "params": meas["params"], "macs": meas["macs"],
            "train_images_per_s": _mean_or_none(r.data["measures"].get("train_images_per_s")
                                                for r in runs),
            "optimizer_steps": runs[0].data.get("optimizer_steps"),
            "eval_split": runs[0].data.get("eval_split", "val"),
            "hilo_early_exit": (runs[0].data.get("hilo") or {}).get("early_exit_rate"),
            "run_seconds": [r.data["timing"]["total_s"] for r in runs],
            "confusion": _confusion(runs),
        }
        mine = top[row.label]
        if base_mean is not None and entry["eval_split"] == "val":
            entry["top1_gap_vs_resnet50"] = m - base_mean
            entry["within_target"] = (m - base_mean) >= -TARGET_POINTS
            same = [k for k in mine if k in base]
            if same and row.label != BASELINE:
                entry["paired_vs_resnet50"] = paired([mine[k] - base[k] for k in same])
        # against the row it changes, at the same cuts and seeds; not for a row scored on
        # held-out train (the lr sweep): its top-1 is not comparable with val's
        if row.ablation_of and entry["eval_split"] == "val":
            parent = top.get(row.ablation_of, {})
            same = [k for k in mine if k in parent]
            if same:
                entry["paired_vs_row"] = paired([mine[k] - parent[k] for k in same])
                entry["top1_change_vs_row"] = entry["paired_vs_row"]["mean"]
        if speed_info and row.label in speed_info["rows"]:
            sp = speed_info["rows"][row.label]
            entry["inference_images_per_s"] = sp["images_per_s"]
            entry["speedup_vs_resnet50"] = sp.get("speedup_vs_resnet50")
            entry["macs_bench"] = sp.get("macs_per_image_with_exits", sp["macs_per_image"])
        out_rows.append(entry)
    return {"rows": out_rows}


def _fmt(x: Optional[float], spec: str, suffix: str = "") -> str:
    return "" if x is None else format(x, spec) + suffix


def _ci(p: Optional[dict[str, Any]]) -> str:
    if not p:
        return ""
    if p.get("ci95") is None:
        return f"{p['mean']:+.1f}"
    lo, hi = p["ci95"]
    return f"{p['mean']:+.1f} [{lo:+.1f}, {hi:+.1f}]"


def table(study: dict[str, Any]) -> str:
    """The study as a markdown table (the README's and the report's)."""
    lines = ["| variant | top-1 % (mean ± std) | Δ vs resnet50, paired [95% CI] | ablation: Δ vs its "
             "row [95% CI] | seed / cut std | top-5 % | GMACs | inference img/s | speed-up | "
             "optimiser steps | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in study["rows"]:
        std = "" if math.isnan(r["top1_std"]) else f" ± {r['top1_std']:.1f}"
        gap = r.get("paired_vs_resnet50")
        if gap is None and r.get("top1_gap_vs_resnet50") is not None and r["row"] != BASELINE:
            gap = {"mean": r["top1_gap_vs_resnet50"], "ci95": None}
        spread = " / ".join("-" if r.get(k) is None else f"{r[k]:.1f}" for k in ("seed_std", "cut_std"))
        inf = r.get("inference_images_per_s")
        sp = r.get("speedup_vs_resnet50")
        label = r["row"] + (" (held-out train)" if r.get("eval_split") == "holdout" else "")
        lines.append(f"| {label} | {r['top1_mean']:.1f}{std} | {_ci(gap)} | "
                     f"{_ci(r.get('paired_vs_row'))} | {spread} | {r['top5_mean']:.1f} | "
                     f"{r['macs'] / 1e9:.3f} | {_fmt(inf, '.0f')} | {_fmt(sp, '.2f', 'x')} | "
                     f"{_fmt(r.get('optimizer_steps'), 'd')} | {len(r['seeds'])} |")
    return "\n".join(lines)


def _load_runs(runs_dir: Path, plan: list[tuple[Row, list[int], list[int]]]) -> list[RunResult]:
    out = []
    for row, seeds, cuts in plan:
        for cut in cuts:
            for seed in seeds:
                p = runs_dir / _run_name(row, seed, cut)
                if p.exists():
                    out.append(RunResult(row, seed, p, json.loads(p.read_text()), cut))
    return out


def _parse_ints(text: str, what: str = "--seeds") -> list[int]:
    try:
        vals = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} takes integers like 0,1,2, got {text!r}")
    if not vals:
        raise argparse.ArgumentTypeError(f"{what} needs at least one value")
    return vals


def _parse_seeds(text: str) -> list[int]:
    return _parse_ints(text, "--seeds")


def _parse_cuts(text: str) -> list[int]:
    return _parse_ints(text, "--cuts")


def _parse_groups(text: str) -> list[str]:
    groups = list(GROUPS) if text.strip() == "all" else [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise argparse.ArgumentTypeError(f"--ablations takes 'all' or groups from {', '.join(GROUPS)}, "
                                         f"got {text!r}")
    return groups


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:4]))
    p.add_argument("--rows", help="comma-separated row labels (default: the study's 6; "
                                  f"known: {', '.join(r.label for r in STUDY + ABLATIONS)})")
    p.add_argument("--seeds", type=_parse_seeds, default=None,
                   help="comma-separated training seeds (default: each row's own: 0,1,2 for the "
                        "study, fewer for most ablations)")
    p.add_argument("--cuts", type=_parse_cuts, default=None,
                   help="comma-separated dataset cut seeds of photos-v2 (default: each row's own: "
                        "0,1 for the study, 0 for ablations)")
    p.add_argument("--ablations", type=_parse_groups, default=[], metavar="GROUPS",
                   help=f"also run these ablation groups: 'all' or some of {', '.join(GROUPS)}")
    p.add_argument("--dataset", default="photos-v2", choices=["photos-v2", "photos", "synthetic"],
                   help="photos-v2 (default), photos (v1: 10 photographs, no cuts) or synthetic")
    p.add_argument("--runs-dir", default=None,
                   help="one result JSON per row, cut and seed (kept; a present run is not "
                        "repeated; default experiments/results/study-<dataset>)")
    p.add_argument("--results-dir", default=str(HERE / "results"))
    p.add_argument("--jobs", type=int, default=1,
                   help="runs at a time, each with cores/jobs threads (train images/s are then "
                        "per job)")
    p.add_argument("--summarize", action="store_true",
                   help="no training: aggregate the runs in --runs-dir")
    p.add_argument("--no-speed", action="store_true", help="skip the side-by-side speed run")
    p.add_argument("--from-json", metavar="STUDY_JSON",
                   help="no runs: print the table of a study JSON written before")
    p.add_argument("--update-readme", action="store_true",
                   help="also write the table between README.md's study-table markers")
    p.add_argument("--speed-batch", type=int, default=32, help="batch of the speed run")
    p.add_argument("--speed-iters", type=int, default=6, help="timed iterations per round")
    p.add_argument("--speed-rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--lock", default=os.environ.get("JPEGCOEF_LOCK"),
                   help="flock this file around each run (share the machine with other heavy "
                        "jobs; default: $JPEGCOEF_LOCK)")
    p.add_argument("run_args", nargs="*", help="after '--': extra run.py arguments for every run")
    return p


def make_plan(args: argparse.Namespace, parser: argparse.ArgumentParser
              ) -> list[tuple[Row, list[int], list[int]]]:
    """(row, seeds, cuts) for every row asked for; --seeds / --cuts override each row's own."""
    known = {r.label: r for r in STUDY + ABLATIONS}
    if args.rows:
        labels = [s.strip() for s in args.rows.split(",") if s.strip()]
        unknown = [s for s in labels if s not in known]
        if unknown:
            parser.error(f"unknown rows {unknown}; known: {', '.join(known)}")
        rows = [known[s] for s in labels]
    else:
        rows = list(STUDY) + [r for r in ABLATIONS if r.group in args.ablations]
    cut_ok = args.dataset == "photos-v2"
    return [(r, list(args.seeds or r.seeds),
             list(args.cuts or r.cuts) if cut_ok else [0]) for r in rows]


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
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if args.cuts and args.dataset != "photos-v2":
        parser.error("--cuts applies to --dataset photos-v2 only")
    plan = make_plan(args, parser)
    runs_dir = Path(args.runs_dir or HERE / "results" / f"study-{args.dataset}")
    runs_dir.mkdir(parents=True, exist_ok=True)

    if not args.summarize:
        # seed-major, then cut: every row gets seed 0 on cut 0 before any gets another, so a
        # cut-short study still compares all rows
        todo = [(row, seed, cut) for seed in sorted({s for _, ss, _ in plan for s in ss})
                for cut in sorted({c for _, _, cs in plan for c in cs})
                for row, seeds, cuts in plan
                if seed in seeds and cut in cuts and not (runs_dir / _run_name(row, seed, cut)).exists()]
        print(f"[study] {len(todo)} runs to do in {runs_dir} ({args.jobs} at a time)", flush=True)
        threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(train_one, row, seed, args, runs_dir, cut, threads)
                       for row, seed, cut in todo]
            for f in concurrent.futures.as_completed(futures):
                f.result()
    results = _load_runs(runs_dir, plan)
    if not results:
        print(f"no runs in {runs_dir} for these rows, seeds and cuts", file=sys.stderr)
        return 1
    rows = [r for r, _, _ in plan]
    speed_info = None if args.no_speed else speed(results, args, runs_dir)
    study = aggregate(results, speed_info, rows)
    first = next((r.data for r in results if r.row.label == BASELINE), results[0].data)
    study.update({
        "schema": "jpegcoef.study/1",
        "study": f"accuracy against resnet50 on real photographs ({args.dataset})",
        "command": " ".join(["python", "experiments/study.py"] + (argv if argv is not None
                                                                  else sys.argv[1:])),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target_points": TARGET_POINTS, "baseline": BASELINE,
        "dataset": {k: first["dataset"].get(k) for k in ("name", "classes", "train_images",
                                                          "val_images", "generator",
                                                          "photos_options")},
        "cuts": sorted({r.cut for r in results}), "seeds": sorted({r.seed for r in results}),
        "runs": len(results),
        "wall_s_runs": sum((r.data.get("study") or {}).get("wall_s", 0.0) for r in results),
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
    cuts = study.get("cuts") or [0]
    head = (f"**{d.get('name') or 'photos'}** ({d['classes']} classes, {d['train_images']} train / "
            f"{d['val_images']} val crops of real photographs; crop {s['crop']} px, {s['epochs']} "
            f"epochs, batch {s['batch_size']}, augment {s['augment']}; top-1 mean ± std over "
            f"seeds {','.join(map(str, study.get('seeds', [])))} x cuts {','.join(map(str, cuts))}; inference "
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
