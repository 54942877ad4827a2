"""What bad input gets (issue 24): a damaged checkpoint or an unreadable folder is one line on
stderr naming the file, with exit status 1 (``jpegcoef predict/export/stats``, ``run.py``
training, ``--resume`` and ``--evaluate``), never a traceback, and nothing is lost: the checks
run before training, and a trained model is kept when its evaluation fails.

Tiny data (48 px JPEGs, 9 training / 6 validation images), checkpoints of a 0.4M-parameter
ResNet-50 (``width=0.125``) written directly (no training), and at most a few training steps:
the module takes a few seconds beyond its imports."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

from harness import checkpoint, config, folders  # noqa: E402
from jpegcoef import inference, models  # noqa: E402
from jpegcoef.cli import main as cli_main  # noqa: E402
from test_run import make_dataset  # noqa: E402

_spec = importlib.util.spec_from_file_location("run_py_bad_input", REPO / "experiments" / "run.py")
run_py = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_py)

CLASSES = ["class0", "class1", "class2"]
SMALL = {"width": 0.125}  # resnet50 at an eighth of the width: a 1.6 MB checkpoint


# -- data and checkpoints ----------------------------------------------------------------------------
def _checkpoint(path: Path, model: str = "resnet50", options: dict | None = None, fmt: str = "rgb",
                classes: list[str] = CLASSES, weights_classes: int | None = None,
                drop: tuple[str, ...] = ()) -> Path:
    """A checkpoint as experiments/run.py writes it (fresh weights): the model's weights and
    its ``inference`` record; ``weights_classes``: weights of a model with that many classes
    instead; ``drop``: record keys left out."""
    options = dict(SMALL if options is None else options)
    net = models.create(model, num_classes=weights_classes or len(classes), **options)
    rec = inference.model_record(model=model, model_options=options, classes=classes,
                                 input_format=fmt, format_options=dict(net.input_options),
                                 stats=None, crop=32)
    torch.save({"model": net.state_dict(),
                "inference": {k: v for k, v in rec.items() if k not in drop}}, path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Folders (``tiny`` and damaged copies of it) and checkpoints, made once for the module."""
    root = tmp_path_factory.mktemp("bad")
    tiny = make_dataset(root / "tiny", train=3, val=2)
    out = {"root": root, "tiny": tiny}
    for name, split in (("badtrain", "train"), ("badval", "val")):  # every file of a split junk
        shutil.copytree(tiny, root / name)
        for p in (root / name / split).rglob("*.jpg"):
            p.write_bytes(b"junk, not an image")
        out[name] = root / name
    for name, split in (("mixtrain", "train"), ("mixval", "val")):  # one bad file among good ones
        shutil.copytree(tiny, root / name)
        (root / name / split / "class2" / "001.jpg").write_bytes(b"junk")
        out[name] = root / name
    shutil.copytree(tiny, root / "pngval")
    Image.new("RGB", (48, 48), (200, 30, 30)).save(root / "pngval" / "val" / "class0" / "x.png")
    out["pngval"] = root / "pngval"
    good = (tiny / "val" / "class0" / "000.jpg").read_bytes()
    (root / "trunc.jpg").write_bytes(good[: len(good) // 2])
    out["trunc"] = root / "trunc.jpg"
    out["good_jpg"] = tiny / "val" / "class0" / "000.jpg"
    out["model"] = _checkpoint(root / "model.pt")
    out["misfit"] = _checkpoint(root / "misfit.pt", weights_classes=4)   # 4-class weights, 3 names
    out["noclasses"] = _checkpoint(root / "noclasses.pt", drop=("classes",))
    out["dct"] = _checkpoint(root / "dct.pt", "hilo", fmt="dctnet")      # a DCT model, 0.7M
    (root / "junk.pt").write_bytes(b"garbage")
    out["junk"] = root / "junk.pt"
    return out


# -- how a one-line error is asserted ----------------------------------------------------------------
def _line(err: str, prog: str, *texts: str) -> str:
    """The one line of ``err``: ``prog: error: ...`` holding every one of ``texts``."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    for text in texts:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def run_one(capsys, argv: list[str], *texts: str, tmp: Path | None = None, status: int = 1) -> str:
    """``run.py argv`` in this process: exit ``status`` and one error line holding ``texts``."""
    base = [] if tmp is None else [
        "--results-dir", str(tmp / "r"), "--checkpoint-dir", str(tmp / "c"), "--run-dir", str(tmp / "l")]
    got = run_py.main(base + argv)  # a later --results-dir etc. in argv wins
    err = capsys.readouterr().err
    assert got == status, err
    return _line(err, "run.py", *texts)


def cli_one(capsys, argv: list[str], *texts: str) -> str:
    """``jpegcoef argv`` in this process: exit 1 and one error line holding ``texts``."""
    got = cli_main(argv)
    err = capsys.readouterr().err
    assert got == 1, err
    return _line(err, "jpegcoef", *texts)


#: a tiny model and a few steps: the training runs here stop early or take a second
TRAIN = ["--variant", "resnet50", "--model-opt", "width=0.125", "--no-progress", "--crop", "32",
         "--epochs", "1", "--no-measure", "--shift-max", "0"]


# -- 1. a checkpoint whose weights do not fit its model, or whose record lacks classes ----------------
@pytest.mark.parametrize("command", ["predict", "export", "evaluate"])
def test_checkpoint_whose_weights_do_not_fit_its_model(capsys, tmp_path, data, command):
    def one(ckpt: Path, *texts: str) -> str:
        if command == "evaluate":
            return run_one(capsys, ["--evaluate", str(ckpt), "--data", str(data["tiny"])], str(ckpt), *texts)
        argv = [str(ckpt), str(data["good_jpg"])] if command == "predict" else [str(ckpt), str(tmp_path / "m.pt2")]
        return cli_one(capsys, [command, *argv], str(ckpt), *texts)

    line = one(data["misfit"], "the weights do not fit the model its record describes",
               "fc.weight: [4, 256] in the file, [3, 256] in the model")
    assert "3 classes" in line
    one(data["noclasses"], "its 'inference' record lacks 'classes'")
    assert not (tmp_path / "m.pt2").exists()


# -- 2. --resume with an unreadable checkpoint --------------------------------------------------------
def test_resume_from_an_unreadable_checkpoint(capsys, tmp_path, data):
    argv = TRAIN + ["--data", str(data["tiny"]), "-b", "2"]
    run_one(capsys, argv + ["--resume", str(data["junk"])], f"--resume: {data['junk']}: not a readable checkpoint",
            "UnpicklingError", tmp=tmp_path)
    last = tmp_path / "c" / "resnet50-tiny" / "last.pt"  # a garbage last.pt found by a plain --resume
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 half a checkpoint")
    run_one(capsys, argv + ["--resume"], f"{last}: not a readable checkpoint", "delete it to start afresh",
            tmp=tmp_path)
    line = run_one(capsys, argv + ["--resume", str(data["model"])], str(data["model"]),
                   "not a resumable checkpoint", tmp=tmp_path)
    assert "resume from last.pt" in line  # model.pt holds the weights only


# -- 3. every training image unreadable ------------------------------------------------------------
def test_no_training_image_can_be_read(capsys, tmp_path, data, one_torch_thread, monkeypatch):
    bad = data["badtrain"]
    first = bad / "train" / "class0" / "000.jpg"
    # a batch of 2 (was: UnboundLocalError cur_lr) and the default batch of 64 (was: "fewer
    # than one batch", which no batch size fixes)
    for batch in (["-b", "2"], []):
        line = run_one(capsys, TRAIN + ["--data", str(bad), *batch],
                       f"{bad / 'train'}: no training image could be read: 9 of 9 files skipped: {first} (",
                       "and 6 more", tmp=tmp_path)
        assert "fewer than one batch" not in line
    assert not (tmp_path / "c").exists()  # refused before training: no checkpoint written
    # files that become unreadable after the check: the epoch that reads none says the same
    monkeypatch.setattr(folders, "check_readable", lambda *a, **k: None)
    run_one(capsys, TRAIN + ["--data", str(bad), "-b", "2"],
            f"{bad / 'train'}: no training image could be read", tmp=tmp_path)


# -- 4. no readable validation image ------------------------------------------------------------------
def test_no_validation_image_can_be_read(capsys, tmp_path, data, one_torch_thread, monkeypatch):
    bad = data["badval"]
    text = f"{bad / 'val'}: no validation image could be read: 6 of 6 files skipped: "
    run_one(capsys, TRAIN + ["--data", str(bad), "-b", "2"], text, tmp=tmp_path)
    assert not (tmp_path / "c").exists()  # before training, not after it
    run_one(capsys, ["--evaluate", str(data["model"]), "--data", str(bad)], text)
    # after training (files that became unreadable since the check): the model is kept
    monkeypatch.setattr(folders, "check_readable", lambda *a, **k: None)
    model_pt = tmp_path / "c" / f"resnet50-{bad.name}" / "model.pt"
    run_one(capsys, TRAIN + ["--data", str(bad), "-b", "2"], f"{bad / 'val'}: no validation image could be read",
            f"the trained model is saved: {model_pt}", tmp=tmp_path)
    assert checkpoint.load(model_pt)["inference"]["classes"] == CLASSES


# -- 5. --evaluate on a folder with a PNG: as training says it ---------------------------------------
def test_evaluate_refuses_non_jpeg_images_as_training_does(capsys, tmp_path, data):
    png = data["pngval"] / "val" / "class0" / "x.png"
    dct = _checkpoint(tmp_path / "dct.pt", "hilo", fmt="dctnet")
    run_one(capsys, ["--evaluate", str(dct), "--data", str(data["pngval"])],
            "1 non-JPEG image(s)", str(png), "jpegcoef prepare")


# -- 6. --results-dir that cannot be written: refused before training ---------------------------------
def test_results_dir_that_is_a_file_is_refused_before_training(capsys, tmp_path, data):
    (tmp_path / "file").write_text("x")
    argv = TRAIN + ["--data", str(data["tiny"]), "-b", "2"]
    run_one(capsys, argv + ["--results-dir", str(tmp_path / "file")],
            f"--results-dir {tmp_path / 'file'} is a file, not a directory", tmp=tmp_path)
    run_one(capsys, argv + ["--results-dir", str(tmp_path / "file" / "r")],
            f"--results-dir {tmp_path / 'file' / 'r'}: {tmp_path / 'file'} is a file", tmp=tmp_path)
    run_one(capsys, argv + ["--run-dir", str(tmp_path / "file")], "--run-dir", "is a file", tmp=tmp_path)
    assert not (tmp_path / "c").exists()  # nothing trained


def test_results_dir_that_is_not_writable_is_refused_before_training(capsys, tmp_path, data, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: this process is told it may not
        access = os.access
        monkeypatch.setattr(folders.os, "access", lambda p, mode: Path(p) != locked and access(p, mode))
    try:
        run_one(capsys, TRAIN + ["--data", str(data["tiny"]), "--results-dir", str(locked / "r")],
                f"--results-dir {locked / 'r'}: not writable ({locked}, where it would be made)",
                tmp=tmp_path)
    finally:
        locked.chmod(0o700)
    assert not (tmp_path / "c").exists()


# -- 7. --on-error raise: one line naming the file (the flag is documented as stopping, not debugging)
def test_on_error_raise_is_one_line_naming_the_file(capsys, tmp_path, data, one_torch_thread):
    bad = data["mixtrain"] / "train" / "class2" / "001.jpg"
    # a DataLoader worker re-raises the SampleError with its own traceback in the message
    run_one(capsys, TRAIN + ["--data", str(data["mixtrain"]), "-b", "2", "--on-error", "raise",
                             "--workers", "1"],
            f"{bad}: UnidentifiedImageError", "--on-error raise stops at the first unreadable file",
            tmp=tmp_path)
    first = data["badval"] / "val" / "class0" / "000.jpg"
    run_one(capsys, ["--evaluate", str(data["model"]), "--data", str(data["badval"]), "--on-error", "raise"],
            f"{first}: UnidentifiedImageError")
    # a bad validation file met after training: the trained model is kept
    bad = data["mixval"] / "val" / "class2" / "001.jpg"
    model_pt = tmp_path / "c" / "resnet50-mixval" / "model.pt"
    run_one(capsys, TRAIN + ["--data", str(data["mixval"]), "-b", "2", "--on-error", "raise"],
            f"{bad}: UnidentifiedImageError", f"the trained model is saved: {model_pt}", tmp=tmp_path)
    assert model_pt.is_file()
    with pytest.raises(SystemExit):
        config.build_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "raise (stop at the first one: a one-line error naming it, exit status 1)" in out


# -- 8. a checkpoint path that is a directory ---------------------------------------------------------
def test_checkpoint_path_that_is_a_directory(capsys, tmp_path, data):
    folder = tmp_path / "ck"
    folder.mkdir()
    shutil.copy(data["model"], folder / "last.pt")
    cli_one(capsys, ["predict", str(folder), str(data["good_jpg"])], f"{folder} is a directory, not a checkpoint file")
    run_one(capsys, ["--evaluate", str(folder), "--data", str(data["tiny"])], f"{folder} is a directory")
    line = run_one(capsys, TRAIN + ["--data", str(data["tiny"]), "-b", "2", "--resume", str(folder)],
                   f"--resume {folder} is a directory, not a checkpoint file", tmp=tmp_path)
    assert f"resume from {folder / 'last.pt'}" in line and "does not exist" not in line


# -- 9. jpegcoef stats -o into a missing folder -----------------------------------------------------
def test_stats_output_into_a_missing_folder_names_the_users_path(capsys, tmp_path, data):
    out = tmp_path / "missing" / "s.json"
    line = cli_one(capsys, ["stats", str(data["tiny"]), "-o", str(out), "--no-progress"],
                   f"{out}: the folder {out.parent} does not exist")
    assert ".tmp" not in line
    cli_one(capsys, ["stats", str(data["tiny"]), "-o", str(tmp_path), "--no-progress"], f"{tmp_path} is a directory")


# -- 10. predict on a truncated JPEG: one clean warning line, the file named ---------------------------
def test_predict_warns_of_a_truncated_jpeg_in_one_line(data):
    cmd = [sys.executable, "-m", "jpegcoef", "predict", str(data["dct"]), str(data["trunc"]), str(data["good_jpg"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"jpegcoef predict: warning: 1 of 2 files read with libjpeg warnings: "
                               f"{data['trunc']} (Premature end of JPEG file"), lines[0]
    assert "JpegWarning" not in proc.stderr and "reader.read" not in proc.stderr
    assert len(proc.stdout.splitlines()) == 2  # both files predicted


def test_predict_json_carries_the_warning_of_a_truncated_jpeg(capsys, data):
    assert cli_main(["predict", "--json", str(data["dct"]), str(data["trunc"])]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["file"] == str(data["trunc"]) and row["warning"].startswith("Premature end of JPEG file")
    assert [t["class"] for t in row["top"]][:1] and len(row["top"]) == 3
