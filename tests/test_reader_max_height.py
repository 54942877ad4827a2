"""jpegcoef.read(..., max_height=N): exactly the image cut to its top rows, early stop for
single-scan files (damage below the stop row is never read)."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest

import jpegcoef
from jpegcoef import transforms
from jpegcoef.errors import JpegWarning

from conftest import DATA, OK_FILES, have

LAYOUTS = ("blocks", "channels")


def _read(src, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JpegWarning)
        return jpegcoef.read(src, **kw)


def _expected(full, max_height):
    """What max_height must give: the full read cut by transforms.crop (or the full read)."""
    mcu_h, _ = transforms.mcu_size(full)
    h2 = min(full.height, -(-max_height // mcu_h) * mcu_h)
    if h2 >= full.height:
        return full
    return transforms.crop(full, 0, 0, h2, full.width)


def _assert_same(a, b, warnings_too=True):
    assert (a.width, a.height, a.colorspace, a.progressive, a.arithmetic, a.orientation) == \
        (b.width, b.height, b.colorspace, b.progressive, b.arithmetic, b.orientation)
    if warnings_too:
        assert a.warnings == b.warnings
    assert len(a.components) == len(b.components)
    for x, y in zip(a.components, b.components):
        assert x.coefficients.shape == y.coefficients.shape
        assert np.array_equal(x.coefficients, y.coefficients)
        assert np.array_equal(x.channels(), y.channels())
        assert x.blocks == y.blocks
        assert x.sampling == y.sampling
        assert np.array_equal(x.quant, y.quant)


def _heights(full):
    mcu_h, _ = transforms.mcu_size(full)
    hs = {1, mcu_h - 1, mcu_h, mcu_h + 1, 2 * mcu_h, 224, full.height - 1, full.height,
          full.height + 100}
    return sorted(h for h in hs if h > 0)


BUNDLED = ["gen-420-odd-477x355.jpg", "gen-422-odd-477x355.jpg", "gen-444-odd-477x355.jpg",
           "gen-440-odd-477x355.jpg", "gen-411-odd-477x355.jpg", "gen-gray.jpg",
           "gray-600x400-sampling-1x2.jpg", "gray-600x400-sampling-2x1.jpg",
           "pillow-pil_sample_cmyk.jpg", "gen-420-restart-2-rows.jpg",
           "gen-420-restart-every-block.jpg", "gen-420-arithmetic.jpg", "gen-420-progressive.jpg",
           "gen-420-progressive-arithmetic.jpg", "gen-444-progressive.jpg",
           "gen-gray-progressive.jpg", "gen-mixed-2x2-1x2-2x1.jpg", "gen-rgb-colorspace.jpg",
           "gen-17x333.jpg", "gen-250x3.jpg", "gen-1x1.jpg", "gen-7x9.jpg",
           "bad-truncated-mid-scan.jpg", "bad-corrupt-scan.jpg", "pillow-truncated_jpeg.jpg"]


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_equals_crop_of_full_read_bundled(name, layout):
    data = (DATA / name).read_bytes()
    full = _read(data, layout=layout)
    for h in _heights(full):
        got = _read(data, layout=layout, max_height=h)
        exp = _expected(full, h)
        # damage below the stop row is not read (its warnings may go); above it, all the same
        _assert_same(got, exp, warnings_too=not full.warnings)
        if h >= full.height:
            _assert_same(got, full)


def test_all_bundled_files_agree():
    """Every readable bundled file, a few heights, both layouts (coefficients and geometry)."""
    for name in OK_FILES:
        data = (DATA / name).read_bytes()
        for layout in LAYOUTS:
            try:
                full = _read(data, layout=layout)
            except jpegcoef.JpegError:
                continue
            for h in (8, 40, full.height // 2 + 1):
                _assert_same(_read(data, layout=layout, max_height=h), _expected(full, h),
                             warnings_too=False)


def test_generated_every_sampling_and_coding(generated):
    for key, path in generated.items():
        data = path.read_bytes()
        for layout in LAYOUTS:
            full = _read(data, layout=layout)
            for h in _heights(full):
                _assert_same(_read(data, layout=layout, max_height=h), _expected(full, h))


@pytest.mark.skipif(not have("jpegtran"), reason="jpegtran not installed")
def test_multi_scan_sequential(tmp_path):
    """Non-interleaved sequential scans (one component per scan): decoded whole, then cut."""
    scans = tmp_path / "scans.txt"
    scans.write_text("0;\n1;\n2;\n")
    out = tmp_path / "multi.jpg"
    subprocess.run(["jpegtran", "-scans", str(scans), "-outfile", str(out),
                    str(DATA / "gen-420-odd-477x355.jpg")], check=True)
    data = out.read_bytes()
    for layout in LAYOUTS:
        full = _read(data, layout=layout)
        assert not full.progressive
        for h in _heights(full):
            _assert_same(_read(data, layout=layout, max_height=h), _expected(full, h))


def test_result_is_a_plain_result():
    """Cut results are ordinary, owned, C-contiguous arrays (write round-trips them)."""
    c = jpegcoef.read(DATA / "gen-420-odd-477x355.jpg", max_height=100)
    assert c.height == 112 and c.width == 477
    assert [comp.coefficients.shape[:2] for comp in c.components] == [(14, 60), (7, 30), (7, 30)]
    assert [comp.blocks for comp in c.components] == [(14, 60), (7, 30), (7, 30)]
    for comp in c.components:
        assert comp.coefficients.flags.c_contiguous and comp.coefficients.flags.writeable
    again = jpegcoef.read(jpegcoef.write(c))
    _assert_same(again, c)
    ch = jpegcoef.read(DATA / "gen-420-odd-477x355.jpg", max_height=100, layout="channels")
    assert ch.components[0].channels().shape == (64, 14, 60)
    assert ch.components[0].channels().flags.c_contiguous


def _truncated(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["gen-420-odd-477x355.jpg", "gen-420-restart-2-rows.jpg",
                                  "gen-420-arithmetic.jpg", "gen-444-odd-477x355.jpg"])
def test_truncated_below_the_stop_row_is_not_seen(name, layout):
    """A single-scan file stops decoding at the last needed row: a truncation further down
    gives no warning at all (this fails if the decode runs on), and the rows are exact."""
    data = (DATA / name).read_bytes()
    cut = _truncated(data, 0.9)
    full = _read(cut, layout=layout)
    assert full.warnings, "the full read must see the truncation"
    got = _read(cut, layout=layout, max_height=24)
    assert got.warnings == []
    _assert_same(got, _expected(full, 24), warnings_too=False)
    _assert_same(got, _expected(_read(data, layout=layout), 24))
    with warnings.catch_warnings():
        warnings.simplefilter("error", JpegWarning)
        jpegcoef.read(cut, layout=layout, max_height=24)              # no JpegWarning issued
        jpegcoef.read(cut, layout=layout, max_height=24, strict=True)  # nor an error


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["gen-420-odd-477x355.jpg", "gen-420-restart-2-rows.jpg",
                                  "gen-420-arithmetic.jpg", "gen-420-progressive.jpg"])
def test_truncated_above_the_stop_row(name, layout):
    """Damage above the stop row: the same coefficients and the same warnings as the cut full read."""
    cut = _truncated((DATA / name).read_bytes(), 0.25)
    full = _read(cut, layout=layout)
    assert full.warnings
    got = _read(cut, layout=layout, max_height=300)
    _assert_same(got, _expected(full, 300), warnings_too=False)
    # the same warnings, except those of restart intervals below the stop row (not read)
    kept = [w for w in got.warnings if not w.startswith("... and")]
    assert kept == [w for w in full.warnings if not w.startswith("... and")]
    if "restart" not in name:
        assert got.warnings == full.warnings
    with pytest.warns(JpegWarning):
        jpegcoef.read(cut, layout=layout, max_height=300)
    with pytest.raises(jpegcoef.JpegError):
        jpegcoef.read(cut, layout=layout, max_height=300, strict=True)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_progressive_truncated_below_is_decoded_whole(layout):
    """Progressive files cannot stop early: they are decoded whole (warnings kept), then cut."""
    cut = _truncated((DATA / "gen-420-progressive.jpg").read_bytes(), 0.9)
    full = _read(cut, layout=layout)
    got = _read(cut, layout=layout, max_height=16)
    _assert_same(got, _expected(full, 16))
    assert got.warnings == full.warnings and got.warnings


def test_sources_and_read_batch_pass_max_height(tmp_path):
    path = DATA / "gen-420-odd-477x355.jpg"
    data = path.read_bytes()
    exp = _expected(_read(data), 64)
    with open(path, "rb") as f:
        for src in (path, str(path), data, bytearray(data), memoryview(data), f):
            _assert_same(jpegcoef.read(src, max_height=64), exp)
    for threads in (1, 2):
        out = jpegcoef.read_batch([path, data] * 3, threads=threads, max_height=64)
        for c in out:
            _assert_same(c, exp)
        ch = jpegcoef.read_batch([path, data], threads=threads, max_height=64, layout="channels")
        for c in ch:
            _assert_same(c, exp)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "224", True, 224.0])
def test_max_height_validation(bad):
    with pytest.raises(ValueError, match="max_height"):
        jpegcoef.read(DATA / "gen-1x1.jpg", max_height=bad)
    with pytest.raises(ValueError, match="max_height"):
        jpegcoef.read_batch([DATA / "gen-1x1.jpg"], max_height=bad)


def test_max_height_none_and_numpy_int():
    path = DATA / "gen-420-odd-477x355.jpg"
    _assert_same(jpegcoef.read(path, max_height=None), jpegcoef.read(path))
    _assert_same(jpegcoef.read(path, max_height=np.int64(40)), jpegcoef.read(path, max_height=40))
    _assert_same(jpegcoef.read(path, max_height=2**40), jpegcoef.read(path))


def test_errors_still_raised():
    for name in ("bad-not-a-jpeg.jpg", "bad-empty.jpg", "bad-truncated-in-header.jpg"):
        with pytest.raises(jpegcoef.JpegError):
            jpegcoef.read(DATA / name, max_height=8)
    with pytest.raises(jpegcoef.JpegError, match="max_pixels"):
        jpegcoef.read(DATA / "bad-huge-dimensions.jpg", max_height=8)


def test_decoder_reused_after_early_stop():
    """An early stop leaves no state behind: the next reads on the same thread are exact."""
    a = DATA / "gen-420-odd-477x355.jpg"
    b = DATA / "gen-420-progressive.jpg"
    fa, fb = _read(a), _read(b)
    for _ in range(3):
        _read(a, max_height=16)
        _assert_same(_read(b), fb)
        _assert_same(_read(a), fa)
        _read(a, max_height=16, layout="channels")
        _assert_same(_read(a, layout="channels"), fa)
