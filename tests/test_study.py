"""experiments/study.py: its aggregation (mean +- std over seeds and cuts, seed and cut spreads, the
paired gap to resnet50 with its 95% interval against the 1-point target, summed confusion), its
table, its plan and its argument errors. The study itself
is a long run (README: Accuracy on real photographs); here its pieces run on made-up run records."""
from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import study  # noqa: E402


def _run(label: str, seed: int, top1: float, ips: float | None = 50.0, cut: int = 0,
         confusion: list | None = None) -> study.RunResult:
    row = next(r for r in study.STUDY + study.ABLATIONS if r.label == label)
    data = {"metrics": {"top1": top1, "top5": 0.99}, "model": row.variant, "model_options": {},
            "input_format": "rgb" if label == "resnet50" else "gueguen",
            "measures": {"params": 10, "macs": 2e9, "train_images_per_s": ips},
            "timing": {"total_s": 100.0}, "hilo": None, "optimizer_steps": 148}
    if confusion is not None:
        data["confusion"] = {"classes": ["a", "b"], "matrix": confusion}
    return study.RunResult(row, seed, Path(f"/x/{label}-{seed}-{cut}"), data, cut)


def test_mean_std_and_gap_to_resnet50():
    runs = [_run("resnet50", s, t) for s, t in enumerate((0.80, 0.82, 0.84))]
    runs += [_run("dctnet24", s, t) for s, t in enumerate((0.81, 0.83, 0.85))]
    runs += [_run("late_concat_rfa_thinner", s, t, None) for s, t in enumerate((0.75, 0.78, 0.78))]
    speed = {"rows": {"resnet50": {"images_per_s": 100.0, "speedup_vs_resnet50": 1.0,
                                   "macs_per_image": 3e8},
                      "dctnet24": {"images_per_s": 150.0, "speedup_vs_resnet50": 1.5,
                                   "macs_per_image": 2e8}}}
    out = study.aggregate(runs, speed, study.STUDY)
    rows = {r["row"]: r for r in out["rows"]}
    assert list(rows) == ["resnet50", "late_concat_rfa_thinner", "dctnet24"]  # the study's order
    assert rows["resnet50"]["top1_mean"] == pytest.approx(82.0)
    assert rows["resnet50"]["top1_std"] == pytest.approx(2.0)
    assert rows["dctnet24"]["top1_gap_vs_resnet50"] == pytest.approx(1.0)
    assert rows["dctnet24"]["within_target"] is True
    # paired: +1 at every seed, so the interval has no width
    assert rows["dctnet24"]["paired_vs_resnet50"]["ci95"] == pytest.approx([1.0, 1.0])
    assert rows["late_concat_rfa_thinner"]["top1_gap_vs_resnet50"] == pytest.approx(-5.0)
    assert rows["late_concat_rfa_thinner"]["within_target"] is False
    assert rows["late_concat_rfa_thinner"]["train_images_per_s"] is None
    assert rows["dctnet24"]["inference_images_per_s"] == 150.0
    assert "inference_images_per_s" not in rows["late_concat_rfa_thinner"]
    md = study.table(out)
    assert "| dctnet24 | 83.0 ± 2.0 | +1.0 [+1.0, +1.0] |  |" in md
    # differences -5, -4, -6: mean -5, sd 1, t(2) = 4.303 -> +-2.48
    assert "| late_concat_rfa_thinner | 77.0 ± 1.7 | -5.0 [-7.5, -2.5] |  |" in md
    # an ablation is compared with its row at the same seeds (seed 0 here), not the row's mean
    out = study.aggregate(runs + [_run("late_concat_rfa_thinner/recipe=paper", 0, 0.77)], None,
                          study.STUDY + study.ABLATIONS)
    abl = next(r for r in out["rows"] if r["row"] == "late_concat_rfa_thinner/recipe=paper")
    assert abl["top1_change_vs_row"] == pytest.approx(2.0)  # 77 vs 75 at seed 0
    # paired with resnet50 at its seed 0 (80): -3
    assert "| late_concat_rfa_thinner/recipe=paper | 77.0 | -3.0 | +2.0 |" in study.table(out)


