"""jpegcoef.read(..., bands=...): partial progressive decoding.

Every coefficient of a banded read must be exactly the whole read's or zero, and the needed ones
always the whole read's; scans that carry nothing needed are not decoded. Checked on progressive
files of every subsampling (cjpeg -progressive, jpegtran -progressive copies, split-band and
successive-approximation scripts, arithmetic coding), sequential multi-scan files, truncated
files, and files the scan walk must not plan (tables between scans, garbage between segments).
"""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest

import jpegcoef
from jpegcoef import transforms
from jpegcoef.errors import JpegWarning
from jpegcoef.reader import _decoder

from conftest import DATA, have, synthetic_rgb, write_ppm

Y16 = [8 * r + c for r in range(4) for c in range(4)]       # rows 0-3 x cols 0-3
LOW4 = [0, 1, 8, 9]
NEEDS = {
    "dct24": [Y16, LOW4, LOW4],
    "dc": [[0], [0], [0]],
    "luma-only": [None, [], []],
    "nothing": [[], [], []],
    "one-ac": [[9], [1], [8]],
    "high": [[63], list(range(40, 64)), [0]],
}
#: jpegtran -scans scripts: AC split at 9, with and without successive approximation
SPLIT = "0 1 2: 0 0 0 0;\n0: 1 8 0 0;\n1: 1 8 0 0;\n2: 1 8 0 0;\n0: 9 63 0 0;\n1: 9 63 0 0;\n2: 9 63 0 0;\n"
SPLIT_SA = ("0 1 2: 0 0 0 1;\n0: 1 8 0 2;\n0: 9 63 0 2;\n1: 1 8 0 1;\n2: 1 8 0 1;\n1: 9 63 0 1;\n"
            "2: 9 63 0 1;\n0: 1 8 2 1;\n0: 9 63 2 1;\n0 1 2: 0 0 1 0;\n1: 1 8 1 0;\n2: 1 8 1 0;\n"
            "1: 9 63 1 0;\n2: 9 63 1 0;\n0: 1 8 1 0;\n0: 9 63 1 0;\n")
SEQUENTIAL_MULTI = "0;\n1;\n2;\n"
SAMPLE = {"420": ["-sample", "2x2"], "422": ["-sample", "2x1"], "440": ["-sample", "1x2"],
          "444": ["-sample", "1x1"], "411": ["-sample", "4x1"], "gray": ["-grayscale"]}


def _quiet(src, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JpegWarning)
        return jpegcoef.read(src, **kw)


def _natural(entry):
    return list(range(64)) if entry is None else list(entry)


def assert_banded(full, part, bands):
    """part (a banded read) against full (the whole read): same geometry and tables; every
    coefficient equal or zero; the needed ones equal."""
    assert (part.width, part.height, part.colorspace, part.progressive) == \
        (full.width, full.height, full.colorspace, full.progressive)
    assert len(part.components) == len(full.components)
    for i, (p, f) in enumerate(zip(part.components, full.components)):
        assert p.coefficients.shape == f.coefficients.shape and p.blocks == f.blocks
        np.testing.assert_array_equal(p.quant, f.quant)
        a = p.coefficients.reshape(p.coefficients.shape[:2] + (64,))
        b = f.coefficients.reshape(a.shape)
        need = _natural(bands[i]) if i < len(bands) else list(range(64))
        np.testing.assert_array_equal(a[..., need], b[..., need], err_msg=f"component {i}")
        assert np.all((a == b) | (a == 0)), f"component {i}: a coefficient neither exact nor zero"


def _skipped() -> int:
    """Scans the calling thread's last read did not decode (the C's report)."""
    return _decoder()[1].scans_skipped


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """{(sampling, coding): path} for every subsampling x several multi-scan codings."""
    if not (have("cjpeg") and have("jpegtran")):
        pytest.skip("libjpeg-turbo-progs not installed")
    tmp = tmp_path_factory.mktemp("bands")
    ppm = tmp / "src.ppm"
    write_ppm(ppm, synthetic_rgb(75, 101))
    out = {}
    for s, args in SAMPLE.items():
        base = tmp / f"{s}.jpg"
        subprocess.run(["cjpeg", "-quality", "85", *args, "-outfile", str(base), str(ppm)], check=True)
        prog = tmp / f"{s}-cjpeg-progressive.jpg"
        subprocess.run(["cjpeg", "-quality", "85", "-progressive", *args, "-outfile", str(prog), str(ppm)],
                       check=True)
        out[(s, "cjpeg-progressive")] = prog
        tran = tmp / f"{s}-jpegtran-progressive.jpg"
        subprocess.run(["jpegtran", "-progressive", "-outfile", str(tran), str(base)], check=True)
        out[(s, "jpegtran-progressive")] = tran
        scripts = {"split": SPLIT, "split-sa": SPLIT_SA, "sequential-multi": SEQUENTIAL_MULTI}
        for name, script in scripts.items():
            if s == "gray":
                script = "\n".join(ln.replace("0 1 2:", "0:") for ln in script.splitlines()
                                   if not ln.startswith(("1:", "2:", "1;", "2;"))) + "\n"
            txt = tmp / f"{name}.txt"
            txt.write_text(script)
            for arith in ("", "-arithmetic"):
                dst = tmp / f"{s}-{name}{arith}.jpg"
                subprocess.run(["jpegtran", "-scans", str(txt), *([arith] if arith else []),
                                "-outfile", str(dst), str(base)], check=True)
                out[(s, name + arith)] = dst
    return out


