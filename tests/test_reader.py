"""jpegcoef.read / read_batch / write / decode_rgb on the bundled edge cases and generated files."""

from __future__ import annotations

import io
import pathlib
import struct
import warnings

import numpy as np
from PIL import Image
import pytest

import jpegcoef
from jpegcoef import Coefficients, Component, JpegError, JpegWarning

from conftest import ALL_FILES, DATA, EXPECTED, OK_FILES, djpeg, have


def _read_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JpegWarning)
        return jpegcoef.read(path, **kw)


# -- every bundled file behaves as the MANIFEST says -------------------------------------------------
@pytest.mark.parametrize("name", ALL_FILES)
def test_manifest_behaviour(name):
    path = DATA / name
    kind, text = EXPECTED[name]
    if kind == "ok":
        with warnings.catch_warnings():
            warnings.simplefilter("error", JpegWarning)
            c = jpegcoef.read(path)
            cs = jpegcoef.read(path, strict=True, layout="channels")
        assert c.warnings == []
        assert c.width > 0 and c.height > 0 and c.components
        for a, b in zip(c.components, cs.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
            np.testing.assert_array_equal(a.channels(), b.channels())
            np.testing.assert_array_equal(a.quant, b.quant)
            assert a.blocks == b.blocks and a.sampling == b.sampling
    elif kind == "warning":
        with pytest.warns(JpegWarning, match=text):
            c = jpegcoef.read(path)
        assert any(text in w for w in c.warnings)
        assert all(comp.coefficients.dtype == np.int16 for comp in c.components)
        with pytest.raises(JpegError, match=text):
            jpegcoef.read(path, strict=True)
    else:
        with pytest.raises(JpegError, match=text) as e:
            jpegcoef.read(path)
        assert name in str(e.value)          # the file name is in the message
        assert isinstance(e.value, ValueError)


def test_huge_header_refused_by_a_custom_limit_too():
    with pytest.raises(JpegError, match="max_pixels"):
        jpegcoef.read(DATA / "pillow-flower.jpg", max_pixels=480 * 360 - 1)
    assert jpegcoef.read(DATA / "pillow-flower.jpg", max_pixels=480 * 360).width == 480


def test_lossless_sof3_refused_with_libjpegs_message():
    data = bytearray((DATA / "gen-gray.jpg").read_bytes())
    i = data.index(b"\xff\xc0")                  # baseline SOF0 -> lossless SOF3
    data[i + 1] = 0xC3
    with pytest.raises(JpegError, match="Unsupported JPEG process: SOF type 0xc3"):
        jpegcoef.read(bytes(data))


def test_max_scans_refuses_progressive_scan_flood():
    path = DATA / "gen-420-progressive.jpg"
    n = jpegcoef.read(path).progressive and _count_scans(path.read_bytes())
    assert n > 3
    with pytest.raises(JpegError, match="max_scans"):
        jpegcoef.read(path, max_scans=3)
    with pytest.raises(JpegError, match="max_scans"):
        jpegcoef.decode_rgb(path, max_scans=3)
    assert jpegcoef.read(path, max_scans=n).progressive


def _count_scans(data: bytes) -> int:
    return data.count(b"\xff\xda")


# -- structure -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,sampling,grid", [
    ("gen-420-odd-477x355.jpg", [(2, 2), (1, 1), (1, 1)], [(46, 60), (23, 30), (23, 30)]),
    ("gen-422-odd-477x355.jpg", [(2, 1), (1, 1), (1, 1)], [(45, 60), (45, 30), (45, 30)]),
    ("gen-411-odd-477x355.jpg", [(4, 1), (1, 1), (1, 1)], [(45, 60), (45, 15), (45, 15)]),
    ("gen-mixed-2x2-1x2-2x1.jpg", [(2, 2), (1, 2), (2, 1)], [(46, 60), (46, 30), (23, 60)]),
    # one component: its MCU is one block, whatever sampling it declares (the true grid)
    ("gray-600x400-sampling-2x1.jpg", [(2, 1)], [(50, 75)]),
])
def test_whole_mcu_grids(name, sampling, grid):
    c = jpegcoef.read(DATA / name)
    assert [x.sampling for x in c.components] == sampling
    assert [x.coefficients.shape[:2] for x in c.components] == grid
    mh, mv = c.max_sampling
    for x in c.components:                       # luma grid is exactly (max/own) x chroma grid
        hb, wb = x.coefficients.shape[:2]
        assert hb * mv // x.sampling[1] == c.components[0].coefficients.shape[0] * mv // c.components[0].sampling[1]
        assert wb * mh // x.sampling[0] == c.components[0].coefficients.shape[1] * mh // c.components[0].sampling[0]
        assert x.blocks[0] <= hb and x.blocks[1] <= wb


