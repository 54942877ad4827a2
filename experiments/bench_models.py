"""Inference throughput of every model variant, side by side in one run.

For each batch size, the variants are timed in interleaved rounds (round 1: every variant a few
iterations, round 2: again, ...), so a change in machine load affects all of them alike; the
per-variant figure is the median iteration time. Reports images/s, the ratio to ``resnet50``,
parameters, MACs per image (FlopCounterMode) and the MACs ratio (resnet50 MACs / variant MACs,
the speed-up the arithmetic alone predicts). On CUDA: AMP (float16 autocast) + channels_last.

    python experiments/bench_models.py                       # all default variants, batch 1 and 32
    python experiments/bench_models.py --variants resnet50,late_concat_rfa_thinner --iters 5
    python experiments/bench_models.py --variants "dctnet:channels=64,layer2_stride=2"

Writes ``experiments/results/models-<device>-<UTC time>.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # uninstalled checkout
from jpegcoef import models  # noqa: E402
from jpegcoef.models.summary import count_macs  # noqa: E402

DEFAULT_VARIANTS = [
    "resnet50", "resnet50:stride_in=3x3", "upsampling", "upsampling_rfa", "deconvolution_rfa",
    "downsampling", "late_concat", "late_concat_rfa", "late_concat_rfa_thinner", "dctnet",
    "dctnet:layer2_stride=2", "hilo:threshold=0.0", "hilo:threshold=1.1",
    "mobilenet_v2", "mobilenet_v2_dct",
]  # hilo with random weights: threshold 0 = every sample exits, 1.1 = none does
BASELINE = "resnet50"
#: The variant each model is also compared with (its paper's baseline), when it was run:
#: DCTNet's MobileNetV2 against the RGB one; hilo against seeds/004's DCT-24 at layer2 stride 2.
FAMILY_BASELINE = {"mobilenet_v2_dct": "mobilenet_v2", "hilo": "dctnet:layer2_stride=2"}
TARGET = ("late_concat_rfa_thinner", 1.77)  # Gueguen et al.: 1.77x faster than ResNet-50


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """'name' or 'name:key=value,key=value' -> (name, options)."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        if "=" not in item:
            raise ValueError(f"variant options look like key=value, got {item!r} in {text!r}")
        key, value = item.split("=", 1)
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    if name not in models.names():
        raise ValueError(f"unknown model {name!r}; known: {', '.join(models.names())}")
    return name, options


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def to_device(x: Any, device: torch.device, channels_last: bool) -> Any:
    if isinstance(x, tuple):
        return tuple(to_device(t, device, channels_last) for t in x)
    x = x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=";".join(DEFAULT_VARIANTS),
                        help="variants name[:k=v,k=v]; separated by ',' or, when any has "
                             "options, by ';'")
    parser.add_argument("--size", type=int, default=None,
                        help="input size in pixels (default: each model's paper size; DCT "
                             "formats: a multiple of 16)")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--iters", default="6,2",
                        help="timed iterations per variant, one number or one per batch size "
                             "(split over the rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--results-dir", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--note", default="", help="free text stored in the JSON")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    sep = ";" if ";" in args.variants or ":" in args.variants else ","
    if sep == ";":
        specs = [v.strip() for v in args.variants.split(";") if v.strip()]
    else:
        specs = [v.strip() for v in args.variants.split(",") if v.strip()]
    variants = [(s, *parse_variant(s)) for s in specs]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    iters = [int(i) for i in args.iters.split(",")]
    iters = iters * len(batch_sizes) if len(iters) == 1 else iters
    if len(iters) != len(batch_sizes):
        parser.error("--iters needs one number or one per batch size")
    if min(iters) < 1 or args.rounds < 1 or min(batch_sizes) < 1:
        parser.error("--iters, --rounds and batch sizes must be >= 1")
    if args.size is not None and (args.size < 16 or args.size % 16):
        parser.error("--size must be a multiple of 16 (the 4:2:0 MCU), >= 16")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    amp = torch.autocast("cuda", dtype=torch.float16) if cuda else nullcontext()

    built: dict[str, dict[str, Any]] = {}
    for label, name, options in tqdm(variants, desc="build + count MACs", unit="model"):
        model = models.create(name, num_classes=args.num_classes, **options).eval()
        if hasattr(model, "summary_macs"):
            macs = model.summary_macs(model.example_input(1, args.size))["macs"]
        else:
            macs = count_macs(model, model.example_input(1, args.size))
        model = model.to(device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        built[label] = {"model": model, "name": name, "options": options, "macs": macs,
                        "params": sum(p.numel() for p in model.parameters()),
                        "input_format": model.input_format,
                        "input_options": dict(model.input_options)}

    load_start = load()
    results: list[dict[str, Any]] = []
    for bs, n_iter in zip(batch_sizes, iters):
        rounds = min(args.rounds, n_iter)
        per_round = -(-n_iter // rounds)
        inputs = {label: to_device(b["model"].example_input(bs, args.size), device, cuda)
                  for label, b in built.items()}
        times: dict[str, list[float]] = {label: [] for label in built}
        exits: dict[str, list[float]] = {label: [] for label in built}
        total = len(built) * (args.warmup + per_round * rounds)
        with torch.inference_mode(), amp, tqdm(total=total, desc=f"batch {bs}",
                                               unit="it") as bar:
            for label, b in built.items():  # warm-up (also fills hilo's MACs cache)
                for _ in range(args.warmup):
                    b["model"](inputs[label])
                    bar.update()
            for _ in range(rounds):
                for label, b in built.items():
                    for _ in range(per_round):
                        if cuda:
                            torch.cuda.synchronize(device)
                        t0 = time.perf_counter()
                        b["model"](inputs[label])
                        if cuda:
                            torch.cuda.synchronize(device)
                        times[label].append(time.perf_counter() - t0)
                        if getattr(b["model"], "last_exit", None) is not None:
                            exits[label].append((b["model"].last_exit.float().mean().item(),
                                                 b["model"].last_macs))
                        bar.update()
        base = statistics.median(times[BASELINE]) if BASELINE in times else None
        base_macs = built[BASELINE]["macs"] if BASELINE in built else None
        for label, b in built.items():
            med = statistics.median(times[label])
            row = {"variant": label, "name": b["name"], "options": b["options"],
                   "batch_size": bs, "input_format": b["input_format"],
                   "input_options": b["input_options"], "params": b["params"],
                   "macs_per_image": b["macs"], "iterations": len(times[label]),
                   "seconds_median": med, "seconds_min": min(times[label]),
                   "images_per_s": bs / med,
                   "speedup_vs_resnet50": (base / med) if base else None,
                   "macs_ratio_vs_resnet50": (base_macs / b["macs"]) if base_macs else None}
            fam = FAMILY_BASELINE.get(b["name"])
            if fam in times and fam != label:
                row.update({"family_baseline": fam,
                            "speedup_vs_family_baseline": statistics.median(times[fam]) / med,
                            "macs_ratio_vs_family_baseline": built[fam]["macs"] / b["macs"]})
            if exits[label]:  # hilo: cost depends on how many samples exit early
                row["early_exit_fraction"] = statistics.mean(e for e, _ in exits[label])
                row["macs_per_image_with_exits"] = statistics.mean(m for _, m in exits[label])
                row["macs_ratio_vs_resnet50"] = ((base_macs / row["macs_per_image_with_exits"])
                                                 if base_macs else None)
            results.append(row)

    info = {
        "benchmark": "models inference throughput (eval, random weights, random inputs)",
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(device), "device_name": device_name(device),
        "amp_channels_last": cuda, "torch": torch.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "iters": dict(zip(map(str, batch_sizes), iters)), "rounds": args.rounds,
        "warmup": args.warmup, "num_classes": args.num_classes, "size": args.size,
        "load_average_start": load_start, "load_average_end": load(),
        "note": args.note, "results": results,
    }
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"models-{device.type}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(info, indent=1))

    print(f"\n{info['device_name']} ({device}), torch {torch.__version__}, "
          f"{info['threads']} threads, load {load_start} -> {info['load_average_end']}")
    print(f"{'variant':<34} {'batch':>5} {'params':>11} {'GMACs':>7} {'img/s':>9} "
          f"{'speed-up':>8} {'MACs ratio':>10}")
    for r in results:
        sp = f"{r['speedup_vs_resnet50']:.2f}x" if r["speedup_vs_resnet50"] else "-"
        mr = f"{r['macs_ratio_vs_resnet50']:.2f}x" if r["macs_ratio_vs_resnet50"] else "-"
        extra = (f"  (exit {r['early_exit_fraction']:.0%})" if "early_exit_fraction" in r else "")
        print(f"{r['variant']:<34} {r['batch_size']:>5} {r['params']:>11,} "
              f"{r.get('macs_per_image_with_exits', r['macs_per_image']) / 1e9:>7.3f} "
              f"{r['images_per_s']:>9.2f} {sp:>8} {mr:>10}{extra}")
    for r in results:
        if "family_baseline" in r:
            print(f"{r['variant']} batch {r['batch_size']}: "
                  f"{r['speedup_vs_family_baseline']:.2f}x {r['family_baseline']} measured, "
                  f"MACs ratio {r['macs_ratio_vs_family_baseline']:.2f}x")
    name, goal = TARGET
    for r in results:
        if r["variant"] == name and r["speedup_vs_resnet50"]:
            verdict = "meets" if r["speedup_vs_resnet50"] >= goal else "falls short of"
            print(f"{name} batch {r['batch_size']}: {r['speedup_vs_resnet50']:.2f}x resnet50 "
                  f"measured, {verdict} the paper's {goal}x; MACs ratio "
                  f"{r['macs_ratio_vs_resnet50']:.2f}x")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
