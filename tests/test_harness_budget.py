"""experiments/run.py's budgets and splits: --step-budget (optimiser steps in all, hilo's two
steps sharing them), --train-fraction / --holdout / --fraction-seed (class-stratified parts of the
training split), the confusion matrix of every evaluation (under DDP too: all_reduce over
ranks), and --protocol dctnet's RGB baseline at half the DCT crop. Pure pieces run in this
process; two tiny end-to-end runs (a few optimiser steps each, --no-measure) check what the
result JSON records."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "experiments" / "run.py"
sys.path.insert(0, str(REPO / "experiments"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import config, evaluate, schedule, splits, train  # noqa: E402
from jpegcoef.console import UsageError  # noqa: E402
from test_run import make_dataset, results, run  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """3 classes x 8 training / 4 validation JPEGs (test_run's generator)."""
    return make_dataset(tmp_path_factory.mktemp("tiny"))


def _args(*argv: str) -> argparse.Namespace:
    return config.fill_defaults(config.build_parser().parse_args(list(argv)))


# -- flags -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, text", [
    (["--step-budget", "0"], "--step-budget must be >= 1"),
    (["--step-budget", "-3"], "--step-budget must be >= 1"),
    (["--step-budget", "10", "--epochs", "2"], "--step-budget N replaces --epochs"),
    (["--train-fraction", "0"], "--train-fraction must be in (0, 1]"),
    (["--train-fraction", "1.5"], "--train-fraction must be in (0, 1]"),
    (["--holdout", "0"], "--holdout must be in (0, 0.5)"),
    (["--holdout", "0.5"], "--holdout must be in (0, 0.5)"),
    (["--fraction-seed", "-1"], "--fraction-seed must be >= 0"),
])
def test_bad_values_are_usage_errors(argv, text):
    with pytest.raises(UsageError, match=re.escape(text)):
        _args("--variant", "resnet50", *argv)


def test_flag_defaults():
    a = _args("--variant", "resnet50")
    assert (a.step_budget, a.train_fraction, a.holdout, a.fraction_seed) == (None, 1.0, None, 0)
    a = _args("--variant", "hilo", "--step-budget", "148", "--train-fraction", "0.25",
              "--holdout", "0.2", "--fraction-seed", "7")
    assert (a.step_budget, a.train_fraction, a.holdout, a.fraction_seed) == (148, 0.25, 0.2, 7)


# -- --step-budget: the plan -----------------------------------------------------------------------
def test_budget_is_split_between_hilos_two_steps():
    from jpegcoef import models
    hilo = models.create("hilo", num_classes=3, layer2_stride=1)
    plain = models.create("dctnet", num_classes=3)
    assert train.budget_phases(plain, 7) == [(0, 7)]
    assert train.budget_phases(hilo, 7) == [(1, 3), (2, 4)]          # N//2 and N - N//2
    assert train.budget_phases(hilo, 148) == [(1, 74), (2, 74)]
    assert train.budget_phases(hilo, 10, 0.75) == [(1, 8), (2, 2)]   # --hilo-step1-fraction
    assert train.budget_phases(hilo, 2, 0.9) == [(1, 1), (2, 1)]     # at least one step each
    with pytest.raises(UsageError, match="at least 2"):
        train.budget_phases(hilo, 1)
    with pytest.raises(UsageError, match=">= 1"):
        train.budget_phases(plain, 0)


def test_step_plan_ends_each_phase_on_its_budget():
    spe = 4
    plan = train.step_plan([], spe, [(1, 5), (2, 6)])
    assert plan == [(1, 2, 5), (2, 2, 6)]                 # ceil(5/4), ceil(6/4) epochs
    per_epoch = [train.epoch_steps(plan, e, spe) for e in range(4)]
    assert [p[3] for p in per_epoch] == [4, 1, 4, 2]     # the last epoch of a phase cut short
    assert sum(p[3] for p in per_epoch) == 11
    assert [p[:3] for p in per_epoch] == [(1, 0, 5), (1, 0, 5), (2, 2, 6), (2, 2, 6)]
    # without a budget: whole epochs, as before
    assert train.step_plan([(1, 2), (2, 2)], spe) == [(1, 2, 8), (2, 2, 8)]
    with pytest.raises(ValueError):
        train.epoch_steps(plan, 4, spe)


