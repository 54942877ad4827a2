"""The results file: one JSON per (variant, dataset, run) at
``experiments/results/<variant>-<dataset>-<UTC time>.json``, schema ``jpegcoef.run/1``::

    {
      "schema": "jpegcoef.run/1",
      "created": "2026-11-22T07:05:00Z",            # UTC, when the file was written
      "variant": "dctnet_gate",                     # what --variant named
      "model": "dctnet", "model_options": {"channels": 192, "gate": true},
      "input_format": "dctnet", "format_options": {"channels": 192},
      "dataset": {"name": "synthetic", "root": "...", "classes": 10,
                  "train_images": 2000,                     # the images trained on (the part)
                  "val_images": 500,                        # the images evaluated: val's, or
                                                            # with --holdout the held-out ones
                  "train_fraction": 1.0, "fraction_seed": 0,           # --train-fraction
                  "holdout": 0.2 | null, "holdout_images": 400 | null, # --holdout
                  "train_images_scanned": 2400 | null,      # train/ before either part
                  "skipped": [{"path": "...", "error": "..."}]},   # files on_error="skip" left out
      "eval_split": "val" | "holdout",              # what metrics/confusion were measured on
      "optimizer_steps": 148,                       # optimiser steps taken (hilo: both steps)
      "images_seen": 4736,                          # training images, summed over ranks/steps
      "confusion": {"classes": ["a", "b", ...],     # label order
                    "matrix": [[int, ...], ...]},   # [true][predicted] evaluated images
      "per_class_top1": {"a": 0.9, "b": null, ...}, # diagonal / row sum (null: no image)
      "schedule": {"epochs": 4,                     # with --step-budget: N / steps_per_epoch
                   "step_budget": 148 | null, "steps_per_epoch": 37,
                   "batch_size": 32, "world_size": 1, "crop": 96,
                   "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-05, "warmup_epochs": 1,
                   "label_smoothing": 0.1, "seed": 0, "deterministic": false,
                   "amp": false, "channels_last": false, "compile": false,
                   "protocol": null | {...,  "rgb_crop": 224, "rgb_crop_divisor": 2},
                   "gate_lambda": 0.01 | null, "hilo_step_epochs": [2, 2] | null,
                   "hilo_step_steps": [74, 74] | null},
      "metrics": {"top1": 0.71, "top5": 0.98, "val_loss": 0.9,   # fractions in [0, 1]
                  "shift_consistency": 0.88, "shift_max_px": 16, "shift_unit_px": 16},
      "measures": {"params": 23528522, "macs": 1234567890,        # per image, at the crop
                   "macs_full": ...,                               # no early exit (hilo)
                   "macs_at_paper_size": 4.1e9 | null,             # with --paper-macs
                   "inference_images_per_s": 60.1, "inference_batch": 32,
                   "train_images_per_s": 15.2, "pipeline_images_per_s": 800.0,
                   "bytes_per_image": 9216, "device": "cpu", "device_name": "...",
                   "torch_threads": 2},
      "gate": null | {"lambda": 0.01, "frequency": [...C floats...], "channels": ["Y0", ...],
                      "mean_on": 0.4},
      "hilo": null | {"threshold": 0.85, "early_exit_rate": 0.6, "avg_macs": ...,
                      "macs_low": ..., "macs_full": ..., "top1_low": ..., "top1_high": ...,
                      "sweep": [{"threshold": 0.5, "top1": ..., "exit_rate": ..., "avg_macs": ...}]},
      "history": [{"epoch": 1, "phase": 1, "lr": ..., "train_loss": ..., "train_top1": ...,
                   "images_per_s": ..., "time_s": ...}],
      "timing": {"dataset_s": ..., "train_s": ..., "eval_s": ..., "measure_s": ..., "total_s": ...},
      "environment": {"python": ..., "torch": ..., "platform": ...,
                      "git_commit": ..., "git_dirty": ...,   # the code loaded at start
                      "command": "python experiments/run.py --variant all"}
    }

MACs count multiply-accumulates of convolutions and matrix products (torch's flop counter /
2) for one image at the evaluation crop; for ``hilo`` ``macs`` is the average at the threshold
(images that exit early skip the high model).
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

SCHEMA = "jpegcoef.run/1"
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def write(result: dict[str, Any], directory: str | Path = RESULTS_DIR) -> Path:
    """Write ``result`` to ``<directory>/<variant>-<dataset>-<time>.json``."""
    result = dict(result)
    result["schema"] = SCHEMA
    result.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return write_json(result, directory, f"{result['variant']}-{result['dataset']['name']}-{utc_stamp()}")


def write_json(data: dict[str, Any], directory: str | Path, stem: str) -> Path:
    """Write ``data`` to ``<directory>/<stem>.json`` (``<stem>-1.json``, ... if taken), through a
    temporary file so a reader never sees half a file; returns the path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.json"
    k = 1
    while path.exists():
        path = directory / f"{stem}-{k}.json"
        k += 1
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def load_all(directory: str | Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every run-results file (schema ``jpegcoef.run/1``) in ``directory``, oldest first."""
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            data["_path"] = str(p)
            out.append(data)
    out.sort(key=lambda r: r.get("created", ""))
    return out


def tracked(directory: str | Path) -> set[Path] | None:
    """The files under ``directory`` that git tracks (resolved paths), or None when the folder
    is not in a git work tree (or git is missing): then every file counts as committed."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    try:
        proc = subprocess.run(["git", "-C", str(directory), "ls-files", "-z", "--", "."],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return {(directory / name).resolve() for name in proc.stdout.split("\0") if name}


def choose(results: list[dict[str, Any]], committed: set[Path] | None,
           include_untracked: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """``(results for the table, notes for stderr)``. Inside a git checkout only committed files
    count unless ``include_untracked``, so a local rerun never replaces a committed row
    silently: the notes name the files left out, or (with ``include_untracked``) each row a
    local file takes over from a committed one."""
    if committed is None:
        return results, []
    def is_committed(r: dict[str, Any]) -> bool:
        return Path(r["_path"]).resolve() in committed

    local = [r for r in results if not is_committed(r)]
    if not local:
        return results, []
    names = ", ".join(Path(r["_path"]).name for r in local[:3]) + (
        f", and {len(local) - 3} more" if len(local) > 3 else "")
    if not include_untracked:
        return ([r for r in results if is_committed(r)],
                [f"left out {len(local)} result file(s) git does not track (local runs): {names}; "
                 f"--all-results uses them, or commit them"])
    newest = {(r["dataset"]["name"], r["variant"]): r for r in results}
    notes = []
    for key, r in newest.items():
        old = [c for c in results if (c["dataset"]["name"], c["variant"]) == key and is_committed(c)]
        if not is_committed(r) and old:
            notes.append(f"row {key[1]} ({key[0]}): local {Path(r['_path']).name} replaces committed "
                         f"{Path(old[-1]['_path']).name}")
    return results, notes


def latest(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the newest result per (dataset, variant), in first-seen order."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        best[(r["dataset"]["name"], r["variant"])] = r
    return list(best.values())


def _num(v: Any, scale: float = 1.0, digits: int = 1, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if pct:
        return f"{100 * v:.{digits}f}"
    return f"{v / scale:.{digits}f}"


#: (header, function of a result) for the printed and README tables.
COLUMNS: list[tuple[str, Any]] = [
    ("variant", lambda r: r["variant"]),
    ("top-1 %", lambda r: _num(r["metrics"]["top1"], pct=True)),
    ("top-5 %", lambda r: _num(r["metrics"]["top5"], pct=True)),
    ("shift cons. %", lambda r: _num(r["metrics"].get("shift_consistency"), pct=True)),
    ("params M", lambda r: _num(r["measures"]["params"], 1e6, 2)),
    ("GMACs", lambda r: _num(r["measures"]["macs"], 1e9, 3)),
    ("infer img/s", lambda r: _num(r["measures"].get("inference_images_per_s"))),
    ("train img/s", lambda r: _num(r["measures"].get("train_images_per_s"))),
    ("pipeline img/s", lambda r: _num(r["measures"].get("pipeline_images_per_s"), digits=0)),
    ("bytes/img", lambda r: str(r["measures"].get("bytes_per_image", "-"))),
    ("run s", lambda r: _num(r.get("timing", {}).get("total_s"), digits=0)),
]


def table_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    return [h for h, _ in COLUMNS], [[str(f(r)) for _, f in COLUMNS] for r in results]


def text_table(results: list[dict[str, Any]]) -> str:
    """A fixed-width table for the terminal."""
    head, rows = table_rows(results)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def device_note(results: list[dict[str, Any]]) -> str:
    """``"device: X"``, or when the runs were measured on different machines, which variants
    ran where (speeds then compare only between rows of the same device)."""
    where: dict[str, list[str]] = {}
    for r in results:
        m = r["measures"]
        where.setdefault(str(m.get("device_name", m.get("device"))), []).append(r["variant"])
    if len(where) == 1:
        return f"device: {next(iter(where))}"
    return ("devices: " + "; ".join(f"{d} for {', '.join(v)}" for d, v in where.items())
            + " (compare speeds only between rows of the same device)")


def markdown(results: list[dict[str, Any]]) -> str:
    """Markdown tables (one per dataset, newest result per variant) for the README."""
    results = latest(results)
    if not results:
        return "_No results in experiments/results/ yet._\n"
    out = []
    for name in dict.fromkeys(r["dataset"]["name"] for r in results):
        rs = [r for r in results if r["dataset"]["name"] == name]
        head, rows = table_rows(rs)
        r0 = rs[0]
        s, m, d = r0["schedule"], r0["measures"], r0["dataset"]
        out.append(f"**{name}** ({d['classes']} classes, {d['train_images']} train / "
                   f"{d['val_images']} val images, crop {s['crop']} px, {s['epochs']} epochs, "
                   f"batch {s['batch_size']}; {device_note(rs)}; "
                   f"inference batch {m.get('inference_batch')})\n")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        commands = sorted({r.get("environment", {}).get("command", "?") for r in rs})
        out.append(f"\nProduced by `{'`, `'.join(commands)}`; table by "
                   f"`python experiments/run.py --summarize` (speeds measured on a shared CPU: "
                   f"expect tens of percent of noise).")
        out.append("")
    return "\n".join(out) + "\n"


README_START, README_END = "<!-- results-table:start -->", "<!-- results-table:end -->"


def update_readme(readme: str | Path, table: str, marker: str = "results-table") -> bool:
    """Replace the text between the README's ``<!-- {marker}:start -->`` and ``:end`` markers
    with ``table``. Returns whether the file changed; raises ValueError when they are missing."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"{readme}: no {start} ... {end} markers")
    new = text[:i + len(start)] + "\n" + table.rstrip("\n") + "\n" + text[j:]
    if new == text:
        return False
    readme.write_text(new)
    return True