def test_paired_interval_and_t_table():
    p = study.paired([1.0, 3.0])
    assert p["mean"] == 2.0 and p["n"] == 2
    half = 12.706 * math.sqrt(2.0) / math.sqrt(2)
    assert p["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert study.paired([1.5])["ci95"] is None
    assert study.t975(5) == 2.571 and study.t975(22) == 2.060 and study.t975(100) == 1.96
    with pytest.raises(ValueError):
        study.t975(0)


def test_seed_and_cut_spreads_are_apart():
    """Two cuts 10 points apart, seeds 1 point apart within each: the cut spread shows the
    dataset variance, the seed spread the training variance."""
    runs = [_run("resnet50", s, t, cut=c) for c, base in ((0, 0.70), (1, 0.80))
            for s, t in enumerate((base - 0.01, base + 0.01))]
    sp = study.spreads(runs)
    assert sp["seed_std"] == pytest.approx(math.sqrt(2) * 1.0)
    assert sp["cut_std"] == pytest.approx(math.sqrt(50.0))
    # pairing is by (cut, seed): a row 2 points under resnet50 on every pair
    runs += [_run("dctnet24", s, t - 0.02, cut=c) for c, base in ((0, 0.70), (1, 0.80))
             for s, t in enumerate((base - 0.01, base + 0.01))]
    row = next(r for r in study.aggregate(runs, None, study.STUDY)["rows"] if r["row"] == "dctnet24")
    assert row["paired_vs_resnet50"]["mean"] == pytest.approx(-2.0)
    assert row["paired_vs_resnet50"]["ci95"] == pytest.approx([-2.0, -2.0])
    assert row["cuts"] == [0, 0, 1, 1] and row["seeds"] == [0, 1, 0, 1]


def test_confusion_is_summed_over_runs():
    runs = [_run("resnet50", 0, 0.5, confusion=[[3, 1], [0, 4]]),
            _run("resnet50", 1, 0.5, confusion=[[2, 2], [1, 3]])]
    row = study.aggregate(runs, None, study.STUDY)["rows"][0]
    assert row["confusion"]["matrix"] == [[5, 3], [1, 7]]
    assert row["confusion"]["per_class_top1"] == pytest.approx([5 / 8, 7 / 8])
    assert row["optimizer_steps"] == 148


def test_one_seed_has_no_std():
    out = study.aggregate([_run("resnet50", 0, 0.5)], None, study.STUDY)
    assert math.isnan(out["rows"][0]["top1_std"])
    assert "| resnet50 | 50.0 |" in study.table(out)


def test_rows_are_the_issues_variants_and_ablations_name_their_row():
    assert [r.variant for r in study.STUDY] == [
        "resnet50", "upsampling_rfa", "late_concat_rfa", "late_concat_rfa_thinner", "dctnet24",
        "hilo"]
    assert all(r.seeds == (0, 1, 2) and r.cuts == (0, 1) for r in study.STUDY)
    labels = {r.label for r in study.STUDY}
    base = {r.label: r for r in study.STUDY}
    for a in study.ABLATIONS:  # each changes something of the row it names
        assert a.ablation_of in labels and a.group in study.GROUPS
        assert a.args or a.variant != base[a.ablation_of].variant
    # the lr sweep never scores on val
    assert all("--holdout" in a.args for a in study.ABLATIONS if a.group == "lr")
    names = [study._run_name(r, 0, 1) for r in study.STUDY + study.ABLATIONS]
    assert len(set(names)) == len(names) and not any("/" in n for n in names)
    assert all("-cut1-seed0" in n for n in names)


def test_plan_groups_seeds_and_cuts():
    parser = study.build_parser()
    args = parser.parse_args(["--ablations", "recipe,scaling"])
    plan = study.make_plan(args, parser)
    groups = {r.group for r, _, _ in plan}
    assert groups == {"study", "recipe", "scaling"}
    main = [(s, c) for r, s, c in plan if r.group == "study"]
    assert all(s == [0, 1, 2] and c == [0, 1] for s, c in main)
    args = parser.parse_args(["--rows", "resnet50", "--seeds", "4", "--cuts", "2,3"])
    assert study.make_plan(args, parser) == [(study.STUDY[0], [4], [2, 3])]
    args = parser.parse_args(["--dataset", "photos"])
    assert all(c == [0] for _, _, c in study.make_plan(args, parser))   # v1 has no cuts
    with pytest.raises(SystemExit):
        parser.parse_args(["--ablations", "nope"])
    with tempfile.TemporaryDirectory() as tmp:
        cmd = study.run_command(study.STUDY[0], 1, 2, parser.parse_args([]), tmp)
    assert cmd[cmd.index("--photos-opt") + 1] == "cut=2" and cmd[cmd.index("--seed") + 1] == "1"
    assert cmd[cmd.index("--dataset") + 1] == "photos-v2"


def test_spec_gives_bench_models_the_runs_model():
    assert study._spec({"model": "dctnet", "model_options": {"channels": 24,
                                                              "zero_init_residual": True}}) \
        == "dctnet:channels=24"
    assert study._spec({"model": "hilo", "model_options": {"layer2_stride": 1}}) \
        == "hilo:layer2_stride=1,threshold=1.1"
    assert study._spec({"model": "resnet50", "model_options": {}}) == "resnet50"


def test_argument_errors(capsys, tmp_path):
    with pytest.raises(SystemExit):
        study.main(["--rows", "nope", "--runs-dir", str(tmp_path)])
    assert "unknown rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        study.main(["--seeds", "a,b"])
    with pytest.raises(SystemExit):
        study.main(["--dataset", "photos", "--cuts", "1", "--runs-dir", str(tmp_path)])
    assert "photos-v2 only" in capsys.readouterr().err
    assert study.main(["--summarize", "--runs-dir", str(tmp_path / "empty"), "--no-speed"]) == 1


def test_bench_models_size_sets_the_input_and_the_mac_count(tmp_path, capsys):
    import json

    import bench_models
    from jpegcoef import models
    from jpegcoef.models.summary import count_macs

    assert bench_models.main(["--variants", "late_concat_rfa_thinner", "--size", "32",
                              "--batch-sizes", "2", "--iters", "1", "--rounds", "1",
                              "--warmup", "0", "--num-classes", "10",
                              "--results-dir", str(tmp_path)]) == 0
    out = json.loads(next(tmp_path.glob("models-*.json")).read_text())
    assert out["size"] == 32
    m = models.create("late_concat_rfa_thinner", num_classes=10).eval()
    assert out["results"][0]["macs_per_image"] == count_macs(m, m.example_input(1, 32))
    assert out["results"][0]["macs_per_image"] < count_macs(m, m.example_input(1, 64))
    with pytest.raises(SystemExit):
        bench_models.main(["--variants", "resnet50", "--size", "40"])
    assert "multiple of 16" in capsys.readouterr().err


def test_from_json_writes_the_readme_block_between_its_markers(tmp_path, monkeypatch, capsys):
    import json

    runs = [_run("resnet50", s, t) for s, t in enumerate((0.80, 0.82))]
    st = study.aggregate(runs, None, study.STUDY)
    st.update({"schema": "jpegcoef.study/1", "command": "python experiments/study.py",
               "seeds": [0, 1], "cuts": [0],
               "dataset": {"classes": 10, "train_images": 1200, "val_images": 1000},
               "schedule": {"crop": 64, "epochs": 4, "batch_size": 32, "augment": "rrc"},
               "speed": None, "runs_dir": "experiments/results/study-photos"})
    path = tmp_path / "study-photos-x.json"
    path.write_text(json.dumps(st))
    fake = tmp_path / "repo"
    (fake / "experiments").mkdir(parents=True)
    (fake / "README.md").write_text("a\n<!-- study-table:start -->\nold\n<!-- study-table:end -->\nb\n")
    monkeypatch.setattr(study, "HERE", fake / "experiments")
    assert study.main(["--from-json", str(path), "--update-readme"]) == 0
    text = (fake / "README.md").read_text()
    assert "old" not in text and text.startswith("a\n") and text.endswith("b\n")
    assert "| resnet50 | 81.0 ± 1.4 |" in text and "`study-photos-x.json`" in text
    (fake / "README.md").write_text("no markers\n")
    assert study.main(["--from-json", str(path), "--update-readme"]) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit):
        study.main(["--from-json", str(bad)])
    assert "not a study JSON" in capsys.readouterr().err


def test_a_held_out_train_row_is_not_compared_with_val_rows():
    """The lr sweep scores on held-out train: no difference against resnet50 or its row (val)."""
    runs = [_run("resnet50", 0, 0.80), _run("resnet50/lr=0.1", 0, 0.90)]
    runs[1].data["eval_split"] = "holdout"
    out = study.aggregate(runs, None, study.STUDY + study.ABLATIONS)
    lr = next(r for r in out["rows"] if r["row"] == "resnet50/lr=0.1")
    assert lr["eval_split"] == "holdout" and lr["top1_mean"] == pytest.approx(90.0)
    assert "paired_vs_row" not in lr and "paired_vs_resnet50" not in lr
    assert "top1_gap_vs_resnet50" not in lr
    assert "| resnet50/lr=0.1 (held-out train) | 90.0 |  |  |" in study.table(out)
