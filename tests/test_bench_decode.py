"""Smoke test of experiments/bench_decode.py: it runs on a few small generated JPEGs and writes
a consistent JSON report (peers that are not installed are simply listed as such)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bench_decode.py"
ALLOWED = {"ok", "not installed", "not installable"}


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_decode", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_decode", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _make_corpus(root: Path) -> Path:
    """Four small JPEGs: 4:2:0, 4:4:4, gray, progressive 4:2:2 with odd size."""
    root.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:72]
    img = np.stack([x * 3, y * 5, (x + y) * 2], -1) + rng.integers(0, 40, (48, 72, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(root / "a420.jpg", quality=85, subsampling=2)
    Image.fromarray(img).save(root / "b444.jpg", quality=90, subsampling=0)
    Image.fromarray(img[..., 0]).save(root / "c_gray.jpg", quality=80)
    Image.fromarray(img[:37, :51]).save(root / "d422.jpg", quality=75, subsampling=1,
                                        progressive=True)
    return root


def _jpegcoef_available() -> bool:
    try:
        import jpegcoef
        return callable(getattr(jpegcoef, "read", None))
    except ImportError:
        return False


def _c_toolchain() -> bool:
    if not (shutil.which("gcc") or shutil.which("cc")) or not shutil.which("pkg-config"):
        return False
    return subprocess.run(["pkg-config", "--exists", "libjpeg"]).returncode == 0


def test_runs_and_writes_consistent_json(tmp_path):
    corpus = _make_corpus(tmp_path / "tiny")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(corpus), "--passes", "2",
                           "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list(out.glob("decode-tiny-*.json"))
    assert len(files) == 1
    report = json.loads(files[0].read_text())
    assert report["n_files"] == 4 and report["passes"] == 2
    assert report["total_bytes"] == sum(p.stat().st_size for p in corpus.glob("*.jpg"))
    assert len(report["loadavg_start"]) == 3 and len(report["loadavg_end"]) == 3

    methods = report["methods"]
    for key, e in methods.items():
        assert e["status"] in ALLOWED, (key, e)
        if e["status"] != "ok":
            assert e["reason"], key
            continue
        secs = e["pass_seconds"]
        assert len(secs) == 2 and all(s > 0 for s in secs), key
        assert e["images_per_s"] == pytest.approx(4 / statistics.median(secs))
        assert e["mb_per_s"] == pytest.approx(report["total_bytes"] / statistics.median(secs) / 1e6)
    assert methods["pillow"]["status"] == "ok"
    assert methods["pillow"]["x_pillow"] == pytest.approx(1.0)
    if _c_toolchain():
        for key in ("limit.coef", "limit.coef_copy", "limit.rgb", "limit_exe.coef"):
            assert methods[key]["status"] == "ok", methods[key]
        assert methods["limit.rgb"]["x_turbo_full"] == pytest.approx(1.0)
    if _jpegcoef_available():
        for key in ("jpegcoef.read.bytes.blocks", "jpegcoef.read.bytes.channels",
                    "jpegcoef.read.path.blocks", "jpegcoef.read_batch.t1",
                    "jpegcoef.decode_rgb"):
            assert methods[key]["status"] == "ok", methods[key]
        assert report["memory"]["status"] == "ok", report["memory"]
        assert report["memory"]["rounds"] == 20
    assert {t["result"] for t in report["targets"]} <= {"PASS", "FAIL", "N/A"}
    assert "targets:" in proc.stdout and "wrote" in proc.stdout

    md = subprocess.run([sys.executable, str(SCRIPT), "--markdown", str(files[0])],
                        capture_output=True, text=True, timeout=60)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("| method | from | tiny images/s |")
    assert "Pillow" in md.stdout


def test_empty_corpus_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(tmp_path),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "no JPEG files" in proc.stderr
    assert not (tmp_path / "out").exists()


def _fake(ips: dict[str, float]) -> dict[str, dict]:
    return {k: {"status": "ok", "images_per_s": v} for k, v in ips.items()}


def test_targets_pass_and_fail_from_the_measured_ratios():
    bench = _bench_module()
    memory = {"status": "ok", "peak_growth_mb": 6.0, "rss_growth_mb": 1.0}
    res = _fake({"pillow": 100, "limit.rgb": 150, "limit.coef": 200,
                 "jpegcoef.read.bytes.blocks": 199, "jpegcoef.read.bytes.channels": 180,
                 "jpegcoef.read.path.blocks": 400, "jpegcoef.read.path.channels": 300,
                 "jpegcoef.read.path.blocks.own": 160, "jpegcoef.read.path.channels.own": 140,
                 "jpegcoef.read_batch.t1": 100, "jpegcoef.read_batch.t2": 185,
                 "torchjpeg": 100, "jpeglib": 20})
    got = {t["target"]: t for t in bench.evaluate_targets("clean", res, memory, threads=2)}

    def result(prefix):
        (t,) = [t for name, t in got.items() if name.startswith(prefix)]
        return t["result"], t["value"]

    assert result("read (bytes, blocks) >= 1.9x Pillow") == ("PASS", pytest.approx(1.99))
    assert result("read (bytes, channels) >= 1.9x Pillow") == ("FAIL", pytest.approx(1.8))
    assert result("read (bytes, blocks) >= 1.3x libjpeg") == ("PASS", pytest.approx(199 / 150))
    assert result("read (bytes, blocks) within 3%") == ("PASS", pytest.approx(0.995))
    assert result("read (bytes, channels) within 3%") == ("FAIL", pytest.approx(0.9))
    assert result("read_batch 2 threads") == ("PASS", pytest.approx(1.85))
    # like for like: torchjpeg (own process) against jpegcoef in its own process (1.6, 1.4),
    # jpeglib (in process) against jpegcoef in process (20, 15): the smallest ratio binds
    assert result("read(path, blocks) >= 1.5x") == ("PASS", pytest.approx(1.6))
    assert result("read(path, channels) >= 1.5x") == ("FAIL", pytest.approx(1.4))
    assert "binding peer torchjpeg" in got[next(n for n in got if n.startswith("read(path, c"))][
        "detail"]
    assert result("peak RSS growth") == ("FAIL", 6.0)

    grain = {t["target"] for t in bench.evaluate_targets("grain12", res, memory, threads=2)}
    assert any("1.4x Pillow on grain12" in t for t in grain)
    assert not any("libjpeg-turbo full decode" in t for t in grain)
    one = bench.evaluate_targets("clean", res, memory, threads=1)
    assert [t["result"] for t in one if t["target"].startswith("read_batch")] == ["N/A"]


def test_loop_mode_runs_one_row(tmp_path):
    corpus = _make_corpus(tmp_path / "tiny")
    ok = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(corpus), "--loop", "pillow",
                         "--seconds", "0.2"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("pillow: ") and "images/s" in ok.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(corpus), "--loop", "nope",
                          "--seconds", "0.2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown row" in bad.stderr
