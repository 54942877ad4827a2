"""The reader's result objects: Component objects are made on first access, but behave exactly
as eagerly made ones (pickle, copy, replace, threads, buffer lifetime)."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import threading

import numpy as np
import pytest

import jpegcoef
from jpegcoef import Coefficients, Component

from conftest import DATA

FILES = ["gen-420-odd-477x355.jpg", "gen-gray.jpg", "pillow-pil_sample_cmyk.jpg",
         "gen-420-progressive.jpg"]


def _same(a: Coefficients, b: Coefficients) -> None:
    assert (a.width, a.height, a.colorspace, a.progressive, a.arithmetic, a.orientation, a.warnings) == \
        (b.width, b.height, b.colorspace, b.progressive, b.arithmetic, b.orientation, b.warnings)
    assert len(a.components) == len(b.components)
    for x, y in zip(a.components, b.components):
        assert isinstance(x, Component)
        assert x.coefficients.shape == y.coefficients.shape
        assert np.array_equal(x.coefficients, y.coefficients)
        assert np.array_equal(x.channels(), y.channels())
        assert np.array_equal(x.quant, y.quant) and x.quant.shape == (8, 8)
        assert x.sampling == y.sampling and x.blocks == y.blocks


def _eager(c: Coefficients) -> Coefficients:
    """A plain Coefficients with copies of everything (built through the public constructors)."""
    comps = [Component(x.coefficients.copy(), x.quant.copy(), x.sampling, x.blocks) for x in c.components]
    return Coefficients(c.width, c.height, comps, c.colorspace, c.progressive, c.arithmetic,
                        c.orientation, list(c.warnings))


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("layout", ["blocks", "channels"])
def test_lazy_result_behaves_like_a_plain_one(name, layout):
    data = (DATA / name).read_bytes()
    ref = _eager(jpegcoef.read(data))
    c = jpegcoef.read(data, layout=layout)
    assert isinstance(c, Coefficients)
    comps = c.components
    assert c.components is comps                       # made once
    _same(c, ref)
    assert (c.y is None) == (ref.y is None)
    for obj in (pickle.loads(pickle.dumps(jpegcoef.read(data, layout=layout))),
                copy.deepcopy(jpegcoef.read(data, layout=layout)),
                copy.copy(jpegcoef.read(data, layout=layout)),
                dataclasses.replace(jpegcoef.read(data, layout=layout)),
                jpegcoef.read(data, layout=layout).replace(orientation=1)):
        _same(obj, ref)
    comp = jpegcoef.read(data, layout=layout).components[0]
    _same(Coefficients(c.width, c.height, [pickle.loads(pickle.dumps(comp))] + c.components[1:],
                       c.colorspace, c.progressive, c.arithmetic, c.orientation, c.warnings), ref)
    if layout == "channels":
        ch = comp.channels()
        assert ch.flags.c_contiguous and ch.shape[0] == 64
        assert np.shares_memory(comp.coefficients, ch)   # the view, not a copy
    with pytest.raises(AttributeError):
        c.no_such_attribute                               # noqa: B018
    with pytest.raises(AttributeError):
        comp.no_such_attribute                            # noqa: B018
    assert "Coefficients(" in repr(c) and "Component(" in repr(c.components[0])


def test_components_made_once_across_threads():
    c = jpegcoef.read(DATA / "gen-420-odd-477x355.jpg")
    got = []
    barrier = threading.Barrier(8)

    def touch():
        barrier.wait()
        got.append(c.components)

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(g is got[0] for g in got)
    assert c.components is got[0]
    # The interleaving the threads above rarely hit, made by hand: thread A has seen the lazy
    # state, thread B makes the components first; A must then return B's list, not a second one.
    c = jpegcoef.read(DATA / "gen-420-odd-477x355.jpg")
    lazy = c.__dict__["_lazy"]
    first = c.components                                     # B
    c.__dict__["_lazy"] = lazy                               # A still holds the lazy state
    assert c.__getattr__("components") is first              # A
    assert c.components is first and "_lazy" not in c.__dict__


def test_buffer_lifetime_with_lazy_components():
    """The C buffer lives as long as the result or any array over it. With the pool on, reads of
    another image of the same size (which would be handed a wrongly recycled buffer) leave an
    array over a dropped result intact; a result that is never touched gives its buffer back."""
    from jpegcoef._jpegcoef_cffi import lib

    previous = jpegcoef.set_buffer_pool(256 << 20)
    try:
        data = (DATA / "gen-420-odd-477x355.jpg").read_bytes()
        other = (DATA / "gen-420-q5.jpg").read_bytes()          # same size, other coefficients
        ref = jpegcoef.read(data).components[0].coefficients.copy()
        assert not np.array_equal(ref, jpegcoef.read(other).components[0].coefficients)
        y = jpegcoef.read(data).components[0].coefficients   # the result object is gone already
        gc.collect()
        for _ in range(20):                                  # buffers released and reused
            jpegcoef.read(other)
        assert np.array_equal(y, ref)
        gc.collect()
        c = jpegcoef.read(other)                             # takes a pooled buffer
        kept = lib.jc_pool_size()
        del c                                                # never touched: back to the pool
        gc.collect()
        assert lib.jc_pool_size() > kept
    finally:
        jpegcoef.set_buffer_pool(previous)
