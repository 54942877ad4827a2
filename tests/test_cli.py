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
