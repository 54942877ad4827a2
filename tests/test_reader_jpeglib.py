"""Coefficients, block counts and quantisation tables equal an independent reader's (jpeglib).

jpeglib (libjpeg-turbo 2.1.0 built into its own extension) is an optional test dependency; these
tests skip cleanly without it. Only files djpeg decodes cleanly are given to it (it may crash the
process on damaged ones).
"""

from __future__ import annotations

import numpy as np
import pytest

import jpegcoef

from conftest import DATA, OK_FILES

jpeglib = pytest.importorskip("jpeglib")


@pytest.fixture(scope="module", autouse=True)
def _turbo210():
    jpeglib.version.set("turbo210")


def _compare(path):
    ours = jpegcoef.read(path)
    ref = jpeglib.read_dct(str(path))
    ref_arrays = [a for a in (ref.Y, ref.Cb, ref.Cr) if a is not None]
    if ref.has_black:
        ref_arrays.append(ref.K)
    assert len(ref_arrays) == len(ours.components)
    assert (ours.height, ours.width) == (ref.height, ref.width)
    for i, (comp, a) in enumerate(zip(ours.components, ref_arrays)):
        hb, wb = comp.blocks
        assert a.shape == (hb, wb, 8, 8), f"component {i}: block count"
        np.testing.assert_array_equal(comp.coefficients[:hb, :wb], a, err_msg=f"component {i}")
        np.testing.assert_array_equal(comp.quant, ref.qt[ref.quant_tbl_no[i]], err_msg=f"quant {i}")
        v, h = (int(s) for s in ref.samp_factor[i])     # jpeglib gives (v, h)
        assert comp.sampling == (h, v)
    return ours


@pytest.mark.parametrize("name", OK_FILES)
def test_edge_cases_equal_jpeglib(name):
    _compare(DATA / name)


def test_generated_equal_jpeglib(generated):
    seen = set()
    for key, path in generated.items():
        c = _compare(path)
        seen.add((tuple(x.sampling for x in c.components), c.progressive, c.arithmetic))
    assert len(seen) == len(generated)           # every subsampling x coding really differs
