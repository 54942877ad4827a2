#!/usr/bin/env python3
"""Build ``experiments/report.ipynb`` from the cells below and execute it (outputs included).

    python experiments/make_report.py            # rebuild + execute + save with outputs
    python experiments/make_report.py --no-run   # rebuild the cells only

The notebook reads every ``experiments/results/*.json`` at run time: run results
(``<variant>-<dataset>-<time>.json``, schema ``jpegcoef.run/1``, see ``harness/results.py``)
and, when present, the decode / pipeline benchmarks (``decode-*.json``, ``pipeline-*.json``).
It needs matplotlib (Agg backend), nbformat, nbclient and an ipykernel ``python3`` kernel.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "report.ipynb"

INTRO = """\
# jpegcoef: results report

Everything below is computed from the files in `experiments/results/` when the notebook runs:
the training runs of `experiments/run.py` (one JSON per variant and dataset) and, when present,
the decode and pipeline benchmarks. Rebuild and re-execute with
`python experiments/make_report.py`; CI executes this notebook headlessly
(`tests/test_report.py`), so it cannot drift into a broken state.

**Read the numbers for what they are:** the embedded synthetic dataset is small, the CPU runs
are a few epochs long and every speed is measured on the machine named in each table (a shared
2-core CPU for the committed runs). The published ImageNet numbers are shown beside ours for
orientation, not as a like-for-like comparison."""

SETUP = """\
import io, json, math, statistics, sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, Markdown, display

HERE = Path.cwd()
for cand in (HERE, HERE / "experiments", HERE.parent / "experiments"):
    if (cand / "harness" / "results.py").is_file():
        EXP = cand
        break
else:
    raise RuntimeError(f"run this notebook from the repository or experiments/ ({HERE})")
sys.path.insert(0, str(EXP))
from harness import results as R

RESULTS = EXP / "results"
runs = R.latest(R.load_all(RESULTS))
datasets = list(dict.fromkeys(r["dataset"]["name"] for r in runs))

def show(fig):
    \"\"\"Render a figure as PNG (Agg backend) into the notebook.\"\"\"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    display(Image(buf.getvalue()))

def md_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\\n".join(lines)

print(f"{len(runs)} run result(s) in {RESULTS.name}/ for dataset(s): {', '.join(datasets) or 'none'}")"""

TABLES_MD = """\
## Accuracy, cost and speed per dataset

One table per dataset (newest result per variant). Top-1/top-5 and shift consistency in %,
parameters in millions, MACs per image at the evaluation crop (hilo: average at its
early-exit threshold), images/s for inference (host-to-device copy + format's device step +
forward, eval mode), training (forward + backward + step) and the data pipeline alone,
and host-to-device bytes per image; "run s" is the wall time of the whole run of that variant
(training, evaluation, measurement). Speeds on the shared CPU vary with what else ran at the
time: compare them within a row of the same run, and expect noise of tens of percent."""

TABLES = """\
if not runs:
    display(Markdown("_No run results yet: `python experiments/run.py --variant all` writes them._"))
for name in datasets:
    rs = [r for r in runs if r["dataset"]["name"] == name]
    s, m, d = rs[0]["schedule"], rs[0]["measures"], rs[0]["dataset"]
    display(Markdown(f"### {name}\\n{d['classes']} classes, {d['train_images']} train / "
                     f"{d['val_images']} val images; crop {s['crop']} px, {s['epochs']} epochs, "
                     f"batch {s['batch_size']} x {s['world_size']} process(es); "
                     f"{R.device_note(rs)}; inference batch {m.get('inference_batch')}"
                     + ("; hilo trains each of its two steps for that many epochs"
                        if any(r.get("hilo") for r in rs) else "")))
    head, rows = R.table_rows(rs)
    display(Markdown(md_table(head, rows)))"""

STUDY_MD = """\
## Accuracy on real photographs: the study