@pytest.mark.parametrize("total, warmup_epochs", [(5, 0.25), (5, 5.0), (2, 1.0), (148, 0.5),
                                                  (3, 0.0)])
def test_lr_schedule_ends_on_the_floor_at_step_n(total, warmup_epochs):
    """The warm-up is capped so cosine always has the last step: lr 0 on step N (index N-1)."""
    spe = 37
    w = train.warmup_steps(warmup_epochs, spe, total)
    assert 0 <= w <= total - 2
    lrs = [schedule.lr_at(s, total, w, 0.1) for s in range(total)]
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert max(lrs) == pytest.approx(0.1)
    assert train.warmup_steps(0.5, spe, 1) == 0


# -- --train-fraction / --holdout: the parts -------------------------------------------------------
def _labels(counts: list[int]) -> list[int]:
    return [c for c, n in enumerate(counts) for _ in range(n)]


def test_fraction_is_stratified_deterministic_and_nested():
    labels = _labels([40, 10, 3, 1])
    tr, held = splits.stratified(labels, 4, fraction=0.5, seed=3)
    assert held == []
    per = np.bincount(np.asarray(labels)[tr], minlength=4).tolist()
    assert per == [20, 5, 2, 1]                       # half of each class, at least one
    assert tr == sorted(tr) and len(set(tr)) == len(tr)
    assert splits.stratified(labels, 4, fraction=0.5, seed=3) == (tr, held)  # deterministic
    other, _ = splits.stratified(labels, 4, fraction=0.5, seed=4)
    assert other != tr                                 # the seed draws
    quarter, _ = splits.stratified(labels, 4, fraction=0.25, seed=3)
    assert set(quarter) <= set(tr)                     # a smaller fraction is a subset
    tiny_part, _ = splits.stratified(labels, 4, fraction=0.01, seed=0)
    assert np.bincount(np.asarray(labels)[tiny_part], minlength=4).tolist() == [1, 1, 1, 1]
    assert splits.stratified(labels, 4, seed=0)[0] == list(range(len(labels)))  # F = 1: all


def test_holdout_is_disjoint_stratified_and_taken_first():
    labels = _labels([20, 10, 5, 1])
    tr, held = splits.stratified(labels, 4, holdout=0.2, seed=1)
    assert not set(tr) & set(held)
    assert sorted(tr + held) == list(range(len(labels)))     # nothing lost without a fraction
    assert np.bincount(np.asarray(labels)[held], minlength=4).tolist() == [4, 2, 1, 0]
    # with a fraction too: the same holdout, the fraction drawn from the rest
    tr2, held2 = splits.stratified(labels, 4, holdout=0.2, fraction=0.5, seed=1)
    assert held2 == held and set(tr2) <= set(tr) and not set(tr2) & set(held2)
    assert np.bincount(np.asarray(labels)[tr2], minlength=4).tolist() == [8, 4, 2, 1]


