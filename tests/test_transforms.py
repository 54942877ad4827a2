"""Lossless DCT-domain transforms, proved against the jpegtran binary.

Test images are generated here with Pillow (no files from outside the repository). For each
operation, ``jpegcoef.write(op(read(src)))`` must hold the same coefficients, quantisation tables,
sampling factors and size as ``jpegtran -perfect <op> src`` (``-trim`` for unaligned images).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jpegcoef
from jpegcoef import Coefficients, Component, transforms as T

JPEGTRAN = shutil.which("jpegtran")
needs_jpegtran = pytest.mark.skipif(JPEGTRAN is None, reason="jpegtran (libjpeg-turbo-progs) not installed")


def _image(width: int, height: int, mode: str, seed: int) -> Image.Image:
    """Smooth gradients plus noise: every frequency and sign occurs in the coefficients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 90 * np.sin(xx / 7 + k) * np.cos(yy / 5 - k) for k in range(3)], -1)
    px = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(px, "RGB")
    return img.convert("L") if mode == "gray" else img


SUBSAMPLING = {"444": 0, "422": 1, "420": 2}


def _write_jpeg(path: Path, width: int, height: int, kind: str, seed: int = 0) -> Path:
    img = _image(width, height, kind, seed)
    if kind == "gray":
        img.save(path, quality=85)
    else:
        img.save(path, quality=85, subsampling=SUBSAMPLING[kind])
    return path