def test_fields_and_shortcuts():
    c = jpegcoef.read(DATA / "turbo-testorig.jpg")
    assert (c.width, c.height, c.colorspace, c.progressive, c.arithmetic) == (227, 149, "ycbcr", False, False)
    assert c.y is c.components[0] and c.cb is c.components[1] and c.cr is c.components[2]
    assert c.y.coefficients.shape == (20, 30, 8, 8) and c.y.blocks == (19, 29)
    assert c.y.quant.dtype == np.uint16 and c.y.quant.shape == (8, 8)
    assert c.y.channels().shape == (64, 20, 30)
    np.testing.assert_array_equal(c.y.channels()[8 * 1 + 2], c.y.coefficients[:, :, 1, 2])
    deq = c.dequantize()
    assert deq[0].dtype == np.float32
    np.testing.assert_array_equal(deq[1], c.cb.coefficients.astype(np.float32) * c.cb.quant)
    g = jpegcoef.read(DATA / "gen-gray.jpg")
    assert g.colorspace == "gray" and g.y is g.components[0] and g.cb is None and g.cr is None
    r = jpegcoef.read(DATA / "gen-rgb-colorspace.jpg")
    assert r.colorspace == "rgb" and r.y is None
    k = jpegcoef.read(DATA / "pillow-pil_sample_cmyk.jpg")
    assert k.colorspace in ("cmyk", "ycck") and len(k.components) == 4
    assert jpegcoef.read(DATA / "gen-420-progressive-arithmetic.jpg").arithmetic
    assert jpegcoef.read(DATA / "turbo-testimgari-arithmetic.jpg").arithmetic


def test_sixteen_bit_quant_tables():
    c = jpegcoef.read(DATA / "pillow-hopper_16bit_qtables.jpg")
    assert c.y.quant.dtype == np.uint16
    s = jpegcoef.read(DATA / "gen-shared-qtable.jpg")
    np.testing.assert_array_equal(s.y.quant, s.cb.quant)


def test_natural_order_dc_first():
    # q5 file: coarse quantisation leaves mostly DC; DC is index 0 of each block
    c = jpegcoef.read(DATA / "gen-420-q5.jpg")
    energy = np.abs(c.y.coefficients[: c.y.blocks[0], : c.y.blocks[1]].astype(np.int64)).sum(axis=(0, 1))
    assert energy[0, 0] == energy.max()
    assert energy[0, 1] > energy[7, 7] and energy[1, 0] > energy[7, 7]


# -- orientation -----------------------------------------------------------------------------------
def _with_app1(jpeg: bytes, payload: bytes) -> bytes:
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _exif(orientation: int, endian: str = "<", count: int = 1, type_: int = 3) -> bytes:
    bo = b"II" if endian == "<" else b"MM"
    ifd = struct.pack(endian + "H", 1) + struct.pack(endian + "HHIHH", 0x0112, type_, count, orientation, 0)
    return b"Exif\x00\x00" + bo + struct.pack(endian + "HI", 42, 8) + ifd + b"\x00\x00\x00\x00"


