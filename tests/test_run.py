"""experiments/run.py end to end on tiny generated datasets: several variants, DDP (gloo, 2
processes), exact resume after a kill mid-epoch, bad files skipped and reported, atomic
checkpoints. Every run uses a tiny crop and a few steps so the module stays well under a minute
or two on 2 CPU cores."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "experiments" / "run.py"
sys.path.insert(0, str(REPO / "experiments"))

from harness import checkpoint, evaluate, results as R, schedule, variants  # noqa: E402

COLOURS = [(220, 40, 40), (40, 200, 60), (50, 70, 230)]


def _image(label: int, rng: np.random.Generator, size: int = 48) -> bytes:
    """A class-coloured square on a noisy background, as a 4:2:0 JPEG."""
    px = rng.integers(90, 140, (size, size, 3)).astype(np.uint8)
    x0, y0 = rng.integers(4, size // 3, 2)
    px[y0:y0 + size // 2, x0:x0 + size // 2] = COLOURS[label]
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="JPEG", quality=90, subsampling=2)
    return buf.getvalue()


def make_dataset(root: Path, train: int = 8, val: int = 4, classes: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        for c in range(classes):
            d = root / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (d / f"{i:03d}.jpg").write_bytes(_image(c, rng))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tiny"))


def run(args: list[str], tmp: Path, *, torchrun: int = 0, check: bool = True,
        timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1" if torchrun else os.environ.get("OMP_NUM_THREADS", "2")}
    base = [str(RUN), "--crop", "32", "--batch-size", "6", "--no-progress",
            "--results-dir", str(tmp / "results"), "--checkpoint-dir", str(tmp / "ckpt"),
            "--run-dir", str(tmp / "runs"), "--measure-seconds", "0.2"]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={torchrun}"] + base + args
    else:
        cmd = [sys.executable] + base + args
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


def results(tmp: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((tmp / "results").glob("*.json")):
        r = json.loads(p.read_text())
        out[r["variant"]] = r
    return out


# -- small pure pieces ---------------------------------------------------------------------------
def test_variant_aliases_and_options():
    avail = ["resnet50", "dctnet", "hilo"]
    assert variants.resolve("dctnet_gate", avail, {}) == ("dctnet", {"channels": 192, "gate": True})
    assert variants.resolve("dctnet", avail, variants.parse_model_opts(["channels=64", "gate=true"])) \
        == ("dctnet", {"channels": 64, "gate": True})
    assert variants.parse_model_opts(["antialias=blur", "x=0.5"]) == {"antialias": "blur", "x": 0.5}
    assert variants.expand("all", avail) == ["resnet50", "dctnet", "dctnet_gate", "hilo"]
    with pytest.raises(ValueError, match="unknown variant"):
        variants.resolve("nope", avail, {})
    with pytest.raises(ValueError, match="key=value"):
        variants.parse_model_opts(["channels"])


def test_warmup_cosine_schedule():
    lrs = [schedule.lr_at(s, 101, 10, 0.4) for s in range(101)]
    assert lrs[0] == pytest.approx(0.04) and lrs[9] == pytest.approx(0.4)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))       # warm-up rises
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))        # cosine falls
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert lrs[55] == pytest.approx(0.2, rel=1e-6)                 # half-way down


def test_hilo_steps_each_run_the_whole_schedule():
    from harness import train
    from jpegcoef import models
    hilo, plain = models.create("hilo", num_classes=3), models.create("dctnet", num_classes=3)
    assert train.phases(plain, 2) == [(0, 2)]
    assert train.phases(hilo, 2) == [(1, 2), (2, 2)]            # seeds/004: two full runs
    assert train.phases(hilo, 4, 0.75) == [(1, 3), (2, 1)]      # --hilo-step1-fraction splits


def test_synthetic_profile_leaves_every_variant_a_2x2_last_stage():
    """At the synthetic profile's 64 px crop (an 8x8 DCT block grid) every variant's last
    residual stage must still see at least 2x2 positions. The high/low model with seeds/004's
    layer2 stride 2 (meant for 448 px, a 56x56 grid) ended on 1x1 maps here and trained to
    below chance; the profile gives it layer2_stride=1 (DCTNet's grid)."""
    from harness import config, train
    from jpegcoef import models
    from jpegcoef.models.layers import Bottleneck
    from jpegcoef.models.mobilenet import InvertedResidual
    # mobilenet_v2_dct (DCTNet's, made for a 112x112 grid from 896 px) halves the 8x8
    # grid four times: its last four stages run on 1x1 maps at this crop. Known; the
    # profile has no setting that avoids it (asserted below so a fix shows up here).
    too_small = {"mobilenet_v2_dct"}
    args = config.fill_defaults(config.build_parser().parse_args(["--variant", "all"]))
    for variant in variants.ALL:
        name, opts = train.model_options(args, variant, models.names())
        model = models.create(name, num_classes=10, **opts).eval()
        sizes = []
        for m in model.modules():
            if isinstance(m, (Bottleneck, InvertedResidual)):
                m.register_forward_hook(lambda m, a, out: sizes.append(tuple(out.shape[-2:])))
        if hasattr(model, "threshold"):
            model.threshold = 2.0  # run both of hilo's models
        with torch.no_grad():
            evaluate.call(model, model.example_input(2, size=args.crop))
        assert sizes, variant
        assert (min(min(s) for s in sizes) >= 2) == (variant not in too_small), \
            (variant, opts, sizes[-1])
    name, opts = train.model_options(args, "hilo", models.names())
    assert opts["layer2_stride"] == 1
    args = config.fill_defaults(config.build_parser().parse_args(
        ["--variant", "hilo", "--model-opt", "layer2_stride=2"]))
    assert train.model_options(args, "hilo", models.names())[1]["layer2_stride"] == 2
    args = config.fill_defaults(config.build_parser().parse_args(["--variant", "hilo",
                                                                 "--data", "/x"]))
    assert "layer2_stride" not in train.model_options(args, "hilo", models.names())[1]


def test_hilo_step2_changes_nothing_the_high_model_uses():
    """Training step 2 (low stages + classifier) with the harness's optimiser (momentum and
    weight decay carried over from step 1) must leave the low input conv -- weights *and* BN
    statistics -- and the whole high model bit-identical."""
    from jpegcoef import models
    torch.manual_seed(0)
    model = models.create("hilo", num_classes=3, layer2_stride=1)
    opt = schedule.make_optimizer(model, 0.1, 0.9, 1e-2)
    x, y = torch.randn(8, 24, 8, 8), torch.arange(8) % 3

    def steps(step: int) -> None:
        model.set_step(step)
        model.train()
        for _ in range(3):
            loss = torch.nn.functional.cross_entropy(model(x * 3 + 1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    steps(1)
    model.eval()
    with torch.no_grad():
        high_before = model.high_logits(x)
    keep = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("low.")}
    low_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("low.")}
    steps(2)
    after = model.state_dict()
    changed = [k for k, v in keep.items() if not torch.equal(v, after[k])]
    assert not changed, changed
    assert any(not torch.equal(v, after[k]) for k, v in low_before.items())  # step 2 trained
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.high_logits(x), high_before)


