"""The ``jpegcoef`` command line."""

from __future__ import annotations

import subprocess
import sys

from jpegcoef.cli import main

from conftest import DATA


def test_info_prints_structure(capsys):
    assert main(["info", str(DATA / "gen-420-progressive.jpg"), str(DATA / "gen-mixed-2x2-1x2-2x1.jpg")]) == 0
    out = capsys.readouterr().out
    assert "477x355" in out and "4:2:0 (2x2,1x1,1x1)" in out and "progressive Huffman" in out
    assert "2x2,1x2,2x1" in out and "quant table 1:" in out and "warnings:    none" in out
    assert "Cr  blocks 23x60 (decoded grid 23x60)" in out


def test_info_reports_warnings_and_fails_cleanly_on_bad_files(capsys):
    status = main(["info", str(DATA / "bad-truncated-mid-scan.jpg"), str(DATA / "bad-not-a-jpeg.jpg"),
                   str(DATA / "does-not-exist.jpg")])
    captured = capsys.readouterr()
    assert status == 1
    assert "Premature end of JPEG file" in captured.out
    assert "bad-not-a-jpeg.jpg: Not a JPEG file" in captured.err
    assert "does-not-exist.jpg" in captured.err
    assert "Traceback" not in captured.err


def test_module_entry_point():
    res = subprocess.run([sys.executable, "-m", "jpegcoef", "info", str(DATA / "turbo-monkey12-12bit.jpg")],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "Unsupported JPEG data precision 12" in res.stderr and "Traceback" not in res.stderr


# -- user errors: one line on stderr, exit 1 (data) or 2 (usage), never a traceback --------------
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def _one_line_error(captured, status_text: str) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jpegcoef") and "error:" in lines[0] and status_text in lines[0], lines
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("argv,status,text", [
    (["stats", "{tmp}/missing"], 1, "does not exist"),
    (["stats", "{tmp}/empty"], 1, "no JPEG files"),
    (["stats", "{tmp}/onlybad"], 1, "none of the 1 files could be read"),
    (["prepare", "{tmp}/missing", "{tmp}/out"], 1, "does not exist"),
    (["prepare", "{tmp}/empty", "{tmp}/out"], 1, "no images"),
    (["predict", "{tmp}/missing.pt", str(DATA / "gen-gray.jpg")], 1, "does not exist"),
    (["predict", str(DATA / "gen-gray.jpg"), str(DATA / "gen-gray.jpg")], 1, "not a readable checkpoint"),
    (["stats", "{tmp}/empty", "--limit", "0"], 2, "positive integer"),
    (["prepare", "{tmp}/empty", "{tmp}/out", "--quality", "101"], 2, "quality"),
    (["stats", "{tmp}/empty", "--bogus"], 2, "unrecognized arguments"),
    (["info"], 2, "required"),
    ([], 2, "required"),
])
def test_user_errors_are_one_line(tmp_path, capsys, argv, status, text):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    (tmp_path / "empty" / ".hidden" / "x.jpg").write_bytes((DATA / "gen-gray.jpg").read_bytes())
    (tmp_path / "onlybad").mkdir()
    (tmp_path / "onlybad" / "b.jpg").write_bytes(b"not a jpeg")
    assert main([a.format(tmp=tmp_path) for a in argv]) == status
    _one_line_error(capsys.readouterr(), text)


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        from jpegcoef.cli import build_parser
        build_parser().parse_args(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("jpegcoef 0.1.0")
    assert main(["--version"]) == 0


def test_stats_reports_the_files_it_drops(tmp_path, capsys):
    for name in ("gen-gray.jpg", "gen-420-progressive.jpg", "bad-not-a-jpeg.jpg", "bad-empty.jpg",
                 "pillow-truncated_jpeg.jpg"):
        shutil.copy(DATA / name, tmp_path / name)
    out = tmp_path / "s.json"
    assert main(["stats", str(tmp_path), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    skipped = [ln for ln in err.splitlines() if "skipped" in ln]
    assert len(skipped) == 1 and "2 of 5 files skipped" in skipped[0]
    assert "bad-empty.jpg (JpegError: Empty input file)" in skipped[0] and "bad-not-a-jpeg.jpg" in skipped[0]
    assert "1 of 5 files read with libjpeg warnings: " in err and "pillow-truncated_jpeg.jpg" in err
    r = json.loads(out.read_text())
    assert r["images"] == 3 and len(r["skipped"]) == 2 and list(r["warned"]) == [str(tmp_path / "pillow-truncated_jpeg.jpg")]


def test_no_traceback_into_a_closed_pipe():
    """``jpegcoef info`` of many files into ``head``: quiet, no BrokenPipeError traceback."""
    files = [str(DATA / "gen-420-progressive.jpg")] * 400
    proc = subprocess.run(f"{sys.executable} -m jpegcoef info {' '.join(files)} | head -n 1",
                          shell=True, capture_output=True, text=True, timeout=120,
                          executable="/bin/bash")
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith(str(DATA))
    assert proc.stderr == "", proc.stderr


def _images(src, n=3, size=(120, 90)):
    (src / "x").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (40 * i, 90, 200)).save(src / "x" / f"{i}.png")
    (src / ".ipynb_checkpoints").mkdir(exist_ok=True)
    Image.new("RGB", size).save(src / ".ipynb_checkpoints" / "ignored.png")


def test_prepare_records_settings_and_refuses_other_ones(tmp_path, capsys):
    import jpegcoef
    from jpegcoef.prepare import RECORD

    src, dst = tmp_path / "src", tmp_path / "dst"
    _images(src)
    assert main(["prepare", str(src), str(dst), "--short-side", "32", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "3 images: 3 written, 0 kept" in out and RECORD in out
    assert not (dst / ".ipynb_checkpoints").exists()               # hidden entries left out
    rec = json.loads((dst / RECORD).read_text())
    assert rec["settings"]["short_side"] == 32 and rec["settings"]["quality"] == 95 and rec["complete"]
    assert main(["prepare", str(src), str(dst), "--short-side", "32", "--workers", "0"]) == 0
    assert "0 written, 3 kept" in capsys.readouterr().out              # same settings: resumes
    # other settings: refused in one line, nothing rewritten
    assert main(["prepare", str(src), str(dst), "--short-side", "64", "--workers", "0"]) == 1
    line = _one_line_error(capsys.readouterr(), "other settings")
    assert "short_side 32 -> 64" in line and "--overwrite" in line
    assert jpegcoef.read(dst / "x" / "0.jpg").height == 32
    assert main(["prepare", str(src), str(dst), "--short-side", "64", "--workers", "0", "--overwrite"]) == 0
    assert "3 written" in capsys.readouterr().out
    assert jpegcoef.read(dst / "x" / "0.jpg").height == 64
    assert json.loads((dst / RECORD).read_text())["settings"]["short_side"] == 64


def test_prepare_resumes_an_interrupted_overwrite(tmp_path, capsys):
    """Files older than the settings' start time were made with the previous settings: a rerun
    after an interrupted --overwrite re-encodes them instead of keeping them."""
    import jpegcoef
    from jpegcoef.prepare import RECORD

    src, dst = tmp_path / "src", tmp_path / "dst"
    _images(src)
    assert main(["prepare", str(src), str(dst), "--short-side", "32", "--workers", "0"]) == 0
    # simulate: --overwrite --short-side 48 wrote its record and one file, then was killed
    rec = json.loads((dst / RECORD).read_text())
    rec["settings"]["short_side"] = 48
    rec["since"] = rec["since"] + 10_000
    rec["complete"] = False
    (dst / RECORD).write_text(json.dumps(rec))
    later = rec["since"] + 1
    os.utime(dst / "x" / "1.jpg", (later, later))  # the one written under the new settings
    assert main(["prepare", str(src), str(dst), "--short-side", "48", "--workers", "0"]) == 0
    assert "2 written, 1 kept" in capsys.readouterr().out
    assert jpegcoef.read(dst / "x" / "0.jpg").height == 48


def test_prepare_refuses_a_folder_of_unrecorded_images(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _images(src)
    (dst / "x").mkdir(parents=True)
    shutil.copy(DATA / "gen-gray.jpg", dst / "x" / "0.jpg")
    assert main(["prepare", str(src), str(dst), "--workers", "0"]) == 1
    _one_line_error(capsys.readouterr(), "no record of the settings")
