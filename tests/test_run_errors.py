"""experiments/run.py's command line: timm-style flags, one-line user errors with exit status 1
(data) or 2 (usage), the class map across splits, --summarize and committed results. Run in
this process (no training here: every case stops before the first step)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

from harness import config, folders, results as R  # noqa: E402
from test_run import make_dataset  # noqa: E402

_spec = importlib.util.spec_from_file_location("run_py", REPO / "experiments" / "run.py")
run_py = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_py)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tiny"), train=3, val=2)


def parse(argv: list[str]):
    return config.fill_defaults(config.build_parser().parse_args(argv))


def one_line(capsys, status: int, argv: list[str], text: str, tmp: Path | None = None) -> str:
    base = [] if tmp is None else ["--results-dir", str(tmp / "r"), "--checkpoint-dir", str(tmp / "c"),
                                   "--run-dir", str(tmp / "l"), "--no-progress"]
    got = run_py.main(base + argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert got == status, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("run.py: error: ") and text in lines[0], lines[0]
    return lines[0]


# -- flags ---------------------------------------------------------------------------------------
def test_timm_style_flags():
    a = parse(["--model", "resnet50", "-b", "8", "--amp", "--resume"])
    assert (a.variant, a.batch_size, a.amp, a.resume) == ("resnet50", 8, "on", "auto")
    a = parse(["--variant", "dctnet", "--amp", "off", "--resume", "ck/last.pt", "--no-amp"])
    assert (a.amp, a.resume) == ("off", "ck/last.pt")
    assert parse(["--variant", "dctnet"]).amp == "auto" and parse(["--variant", "x"]).resume is None
    with pytest.raises(SystemExit):  # --model is not taken as an abbreviation of --model-opt
        config.build_parser().parse_args(["--model-o", "channels=3"])
    assert parse(["--model", "dctnet", "--model-opt", "channels=64"]).model_opt == ["channels=64"]


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        config.build_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "images per process per step (default: from --profile: synthetic 32, photos 32, photos-v2 32, imagenet 64)" in out
    assert "training epochs (default: from --profile: synthetic 2, photos 4, photos-v2 4, imagenet 90)" in out
    assert "(default: from --profile: synthetic 64, photos 64, photos-v2 64, imagenet the model's input size)" in out
    assert "auto | cpu | cuda | cuda:N (default: auto)" in out
    assert "experiments/checkpoints/<variant>-<dataset>/" in out and "Exit status:" in out


def test_version(capsys):
    assert run_py.main(["--version"]) == 0 and capsys.readouterr().out.startswith("run.py 0.1.0")


# -- user errors -----------------------------------------------------------------------------------
def test_usage_errors_are_one_line(capsys, tmp_path, tiny):
    one_line(capsys, 2, ["--variant", "dctnet", "--model-opt", "bogus=1"], "--model-opt bogus: not an option of dctnet")
    one_line(capsys, 2, ["--variant", "nope"], "unknown variant 'nope'")
    one_line(capsys, 2, ["--variant", "dctnet", "--model-opt", "channels"], "key=value")
    one_line(capsys, 2, ["--mod", "resnet50"], "unrecognized arguments: --mod")
    one_line(capsys, 2, ["--amp", "maybe"], "invalid choice")
    one_line(capsys, 2, [], "--variant is required")
    one_line(capsys, 2, ["--variant", "dctnet", "--epochs", "0"], "--epochs must be >= 1")
    import torch
    if not torch.cuda.is_available():
        one_line(capsys, 2, ["--variant", "dctnet", "--data", str(tiny), "--device", "cuda"],
                 "--device cuda: CUDA is not available", tmp_path)
    one_line(capsys, 2, ["--variant", "dctnet", "--data", str(tiny), "--device", "tpu0"],
             "--device tpu0: expected auto, cpu, cuda", tmp_path)


def test_data_errors_are_one_line(capsys, tmp_path, tiny):
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(tmp_path / "nope")],
             f"--data {tmp_path / 'nope'} does not exist", tmp_path)
    (tmp_path / "flat").mkdir()
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(tmp_path / "flat")],
             "no train/ or val/ folder", tmp_path)
    bad = tmp_path / "emptyclass"
    shutil.copytree(tiny, bad)
    (bad / "train" / "class3").mkdir()
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(bad)],
             "1 class folder(s) without images: class3", tmp_path)
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(tiny), "--crop", "32", "-b", "2",
                          "--resume", str(tmp_path / "x.pt")],
             "--resume", tmp_path)
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(tiny), "--stats", str(tmp_path / "none.json")],
             "--stats", tmp_path)


def test_val_class_that_train_lacks_is_an_error(capsys, tmp_path, tiny):
    data = tmp_path / "d"
    shutil.copytree(tiny, data)
    shutil.copytree(data / "val" / "class2", data / "val" / "zebra")
    one_line(capsys, 1, ["--variant", "dctnet", "--data", str(data), "--crop", "32", "-b", "2"],
             "class folder(s) not among the 3 classes given (the training split's): zebra", tmp_path)


def test_fewer_images_than_a_batch_names_the_fix(capsys, tmp_path, tiny):
    line = one_line(capsys, 2, ["--variant", "dctnet", "--data", str(tiny), "--crop", "32", "-b", "64"],
                    "9 images, fewer than one batch of 64", tmp_path)
    assert "--batch-size 9 or less" in line


def test_evaluate_errors(capsys, tmp_path, tiny):
    one_line(capsys, 2, ["--evaluate", str(tmp_path / "m.pt")], "--evaluate needs --data")
    one_line(capsys, 1, ["--evaluate", str(tmp_path / "m.pt"), "--data", str(tiny)], "does not exist")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    one_line(capsys, 1, ["--evaluate", str(tmp_path / "junk.pt"), "--data", str(tiny)],
             "not a readable checkpoint")


# -- the class map ---------------------------------------------------------------------------------
class _Folder:
    def __init__(self, classes, labels):
        self.classes, self.labels = list(classes), list(labels)


def test_class_names_ignore_hidden_folders(tmp_path, tiny):
    data = tmp_path / "d"
    shutil.copytree(tiny, data)
    (data / "train" / ".ipynb_checkpoints").mkdir()
    (data / "train" / "notes.txt").write_text("x")
    assert folders.class_names(data / "train") == ["class0", "class1", "class2"]


def test_align_labels_maps_a_split_onto_trains_classes(capsys):
    """val without class1: its own sorted list would call class2 label 1; relabelled by name
    it is 2 (train's), with a warning that names the missing class."""
    ds = _Folder(["class0", "class2"], [0, 0, 1, 1])
    folders.align_labels(ds, ["class0", "class1", "class2"], Path("val"))
    assert ds.labels == [0, 0, 2, 2] and ds.classes == ["class0", "class1", "class2"]
    assert "no folder for 1 of train's classes (class1)" in capsys.readouterr().err
    same = _Folder(["a", "b"], [0, 1])
    folders.align_labels(same, ["a", "b"], Path("val"))
    assert same.labels == [0, 1]
    with pytest.raises(folders.UserError, match="train/ does not have: c"):
        folders.align_labels(_Folder(["a", "c"], [0, 1]), ["a", "b"], Path("val"))


# -- --summarize: committed rows are not replaced silently -----------------------------------------
def _result(variant: str, top1: float, created: str) -> dict:
    return {"schema": R.SCHEMA, "created": created, "variant": variant,
            "dataset": {"name": "synthetic", "classes": 10, "train_images": 1, "val_images": 1},
            "schedule": {"crop": 64, "epochs": 2, "batch_size": 32},
            "metrics": {"top1": top1, "top5": 1.0},
            "measures": {"params": 1, "macs": 1, "device_name": "cpu", "inference_batch": 32},
            "environment": {"command": "python experiments/run.py --variant all"}}


def test_summarize_keeps_committed_rows(tmp_path, capsys):
    repo = tmp_path / "repo"
    res = repo / "experiments" / "results"
    res.mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    (res / "resnet50-synthetic-1.json").write_text(json.dumps(_result("resnet50", 0.615, "2026-01-01")))
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "r"], check=True)
    (res / "resnet50-synthetic-2.json").write_text(json.dumps(_result("resnet50", 0.123, "2026-02-01")))
    assert run_py.main(["--summarize", "--results-dir", str(res)]) == 0
    cap = capsys.readouterr()
    assert "| resnet50 | 61.5 |" in cap.out and "12.3" not in cap.out
    assert "left out 1 result file(s) git does not track (local runs): resnet50-synthetic-2.json" in cap.err
    assert run_py.main(["--summarize", "--all-results", "--results-dir", str(res)]) == 0
    cap = capsys.readouterr()
    assert "| resnet50 | 12.3 |" in cap.out
    assert ("row resnet50 (synthetic): local resnet50-synthetic-2.json replaces committed "
            "resnet50-synthetic-1.json") in cap.err
    outside = tmp_path / "plain"  # not in git: every file counts
    shutil.copytree(res, outside)
    assert run_py.main(["--summarize", "--results-dir", str(outside)]) == 0
    cap = capsys.readouterr()
    assert "| resnet50 | 12.3 |" in cap.out and cap.err == ""


def test_eval_only_checkpoint_is_evaluate(capsys, tmp_path, tiny):
    """timm's ``--eval-only --checkpoint PATH`` takes the --evaluate path; either half alone is a usage error."""
    (tmp_path / "junk.pt").write_bytes(b"junk")
    one_line(capsys, 1, ["--eval-only", "--checkpoint", str(tmp_path / "junk.pt"), "--data", str(tiny)],
             "junk.pt: not a readable checkpoint")
    one_line(capsys, 2, ["--eval-only", "--checkpoint", str(tmp_path / "m.pt")], "--evaluate needs --data")
    one_line(capsys, 2, ["--eval-only", "--data", str(tiny)], "--eval-only and --checkpoint PATH go together")
    one_line(capsys, 2, ["--checkpoint", str(tmp_path / "m.pt")], "--eval-only and --checkpoint PATH go together")