def test_plan_is_independent_of_seed_and_reads_the_train_folder(tiny):
    from jpegcoef import formats
    fmt = formats.get("dctnet", channels=24)
    classes = ["class0", "class1", "class2"]
    argv = ["--variant", "dctnet", "--data", str(tiny), "--train-fraction", "0.5",
            "--holdout", "0.25", "--fraction-seed", "5"]
    a = splits.plan(_args(*argv, "--seed", "0"), tiny / "train", classes, fmt, 32)
    b = splits.plan(_args(*argv, "--seed", "123"), tiny / "train", classes, fmt, 32)
    assert a.train == b.train and a.holdout == b.holdout          # --seed is not consulted
    c = splits.plan(_args(*argv[:-1], "6"), tiny / "train", classes, fmt, 32)
    assert (c.train, c.holdout) != (a.train, a.holdout)
    assert a.scanned == 24 and a.eval_split == "holdout" and a.subset
    train_files = {p for p, _ in a.train}
    held_files = {p for p, _ in a.holdout}
    assert not train_files & held_files
    assert len(a.holdout) == 6 and len(a.train) == 9               # 2 + 3 of 8 per class
    for name, lab in ((p, lab) for p, lab in a.train + a.holdout):
        assert Path(name).parent.name == classes[lab]              # labels index train's classes
    assert a.record() == {"train_fraction": 0.5, "fraction_seed": 5, "holdout": 0.25,
                          "holdout_images": 6, "train_images_scanned": 24}
    whole = splits.plan(_args("--variant", "dctnet", "--data", str(tiny)), tiny / "train",
                        classes, None, 32)
    assert not whole.subset and whole.eval_split == "val" and whole.files() is None
    with pytest.raises(UsageError, match="fewer than one batch of 12"):
        a.check_batches(6, 2, tiny / "train")


def test_holdout_is_loaded_with_the_evaluation_transform(tiny):
    """The held-out images go through the evaluation pipeline (train=False: resize + centre
    crop, in order, no flip): two passes give the same batches; the training part is augmented."""
    from jpegcoef import formats
    fmt_opts = {"channels": 24}
    args = _args("--variant", "dctnet", "--data", str(tiny), "--holdout", "0.25", "-b", "3",
                 "--workers", "0")
    classes = ["class0", "class1", "class2"]
    part = splits.plan(args, tiny / "train", classes, formats.get("dctnet", **fmt_opts), 32)
    kw = dict(root=tiny, part=part, args=args, fmt_name="dctnet", fmt_opts=fmt_opts, augment=None,
              classes=classes)
    held = train.split_loader("holdout", False, 32, False, **kw)
    assert held.dataset.train is False and held.dataset.pipeline.train is False
    assert len(held.dataset) == len(part.holdout) == 6 and not held.drop_last
    assert list(held.dataset.labels) == [lab for _, lab in part.holdout]
    assert held.dataset.classes == classes

    def passes(ld):
        return [[v.clone() for v in b.values() if isinstance(v, torch.Tensor)] for b, _ in ld]

    one, two = passes(held), passes(held)
    assert all(torch.equal(x, y) for bx, by in zip(one, two) for x, y in zip(bx, by))
    tr = train.split_loader("train", True, 32, False, **kw)
    assert tr.dataset.train is True and len(tr.dataset) == len(part.train) == 18
    assert {p for p in tr.dataset.paths}.isdisjoint(p for p, _ in part.holdout)


