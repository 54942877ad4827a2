"""The pipeline peers of experiments/peers (FFCV, DALI on the CPU): each runs the ImageNet training
transform on a tiny generated corpus in its venv and gives normalised, flipped crops of the right
images with the right labels.  Skipped where a peer's venv is not installed
(experiments/peers/install.sh --ffcv --dali)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "peers" / "bench_peers.py"
MEAN = np.array([0.485, 0.456, 0.406]) * 255
STD = np.array([0.229, 0.224, 0.225]) * 255
CROP, BATCH = 48, 16


def _module():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_peers", mod)
    spec.loader.exec_module(mod)
    return mod


bp = _module()


def _installed(peer: str) -> bool:
    try:
        bp.peer_python(peer)
        return True
    except bp.PeerUnavailable:
        return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    """16 gray left-to-right ramps in two class folders: 'bright' ramps run 140..250, 'dark' ones
    10..120; JPEG layouts 4:2:0, 4:4:4, gray and progressive."""
    root = tmp_path_factory.mktemp("peers")
    files = []
    for i in range(BATCH):
        cls, lo = ("bright", 140) if i % 2 == 0 else ("dark", 10)
        h, w = 72 + 4 * i, 96 + 8 * i
        ramp = np.linspace(lo, lo + 110, w)[None, :].repeat(h, 0).round().astype(np.uint8)
        (root / cls).mkdir(exist_ok=True)
        path = root / cls / f"{i:02d}.jpg"
        kind = i // 2 % 4
        if kind == 2:
            Image.fromarray(ramp).save(path, quality=90)  # gray
        else:
            rgb = np.stack([ramp] * 3, -1)
            Image.fromarray(rgb).save(path, quality=90, subsampling=2 if kind != 1 else 0,
                                      progressive=kind == 3)
        files.append(path)
    return files


def _check_batch(images: np.ndarray, labels: np.ndarray) -> None:
    assert images.shape == (BATCH, 3, CROP, CROP) and images.dtype == np.float32
    pixels = images * STD[None, :, None, None] + MEAN[None, :, None, None]  # undo the normalisation
    assert pixels.min() > 0 and pixels.max() < 260
    assert np.abs(pixels - pixels.mean(1, keepdims=True)).max() < 8  # still gray: R = G = B
    # class folders are sorted: bright = 0, dark = 1; each crop's brightness tells its class
    assert sorted(set(labels.tolist())) == [0, 1]
    assert np.array_equal(labels, (pixels.mean((1, 2, 3)) < 130).astype(labels.dtype))
    profile = pixels.mean((1, 2))  # per image, brightness by column
    column = np.arange(CROP)
    slope = np.array([np.polyfit(column, p, 1)[0] for p in profile])
    straight = np.array([np.corrcoef(column, p)[0, 1] ** 2 for p in profile])
    # a crop (at least ~sqrt(0.08 * 3/4) of a ramp's width) resized: a ramp again, either way
    assert np.all(np.abs(slope) * CROP > 10) and np.all(straight > 0.95)
    assert (slope > 0).any() and (slope < 0).any()  # some flipped, some not


FFCV_CHECK = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pipelines
files = [Path(f) for f in sys.argv[4:]]
for source in ("reencode", "original"):  # one process: FFCV's numba compile is slow the first time
    epoch, info = pipelines.start_ffcv(files, int(sys.argv[3]), 1, crop=int(sys.argv[2]),
                                       jpeg_source=source, dump=f"{source}.npz")
    images = epoch()
    info.pop("cleanup")()
    print(json.dumps({"source": source, "images": images, **info}), flush=True)
"""


def test_ffcv_pipelines_output(corpus, tmp_path):
    """FFCV's loader on a .beton of re-encoded images and on one of the files' own bytes."""
    if not _installed("ffcv"):
        pytest.skip("ffcv venv not installed (experiments/peers/install.sh --ffcv)")
    proc = subprocess.run([str(bp.peer_python("ffcv")), "-c", FFCV_CHECK, str(SCRIPT.parent),
                           str(CROP), str(BATCH), *map(str, corpus)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    infos = {i["source"]: i for i in map(json.loads, proc.stdout.splitlines())}
    total = sum(f.stat().st_size for f in corpus)
    assert infos["original"]["image_bytes"] == total  # stored unchanged
    assert infos["reencode"]["image_bytes"] != total and infos["reencode"]["jpeg_quality"] == 90
    for source, info in infos.items():
        assert info["images"] == len(corpus) and info["output_shape"] == [BATCH, 3, CROP, CROP]
        with np.load(tmp_path / f"{source}.npz") as batch:
            _check_batch(batch["images"], batch["labels"])


@pytest.mark.parametrize("decoder", ["fused", "full"])
def test_dali_pipeline_output(decoder, corpus, tmp_path):
    """DALI's CPU pipeline through the worker protocol: one batch checked, one timed round."""
    if not _installed("dali"):
        pytest.skip("dali venv not installed (experiments/peers/install.sh --dali)")
    dump = tmp_path / "batch.npz"
    with bp.PeerWorker("dali", corpus, batch_size=BATCH, threads=1, crop=CROP, dump=str(dump),
                       decoder=decoder) as w:
        assert w.info["output_shape"] == [BATCH, 3, CROP, CROP] and w.info["decoder"] == decoder
        timed = w.round(min_cpu=0.05)
    assert timed["images"] % len(corpus) == 0 and timed["images"] > 0 and timed["cpu_s"] > 0
    with np.load(dump) as batch:
        _check_batch(batch["images"], batch["labels"])


def test_bad_option_is_reported(corpus):
    peer = "dali" if _installed("dali") else "ffcv"
    if not _installed(peer):
        pytest.skip("no pipeline peer installed")
    option = {"dali": {"decoder": "bogus"}, "ffcv": {"jpeg_source": "bogus"}}[peer]
    with pytest.raises(bp.PeerUnavailable, match=next(iter(option))):
        bp.PeerWorker(peer, corpus, batch_size=4, crop=CROP, **option)


def test_missing_venv_and_bad_arguments(monkeypatch, tmp_path, corpus):
    monkeypatch.setenv("JPEGCOEF_DALI_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(bp.PeerUnavailable, match="JPEGCOEF_DALI_PYTHON"):
        bp.run_dali(corpus)
    with pytest.raises(ValueError, match="unknown peer"):
        bp.peer_python("pillow")
    with pytest.raises(ValueError, match="no files"):
        bp.PeerWorker("dali", [])
