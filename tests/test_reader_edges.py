"""The reader's last edges, each against libjpeg: block smoothing of progressive files whose
scans leave low frequencies incomplete, one-component files that declare sampling factors, a
component whose quantisation table is never defined, and write's arithmetic + optimize refusal.

Test files are generated here (cjpeg/jpegtran -scans from a synthetic image), none from outside.
"""

from __future__ import annotations

import os
import subprocess
import warnings

import numpy as np
import pytest

import jpegcoef
from jpegcoef import transforms
from jpegcoef.errors import JpegError, JpegWarning

from conftest import DATA, have, read_pnm, synthetic_rgb, write_ppm

needs_tools = pytest.mark.skipif(not (have("cjpeg") and have("jpegtran") and have("djpeg")),
                                 reason="libjpeg-turbo-progs not installed")

#: jpegtran -scans scripts whose successive approximation never finishes (or stops early).
SCRIPTS = {
    # every coefficient one bit short, luma AC in two bands
    "sa-unfinished": "0 1 2: 0 0 0 1;\n0: 1 5 0 2;\n0: 6 63 0 2;\n1: 1 63 0 1;\n2: 1 63 0 1;\n0: 1 63 2 1;\n",
    # DC only: libjpeg interpolates the DC too
    "dc-only": "0 1 2: 0 0 0 0;\n",
    # DC and two luma AC coefficients; chroma DC only
    "partial": "0 1 2: 0 0 0 0;\n0: 1 2 0 0;\n",
    # interleaved refinements, chroma partly complete
    "mixed": "0 1 2: 0 0 0 2;\n1: 1 9 0 0;\n0: 1 63 0 3;\n2: 1 63 0 0;\n0 1 2: 0 0 2 1;\n0: 1 63 3 2;\n",
}
SAMPLE = {"420": ["-sample", "2x2"], "422": ["-sample", "2x1"], "440": ["-sample", "1x2"],
          "444": ["-sample", "1x1"], "gray": ["-grayscale"], "gray-2x2": ["-grayscale", "-sample", "2x2"]}


def _gray_script(script: str) -> str:
    """The same scans for a one-component file (luma lines only)."""
    lines = [ln.replace("0 1 2:", "0:") for ln in script.splitlines() if not ln.startswith(("1:", "2:"))]
    return "\n".join(lines) + "\n"


def _cjpeg(tmp, name: str, width: int, height: int, args: list, seed: int = 0):
    ppm = tmp / f"{name}.ppm"
    write_ppm(ppm, synthetic_rgb(height, width, seed))
    out = tmp / f"{name}.jpg"
    subprocess.run(["cjpeg", "-quality", "80", *args, "-outfile", str(out), str(ppm)], check=True)
    return out


def _scans(tmp, src, script: str, name: str):
    txt = tmp / f"{name}.txt"
    txt.write_text(script)
    out = tmp / f"{name}.jpg"
    subprocess.run(["jpegtran", "-scans", str(txt), "-outfile", str(out), str(src)], check=True)
    return out


@pytest.fixture(scope="module")
def incomplete(tmp_path_factory) -> dict:
    """{(script, sampling, size): path} of progressive files that never finish."""
    if not (have("cjpeg") and have("jpegtran")):
        pytest.skip("libjpeg-turbo-progs not installed")
    tmp = tmp_path_factory.mktemp("smooth")
    out = {}
    for size in [(61, 45), (2, 33), (17, 9), (1, 1)]:
        for s, args in SAMPLE.items():
            src = _cjpeg(tmp, f"src-{s}-{size[0]}x{size[1]}", *size, args, seed=size[0])
            for name, script in SCRIPTS.items():
                script = _gray_script(script) if s.startswith("gray") else script
                out[(name, s, size)] = _scans(tmp, src, script, f"{name}-{s}-{size[0]}x{size[1]}")
    return out


def _quiet_read(src, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JpegWarning)
        return jpegcoef.read(src, **kw)


# -- block smoothing -------------------------------------------------------------------------------
@needs_tools
def test_smoothing_matches_libjpeg_decode(incomplete):
    smoothed_somewhere = 0
    for (name, s, size), path in incomplete.items():
        c = jpegcoef.read(path)
        assert c.progressive and all(comp.progression is not None for comp in c.components)
        ref = jpegcoef.decode_rgb(path)
        np.testing.assert_array_equal(c.to_rgb(), ref, err_msg=f"{name} {s} {size}")
        native = "gray" if c.colorspace == "gray" else "ycbcr"
        np.testing.assert_array_equal(c.to_ycbcr(), jpegcoef.decode(path, native))
        if not np.array_equal(c.to_rgb(smoothing=False), ref):
            smoothed_somewhere += 1
    # the plain IDCT differs from libjpeg on (nearly) all of them: smoothing is what makes them equal
    assert smoothed_somewhere >= len(incomplete) * 3 // 4