def test_exif_orientation():
    assert jpegcoef.read(DATA / "pillow-hopper_orientation_6.jpg").orientation == 6
    assert jpegcoef.read(DATA / "pillow-flower.jpg").orientation == 1
    base = (DATA / "gen-7x9.jpg").read_bytes()
    for o in range(1, 9):
        assert jpegcoef.read(_with_app1(base, _exif(o, "<"))).orientation == o
        assert jpegcoef.read(_with_app1(base, _exif(o, ">"))).orientation == o
    # malformed EXIF: orientation 1, never a crash
    good = _exif(3)
    for bad in [good[:10], good[:20], b"Exif\x00\x00XX", _exif(9), _exif(3, type_=4),
                good[:10] + b"\xff\xff\xff\xff" + good[14:],            # IFD offset far outside
                good[:14] + b"\xff\xff\x00\x01" + good[18:]]:        # 65535 entries claimed, no 0x0112
        assert jpegcoef.read(_with_app1(base, bad)).orientation == 1


# -- sources ---------------------------------------------------------------------------------------
def test_sources_all_agree(tmp_path):
    path = DATA / "turbo-testorig.jpg"
    data = path.read_bytes()
    ref = jpegcoef.read(str(path))
    for src in [path, data, bytearray(data), memoryview(data), io.BytesIO(data), open(path, "rb"),
                np.frombuffer(data, np.uint8)]:
        c = jpegcoef.read(src)
        np.testing.assert_array_equal(c.y.coefficients, ref.y.coefficients)
        if hasattr(src, "close"):
            src.close()
    with pytest.raises(TypeError):
        jpegcoef.read(12345)
    with pytest.raises(TypeError, match="binary"):
        jpegcoef.read(io.StringIO("x"))
    with pytest.raises(FileNotFoundError):
        jpegcoef.read(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="layout"):
        jpegcoef.read(data, layout="nchw")


def test_bytes_errors_have_no_file_name():
    with pytest.raises(JpegError, match="^Not a JPEG file") as e:
        jpegcoef.read(b"GIF89a" + b"\x00" * 50)
    assert e.value.filename is None


def test_arrays_are_owned_and_writable():
    c = jpegcoef.read(DATA / "turbo-testorig.jpg")
    y = c.y.coefficients
    del c
    import gc
    gc.collect()
    assert int(y[0, 0, 0, 0]) == int(y[0, 0, 0, 0])  # memory still alive through the array
    assert y.flags.writeable
    y[0, 0, 0, 0] = 7
    assert y[0, 0, 0, 0] == 7


# -- batches ---------------------------------------------------------------------------------------
def test_read_batch_order_threads_and_errors():
    names = OK_FILES[:12]
    paths = [DATA / n for n in names]
    single = [jpegcoef.read(p) for p in paths]
    for threads in (1, 2, 3):
        got = jpegcoef.read_batch(paths, threads=threads)
        assert len(got) == len(paths)
        for a, b in zip(single, got):
            assert (a.width, a.height) == (b.width, b.height)
            np.testing.assert_array_equal(a.components[0].coefficients, b.components[0].coefficients)
    mixed = [paths[0], DATA / "bad-empty.jpg", paths[1].read_bytes(), b"junk"]
    out = jpegcoef.read_batch(mixed, threads=2, errors="return")
    assert isinstance(out[0], Coefficients) and isinstance(out[2], Coefficients)
    assert isinstance(out[1], JpegError) and "bad-empty.jpg" in str(out[1])
    assert isinstance(out[3], JpegError)
    with pytest.raises(JpegError, match="bad-empty.jpg"):
        jpegcoef.read_batch(mixed, threads=2)
    with pytest.raises(JpegError, match="item 1"):
        jpegcoef.read_batch([paths[0].read_bytes(), b"junk"], threads=2)
    with pytest.raises(ValueError):
        jpegcoef.read_batch(paths, errors="ignore")
    got = jpegcoef.read_batch(paths[:3], threads=2, layout="channels")
    np.testing.assert_array_equal(got[1].components[0].channels(), single[1].components[0].channels())