def test_every_file_and_need(files):
    skipped_any = 0
    for (s, coding), path in files.items():
        data = path.read_bytes()
        full = jpegcoef.read(data)
        for name, bands in NEEDS.items():
            for layout in ("blocks", "channels"):
                part = jpegcoef.read(data, bands=bands, layout=layout)
                skipped = _skipped()
                assert_banded(full, part, bands)
                assert not part.warnings
                if coding.startswith("split") and name == "dct24" and s != "gray":
                    assert skipped > 0, (s, coding)          # chroma bands 9..63 are never decoded
                    assert part.components[1].progression.bits[9] == -1
                skipped_any += skipped > 0
    assert skipped_any > 100


def test_needed_scans_only_split_bands_file():
    """The bundled split-band file: what dct24 needs decodes 11 of its 16 scans."""
    path = DATA / "gen-420-progressive-split-bands.jpg"
    full = jpegcoef.read(path)
    part = jpegcoef.read(path, bands=NEEDS["dct24"])
    assert _skipped() == 4                                   # chroma 9..63: first + refinement
    assert_banded(full, part, NEEDS["dct24"])
    for comp in part.components[1:]:
        assert comp.progression.bits[:9] == (0,) * 9 and comp.progression.bits[9] == -1
        assert not comp.coefficients.reshape(-1, 64)[:, 24].any()   # zig-zag 9 = natural 24
    assert part.components[0].progression.bits == full.components[0].progression.bits
    dc = jpegcoef.read(path, bands=NEEDS["dc"])
    assert _skipped() == 14                                  # only the DC scans
    assert_banded(full, dc, NEEDS["dc"])
    # a needed high frequency of one component brings its whole 9..63 history (3 scans) and
    # the DC scans: 5 of 16 decoded
    one = jpegcoef.read(path, bands=[[63], [], []])
    assert _skipped() == 11
    assert_banded(full, one, [[63], [], []])