# -- the confusion matrix --------------------------------------------------------------------------
class _Fixed(nn.Module):
    """Logits from a lookup: sample value v -> row v of ``table`` (a made-up classifier)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x.long().view(-1)]


class _Fmt:
    def device(self, batch):
        return batch["x"]


def _loader(values, labels, batch=3):
    v, y = torch.tensor(values), torch.tensor(labels)
    return [({"x": v[i:i + batch]}, y[i:i + batch]) for i in range(0, len(v), batch)]


def _table(classes: int, samples: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(samples, classes, generator=torch.Generator().manual_seed(seed))


def test_confusion_counts_the_predictions_of_top1():
    table = _table(4, 10)
    table[9] = 0.0  # a tie: the prediction is top-5's first, so diagonal == top-1 still
    values, labels = list(range(10)), [0, 1, 2, 0, 1, 2, 0, 1, 2, 1]  # class 3 never true
    ev = evaluate.evaluate(_Fixed(table), _loader(values, labels), _Fmt(), torch.device("cpu"),
                           progress=False, num_classes=4)
    m = ev["confusion"]
    pred = table.argmax(1)
    assert sum(map(sum, m)) == ev["images"] == 10
    assert sum(m[i][i] for i in range(4)) == round(ev["top1"] * 10)
    for t, p in zip(labels[:9], pred[:9].tolist()):
        assert m[t][p] >= 1
    assert [sum(r) for r in m] == [3, 4, 3, 0]
    per = evaluate.per_class_top1(m, ["a", "b", "c", "d"])
    assert per["d"] is None
    assert per["a"] == pytest.approx(m[0][0] / 3) and per["b"] == pytest.approx(m[1][1] / 4)


_DDP_WORKER = r"""
import json, os, sys
import torch, torch.distributed as dist
sys.path.insert(0, {experiments!r}); sys.path.insert(0, {tests!r})
from harness import evaluate
from harness.distributed import DistInfo
from test_harness_budget import _Fixed, _Fmt, _loader, _table
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="file://" + {rendezvous!r}, rank=rank, world_size=2)
values, labels = list(range(10)), [0, 1, 2, 0, 1, 2, 0, 1, 2, 1]
mine = slice(0, 6) if rank == 0 else slice(6, 10)   # unequal shards
ev = evaluate.evaluate(_Fixed(_table(4, 10)), _loader(values[mine], labels[mine]), _Fmt(),
                       torch.device("cpu"), progress=False, num_classes=4,
                       info=DistInfo(rank, rank, 2, "gloo"))