def _jpegtran(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run([JPEGTRAN, "-copy", "none", *args, "-outfile", str(dst), str(src)], check=True,
                   capture_output=True)
    return dst


def _assert_same(a: Coefficients, b: Coefficients) -> None:
    """Same image size and, per component, same true blocks, quant table and sampling."""
    assert (a.width, a.height) == (b.width, b.height)
    assert len(a.components) == len(b.components)
    for ca, cb in zip(a.components, b.components):
        assert ca.sampling == cb.sampling
        assert ca.blocks == cb.blocks
        np.testing.assert_array_equal(ca.quant, cb.quant)
        hb, wb = ca.blocks
        np.testing.assert_array_equal(ca.coefficients[:hb, :wb], cb.coefficients[:hb, :wb])


def _roundtrip(c: Coefficients) -> Coefficients:
    """What a file written by ``jpegcoef.write`` holds."""
    return jpegcoef.read(io.BytesIO(jpegcoef.write(c, None)))


OPS = {
    "hflip": (T.hflip, ["-flip", "horizontal"]),
    "vflip": (T.vflip, ["-flip", "vertical"]),
    "transpose": (T.transpose, ["-transpose"]),
    "transverse": (T.transverse, ["-transverse"]),
    "rot90": (lambda c, **k: T.rotate(c, 90, **k), ["-rotate", "90"]),
    "rot180": (lambda c, **k: T.rotate(c, 180, **k), ["-rotate", "180"]),
    "rot270": (lambda c, **k: T.rotate(c, 270, **k), ["-rotate", "270"]),
}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("transforms")
    out = {}
    for kind in ("420", "444", "422", "gray"):
        out[kind] = _write_jpeg(d / f"aligned-{kind}.jpg", 64, 48, kind, seed=len(out))
        out[kind + "-odd"] = _write_jpeg(d / f"odd-{kind}.jpg", 61, 45, kind, seed=10 + len(out))
    if JPEGTRAN:  # 4:4:0 (1x2 luma): Pillow cannot encode it; jpegtran's transpose of 4:2:2 is one
        out["440"] = _jpegtran(out["422"], d / "aligned-440.jpg", "-transpose")
    return out


@needs_jpegtran
@pytest.mark.parametrize("kind", ["420", "444", "422", "440", "gray"])
@pytest.mark.parametrize("op", list(OPS))
def test_matches_jpegtran_perfect(images, tmp_path, kind, op):
    fn, args = OPS[op]
    ref = jpegcoef.read(_jpegtran(images[kind], tmp_path / "ref.jpg", "-perfect", *args))
    ours = fn(jpegcoef.read(images[kind]), edge="error")
    _assert_same(ours, ref)
    _assert_same(_roundtrip(ours), ref)


@needs_jpegtran
@pytest.mark.parametrize("kind", ["420", "422", "gray"])
@pytest.mark.parametrize("op", list(OPS))
def test_unaligned_matches_jpegtran_trim(images, tmp_path, kind, op):
    fn, args = OPS[op]
    ref = jpegcoef.read(_jpegtran(images[kind + "-odd"], tmp_path / "ref.jpg", "-trim", *args))
    ours = fn(jpegcoef.read(images[kind + "-odd"]))
    _assert_same(_roundtrip(ours), ref)


@needs_jpegtran
@pytest.mark.parametrize("kind", ["420", "444", "gray"])
def test_crop_matches_jpegtran(images, tmp_path, kind):
    src = jpegcoef.read(images[kind])
    mcu_h, mcu_w = T.mcu_size(src)
    for top, left, h, w in [(mcu_h, mcu_w, 2 * mcu_h, 2 * mcu_w), (0, mcu_w, 45, 30), (mcu_h, 0, 13, 64)]:
        ref = jpegcoef.read(_jpegtran(images[kind], tmp_path / "ref.jpg", "-perfect", "-crop",
                                      f"{w}x{h}+{left}+{top}"))
        _assert_same(_roundtrip(T.crop(src, top, left, h, w)), ref)


@needs_jpegtran
def test_perfect_refusal_matches_jpegtran(images, tmp_path):
    """Where jpegtran -perfect refuses (partial edge MCU would move), edge='error' raises."""
    src = jpegcoef.read(images["420-odd"])
    for op, (fn, args) in OPS.items():
        proc = subprocess.run([JPEGTRAN, "-perfect", *args, "-outfile", str(tmp_path / "x.jpg"),
                               str(images["420-odd"])], capture_output=True)
        refused = proc.returncode != 0
        if refused:
            with pytest.raises(ValueError, match="MCU"):
                fn(src, edge="error")
        else:
            fn(src, edge="error")
        assert refused == (op != "transpose"), op


def _synthetic(width=48, height=32, sampling=((2, 2), (1, 1), (1, 1)), orientation=1) -> Coefficients:
    rng = np.random.default_rng(1)
    hmax, vmax = max(s[0] for s in sampling), max(s[1] for s in sampling)
    my, mx = -(-height // (8 * vmax)), -(-width // (8 * hmax))
    comps = [Component(rng.integers(-50, 50, (my * v, mx * h, 8, 8)), rng.integers(1, 60, (8, 8)), (h, v))
             for h, v in sampling]
    return Coefficients(width, height, comps, orientation=orientation)


def test_hflip_is_block_reverse_and_odd_negation():
    c = _synthetic()
    f = T.hflip(c)
    a, b = c.components[0].coefficients, f.components[0].coefficients
    np.testing.assert_array_equal(b[:, 0, :, 0::2], a[:, -1, :, 0::2])
    np.testing.assert_array_equal(b[:, 0, :, 1::2], -a[:, -1, :, 1::2])
    np.testing.assert_array_equal(T.hflip(f).components[1].coefficients, c.components[1].coefficients)


def test_inverses_and_input_untouched():
    c = _synthetic(orientation=6)
    before = [comp.coefficients.copy() for comp in c.components]
    for once, back in [(T.hflip, T.hflip), (T.vflip, T.vflip), (T.transpose, T.transpose),
                       (lambda x: T.rotate(x, 90), lambda x: T.rotate(x, 270))]:
        _assert_same(back(once(c)), c)
    for comp, b in zip(c.components, before):
        np.testing.assert_array_equal(comp.coefficients, b)
    out = T.apply_orientation(c)
    assert out.orientation == 1 and (out.width, out.height) == (32, 48)
    assert out.components[0].quant[0, 1] == c.components[0].quant[1, 0]


def test_apply_orientation_all_values_upright():
    """Orient a file with each EXIF value as a camera would, then apply_orientation undoes it."""
    c = _synthetic(width=64, height=32)
    # The stored (camera) image for orientation n is the inverse transform of the upright image.
    stored = {1: c, 2: T.hflip(c), 3: T.rotate(c, 180), 4: T.vflip(c), 5: T.transpose(c),
              6: T.rotate(c, 270), 7: T.transverse(c), 8: T.rotate(c, 90)}
    for n, s in stored.items():
        s.orientation = n
        _assert_same(T.apply_orientation(s), c)
    c.orientation = 9
    with pytest.raises(ValueError, match="orientation"):
        T.apply_orientation(c)


def test_crop_errors():
    c = _synthetic()
    with pytest.raises(ValueError, match="MCU grid"):
        T.crop(c, 8, 0, 16, 16)
    with pytest.raises(ValueError, match="exceeds"):
        T.crop(c, 16, 16, 32, 16)
    with pytest.raises(ValueError, match="positive"):
        T.crop(c, 0, 0, 0, 16)
    with pytest.raises(TypeError):
        T.crop(c, 0.0, 0, 16, 16)
    with pytest.raises(ValueError, match="angle"):
        T.rotate(c, 45)
    tiny = _synthetic(width=9, height=32)          # narrower than one 16-pixel MCU
    with pytest.raises(ValueError, match="not a multiple of the MCU"):
        T.hflip(tiny, edge="error")
    same = T.hflip(tiny)                           # jpegtran -trim: left as it is
    assert (same.width, same.height) == (9, 32)
    _assert_same(same, tiny)


TINY = [(7, 9), (5, 5), (20, 7), (7, 20), (12, 5), (3, 30), (30, 3)]
#: EXIF orientation -> the jpegtran options that make the image upright
ORIENT_JPEGTRAN = {2: ["-flip", "horizontal"], 3: ["-rotate", "180"], 4: ["-flip", "vertical"],
                   5: ["-transpose"], 6: ["-rotate", "90"], 7: ["-transverse"], 8: ["-rotate", "270"]}


@needs_jpegtran
@pytest.mark.parametrize("kind", ["420", "422", "444", "gray"])
def test_tiny_images_match_jpegtran_trim(tmp_path, kind):
    """Images smaller than one MCU along an axis (jpegtran -trim leaves that axis as it is)."""
    for w, h in TINY:
        src = _write_jpeg(tmp_path / f"tiny-{w}x{h}.jpg", w, h, kind, seed=w * h)
        c = jpegcoef.read(src)
        for op, (fn, args) in OPS.items():
            ref = jpegcoef.read(_jpegtran(src, tmp_path / "ref.jpg", "-trim", *args))
            ours = fn(c)
            _assert_same(ours, ref)
            _assert_same(_roundtrip(ours), ref)
        for n, args in ORIENT_JPEGTRAN.items():
            ref = jpegcoef.read(_jpegtran(src, tmp_path / "ref.jpg", "-trim", *args))
            _assert_same(T.apply_orientation(c.replace(orientation=n)), ref)