@needs_tools
def test_progression_state(incomplete):
    c = jpegcoef.read(incomplete[("sa-unfinished", "420", (61, 45))])
    assert [comp.progression.bits for comp in c.components] == [(1,) * 10] * 3
    assert not c.components[0].progression.complete
    dc = jpegcoef.read(incomplete[("dc-only", "444", (61, 45))])
    assert dc.components[1].progression.bits == (0,) + (-1,) * 9
    assert dc.components[1].progression.before == (-1,) * 10        # the file's only scan
    assert dc.components[0].progression.good_rows == dc.components[0].coefficients.shape[0]
    full = jpegcoef.read(DATA / "gen-420-progressive.jpg")            # an ordinary progressive file
    assert all(comp.progression.complete for comp in full.components)
    np.testing.assert_array_equal(full.to_rgb(), full.to_rgb(smoothing=False))
    assert jpegcoef.read(DATA / "gen-420-q5.jpg").components[0].progression is None


@needs_tools
def test_transforms_and_cuts_are_complete(incomplete):
    """A transform's result is what jpegtran writes (a complete file): no smoothing state."""
    path = incomplete[("partial", "420", (61, 45))]
    c = jpegcoef.read(path)
    for out in (transforms.hflip(c), transforms.transpose(c), transforms.apply_orientation(c),
                transforms.crop(c, 0, 0, 32, 32)):
        assert all(comp.progression is None for comp in out.components)
    cut = jpegcoef.read(path, max_height=16)
    assert cut.height == 16 and all(comp.progression is None for comp in cut.components)
    whole = jpegcoef.read(path, max_height=1000)
    assert [x.progression for x in whole.components] == [x.progression for x in c.components]
    # to_rgb of the transformed coefficients = djpeg of jpegtran's output
    ref = jpegcoef.read(jpegcoef.write(transforms.hflip(c)))
    np.testing.assert_array_equal(transforms.hflip(c).to_rgb(), jpegcoef.decode_rgb(jpegcoef.write(ref)))


def _djpeg_c_idct(path, *args) -> np.ndarray:
    """djpeg with libjpeg-turbo's C IDCT (its SIMD IDCT saturates differently on wild values)."""
    env = dict(os.environ, JSIMD_FORCENONE="1")
    res = subprocess.run(["djpeg", "-pnm", *args, str(path)], capture_output=True, env=env)
    assert res.returncode in (0, 2), res.stderr                     # 2: decoded with warnings
    return read_pnm(res.stdout)


@needs_tools
@pytest.mark.parametrize("name", ["gen-420-progressive.jpg", "ijg-testimgp-progressive.jpg",
                                  "gen-gray-progressive.jpg", "gen-420-progressive-arithmetic.jpg"])
def test_smoothing_of_truncated_files_matches_djpeg(tmp_path, name):
    """Truncated progressive files: rows the last scan did not reach use the state before it."""
    data = (DATA / name).read_bytes()
    compared = smoothed = 0
    for frac in (0.07, 0.2, 0.36, 0.39, 0.55, 0.8, 0.97):
        path = tmp_path / "cut.jpg"
        path.write_bytes(data[: int(len(data) * frac)])
        try:
            c = _quiet_read(path)
        except JpegError:
            continue
        ref = _djpeg_c_idct(path)
        if ref.shape[2] == 1:
            ref = np.repeat(ref, 3, axis=2)
        np.testing.assert_array_equal(c.to_rgb(), ref, err_msg=f"{name} cut at {frac}")
        compared += 1
        smoothed += not np.array_equal(c.to_rgb(smoothing=False), ref)
    assert compared >= 5 and smoothed >= compared // 2


# -- one-component files declaring sampling factors ------------------------------------------------
@pytest.mark.parametrize("name", ["gray-600x400-sampling-1x2.jpg", "gray-600x400-sampling-2x1.jpg",
                                  "gray-600x400-sampling-4x1.jpg"])