def test_read_batch_warns_in_caller_thread_and_strict():
    bad = DATA / "bad-truncated-mid-scan.jpg"
    with pytest.warns(JpegWarning, match="bad-truncated-mid-scan.jpg"):
        out = jpegcoef.read_batch([DATA / "gen-gray.jpg", bad], threads=2)
    assert out[1].warnings
    out = jpegcoef.read_batch([bad], threads=2, errors="return", strict=True)
    assert isinstance(out[0], JpegError)


# -- writing ---------------------------------------------------------------------------------------
def _assert_same_coefficients(a: Coefficients, b: Coefficients):
    assert (a.width, a.height, a.colorspace) == (b.width, b.height, b.colorspace)
    assert len(a.components) == len(b.components)
    for x, y in zip(a.components, b.components):
        assert x.sampling == y.sampling and x.blocks == y.blocks
        hb, wb = x.blocks
        np.testing.assert_array_equal(x.coefficients[:hb, :wb], y.coefficients[:hb, :wb])
        np.testing.assert_array_equal(x.quant, y.quant)


@pytest.mark.parametrize("name", OK_FILES)
def test_write_read_roundtrip(name):
    c = jpegcoef.read(DATA / name)
    data = jpegcoef.write(c)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8"
    back = jpegcoef.read(data)
    _assert_same_coefficients(c, back)
    assert back.progressive == c.progressive and back.arithmetic == c.arithmetic


def test_write_destinations_and_optimize(tmp_path):
    c = jpegcoef.read(DATA / "turbo-testorig.jpg", layout="channels")
    plain = jpegcoef.write(c)
    opt = jpegcoef.write(c, optimize=True)
    assert len(opt) < len(plain)
    _assert_same_coefficients(c, jpegcoef.read(opt))
    jpegcoef.write(c, tmp_path / "a.jpg")
    assert (tmp_path / "a.jpg").read_bytes() == plain
    buf = io.BytesIO()
    assert jpegcoef.write(c, buf) is None
    assert buf.getvalue() == plain


def test_write_constructed_and_rejects_bad_input():
    rng = np.random.default_rng(1)
    q = np.full((8, 8), 4, np.uint16)
    y = rng.integers(-50, 50, (4, 6, 8, 8)).astype(np.int16)
    c = Coefficients(width=48, height=32, colorspace="gray", components=[Component(y, q)])
    back = jpegcoef.read(jpegcoef.write(c))
    np.testing.assert_array_equal(back.y.coefficients, y)
    small = Coefficients(width=64, height=32, colorspace="gray", components=[Component(y, q)])
    with pytest.raises(JpegError, match="blocks"):
        jpegcoef.write(small)
    zero_q = Coefficients(width=48, height=32, colorspace="gray", components=[Component(y, np.zeros(64, int))])
    with pytest.raises(JpegError, match="Quantisation"):
        jpegcoef.write(zero_q)
    with pytest.raises(JpegError, match="colour space"):
        jpegcoef.write(Coefficients(width=48, height=32, colorspace="ycbcr", components=[Component(y, q)]))


# -- full decode -----------------------------------------------------------------------------------
@pytest.mark.skipif(not have("djpeg"), reason="djpeg not installed")
@pytest.mark.parametrize("name", ["turbo-testorig.jpg", "gen-422-odd-477x355.jpg", "gen-gray-progressive.jpg",
                                  "gen-420-progressive-arithmetic.jpg", "gen-rgb-colorspace.jpg"])
def test_decode_rgb_equals_djpeg(name):
    img = jpegcoef.decode_rgb(DATA / name)
    ref = djpeg(DATA / name, "-rgb")
    assert img.dtype == np.uint8 and img.shape == ref.shape
    np.testing.assert_array_equal(img, ref)