`python experiments/study.py` (issues 12, 26): every family against resnet50 on
`jpegcoef.datasets.photos_v2()` (crops of 37 photographs that Debian's wallpaper packages ship, one
class each; train and val cells interleaved over each photograph, at least 8 val cells per
photograph, moved by the dataset *cut* seed), one schedule and one augmentation policy for all (the
`photos-v2` profile: RandomResizedCrop + flip, DCT-domain for DCT inputs; evaluation resize +
centre crop), training seeds x cuts. The Gueguen rows use the default input recipe (`low24`:
DCTNet-24's frequencies at their natural scale times a learned gain); `/recipe=paper` rows are the
paper's input (192 coefficients, per-coefficient BatchNorm). Top-1 is mean ± std over the runs;
"paired Δ" is the mean difference against resnet50 at the same seed and cut with its 95% t
interval; the seed and cut spreads separate training-seed variance from dataset variance.
Inference images/s come from one side-by-side run of every row's model at the study's crop
(`bench_models.py --size`, interleaved rounds; hilo with no early exit, its worst case). The
claim under test: every DCT variant within 1 point of resnet50. The published ImageNet top-1
beside each row was measured under the paper's own protocol and data: orientation, not comparison.
Below the table: the data-scaling curve (the `/train=F` rows) and the summed confusion matrices."""

STUDY = """\
PUBLISHED_TOP1 = {"resnet50": "75.78", "late_concat_rfa": "75.92", "upsampling_rfa": "-",
                  "late_concat_rfa_thinner": "75.39", "dctnet24": "76.79", "dctnet64": "77.16",
                  "hilo": "83.22 (mini-ImageNet; DCT-24 s2: 83.59)"}
studies = (sorted(RESULTS.glob("study-photos-v2-*.json"))
           or sorted(RESULTS.glob("study-photos-2*.json")))
if not studies:
    display(Markdown("_No study yet: `python experiments/study.py` writes `study-photos-v2-*.json`._"))
else:
    st = json.loads(studies[-1].read_text())
    d, s, sp = st["dataset"], st["schedule"], st.get("speed") or {}
    display(Markdown(
        f"`{studies[-1].name}`: {d['classes']} classes, {d['train_images']} train / "
        f"{d['val_images']} val images; crop {s['crop']} px, {s['epochs']} epochs, batch "
        f"{s['batch_size']}, lr {s['lr']}, augment {s['augment']}; cuts {st.get('cuts', [0])}, "
        f"seeds {st.get('seeds')}; {st.get('runs', '?')} runs, "
        f"{st.get('wall_s_runs', 0) / 3600:.1f} h of run time; speed on "
        f"{sp.get('device_name', '?')} ({sp.get('threads', '?')} threads). Command: `{st['command']}`"))

    def _pd(p):
        if not p:
            return ""
        ci = p.get("ci95")
        return f"{p['mean']:+.1f}" + ("" if not ci else f" [{ci[0]:+.1f}, {ci[1]:+.1f}]")

    head = ["row", "top-1 % mean ± std", "paired Δ vs resnet50 [95%]", "ablation: Δ vs its row",
            "seed / cut std", "runs", "steps", "GMACs", "inference img/s", "speed-up",
            "published ImageNet top-1"]
    rows = []
    for r in st["rows"]:
        std = "" if r["top1_std"] != r["top1_std"] else f" ± {r['top1_std']:.1f}"
        inf, spd = r.get("inference_images_per_s"), r.get("speedup_vs_resnet50")
        sc = "/".join("-" if r.get(k) is None else f"{r[k]:.1f}" for k in ("seed_std", "cut_std"))
        rows.append([r["row"] + (" (held-out train)" if r.get("eval_split") == "holdout" else ""),
                     f"{r['top1_mean']:.1f}{std}", _pd(r.get("paired_vs_resnet50")),
                     _pd(r.get("paired_vs_row")), sc, str(len(r["top1"])),
                     "" if r.get("optimizer_steps") is None else str(r["optimizer_steps"]),
                     f"{r['macs'] / 1e9:.3f}", "" if inf is None else f"{inf:.0f}",
                     "" if spd is None else f"{spd:.2f}x",
                     PUBLISHED_TOP1.get(r["row"], "-") if not r.get("ablation_of") else ""])
    display(Markdown(md_table(head, rows)))
    by = {r["row"]: r for r in st["rows"]}
    main = [r for r in st["rows"] if not r.get("ablation_of") and r.get("inference_images_per_s")]
    if main:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        base = by.get(st["baseline"])
        if base:
            ax.axhspan(base["top1_mean"] - st["target_points"], base["top1_mean"] + st["target_points"],
                       color="0.9", label=f"resnet50 ± {st['target_points']:g} pt (the papers' claim)")
        for r in main:
            err = 0 if r["top1_std"] != r["top1_std"] else r["top1_std"]
            ax.errorbar(r["inference_images_per_s"], r["top1_mean"], yerr=err, fmt="o", capsize=4,
                        color="C3" if r["input_format"] == "rgb" else "C0")
            ax.annotate(r["row"], (r["inference_images_per_s"], r["top1_mean"]), fontsize=8,
                        xytext=(5, 4), textcoords="offset points")
        ax.set_xlabel(f"inference images/s (batch {sp.get('batch_size', '?')}, side by side)")
        ax.set_ylabel("val top-1 % (mean ± std over runs)")
        ax.set_title("photos-v2 study: accuracy against speed (red: RGB, blue: DCT input)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        show(fig)

    # the data-scaling curve: each row at 25% / 50% of train and, at the same cuts and seeds, 100%
    curves = {}
    for r in st["rows"]:
        if r.get("group") == "scaling" and r.get("ablation_of") in by:
            frac = float(r["row"].split("train=")[1])
            full = by[r["ablation_of"]]
            keys = set(zip(r["cuts"], r["seeds"]))
            at100 = [t for c, sd, t in zip(full["cuts"], full["seeds"], full["top1"]) if (c, sd) in keys]
            pts = curves.setdefault(r["ablation_of"], {})
            pts[frac] = (statistics.fmean(r["top1"]), len(r["top1"]))
            if at100:
                pts[1.0] = (statistics.fmean(at100), len(at100))
    if curves:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for name, pts in curves.items():
            xs = sorted(pts)
            ax.plot([100 * x for x in xs], [pts[x][0] for x in xs], "o-", label=name,
                    color="C3" if name == st["baseline"] else None)
        ax.set_xscale("log", base=2)
        ax.set_xticks([25, 50, 100], ["25%", "50%", "100%"])
        ax.set_xlabel("share of the training split")
        ax.set_ylabel("val top-1 %")
        ax.set_title("data scaling (same cuts and seeds at every share)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        show(fig)
        display(Markdown(md_table(["row"] + [f"{int(100 * f)}%" for f in (0.25, 0.5, 1.0)],
                                  [[n] + [f"{pts[f][0]:.1f} (n={pts[f][1]})" if f in pts else "-"
                                          for f in (0.25, 0.5, 1.0)] for n, pts in curves.items()])))

    # summed confusion: resnet50 and the thinner Gueguen model, and the classes where they differ most
    pair = [by[n] for n in (st["baseline"], "late_concat_rfa_thinner") if by.get(n, {}).get("confusion")]
    if len(pair) == 2:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
        for ax, r in zip(axes, pair):
            m = np.array(r["confusion"]["matrix"], dtype=float)
            ax.imshow(m / np.maximum(1, m.sum(1, keepdims=True)), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"{r['row']}: confusion (rows: true), summed over {len(r['top1'])} runs",
                         fontsize=9)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
        show(fig)
        names = pair[0]["confusion"]["classes"] or [str(i) for i in range(len(pair[0]["confusion"]["matrix"]))]
        a, b = (np.array(r["confusion"]["per_class_top1"]) for r in pair)
        order = np.argsort(b - a)[:6]
        display(Markdown("Classes where late_concat_rfa_thinner trails resnet50 most (per-class top-1 %):\\n\\n"
                         + md_table(["class", "resnet50", "late_concat_rfa_thinner"],
                                    [[names[i], f"{100 * a[i]:.0f}", f"{100 * b[i]:.0f}"] for i in order])))"""

PUBLISHED_MD = """\
## Published numbers beside ours

From DESIGN.md and the authors' repositories named in each row (ImageNet unless noted);
"counted here" is this project's architecture count (`python -m models summary`, asserted in
tests/test_models*.py). Ours come from the committed runs: a different,
much smaller dataset and schedule, so only the *relative* picture (ranking, speed ratios)
is meaningful to compare.

| model | published top-1 / top-5 | published note |
|---|---|---|
| ResNet-50 (RGB) | 75.78 / 92.65 | 4.09 GMACs (stride on 3x3), 25.6M params |
| Late-Concat-RFA | 75.92 / 92.81 | Gueguen et al., via jpeg_deep |
| Late-Concat-RFA-Thinner | 75.39 / 92.57 | "1.77x faster than ResNet-50 at about the same accuracy"; counted here with res3a's 384->384 projection (the authors' diagram): 24.68M params, 2.89 GMACs at 224 px |
| Deconvolution-RFA | 76.06 / - | BN after the concatenation (192 channels) |
| DCTNet DCT-24 | 76.79 / 93.25 | Xu et al. (448 px input); counted here: 13.5 GMACs with the released layer2 stride 1 |
| DCTNet DCT-64 | 77.16 / 93.47 | |
| MobileNetV2 (RGB) | 71.70 / 90.42 | DCTNet's README; torchvision's architecture, counted here: 3,504,872 params, 0.30 GMACs at 224 px |
| MobileNetV2 DCT-24 | 72.36 / 90.61 | DCTNet's README, 112x112 per channel (896 px); counted here: 3,503,728 params, 0.29 GMACs |
| MobileNetV2 DCT-32 | 72.28 / 90.59 | DCTNet's README; counted here: 3,503,944 params, 0.29 GMACs |
| high/low split (seeds/004) | 83.22 (mini-ImageNet) | vs 83.59 DCT-24 ResNet-50 at layer2 stride 2 (`dctnet24_s2`: 23.7M params, 3.93 GFLOPs); 11.88M params, 1.31 GFLOPs avg, 68% early exit |
| ResNet-50 anti-aliased (Zhang) | 77.41 / - | adobe/antialiased-cnns README (baseline 76.16); consistency 91.32 vs 89.20; blur after the 3x3, filter size 4; counted here: 5.14 GMACs at 224 px |"""

PROTOCOLS_MD = """\
## The papers' protocols

The data protocols the published numbers above were measured under, as `run.py --protocol NAME`
resolves them (read from `experiments/harness/protocols.py`, not copied here). The committed runs
of this report use the synthetic profile (crop 64, `--augment rrc`), i.e. each protocol scaled
by `--crop`; shift consistency shifts RGB and DCT inputs alike by random multiples of 16 px."""

PROTOCOLS = """\
from harness import protocols
rows = []
for p in protocols.PROTOCOLS.values():
    r = p.resolved()
    opts = "; ".join(f"{m}: {o}" for m, o in p.variant_defaults.items()) or "-"
    rows.append([p.name, p.paper, f"{p.augment} {r['crop']}", f"resize {r['eval_resize']}, centre {r['crop']}",
                 p.chroma, p.stats, ", ".join(p.baseline), opts,
                 p.hilo_threshold if p.hilo_threshold is not None else "-"])
display(Markdown(md_table(["protocol", "paper", "train", "evaluate", "chroma", "statistics",
                           "baseline", "model options", "threshold"], rows)))"""

PUBLISHED = """\
PUBLISHED = {  # variant -> (top-1 %, top-5 % or None, source)
    "resnet50": (75.78, 92.65, "ImageNet"),
    "late_concat_rfa": (75.92, 92.81, "ImageNet"),
    "late_concat_rfa_thinner": (75.39, 92.57, "ImageNet"),
    "deconvolution_rfa": (76.06, None, "ImageNet"),
    "dctnet": (76.79, 93.25, "ImageNet (DCT-24)"),
    "dctnet24": (76.79, 93.25, "ImageNet (DCT-24)"),
    "dctnet64": (77.16, 93.47, "ImageNet (DCT-64)"),
    "hilo": (83.22, None, "mini-ImageNet"),
    "dctnet24_s2": (83.59, None, "mini-ImageNet (seeds/004's DCT-24 baseline)"),
    "mobilenet_v2": (71.702, 90.415, "ImageNet (DCTNet's README)"),
    "mobilenet_v2_dct": (72.364, 90.606, "ImageNet (DCT-24, DCTNet's README)"),
    "mobilenet_v2_dct24": (72.364, 90.606, "ImageNet (DCT-24, DCTNet's README)"),
    "mobilenet_v2_dct32": (72.282, 90.592, "ImageNet (DCT-32, DCTNet's README)"),
    "resnet50_blur": (77.41, None, "ImageNet (adobe/antialiased-cnns)"),
}
for name in datasets:
    rs = {r["variant"]: r for r in runs if r["dataset"]["name"] == name}
    rows = []
    for v, (p1, p5, src) in PUBLISHED.items():
        if v not in rs:
            continue
        met = rs[v]["metrics"]
        rows.append([v, f"{p1:.2f}", "-" if p5 is None else f"{p5:.2f}", src,
                     f"{100 * met['top1']:.1f}", f"{100 * met['top5']:.1f}"])
    if rows:
        display(Markdown(f"**{name}**\\n\\n" + md_table(
            ["variant", "published top-1", "published top-5", "published on", f"ours top-1 ({name})",
             f"ours top-5 ({name})"], rows)))
    base, thin = rs.get("resnet50"), rs.get("late_concat_rfa_thinner")
    if base and thin and base["measures"].get("inference_images_per_s") and thin["measures"].get("inference_images_per_s"):
        ratio = thin["measures"]["inference_images_per_s"] / base["measures"]["inference_images_per_s"]
        macs = base["measures"]["macs"] / thin["measures"]["macs"]
        mt, mb = thin["measures"], base["measures"]
        display(Markdown(
            f"Late-Concat-RFA-Thinner vs ResNet-50 on **{name}**, as measured by `run.py`: "
            f"**{ratio:.2f}x** inference images/s (published: 1.77x on GPU), {macs:.2f}x fewer "
            f"MACs, at the training crop of {thin['schedule']['crop']} px, batch "
            f"{mt.get('inference_batch')}, on {mt['device_name']}. This is each run's own quick "
            f"measure (2 warm-up batches, then the same validation batch repeated for "
            f"`--measure-seconds`, 3 s by default; copy + format device step + forward), taken "
            f"at the end of two separate runs, at different times and machine load, not side by "
            f"side, so a change in machine load between the two runs moves the ratio (the "
            f"committed runs were made with `nice` on a shared machine; load average at the "
            f"measurement: ResNet-50 {mb.get('load_average_at_measure', 'not recorded')}, "
            f"Thinner {mt.get('load_average_at_measure', 'not recorded')}). At a 64 px crop "
            f"the maps are tiny (ResNet-50 ends at 2x2), so fixed per-layer costs weigh more "
            f"than at 224 px. Read it as a sanity figure, not the benchmark: the controlled "
            f"comparison is `experiments/bench_models.py` (next table)."))
bench = sorted(RESULTS.glob("models-*.json"))
if bench:
    b = json.loads(bench[-1].read_text())
    rows = []
    for e in b.get("results", []):
        if e.get("variant") in ("resnet50", "late_concat_rfa_thinner"):
            rows.append([e["variant"], e["batch_size"], f"{e['images_per_s']:.1f}",
                         f"{e['speedup_vs_resnet50']:.2f}x", f"{e['macs_per_image'] / 1e9:.2f}",
                         f"{e['macs_ratio_vs_resnet50']:.2f}x"])
    la = (b.get("load_average_start"), b.get("load_average_end"))
    display(Markdown(
        f"**Inference benchmark** `{bench[-1].name}` (`experiments/bench_models.py`, "
        f"{b.get('utc')}): the papers' input sizes (224 px RGB for ResNet-50, the 224 px "
        f"JPEG's DCT blocks for the Gueguen models), random weights, {b.get('num_classes')} "
        f"classes, forward pass only on a ready input, every variant timed in interleaved "
        f"rounds and the median taken, so load changes hit all alike; {b.get('device_name')}, "
        f"{b.get('threads')} threads, load average {la[0]:.1f} -> {la[1]:.1f}"
        + ("" if {r["measures"].get("device_name", "").split(" (")[0] for r in runs
                  if r["variant"] in ("resnet50", "late_concat_rfa_thinner")}
           <= {b.get("device_name")} else
           " (not the machine of the run.py figures above)")
        + ".\\n\\n"
        + md_table(["variant", "batch", "images/s", "x resnet50", "GMACs", "MACs ratio"], rows)))"""

SPEED_MD = """\
## Accuracy against inference speed

The papers' speed/accuracy figure: each point is one variant (top-1 on the validation split
against inference images/s on the stated device)."""

SPEED = """\
for name in datasets:
    rs = [r for r in runs if r["dataset"]["name"] == name and r["measures"].get("inference_images_per_s")]
    if not rs:
        print(f"{name}: no inference speed measured")
        continue
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for r in rs:
        x, y = r["measures"]["inference_images_per_s"], 100 * r["metrics"]["top1"]
        marker = {"rgb": "s", "gueguen": "o", "dctnet": "^"}.get(r["input_format"], "o")
        ax.scatter([x], [y], marker=marker, s=50)
        ax.annotate(r["variant"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(f"inference images/s ({rs[0]['measures']['device_name']}, batch {rs[0]['measures']['inference_batch']})")
    ax.set_ylabel("top-1 %")
    ax.set_title(f"{name}: accuracy vs speed (square RGB, circle Gueguen, triangle DCTNet)")
    ax.grid(alpha=0.3)
    show(fig)"""

GATE_MD = """\
## DCTNet gate: channel-selection frequency

How often the learned gate keeps each DCT channel on the validation set, laid out as each
component's 8x8 frequency grid (row = vertical frequency, column = horizontal; top-left = DC),
as in the DCTNet paper's heat map. Channels the input format does not carry are blank.

The decisions are the gate's deterministic eval-mode choices, so a channel's value is the
fraction of validation images for which the gate let it through. The training settings that
shape the map (lambda of the `lambda x fraction on` penalty, the gate's learning-rate multiple,
which statistics normalise its input) are printed under each map; the synthetic schedule is
74 SGD steps, so read the map as what the gate learned in that time, not as DCTNet's ImageNet
pattern."""

GATE = """\
gated = [r for r in runs if r.get("gate")]
if not gated:
    print("no gated run in the results")
for r in gated:
    g = r["gate"]
    grids = {c: np.full((8, 8), np.nan) for c in ("Y", "Cb", "Cr")}
    for name, f in zip(g["channels"], g["frequency"]):
        comp = name.rstrip("0123456789")
        if comp in grids:
            i = int(name[len(comp):])
            grids[comp][i // 8, i % 8] = f
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for ax, (comp, grid) in zip(axes, grids.items()):
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(comp)
        ax.set_xticks(range(8)); ax.set_yticks(range(8))
    fig.colorbar(im, ax=axes, shrink=0.8, label="fraction of images with the channel on")
    fig.suptitle(f"{r['variant']} on {r['dataset']['name']} (lambda {g['lambda']}, "
                 f"mean on {g['mean_on']:.2f}, top-1 {100 * r['metrics']['top1']:.1f}%)")
    show(fig)
    sch = r["schedule"]
    freq = np.asarray(g["frequency"])
    always = [n for n, f in zip(g["channels"], freq) if f >= 0.999]
    never = [n for n, f in zip(g["channels"], freq) if f <= 0.001]
    per = ", ".join(f"{c} {np.nanmean(grid):.2f}" for c, grid in grids.items())
    stats = (r.get("input_stats") or {}).get("source", "jpegcoef's shipped statistics")
    display(Markdown(
        f"lambda {g['lambda']}, gate learning rate x{sch.get('gate_lr_scale') or 1:g}, input "
        f"normalised with {stats}; {sch['epochs']} epochs. Mean fraction on per component: "
        f"{per}. On for every image: {', '.join(always) or 'none'}. Off for every image: "
        f"{len(never)} of {len(freq)} channels. "
        + "; ".join(f"{c}: low frequencies (row + column <= 3) {np.nanmean(grid[low]):.2f} on "
                    f"average, the others {np.nanmean(grid[~low]):.2f}"
                    for c, grid in grids.items()
                    for low in [np.add.outer(np.arange(8), np.arange(8)) <= 3]
                    if not np.isnan(grid).all()) + "."))"""

HILO_MD = """\
## High/low model: accuracy and average MACs against the early-exit threshold

An image leaves after the low model when its top-1 softmax probability reaches the threshold.
The sweep comes from two measured passes over the validation set (every image exiting; no
image exiting); the marked point is the model's own threshold, measured directly. Training
follows seeds/004: step 1 (low input conv + high model), then step 2 (low stages + classifier,
low input conv frozen), each a full run of the schedule. The models are trained with label
smoothing 0.1, which keeps top-1 probabilities below about 0.9, and for only a few epochs, so
few images reach the paper's 0.85 threshold here; the curve shows what lower thresholds buy."""

HILO = """\
hl = [r for r in runs if r.get("hilo")]
if not hl:
    print("no high/low run in the results")
for r in hl:
    h = r["hilo"]
    t = [s["threshold"] for s in h["sweep"]]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.plot(t, [100 * s["top1"] for s in h["sweep"]], "-o", ms=3, label="top-1 %")
    ax.plot(t, [100 * s["exit_rate"] for s in h["sweep"]], "--", label="early exit %")
    ax.scatter([h["threshold"]], [100 * r["metrics"]["top1"]], c="k", zorder=5,
               label=f"measured at {h['threshold']}")
    ax.set_xlabel("threshold"); ax.set_ylabel("%"); ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(t, [s["avg_macs"] / 1e6 for s in h["sweep"]], "r-", label="average MMACs (right)")
    ax2.set_ylabel("average MMACs / image", color="r")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [x.get_label() for x in handles], loc="center left", fontsize=8)
    ax.set_title(f"hilo on {r['dataset']['name']}: exit rate {100 * h['early_exit_rate']:.0f}% "
                 f"at {h['threshold']}, {h['avg_macs'] / 1e6:.0f} of {h['macs_full'] / 1e6:.0f} MMACs")
    show(fig)
    best = max((s for s in h["sweep"] if s["top1"] >= h["top1_high"] - 0.005),
               key=lambda s: s["exit_rate"], default=None)
    text = (f"Low model alone: {100 * h['top1_low']:.1f}% top-1 at {h['macs_low'] / 1e6:.0f} "
            f"MMACs; both models (no exit): {100 * h['top1_high']:.1f}% at "
            f"{h['macs_full'] / 1e6:.0f} MMACs; at threshold {h['threshold']}: "
            f"{100 * r['metrics']['top1']:.1f}% with {100 * h['early_exit_rate']:.1f}% exiting "
            f"early ({h['avg_macs'] / 1e6:.0f} MMACs on average). "
            f"Steps: {r['schedule'].get('hilo_step_epochs')} epochs; model options "
            f"{r['model_options']}.")
    if best:
        text += (f" The lowest swept threshold within 0.5 points of the no-exit accuracy is "
                 f"{best['threshold']}: {100 * best['top1']:.1f}% with "
                 f"{100 * best['exit_rate']:.0f}% exiting ({best['avg_macs'] / 1e6:.0f} MMACs).")
    display(Markdown(text))"""

BENCH_MD = """\
## Decoding and data-pipeline speed against Pillow

From the benchmark files `decode-*.json` (`experiments/bench_decode.py`) and
`pipeline-*.json`, when present: images/s of each method, and its ratio to Pillow's full
decode measured in the same run."""

BENCH = """\
def bench_rows(data):
    \"\"\"(label, images/s, x Pillow) rows of a benchmark file. decode-*.json: a "methods"
    mapping with images_per_s and x_pillow; pipeline-*.json: a "results" list of pipelines
    (the "rgb" pipeline is Pillow's decode + crop; ratios are taken at equal workers).\"\"\"
    rows = []
    methods = data.get("methods")
    if isinstance(methods, dict):
        for e in methods.values():
            if isinstance(e, dict) and e.get("status", "ok") == "ok" and e.get("images_per_s"):
                rows.append((str(e.get("label") or "?"), e["images_per_s"], e.get("x_pillow")))
    res = data.get("results")
    if isinstance(res, list):
        pillow = {e.get("workers"): e["images_per_s"] for e in res
                  if isinstance(e, dict) and e.get("pipeline") in ("rgb", "rgb-rrc") and e.get("images_per_s")}
        for e in res:
            if isinstance(e, dict) and e.get("images_per_s"):
                base = pillow.get(e.get("workers"))
                rows.append((f"{e.get('pipeline', '?')} (workers={e.get('workers', '?')})",
                             e["images_per_s"], e["images_per_s"] / base if base else None))
    return rows

found = False
for kind in ("decode", "pipeline"):
    for path in sorted(RESULTS.glob(f"{kind}-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{path.name}: unreadable ({exc})")
            continue
        rows = bench_rows(data) if isinstance(data, dict) else []
        if not rows:
            print(f"{path.name}: no per-method images/s in this file")
            continue
        found = True
        rows.sort(key=lambda r: r[1])
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.4))
        colors = ["tab:orange" if ("pillow" in r[0].lower() or r[0].startswith("rgb ")) else "tab:blue"
                  for r in rows]
        ax.barh([r[0] for r in rows], [r[1] for r in rows], color=colors)
        for i, r in enumerate(rows):
            if r[2]:
                ax.text(r[1], i, f" {r[2]:.2f}x Pillow", va="center", fontsize=7)
        corpus = Path(str(data.get("corpus", ""))).name
        n = data.get("n_files", data.get("files", "?"))
        ax.set_xlabel("images/s (orange: Pillow baseline)")
        ax.set_title(f"{path.name} ({corpus}, {n} files)", fontsize=9)
        show(fig)
if not found:
    print("no decode-*.json / pipeline-*.json benchmark results in experiments/results/ yet")

# DCT-domain augmentation (issue 11): the newest pipeline run that measured the device step
latest = None
for path in sorted(RESULTS.glob("pipeline-*.json")):
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        continue
    if isinstance(data, dict) and data.get("device_step"):
        latest = (path, data)
if latest:
    path, data = latest
    lines = [f"**{path.name}** (`{data.get('command', '')}`)", "",
             "| pipeline | workers | img/CPU-s host only | x rgb-rrc per core (DCT host only) | bytes/img |",
             "|---|---:|---:|---:|---:|"]
    ratios = data.get("ratio_issue_definition_per_core", {})
    for e in data["results"]:
        r = ratios.get(e["pipeline"], {}).get(str(e["workers"]), "") if isinstance(ratios, dict) else ""
        lines.append(f"| {e['pipeline']} | {e['workers']} | {e.get('images_per_cpu_s_host_only', '')} | {r} | "
                     f"{e.get('bytes_per_image', '')} |")
    lines += ["", "| device step, batch 64 | ms (CPU) | model forward ms (CPU) | share | bytes/img |",
              "|---|---:|---:|---:|---:|"]
    for name, d in data["device_step"].items():
        lines.append(f"| {name} ({d['model']}) | {d.get('device_step_ms_cpu')} | {d.get('forward_ms_cpu')} | "
                     f"{d.get('device_step_share_cpu')} | {d.get('bytes_per_image')} |")
    display(Markdown("\\n".join(lines)))"""


SEGMENT_MD = """\
## Dense prediction: segmentation of the synthetic set

From the newest `segment-*.json` (`python experiments/segment.py`): a light FPN head (1x1
laterals to 64 channels, top-down nearest upsampling + add, 3x3 conv, classifier, bilinear
upsampling to the crop's pixels) on each `features_only` backbone, trained from scratch on
`datasets.synthetic(masks=True)` (labels: background + one per class). mIoU is over the
labels present in the validation masks, background included; mIoU and pixel accuracy in %.
Images/s are measured in the same run: training (data loading, forward, backward, step) and
inference (the validation pass: read, crop, format, forward)."""

SEGMENT = """\
seg_files = sorted(RESULTS.glob("segment-*.json"))
seg = None
for path in seg_files:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{path.name}: unreadable ({exc})")
        continue
    if isinstance(data, dict) and data.get("schema") == "jpegcoef.segment/1" and (
            seg is None or data.get("created", "") >= seg[1].get("created", "")):
        seg = (path, data)
if seg is None:
    display(Markdown("_No segmentation results yet: `python experiments/segment.py` writes them._"))
else:
    path, data = seg
    c, d = data["config"], data["dataset"]
    rows = []
    for r in data["results"]:
        m, me = r["metrics"], r["measures"]
        rows.append([r["backbone"], r["input_format"], f"{100 * m['miou']:.1f}",
                     f"{100 * m['pixel_accuracy']:.1f}", f"{me['train_images_per_s']:.1f}",
                     f"{me['inference_images_per_s']:.1f}", f"{me['params'] / 1e6:.2f}"])
    display(Markdown(
        f"**{path.name}** (`{data['environment'].get('command', '')}`): {d['train_images']} train / "
        f"{d['val_images']} val images, {len(d['labels'])} labels; crop {c['crop']} px, {c['epochs']} "
        f"epochs, batch {c['batch_size']}, {c['optimizer']} lr {c['lr']}; "
        f"{data['environment'].get('device_name', '')}; run {data['timing']['total_s'] / 60:.1f} min\\n\\n"
        + md_table(["backbone", "input", "mIoU %", "pixel acc %", "train img/s", "infer img/s",
                    "params (M)"], rows)))"""


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        new_markdown_cell(INTRO), new_code_cell(SETUP),
        new_markdown_cell(TABLES_MD), new_code_cell(TABLES),
        new_markdown_cell(STUDY_MD), new_code_cell(STUDY),
        new_markdown_cell(PUBLISHED_MD), new_code_cell(PUBLISHED),
        new_markdown_cell(PROTOCOLS_MD), new_code_cell(PROTOCOLS),
        new_markdown_cell(SPEED_MD), new_code_cell(SPEED),
        new_markdown_cell(GATE_MD), new_code_cell(GATE),
        new_markdown_cell(HILO_MD), new_code_cell(HILO),
        new_markdown_cell(BENCH_MD), new_code_cell(BENCH),
        new_markdown_cell(SEGMENT_MD), new_code_cell(SEGMENT),
    ]
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path = HERE, timeout: int = 300) -> nbformat.NotebookNode:
    from nbclient import NotebookClient  # noqa: PLC0415
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build (and execute) experiments/report.ipynb.")
    ap.add_argument("--no-run", action="store_true", help="write the cells without executing")
    ap.add_argument("--out", default=str(NOTEBOOK))
    args = ap.parse_args(argv)
    nb = build()
    if not args.no_run:
        execute(nb)
    nbformat.write(nb, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
