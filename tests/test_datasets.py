"""The generated synthetic dataset (jpegcoef.datasets)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from jpegcoef import datasets as S

SMALL = dict(classes=10, train_per_class=4, val_per_class=2, size=(64, 80), progress=False)


def test_layout_manifest_and_images(tmp_path):
    root = S.synthetic(tmp_path, **SMALL)
    assert root.parent == tmp_path and root.name.startswith("synthetic-v1-")
    m = json.loads((root / "manifest.json").read_text())
    assert m["classes"] == S.class_names(10) == sorted(m["classes"])
    for split, n in (("train", 4), ("val", 2)):
        dirs = sorted(p.name for p in (root / split).iterdir())
        assert dirs == m["classes"]
        assert all(len(list((root / split / d).glob("*.jpg"))) == n for d in dirs)
    assert sum(m["kinds"].values()) == 60
    sizes, modes = set(), set()
    for p in (root / "train").rglob("*.jpg"):
        with Image.open(p) as im:
            assert 64 <= im.width <= 80 and 64 <= im.height <= 80 and im.format == "JPEG"
            sizes.add(im.size)
            modes.add(im.mode)
    assert len(sizes) > 10 and "RGB" in modes
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary directory was renamed away


def test_deterministic_and_cached(tmp_path, monkeypatch):
    a = S.synthetic(tmp_path / "a", **SMALL)
    b = S.synthetic(tmp_path / "b", **SMALL)
    for p in sorted((a / "val").rglob("*.jpg")):
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes()
    stamp = (a / "manifest.json").stat().st_mtime_ns
    assert S.synthetic(tmp_path / "a", **SMALL) == a and (a / "manifest.json").stat().st_mtime_ns == stamp
    other = S.synthetic(tmp_path / "a", **{**SMALL, "seed": 1})
    assert other != a
    assert (other / "val" / S.class_names()[0] / "00000.jpg").read_bytes() != \
        (a / "val" / S.class_names()[0] / "00000.jpg").read_bytes()
    monkeypatch.setenv("JPEGCOEF_CACHE", str(tmp_path / "env"))
    assert S.cache_dir() == tmp_path / "env"
    assert S.synthetic(**SMALL).parent == tmp_path / "env"


def test_classes_need_both_cues():
    pairs = S._pairs(25)
    assert len(set(pairs)) == 25
    ten = S._pairs(10)
    for k in range(5):  # every shape with two textures, every texture with two shapes
        assert sum(s == k for s, _ in ten) == 2 and sum(t == k for _, t in ten) == 2


def test_texture_is_a_high_frequency_cue():
    """Two classes with the same shape differ in the energy of fine detail (texture)."""
    def mean_power(label, n=24):
        spectra = []
        for i in range(n):
            px = S._draw(label, np.random.default_rng([9, label, i]), (96, 96), 0.5)
            g = px[:96, :96].mean(2)
            spectra.append(np.abs(np.fft.fft2(g - g.mean())) ** 2)
        return np.mean(spectra, 0)
    pairs = S._pairs(10)
    # classes 0 (disk, hstripes) and 5 (disk, checks): same shape, different texture
    assert pairs[0][0] == pairs[5][0] and pairs[0][1] != pairs[5][1]
    p0, p5 = mean_power(0), mean_power(5)
    f = np.fft.fftfreq(96)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    # horizontal stripes: energy at high vertical frequency, little at high horizontal only
    band = (np.abs(fy) > 0.15) & (np.abs(fx) < 0.03)
    assert p0[band].mean() > 3 * p5[band].mean()


def test_validation(tmp_path):
    with pytest.raises(ValueError, match="classes"):
        S.synthetic(tmp_path, classes=30, progress=False)
    with pytest.raises(ValueError, match="difficulty"):
        S.synthetic(tmp_path, difficulty=2.0, progress=False)
    with pytest.raises(ValueError, match="size"):
        S.synthetic(tmp_path, size=(100, 50), progress=False)