def test_decode_errors_and_warnings():
    with pytest.raises(JpegError, match="Unsupported JPEG data precision 12"):
        jpegcoef.decode_rgb(DATA / "turbo-monkey12-12bit.jpg")
    with pytest.raises(JpegError, match="max_pixels"):
        jpegcoef.decode_rgb(DATA / "bad-huge-dimensions.jpg")
    with pytest.warns(JpegWarning, match="Premature end"):
        img = jpegcoef.decode_rgb(DATA / "bad-truncated-mid-scan.jpg")
    assert img.shape == (355, 477, 3)
    assert jpegcoef.decode(DATA / "gen-gray.jpg", "native").shape == (355, 477, 1)


# -- containers ------------------------------------------------------------------------------------
def test_component_validation():
    q = np.ones((8, 8), np.uint16)
    with pytest.raises(ValueError):
        Component(np.zeros((2, 2, 8, 7), np.int16), q)
    with pytest.raises(ValueError):
        Component(np.full((1, 1, 8, 8), 40000, np.int32), q)
    with pytest.raises(ValueError):
        Component(np.zeros((1, 1, 8, 8), np.int16), np.ones(63))
    with pytest.raises(ValueError):
        Component(np.zeros((1, 1, 8, 8), np.int16), q, blocks=(2, 1))
    with pytest.raises(ValueError):
        Coefficients(8, 8, [Component(np.zeros((1, 1, 8, 8), np.int16), q)], colorspace="lab")
    ch = np.arange(64 * 2 * 3, dtype=np.int16).reshape(64, 2, 3)
    c = Component.from_channels(ch, q)
    assert c.channels() is ch and c.coefficients[1, 2, 3, 4] == ch[8 * 3 + 4, 1, 2]


# -- pixels from coefficients ------------------------------------------------------------------------
PIXEL_CASES = [f"{s}-{c}" for s in ("420", "422", "444", "gray", "440", "411") for c in ("baseline", "progressive")]


@pytest.mark.parametrize("key", PIXEL_CASES)
def test_to_rgb_matches_libjpeg_decode(generated, key):
    path = generated[key]
    c = jpegcoef.read(path)
    ref = jpegcoef.decode_rgb(path)
    rgb = c.to_rgb()
    assert rgb.shape == ref.shape == (c.height, c.width, 3)
    assert np.abs(rgb.astype(int) - ref).max() <= 2            # the contract
    # stronger, as documented: the islow IDCT, upsampling and colour conversion are bit-exact
    native = "gray" if c.colorspace == "gray" else "ycbcr"
    np.testing.assert_array_equal(c.to_ycbcr(), jpegcoef.decode(path, native))
    np.testing.assert_array_equal(rgb, ref)
    # the textbook float IDCT stays close
    assert np.abs(c.to_ycbcr(idct="float").astype(int) - jpegcoef.decode(path, native)).max() <= 1


@pytest.mark.parametrize("name", ["gen-mixed-2x2-1x2-2x1.jpg", "gen-410-odd-477x355.jpg", "gen-1x1.jpg",
                                  "gen-250x3.jpg", "gen-rgb-colorspace.jpg", "gray-600x400-sampling-2x1.jpg",
                                  "gen-jpegtran-rot90-trimmed.jpg"])
def test_to_rgb_odd_layouts(name):
    c = jpegcoef.read(DATA / name)
    np.testing.assert_array_equal(c.to_rgb(), jpegcoef.decode_rgb(DATA / name))