def test_optimizer_lr_scale_groups():
    from jpegcoef import models
    model = models.create("dctnet", channels=24, gate=True, num_classes=3)
    plain = schedule.make_optimizer(model, 0.1, 0.9, 1e-4)
    assert len(plain.param_groups) == 2 and all("lr_scale" not in g for g in plain.param_groups)
    opt = schedule.make_optimizer(model, 0.1, 0.9, 1e-4, lr_scales={"gate.": 10.0})
    schedule.set_lr(opt, 0.05)
    gate_ids = {id(p) for p in model.gate.parameters()}
    for g in opt.param_groups:
        in_gate = {id(p) in gate_ids for p in g["params"]}
        assert len(in_gate) == 1
        assert g["lr"] == pytest.approx(0.5 if in_gate == {True} else 0.05)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_crop_input_shifts_whole_cells():
    y = torch.arange(6 * 6.).view(1, 1, 6, 6)        # 48 px of Y: 8 px cells
    c = torch.arange(3 * 3.).view(1, 1, 3, 3)        # 48 px of chroma: 16 px cells
    a, b = evaluate.crop_input((y, c), 48, (16, 0), 32)
    assert torch.equal(a, y[..., 2:6, 0:4]) and torch.equal(b, c[..., 1:3, 0:2])
    with pytest.raises(ValueError, match="multiple"):
        evaluate.crop_input((y, c), 48, (8, 0), 32)  # half an MCU: not a whole chroma block