print(json.dumps(ev))
dist.destroy_process_group()
"""


def test_confusion_is_summed_over_ranks_under_ddp(tmp_path):
    """Two gloo processes, each evaluating its own part: every rank gets the whole split's
    counts and matrix, the same as one process over all of it."""
    code = _DDP_WORKER.format(experiments=str(REPO / "experiments"),
                              tests=str(Path(__file__).resolve().parent),
                              rendezvous=str(tmp_path / "rdv"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(r)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for r in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    got = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    whole = evaluate.evaluate(_Fixed(_table(4, 10)), _loader(list(range(10)),
                                                             [0, 1, 2, 0, 1, 2, 0, 1, 2, 1]),
                              _Fmt(), torch.device("cpu"), progress=False, num_classes=4)
    for ev in got:
        assert ev["images"] == 10 and ev["confusion"] == whole["confusion"]
        assert ev["top1"] == pytest.approx(whole["top1"]) and ev["top5"] == pytest.approx(whole["top5"])
        assert ev["loss"] == pytest.approx(whole["loss"])


# -- end to end ------------------------------------------------------------------------------------
def test_budget_run_takes_exactly_n_steps_and_dctnet_protocol_halves_rgb(tiny, tmp_path):
    """--step-budget 5 (24 images, batch 6: 4 steps per epoch): 5 optimiser steps for resnet50
    (one epoch and one step) and for hilo (2 + 3: its two steps share the budget), the learning
    rate at its floor on the last step of each phase; under --protocol dctnet at --crop 64 the
    RGB model trains and is evaluated at 32 px, the DCT model at 64."""
    run(["--data", str(tiny), "--variant", "resnet50,hilo", "--protocol", "dctnet",
         "--crop", "64", "--step-budget", "5", "--warmup-epochs", "0.25", "--eval-every", "0",
         "--no-measure", "--shift-max", "0"], tmp_path)
    res = results(tmp_path)
    for name, r in res.items():
        assert r["optimizer_steps"] == 5, name
        assert r["images_seen"] == 5 * 6, name
        assert r["schedule"]["step_budget"] == 5 and r["schedule"]["steps_per_epoch"] == 4
        assert r["schedule"]["epochs"] == pytest.approx(5 / 4)
        assert r["eval_split"] == "val"
        assert sum(map(sum, r["confusion"]["matrix"])) == r["dataset"]["val_images"] == 12
    rn, hl = res["resnet50"], res["hilo"]
    assert [e["phase"] for e in rn["history"]] == [0, 0]
    assert rn["history"][-1]["lr"] == pytest.approx(0.0, abs=1e-12)     # the floor on step 5
    assert hl["schedule"]["hilo_step_steps"] == [2, 3]
    assert hl["schedule"]["hilo_step_epochs"] == pytest.approx([0.5, 0.75])
    assert [e["phase"] for e in hl["history"]] == [1, 2]
    assert all(e["lr"] == pytest.approx(0.0, abs=1e-12) for e in hl["history"])  # each phase's end
    steps = [ln.split(",") for ln in next((tmp_path / "runs").glob("hilo-*")).joinpath(
        "log.csv").read_text().splitlines() if ln.startswith("epoch,")]
    assert [int(s[2]) for s in steps] == [2, 5]                           # global step after each
    # --protocol dctnet: the RGB baseline at half the DCT crop, recorded
    assert rn["schedule"]["crop"] == 32 and hl["schedule"]["crop"] == 64
    assert rn["measures"]["bytes_per_image"] == 3 * 32 * 32
    prot = rn["schedule"]["protocol"]
    assert (prot["name"], prot["crop"], prot["rgb_crop"], prot["rgb_crop_divisor"]) == \
        ("dctnet", 64, 32, 2)


def test_holdout_and_fraction_run_evaluates_the_held_out_part(tiny, tmp_path):
    """--holdout 0.25 --train-fraction 0.5: 6 held out (2 per class), 9 trained on (3 per
    class); the metrics and the confusion are the held-out images', measured with the
    evaluation transform: --evaluate of the saved model on a folder of exactly those files gives
    the same loss."""
    flags = ["--train-fraction", "0.5", "--holdout", "0.25", "--fraction-seed", "2"]
    run(["--data", str(tiny), "--variant", "dctnet", "--epochs", "1", "--no-measure",
         "--stats", "train", *flags], tmp_path)
    (r,) = results(tmp_path).values()
    assert r["eval_split"] == "holdout"
    d = r["dataset"]
    assert (d["train_images"], d["holdout_images"], d["val_images"]) == (9, 6, 6)
    assert (d["train_fraction"], d["fraction_seed"], d["holdout"]) == (0.5, 2, 0.25)
    assert r["input_stats"]["images"] == 9                # the statistics of the part trained on
    m = r["confusion"]["matrix"]
    assert r["confusion"]["classes"] == ["class0", "class1", "class2"]
    assert [sum(row) for row in m] == [2, 2, 2]
    assert sum(m[i][i] for i in range(3)) == round(r["metrics"]["top1"] * 6)
    assert r["per_class_top1"] == {c: m[i][i] / 2 for i, c in enumerate(r["confusion"]["classes"])}
    assert r["optimizer_steps"] == 1 and r["images_seen"] == 6   # 9 images: one batch of 6
    # the same parts, drawn again in this process, and the run's model on exactly the held-out files
    from jpegcoef import formats
    part = splits.plan(_args("--variant", "dctnet", "--data", str(tiny), *flags), tiny / "train",
                       r["confusion"]["classes"], formats.get("dctnet", channels=24), 32)
    assert len(part.train) == 9 and not {p for p, _ in part.train} & {p for p, _ in part.holdout}
    folder = tmp_path / "held"
    for path, lab in part.holdout:
        dst = folder / "holdout" / f"class{lab}"
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dst / Path(path).name)
    ev = subprocess.run([sys.executable, str(RUN), "--evaluate",
                         str(next((tmp_path / "ckpt").glob("dctnet-*")) / "model.pt"),
                         "--data", str(folder), "--split", "holdout", "-b", "6"],
                        capture_output=True, text=True, timeout=300)
    assert ev.returncode == 0, ev.stderr
    loss = float(re.search(r"loss ([\d.]+)", ev.stdout).group(1))
    assert loss == pytest.approx(r["metrics"]["val_loss"], abs=1e-4), ev.stdout
    assert "(6 images, 3 classes)" in ev.stdout