def _adobe_file(path, subsampling: int, transform: int):
    """A 4-component JPEG written by Pillow (Adobe APP14, transform 0: inverted CMYK); with
    ``transform=2`` that byte is patched so libjpeg (and Pillow) decode the planes as YCCK."""
    rng = np.random.default_rng(subsampling)
    yy, xx = np.mgrid[0:37, 0:53]
    px = np.stack([xx * 4, yy * 6, (xx + yy) * 3, 255 - xx * 2], -1) + rng.integers(0, 40, (37, 53, 4))
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8), "CMYK").save(path, quality=90, subsampling=subsampling)
    data = bytearray(path.read_bytes())
    at = data.index(b"Adobe")              # APP14 (FF EE, length): "Adobe", version, flags0, flags1
    assert data[at - 4:at - 2] == b"\xff\xee" and data[at + 11] == 0   # (2 bytes each), transform
    data[at + 11] = transform
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("source,colorspace", [("pillow-pil_sample_cmyk.jpg", "ycck"),
                                               ((0, 0), "cmyk"), ((2, 0), "cmyk"),
                                               ((0, 2), "ycck"), ((2, 2), "ycck")])
def test_to_rgb_cmyk_and_ycck_as_pillow(tmp_path, source, colorspace):
    """CMYK (Adobe inverted) and YCCK files, 4:4:4 and with the first plane 2x2, convert as
    Pillow's ``convert("RGB")`` does. Tolerance: none (the same islow IDCT, fancy upsampling
    and integer arithmetic), so the arrays must be equal."""
    path = DATA / source if isinstance(source, str) else _adobe_file(tmp_path / "f.jpg", *source)
    c = jpegcoef.read(path)
    assert c.colorspace == colorspace and len(c.components) == 4
    with Image.open(path) as im:
        want = np.asarray(im.convert("RGB"))
    got = c.to_rgb()
    assert got.shape == want.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    assert np.abs(c.to_rgb(idct="float").astype(int) - want).max() <= 4


def test_to_rgb_cmyk_needs_four_components():
    c = jpegcoef.read(DATA / "pillow-pil_sample_cmyk.jpg")
    with pytest.raises(ValueError, match="needs 4 components"):
        c.replace(components=c.components[:3]).to_rgb()


# -- memory: result buffers are recycled only once no array uses them ------------------------------
def test_buffer_pool_never_recycles_live_arrays():
    import gc
    paths = [DATA / "gen-420-odd-477x355.jpg", DATA / "gen-422-odd-477x355.jpg", DATA / "gen-444-odd-477x355.jpg"]
    fresh = [jpegcoef.read(p).y.coefficients.copy() for p in paths]
    kept = [jpegcoef.read(p, layout=lay).y for p in paths for lay in ("blocks", "channels")]
    for _ in range(3):                                  # churn: free results, read more into recycled buffers
        junk = [jpegcoef.read(p) for p in reversed(paths)]
        del junk
        gc.collect()
    for i, comp in enumerate(kept):
        np.testing.assert_array_equal(comp.coefficients, fresh[i // 2])
    old = jpegcoef.set_buffer_pool(0)
    try:
        assert old > 0
        np.testing.assert_array_equal(jpegcoef.read(paths[0]).y.coefficients, fresh[0])
    finally:
        jpegcoef.set_buffer_pool(old)
    with pytest.raises(ValueError):
        jpegcoef.set_buffer_pool(-1)


def test_path_errors_are_oserrors(tmp_path):
    with pytest.raises(IsADirectoryError):
        jpegcoef.read(tmp_path)
    with pytest.raises(ValueError, match="null"):
        jpegcoef.read("a\0b.jpg")
    p = tmp_path / "x.jpg"
    p.write_bytes((DATA / "gen-gray.jpg").read_bytes())
    assert jpegcoef.read(p).colorspace == "gray"


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_read_batch_after_fork():
    import multiprocessing as mp
    paths = [str(DATA / n) for n in OK_FILES[:6]]
    jpegcoef.read_batch(paths, threads=2)             # parent's pool threads exist now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        shapes = pool.apply(_batch_shapes, (paths,))
    assert shapes == [c.components[0].coefficients.shape for c in jpegcoef.read_batch(paths, threads=2)]


def _batch_shapes(paths):
    return [c.components[0].coefficients.shape for c in jpegcoef.read_batch(paths, threads=2)]