def test_update_readme_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{R.README_START}\nOLD\n{R.README_END}\noutro\n")
    assert R.update_readme(readme, "| a |\n|---|\n| 1 |\n")
    assert readme.read_text() == (f"intro\n{R.README_START}\n| a |\n|---|\n| 1 |\n"
                                  f"{R.README_END}\noutro\n")
    assert not R.update_readme(readme, "| a |\n|---|\n| 1 |")
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        R.update_readme(tmp_path / "plain.md", "x")


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One run of four variants (2 epochs) shared by the end-to-end tests below."""
    tmp = tmp_path_factory.mktemp("e2e")
    proc = run(["--data", str(tiny), "--variant", "resnet50,late_concat_rfa_thinner,dctnet_gate,hilo",
                "--epochs", "2"], tmp)
    return tmp, proc


def test_end_to_end_several_variants(tiny, trained):
    tmp_path, _ = trained
    res = results(tmp_path)
    assert set(res) == {"resnet50", "late_concat_rfa_thinner", "dctnet_gate", "hilo"}
    for r in res.values():
        assert r["schema"] == "jpegcoef.run/1"
        assert r["dataset"] == {**r["dataset"], "name": tiny.name, "classes": 3,
                                "train_images": 24, "val_images": 12, "skipped": []}
        m, me = r["metrics"], r["measures"]
        for k in ("top1", "top5", "shift_consistency"):
            assert 0.0 <= m[k] <= 1.0
        assert m["top1"] <= m["top5"]
        assert me["params"] > 1e6 and me["macs"] > 0 and me["bytes_per_image"] > 0
        assert me["inference_images_per_s"] > 0 and me["pipeline_images_per_s"] > 0
        # images, not packed coefficient rows (the rrc host batch is ragged)
        assert 1 <= me["inference_batch"] <= r["dataset"]["val_images"]
        assert me["train_images_per_s"] > 0 and me["device"] == "cpu"
        assert len(r["history"]) == (4 if r["variant"] == "hilo" else 2)
        # the confusion of the evaluation's own predictions: every val image once, the
        # diagonal the top-1 count, per class the diagonal over the row
        conf = r["confusion"]
        assert conf["classes"] == ["class0", "class1", "class2"] and r["eval_split"] == "val"
        rows = conf["matrix"]
        assert [len(row) for row in rows] == [3, 3, 3]
        assert all(isinstance(v, int) and v >= 0 for row in rows for v in row)
        assert [sum(row) for row in rows] == [4, 4, 4]                      # 4 val images a class
        assert sum(rows[i][i] for i in range(3)) == round(m["top1"] * 12)
        assert r["per_class_top1"] == {c: rows[i][i] / 4 for i, c in enumerate(conf["classes"])}
        # optimiser steps: 24 images / batch 6 = 4 a epoch, 2 epochs; hilo: each of its two steps
        steps = 4 * len(r["history"])
        assert r["optimizer_steps"] == steps and r["images_seen"] == 6 * steps
        assert r["schedule"]["step_budget"] is None and r["schedule"]["steps_per_epoch"] == 4
        assert (r["dataset"]["train_fraction"], r["dataset"]["holdout"]) == (1.0, None)
    assert res["hilo"]["schedule"]["hilo_step_steps"] == [8, 8]
    assert res["resnet50"]["measures"]["bytes_per_image"] == 3 * 32 * 32      # uint8 RGB crop
    # the same pixel shifts for RGB and DCT inputs (issue 12), so the two numbers compare
    assert res["resnet50"]["metrics"]["shift_unit_px"] == 16
    assert res["dctnet_gate"]["metrics"]["shift_unit_px"] == 16
    gate = res["dctnet_gate"]["gate"]
    assert len(gate["frequency"]) == len(gate["channels"]) == 192
    assert gate["channels"][:2] == ["Y0", "Y1"] and gate["channels"][64] == "Cb0"
    assert all(0.0 <= f <= 1.0 for f in gate["frequency"])
    h = res["hilo"]["hilo"]
    assert res["hilo"]["schedule"]["hilo_step_epochs"] == [2, 2]       # each step: --epochs
    assert [e["phase"] for e in res["hilo"]["history"]] == [1, 1, 2, 2]
    at = [s for s in h["sweep"] if s["threshold"] == h["threshold"]]
    assert len(at) == 1  # the sweep, derived from two passes, agrees with the direct measurement
    assert at[0]["exit_rate"] == pytest.approx(h["early_exit_rate"])
    assert at[0]["top1"] == pytest.approx(res["hilo"]["metrics"]["top1"])
    assert at[0]["avg_macs"] == pytest.approx(h["avg_macs"], rel=1e-6)
    assert h["macs_low"] < h["macs_full"]
    # the README table generator reads the same files
    md = subprocess.run([sys.executable, str(RUN), "--summarize", "--results-dir",
                         str(tmp_path / "results")], capture_output=True, text=True, check=True)
    assert md.stdout.count("\n| ") >= 5 and "late_concat_rfa_thinner" in md.stdout


def test_console_says_where_things_go(tiny, trained):
    """Paths of data, checkpoints, log and results; percentages; hilo's steps named (no
    'phase 0'); no progress bars when stderr is not a terminal."""
    tmp, proc = trained
    out = proc.stdout
    ck = tmp / "ckpt" / f"resnet50-{tiny.name}"
    assert f"[resnet50] data {tiny} (--data; 3 classes, 24 training images) on cpu" in out
    assert f"[resnet50] checkpoints {ck}/ (last.pt" in out
    assert f"[resnet50] log {tmp / 'runs'}/resnet50-{tiny.name}-" in out
    assert f"[resnet50] results {tmp / 'results'}/" in out
    assert f"[resnet50] model for 'jpegcoef predict' / '--evaluate': {ck / 'model.pt'}" in out
    epochs = [ln for ln in out.splitlines() if "] epoch " in ln]
    assert len(epochs) == 2 + 2 + 2 + 4
    assert all(re.search(r"train-top1 \d+\.\d%", ln) for ln in epochs), epochs
    assert "phase" not in out
    assert sum("(hilo step 1/2: high model)" in ln for ln in epochs) == 2
    assert sum("(hilo step 2/2: low model + exit)" in ln for ln in epochs) == 2
    assert "it/s" not in proc.stderr and "\r" not in proc.stderr  # tqdm draws nothing here


def test_checkpoint_predict_and_evaluate(tiny, trained):
    """model.pt carries the class names, options, format and crop; --evaluate on the val folder
    reproduces the run's own top-1; jpegcoef predict names classes."""
    from jpegcoef import inference

    tmp, _ = trained
    model_pt = tmp / "ckpt" / f"resnet50-{tiny.name}" / "model.pt"
    rec = checkpoint.load(model_pt)["inference"]
    assert rec["classes"] == ["class0", "class1", "class2"] and rec["model"] == "resnet50"
    assert rec["input_format"] == "rgb" and rec["crop"] == 32
    assert rec["model_options"] == results(tmp)["resnet50"]["model_options"]
    assert checkpoint.load(model_pt.with_name("last.pt"))["inference"] == rec
    for variant in ("resnet50", "late_concat_rfa_thinner"):
        ev = subprocess.run([sys.executable, str(RUN), "--evaluate",
                             str(tmp / "ckpt" / f"{variant}-{tiny.name}" / "model.pt"), "--data",
                             str(tiny), "-b", "6"], capture_output=True, text=True, timeout=300)
        assert ev.returncode == 0, ev.stderr
        top1 = float(re.search(r"top-1 ([\d.]+)%", ev.stdout).group(1))
        assert top1 == round(100 * results(tmp)[variant]["metrics"]["top1"], 1), ev.stdout
        assert "(12 images, 3 classes)" in ev.stdout
    files = sorted(str(p) for p in (tiny / "val").rglob("*.jpg"))[:3]
    clf = inference.load(tmp / "ckpt" / f"late_concat_rfa_thinner-{tiny.name}" / "model.pt")
    preds = clf.predict(files + [str(tmp / "missing.jpg")], top_k=2)
    assert [p["file"] for p in preds] == files + [str(tmp / "missing.jpg")]
    assert preds[-1]["error"] == "does not exist"
    for p in preds[:-1]:
        assert [c for c, _ in p["top"]][0] in rec["classes"] and len(p["top"]) == 2
        assert 0.0 <= p["top"][1][1] <= p["top"][0][1] <= 1.0
    cli = subprocess.run([sys.executable, "-m", "jpegcoef", "predict", "--json", "-k", "3",
                          str(model_pt), files[0]], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    row = json.loads(cli.stdout)
    assert row["file"] == files[0] and sorted(t["class"] for t in row["top"]) == rec["classes"]
    assert sum(t["probability"] for t in row["top"]) == pytest.approx(1.0, abs=1e-4)


def test_export_gives_the_eager_models_outputs(tiny, trained, tmp_path):
    """The exported program (format device step + model) on host tensors == the eager model,
    at a batch size other than the example's."""
    from jpegcoef import inference

    tmp, _ = trained
    clf = inference.load(tmp / "ckpt" / f"late_concat_rfa_thinner-{tiny.name}" / "model.pt")
    out = inference.export(clf, tmp_path / "m.pt2")
    module, meta = inference.load_exported(out)
    assert meta["classes"] == clf.classes and meta["input_format"] == "gueguen"
    files = sorted(str(p) for p in (tiny / "val").rglob("*.jpg"))[:5]
    batch, good, errors = clf.host_batch(files, augment="crop")  # an exported program takes the crop pipeline's
    assert good == list(range(5)) and not errors                # fixed-shape batch (centre crop)
    args = [batch[k] for k in inference.input_names(clf.format)]
    assert [str(a.dtype) for a in args] == ["torch.int16", "torch.int16", "torch.int16", "torch.uint16"]
    with torch.no_grad():
        got, want = module(*args), clf.forward_host(batch, augment="crop")
    assert got.shape == (5, 3)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    hilo = inference.load(tmp / "ckpt" / f"hilo-{tiny.name}" / "model.pt")
    with pytest.raises(ValueError, match="early exit"):
        inference.export(hilo, tmp_path / "h.pt2")


def test_ddp_gloo_two_processes(tiny, tmp_path):
    run(["--data", str(tiny), "--variant", "hilo", "--epochs", "2", "--no-measure"], tmp_path,
        torchrun=2)
    (r,) = results(tmp_path).values()  # only rank 0 writes
    assert r["schedule"]["world_size"] == 2
    # 24 training images in batches of 6 per process, DistributedSampler halves: 2 steps x 12 images
    assert [round(e["images_per_s"] * e["time_s"]) for e in r["history"]] == [24] * 4  # 2 steps
    assert 0.0 <= r["metrics"]["top1"] <= 1.0
    # steps are taken in lockstep (2 a epoch, 4 epochs over hilo's two steps); images summed
    # over the ranks; rank 0's confusion covers every val image
    assert r["optimizer_steps"] == 8 and r["images_seen"] == 96
    assert sum(map(sum, r["confusion"]["matrix"])) == r["dataset"]["val_images"] == 12
    assert sum(r["confusion"]["matrix"][i][i] for i in range(3)) == round(r["metrics"]["top1"] * 12)


def test_resume_after_kill_matches_uninterrupted_run(tiny, tmp_path):
    args = ["--data", str(tiny), "--variant", "resnet50", "--epochs", "2", "--deterministic",
            "--no-measure", "--shift-max", "0"]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    run(args, a)
    killed = run(args + ["--debug-kill-after-steps", "6"], b, check=False)  # epoch 2, step 2 of 4
    assert killed.returncode == -signal.SIGKILL
    assert not (b / "results").exists()
    assert checkpoint.load(b / "ckpt" / f"resnet50-{tiny.name}" / "last.pt")["epoch"] == 1
    out = run(args + ["--resume"], b)
    assert "resuming from" in out.stdout
    ra, rb = results(a)["resnet50"], results(b)["resnet50"]
    assert rb["metrics"] == ra["metrics"]
    assert [e["train_loss"] for e in rb["history"]] == [e["train_loss"] for e in ra["history"]]


def test_bad_files_are_skipped_and_reported(tiny, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny, data)
    good = (data / "train" / "class0" / "000.jpg").read_bytes()
    bad = {
        data / "train" / "class0" / "truncated.jpg": good[: len(good) // 3],
        data / "train" / "class1" / "empty.jpg": b"",
        data / "train" / "class2" / "notjpeg.jpg": b"GIF89a" + bytes(200),
        data / "val" / "class1" / "corrupt.jpg": good[:200] + bytes(64) + b"\xff\xd9",
        data / "val" / "class2" / "text.jpg": b"this is not an image at all\n" * 10,
    }
    for p, blob in bad.items():
        p.write_bytes(blob)
    proc = run(["--data", str(data), "--variant", "dctnet", "--epochs", "1", "--no-measure",
                "--shift-max", "0", "--on-error", "skip", "--print-every", "1e-9"], tmp_path)
    steps = [ln for ln in proc.stdout.splitlines() if "] epoch 1/1 step " in ln]
    assert len(steps) == 4 and steps[0].startswith("[dctnet] epoch 1/1 step 1/4 loss ")  # 24 / 6
    r = results(tmp_path)["dctnet"]
    assert r["history"] and r["history"][0]["epoch"] == 1
    skipped = {Path(s["path"]).resolve() for s in r["dataset"]["skipped"]}
    # a truncated JPEG decodes with a warning (libjpeg pads it) and is kept; the others fail
    expected = {p.resolve() for p in bad if p.name != "truncated.jpg"}
    assert expected <= skipped
    assert skipped <= {p.resolve() for p in bad}
    assert all(s["error"] for s in r["dataset"]["skipped"])
    summary = [ln for ln in proc.stderr.splitlines() if "files skipped:" in ln]
    assert re.match(rf"\[dctnet\]: warning: {len(skipped)} of 41 files skipped: \S+", summary[-1])
    assert summary[-1].endswith(f", and {len(skipped) - 3} more (listed in the results JSON)")


# -- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_roundtrip_weights_only(tmp_path):
    state = {"model": {"w": torch.randn(3, 3)}, "epoch": 2, "history": [{"loss": 1.5}],
             "rng": checkpoint.rng_state()}
    path = checkpoint.save(state, tmp_path / "c" / "last.pt")
    back = checkpoint.load(path)
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["epoch"] == 2
    np.random.seed(1)
    expect = np.random.rand(3)
    np.random.seed(1)
    snap = checkpoint.rng_state()
    np.random.rand(5)
    checkpoint.set_rng_state(snap)
    assert np.array_equal(np.random.rand(3), expect)


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.save({"epoch": 1, "w": torch.ones(1000)}, path)
    before = path.read_bytes()

    def dies_halfway(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial checkpoint bytes")
        raise KeyboardInterrupt("interrupted while writing")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save({"epoch": 2, "w": torch.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert checkpoint.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_checkpoint_write_killed_by_sigkill_keeps_previous(tmp_path):
    """A real process killed (SIGKILL) in the middle of writing: the old file survives."""
    path = tmp_path / "last.pt"
    code = f"""
import os, signal, sys, torch
sys.path.insert(0, {str(REPO / 'experiments')!r})
from harness import checkpoint
checkpoint.save({{"epoch": 1, "w": torch.ones(10)}}, {str(path)!r})
real = torch.save
def save(obj, f, *a, **k):
    f.write(b"half a checkpoint")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = save
checkpoint.save({{"epoch": 2, "w": torch.zeros(10)}}, {str(path)!r})
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert checkpoint.load(path)["epoch"] == 1


def test_stats_file_sets_the_dct_normalisation(tiny, tmp_path):
    """--stats FILE (from 'jpegcoef stats') normalises the DCT formats with that file's numbers;
    a file that is not one fails at once with a message naming it."""
    st = tmp_path / "stats.json"
    subprocess.run([sys.executable, "-m", "jpegcoef", "stats", str(tiny / "train"), "-o", str(st)],
                   check=True, capture_output=True, text=True, timeout=120)
    run(["--data", str(tiny), "--variant", "dctnet", "--epochs", "1", "--no-measure",
         "--shift-max", "0", "--stats", str(st)], tmp_path)
    used = results(tmp_path)["dctnet"]["input_stats"]
    want = json.loads(st.read_text())
    assert used["source"] == str(st)
    assert used["mean"] == want["mean"] and used["std"] == want["std"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mean": [0.0] * 5, "std": [1.0] * 5}))
    proc = run(["--data", str(tiny), "--variant", "dctnet", "--epochs", "1", "--no-measure",
                "--stats", str(bad)], tmp_path, check=False)
    assert proc.returncode != 0 and "--stats" in proc.stderr and "bad.json" in proc.stderr


def test_resume_refuses_other_gate_or_stats_settings(tiny, tmp_path):
    """A checkpoint resumes only under the settings it was trained with, the gate's and the
    input statistics included (they change the loss, the optimiser groups, the inputs)."""
    common = ["--data", str(tiny), "--variant", "dctnet_gate", "--epochs", "1", "--no-measure",
              "--shift-max", "0"]
    run(common + ["--gate-lambda", "0.5"], tmp_path)
    proc = run(common + ["--gate-lambda", "2", "--resume"], tmp_path, check=False)
    assert proc.returncode != 0 and "different settings" in proc.stderr and "gate_lambda" in proc.stderr
    proc = run(common + ["--gate-lambda", "0.5", "--gate-lr-scale", "3", "--resume"], tmp_path,
               check=False)
    assert proc.returncode != 0 and "gate_lr_scale" in proc.stderr