@pytest.mark.parametrize("layout", ["blocks", "channels"])
def test_gray_with_declared_sampling_has_its_true_grid(name, layout):
    c = jpegcoef.read(DATA / name, layout=layout)
    comp = c.components[0]
    assert comp.sampling != (1, 1)
    assert comp.coefficients.shape[:2] == comp.blocks == (-(-c.height // 8), -(-c.width // 8))
    same = jpegcoef.read(DATA / name, layout=layout, max_height=c.height)
    cropped = transforms.crop(c, 0, 0, c.height, c.width)
    assert same.components[0].coefficients.shape == cropped.components[0].coefficients.shape
    np.testing.assert_array_equal(same.components[0].coefficients, cropped.components[0].coefficients)
    np.testing.assert_array_equal(c.to_rgb(), jpegcoef.decode_rgb(DATA / name))
    again = jpegcoef.read(jpegcoef.write(c))
    np.testing.assert_array_equal(again.components[0].coefficients, comp.coefficients)


@needs_tools
def test_gray_2x2_every_coding(tmp_path):
    for coding in ([], ["-progressive"], ["-arithmetic"]):
        path = _cjpeg(tmp_path, "g", 61, 45, ["-grayscale", "-sample", "2x2", *coding])
        for layout in ("blocks", "channels"):
            c = jpegcoef.read(path, layout=layout)
            assert c.components[0].sampling == (2, 2)
            assert c.components[0].coefficients.shape[:2] == (6, 8)
            for h in (45, 100):
                assert jpegcoef.read(path, layout=layout, max_height=h).components[0].coefficients.shape == \
                    transforms.crop(c, 0, 0, 45, 61).components[0].coefficients.shape
            np.testing.assert_array_equal(c.to_rgb(), jpegcoef.decode_rgb(path))


# -- a quantisation table that is never defined ----------------------------------------------------
def _segments(data: bytes) -> list:
    """[(marker, start, end)] of a JPEG's segments; a scan includes its entropy-coded data."""
    out, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            out.append((marker, i, i + 2))
            break
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0,) + tuple(range(0xD0, 0xD8))):
                end += 1
        out.append((marker, i, end))
        i = end
    return out


@pytest.fixture(scope="module")
def undefined_table(tmp_path_factory):
    """A 3-component sequential file whose chroma table (slot 1) is never defined and whose
    chroma scans are gone: libjpeg's full decode accepts it (flat chroma), without a warning."""
    if not (have("cjpeg") and have("jpegtran")):
        pytest.skip("libjpeg-turbo-progs not installed")
    tmp = tmp_path_factory.mktemp("noq")
    src = _cjpeg(tmp, "src", 50, 40, ["-sample", "2x2"])
    multi = _scans(tmp, src, "0;\n1;\n2;\n", "multi")                # one component per scan
    data = multi.read_bytes()
    keep, scans = [data[:2]], 0
    for marker, a, b in _segments(data):
        if marker == 0xDB and data[a + 4] & 0x0F == 1:
            continue                                                 # the chroma table
        if marker == 0xDA:
            scans += 1
            if scans > 1:
                continue                                             # chroma scans
        keep.append(data[a:b])
    path = tmp / "undefined-table.jpg"
    path.write_bytes(b"".join(keep))
    return path


def test_undefined_table_read_as_djpeg_decodes(undefined_table):
    if have("djpeg"):
        res = subprocess.run(["djpeg", "-pnm", str(undefined_table)], capture_output=True)
        assert res.returncode == 0 and not res.stderr              # djpeg: data, no complaint
    with pytest.warns(JpegWarning, match="table 0x01 of component 1 is not defined"):
        c = jpegcoef.read(undefined_table)
    assert len(c.warnings) == 2
    assert c.components[0].quant.any()
    for comp in c.components[1:]:
        assert not comp.quant.any() and not comp.coefficients.any()
    np.testing.assert_array_equal(c.to_rgb(), jpegcoef.decode_rgb(undefined_table))
    with pytest.raises(JpegError, match="not defined"):
        jpegcoef.read(undefined_table, strict=True)
    with pytest.raises(JpegError, match="1..65535"):                  # nothing to write it with
        jpegcoef.write(c)


def test_undefined_table_header_only_and_channels(undefined_table):
    with pytest.warns(JpegWarning, match="not defined"):
        ch = jpegcoef.read(undefined_table, layout="channels")
    assert not ch.components[2].channels().any()
    with pytest.warns(JpegWarning, match="not defined"):
        info = jpegcoef.read(undefined_table, max_height=16)
    assert info.height == 16


# -- write ------------------------------------------------------------------------------------------
def test_write_arithmetic_optimize_names_the_cause():
    c = jpegcoef.read(DATA / "gen-420-arithmetic.jpg")
    assert c.arithmetic
    with pytest.raises(JpegError, match="arithmetic coding, which has no Huffman tables"):
        jpegcoef.write(c, optimize=True)
    again = jpegcoef.read(jpegcoef.write(c))
    assert again.arithmetic
    np.testing.assert_array_equal(again.components[0].coefficients, c.components[0].coefficients)