def test_sources_layouts_and_batches_agree(tmp_path):
    path = DATA / "gen-420-progressive-split-bands.jpg"
    ref = jpegcoef.read(path, bands=NEEDS["dct24"])
    data = path.read_bytes()
    with open(path, "rb") as f:
        from_file = jpegcoef.read(f, bands=NEEDS["dct24"])
    for other in (jpegcoef.read(data, bands=NEEDS["dct24"]), from_file,
                  jpegcoef.read(str(path), bands=tuple(map(tuple, NEEDS["dct24"])), layout="channels"),
                  *jpegcoef.read_batch([path, data], threads=2, bands=NEEDS["dct24"])):
        for a, b in zip(ref.components, other.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
            assert a.progression == b.progression


def test_bands_spellings_are_equivalent():
    path = DATA / "gen-420-progressive-split-bands.jpg"
    masks = [sum(1 << k for k in Y16), sum(1 << k for k in LOW4), sum(1 << k for k in LOW4)]
    boolean = [np.isin(np.arange(64), need).reshape(8, 8) for need in NEEDS["dct24"]]
    ref = jpegcoef.read(path, bands=NEEDS["dct24"])
    for spelling in (masks, boolean, [set(Y16), frozenset(LOW4), np.array(LOW4)], (tuple(Y16), LOW4)):
        got = jpegcoef.read(path, bands=spelling)
        for a, b in zip(ref.components[:2], got.components[:2]):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
    # a missing entry needs everything (Cr here): as the whole read
    np.testing.assert_array_equal(jpegcoef.read(path, bands=(Y16, LOW4)).components[2].coefficients,
                                  jpegcoef.read(path).components[2].coefficients)


@pytest.mark.parametrize("bad,exc,text", [
    ("y", TypeError, "sequence"), (5, TypeError, "sequence"), ([[64]], ValueError, "0..63"),
    ([[-1]], ValueError, "0..63"), ([[1.5]], ValueError, "0..63"), ([[True]], ValueError, "0..63"),
    ([True], TypeError, "bands\\[0\\]"), ([1 << 64], ValueError, "bit mask"), ([object()], TypeError, "iterable"),
    ([None] * 5, ValueError, "at most"), ([np.zeros(10, bool)], ValueError, "64 entries"),
])
def test_bad_bands_are_named(bad, exc, text):
    with pytest.raises(exc, match=text):
        jpegcoef.read(DATA / "gen-420-progressive-split-bands.jpg", bands=bad)


def test_with_max_height_is_the_crop_of_the_banded_read():
    path = DATA / "gen-420-progressive-split-bands.jpg"
    part = jpegcoef.read(path, bands=NEEDS["dct24"])
    for h in (1, 16, 33, 119, 500):
        cut = jpegcoef.read(path, bands=NEEDS["dct24"], max_height=h)
        h2 = min(part.height, -(-h // 16) * 16)
        exp = part if h2 >= part.height else transforms.crop(part, 0, 0, h2, part.width)
        for a, b in zip(cut.components, exp.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)


def test_truncated_files(files):
    """Damage in a skipped scan is not seen; a needed scan that is cut warns as the whole read."""
    for key in [("420", "split-sa"), ("444", "split"), ("420", "jpegtran-progressive"), ("422", "split-sa-arithmetic")]:
        data = files[key].read_bytes()
        for frac in (0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 0.99):
            cut = data[: int(len(data) * frac)]
            try:
                full = _quiet(cut)
            except jpegcoef.JpegError:       # cut inside a scan header: an error either way
                with pytest.raises(jpegcoef.JpegError):
                    _quiet(cut, bands=NEEDS["dct24"])
                continue
            part = _quiet(cut, bands=NEEDS["dct24"])
            assert_banded(full, part, NEEDS["dct24"])
            assert len(part.warnings) <= len(full.warnings)


def _insert_after_first_scan(data: bytes, segment: bytes) -> bytes:
    """``data`` with ``segment`` put right before its second SOS marker."""
    first = data.index(b"\xff\xda")
    second = data.index(b"\xff\xda", first + 2)
    return data[:second] + segment + data[second:]


def test_files_the_walk_does_not_plan_are_read_whole():
    data = (DATA / "gen-420-progressive-split-bands.jpg").read_bytes()
    full = jpegcoef.read(data)
    dqt = data[data.index(b"\xff\xdb"):][:69]                 # a table redefined between scans
    garbage = b"\x00\x12\x34"                                  # bytes between segments (a warning)
    for odd in (_insert_after_first_scan(data, dqt), _insert_after_first_scan(data, garbage)):
        ref = _quiet(odd)
        part = _quiet(odd, bands=NEEDS["dct24"])
        assert _skipped() == 0
        assert part.warnings == ref.warnings
        for a, b in zip(part.components, ref.components):
            np.testing.assert_array_equal(a.coefficients, b.coefficients)
    # a comment between scans is walked over
    part = jpegcoef.read(_insert_after_first_scan(data, b"\xff\xfe\x00\x05abc"), bands=NEEDS["dct24"])
    assert _skipped() == 4
    assert_banded(full, part, NEEDS["dct24"])


def test_sequential_and_limits():
    base = DATA / "gen-420-odd-477x355.jpg"            # one interleaved scan: nothing to skip
    part = jpegcoef.read(base, bands=NEEDS["dc"])
    assert _skipped() == 0
    for a, b in zip(part.components, jpegcoef.read(base).components):
        np.testing.assert_array_equal(a.coefficients, b.coefficients)
    with pytest.raises(jpegcoef.JpegError, match="max_scans"):
        jpegcoef.read(DATA / "gen-420-progressive-split-bands.jpg", bands=NEEDS["dc"], max_scans=3)
    strict = jpegcoef.read(DATA / "gen-420-progressive-split-bands.jpg", bands=NEEDS["dct24"], strict=True)
    assert not strict.warnings
    # 4 components (CMYK), fewer entries than components
    cmyk = DATA / "pillow-pil_sample_cmyk.jpg"
    assert_banded(jpegcoef.read(cmyk), jpegcoef.read(cmyk, bands=[[0]]), [[0]])


def test_sequential_scans_carry_every_coefficient_whatever_they_declare(files):
    """A sequential frame whose scans declare a spectral band (libjpeg warns and decodes all 64):
    the walk must count every coefficient as carried (a fuzzer found this)."""
    data = bytearray(files[("420", "sequential-multi")].read_bytes())
    sos = data.index(b"\xff\xda")
    ns = data[sos + 4]
    data[sos + 5 + 2 * ns], data[sos + 6 + 2 * ns] = 1, 5      # Ss = 1, Se = 5 on a baseline frame
    full = _quiet(bytes(data))
    assert any("Invalid SOS parameters" in w for w in full.warnings)
    for bands in (NEEDS["dc"], NEEDS["high"], [[0], [], []]):
        part = _quiet(bytes(data), bands=bands)
        assert_banded(full, part, bands)
        assert part.warnings == full.warnings or _skipped() > 0


def test_damaged_scan_writing_outside_its_band():
    """A damaged AC scan (fuzzer-made) writes past its band, which libjpeg does not check: the
    whole read keeps those stray values where a skipped scan would have put its own; the banded
    read zeroes everything outside the bands it decoded."""
    data = (DATA / "regress" / "bad-stray-ac-run.jpg").read_bytes()
    full = _quiet(data)
    part = _quiet(data, bands=[[0, 1, 8], [], None])
    assert _skipped() > 0
    a = part.components[0].coefficients.reshape(-1, 64)
    b = full.components[0].coefficients.reshape(-1, 64)
    assert b[:, 10].any() and not a[:, 10].any()     # zig-zag 7: its scan is skipped
    assert part.components[0].progression.bits[3:] == (-1,) * 7
    np.testing.assert_array_equal(a[:, [0, 1, 8]], b[:, [0, 1, 8]])
