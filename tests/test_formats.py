"""Model input formats and the conversions to 4:2:0 (jpegcoef.formats)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jpegcoef.channels import SUBSETS
from jpegcoef import Coefficients, Component, convert as Cv, dctmaps as M, formats as F

C8 = M.dct_matrix()


def idct(a: np.ndarray) -> np.ndarray:
    """Pixels (level-shifted) of dequantised blocks (Hb, Wb, 8, 8), orthonormal IDCT."""
    p = np.einsum("ri,yxrc,cj->yixj", C8, a, C8)
    return p.reshape(a.shape[0] * 8, a.shape[1] * 8)


def dct(p: np.ndarray) -> np.ndarray:
    b = p.reshape(p.shape[0] // 8, 8, p.shape[1] // 8, 8)
    return np.einsum("ri,yixj,cj->yxrc", C8, b, C8)


def _coeffs(width, height, sampling, colorspace="ycbcr", seed=0, quant=None):
    rng = np.random.default_rng(seed)
    hmax, vmax = max(s[0] for s in sampling), max(s[1] for s in sampling)
    my, mx = -(-height // (8 * vmax)), -(-width // (8 * hmax))
    comps = []
    for h, v in sampling:
        a = rng.integers(-40, 40, (my * v, mx * h, 8, 8))
        q = rng.integers(1, 8, (8, 8)) if quant is None else quant
        comps.append(Component(a, q, (h, v)))
    return Coefficients(width, height, comps, colorspace=colorspace)


def test_subsets_match_design():
    assert SUBSETS[24]["y"] == (0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
    assert SUBSETS[24]["c"] == (0, 1, 8, 9)
    assert SUBSETS[32]["y"][-3:] == (32, 33, 34) and SUBSETS[32]["c"] == (0, 1, 2, 8, 9)
    assert SUBSETS[48]["c"] == (0, 1, 2, 8, 9, 10, 16, 17)
    assert SUBSETS[64]["y"][-6:] == (48, 49, 50, 51, 52, 53) and SUBSETS[64]["c"][-2:] == (24, 25)
    for n, s in SUBSETS.items():
        assert len(s["y"]) + 2 * len(s["c"]) == n


def test_resampling_is_exact_in_pixels():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 50, (4, 8, 8, 8))
    p = idct(a)
    down = M.resample_axis(M.resample_axis(a, 0, 0.5), 1, 0.5)
    np.testing.assert_allclose(idct(down), p.reshape(16, 2, 32, 2).mean((1, 3)), atol=1e-9)
    up = M.resample_axis(M.resample_axis(a, 0, 2.0), 1, 4.0)
    np.testing.assert_allclose(idct(up), np.repeat(np.repeat(p, 2, 0), 4, 1), atol=1e-9)
    down4 = M.resample_axis(a, 1, 0.25)
    np.testing.assert_allclose(idct(down4), p.reshape(32, 16, 4).mean(2), atol=1e-9)
    # odd grids are edge-padded before downsampling
    assert M.resample_axis(a[:3], 0, 0.5).shape == (2, 8, 8, 8)


def test_upsample_matrix_is_pixel_replication():
    x = np.random.default_rng(1).normal(0, 30, (1, 1, 8, 8))
    m = M.upsample_matrix()
    blocks = np.einsum("ijrs,s->ijr", m, x.reshape(64)).reshape(2, 2, 8, 8)
    np.testing.assert_allclose(idct(blocks), np.repeat(np.repeat(idct(x), 2, 0), 2, 1), atol=1e-9)


@pytest.mark.parametrize("sampling,kind", [
    (((1, 1), (1, 1), (1, 1)), "444"), (((2, 1), (1, 1), (1, 1)), "422"),
    (((1, 2), (1, 1), (1, 1)), "440"), (((4, 1), (1, 1), (1, 1)), "411"),
    (((2, 2), (1, 2), (2, 1)), "h2v2-h1v2-h2v1")])
def test_to_420_chroma_is_box_average_of_full_resolution(sampling, kind):
    c = _coeffs(64, 32, sampling)
    out, k = Cv.to_420(c)
    assert k == kind and Cv.sampling_kind(out) == "420"
    y, cb, cr = out.components
    assert y.shape == (4, 8) and cb.shape == (2, 4) and cb.blocks == (2, 4)
    hmax, vmax = max(s[0] for s in sampling), max(s[1] for s in sampling)
    for i, comp in ((1, cb), (2, cr)):
        src = c.components[i]
        h, v = src.sampling
        full = np.repeat(np.repeat(idct(src.dequantize().astype(np.float64)), vmax // v, 0), hmax // h, 1)
        want = full.reshape(16, 2, 32, 2).mean((1, 3))
        got = idct(comp.dequantize().astype(np.float64))
        # coefficients are rounded to integers (all-ones table): pixel errors of a fraction of a level
        err = np.abs(got - want)
        assert err.max() < 1.5 and err.mean() < 0.35
        assert comp.quant.max() == 1
    if sampling[0] == (hmax, vmax):  # luma untouched
        np.testing.assert_array_equal(y.coefficients, c.components[0].coefficients)
        np.testing.assert_array_equal(y.quant, c.components[0].quant)


def test_to_420_gray_and_rgb():
    g = _coeffs(40, 24, [(1, 1)], colorspace="gray")
    out, kind = Cv.to_420(g)
    assert kind == "gray" and [c.shape for c in out.components] == [(4, 6), (2, 3), (2, 3)]
    np.testing.assert_array_equal(out.y.coefficients[:3, :5], g.components[0].coefficients)
    assert not out.cb.coefficients.any() and not out.cr.coefficients.any()

    rgb = _coeffs(32, 32, [(1, 1)] * 3, colorspace="rgb")
    out, kind = Cv.to_420(rgb)
    assert kind == "rgb"
    r, gr, b = (idct(c.dequantize().astype(np.float64)) for c in rgb.components)
    np.testing.assert_allclose(idct(out.y.dequantize().astype(np.float64)), 0.299 * r + 0.587 * gr + 0.114 * b,
                               atol=1.5)
    cb = (-0.168735892 * r - 0.331264108 * gr + 0.5 * b).reshape(16, 2, 16, 2).mean((1, 3))
    np.testing.assert_allclose(idct(out.cb.dequantize().astype(np.float64)), cb, atol=1.5)

    with pytest.raises(ValueError, match="src="):
        Cv.to_420(_coeffs(16, 16, [(1, 1)] * 4, colorspace="cmyk"))
    assert Cv.to_420(out)[0] is out  # 4:2:0 passes through


@pytest.mark.parametrize("sampling,colorspace", [
    ([(1, 1)] * 3, "ycbcr"), ([(2, 1), (1, 1), (1, 1)], "ycbcr"), ([(1, 2), (1, 1), (1, 1)], "ycbcr"),
    ([(2, 2), (1, 2), (2, 1)], "ycbcr"), ([(1, 1)], "gray"), ([(2, 2), (1, 1), (1, 1)], "ycbcr")])
def test_host_window_converts_windows_like_to_420(sampling, colorspace):
    """host_window of a gray/4:4:4/4:2:2/4:4:0/mixed image == host(hflip(pad(to_420(crop(c))))),
    bit for bit, for windows of whole MCUs anywhere, flipped or not, padded or not."""
    from jpegcoef import transforms as T

    c = _coeffs(100, 84, sampling, colorspace=colorspace, seed=len(sampling))  # 5x6 whole MCUs
    assert Cv.window_fusable(c)
    fmts = (F.get("dctnet", channels=24), F.get("gueguen"), F.get("dctnet", channels=48, upsample="dct"))
    for top, left, rows, cols, size, pad in ((0, 0, 2, 2, 2, (0, 0)), (3, 4, 2, 2, 2, (0, 0)),
                                             (1, 2, 4, 3, 4, (0, 0)), (2, 1, 3, 2, 4, (1, 1))):
        crop = T.crop(c, top * 16, left * 16, rows * 16, cols * 16)
        conv, _ = Cv.to_420(crop)
        for flip in (False, True):
            for fmt in fmts:
                got = fmt.host_window(c, top, left, rows, cols, size, pad, flip)
                want = fmt.host_window(conv, 0, 0, rows, cols, size, pad, flip)
                assert got.keys() == want.keys()
                for k in want:
                    np.testing.assert_array_equal(got[k], want[k], err_msg=f"{sampling} {top},{left} {flip} {k}")
                if size == rows == cols:
                    ref = fmt.host(T.hflip(conv) if flip else conv)
                    for k in ref:
                        np.testing.assert_array_equal(got[k], ref[k])
    fmt = fmts[0]
    if Cv.sampling_kind(c) != "420":  # a window reaching into the partial last MCU is refused
        with pytest.raises(ValueError, match="whole MCUs"):
            fmt.host_window(c, 4, 0, 2, 2, 2)
    odd = _coeffs(64, 32, [(4, 1), (1, 1), (1, 1)])
    assert not Cv.window_fusable(odd) and not Cv.window_fusable(_coeffs(32, 32, [(1, 1)] * 3, colorspace="rgb"))
    with pytest.raises(ValueError, match="411"):
        fmt.host_window(odd, 0, 0, 1, 1, 1)


@pytest.mark.parametrize("fy,fx", [(2, 2), (2, 1), (1, 2), (1, 1)])
@pytest.mark.parametrize("qmax", [8, 255, 65535])
def test_exact_chroma_downsampling_does_not_depend_on_what_else_is_computed(fy, fx, qmax):
    """The 4:2:0 chroma conversion is exact in float64: a block's value is the same bits whether
    computed alone, in a window or the whole grid, for one frequency or all 64 -- also for
    extreme int16 coefficients and 16-bit quantisation tables -- and it matches a float64
    evaluation of the box average to far below the integer rounding."""
    rng = np.random.default_rng(fy * 10 + fx + qmax)
    x = rng.integers(-300, 300, (6 * fy, 8 * fx, 8, 8)).astype(np.int16)
    x[0, 0] = 32767
    x[1, 2, :4] = -32768
    q = rng.integers(1, qmax + 1, (8, 8)).astype(np.uint16)
    q[0, 0] = qmax
    full = M.downsample_exact(x, q, fy, fx, tuple(range(64)))  # (6*8, 64)
    grid = full.reshape(6, 8, 64)
    for sel in ((0, 1, 8, 9), (63,), (9, 0, 17, 2, 40)):
        for top, left, h, w in ((0, 0, 6, 8), (1, 3, 2, 4), (5, 7, 1, 1)):
            win = x[top * fy:(top + h) * fy, left * fx:(left + w) * fx]
            got = M.downsample_exact(win, q, fy, fx, sel).reshape(h, w, len(sel))
            np.testing.assert_array_equal(got, grid[top:top + h, left:left + w][:, :, list(sel)])
    a = x.astype(np.float64) * q
    want = M.resample_axis(M.resample_axis(a, 0, 1 / fy), 1, 1 / fx).reshape(6, 8, 64)
    scale = np.abs(a).reshape(6, fy, 8, fx, 64).sum((1, 3, 4))[:, :, None]  # sum |coef * q| per group
    assert np.all(np.abs(grid - want) <= scale * 2.0 ** -(M.exact_bits(fy, fx, qmax) - 1) + 1e-9)


def test_to_420_equals_the_window_path_on_whole_images():
    """to_420 of a whole (odd-sized) image and host_window's selected channels agree bit for bit
    for every layout the window path converts."""
    fmt = F.get("dctnet", channels=48)
    for sampling in ([(1, 1)] * 3, [(2, 1), (1, 1), (1, 1)], [(1, 2), (1, 1), (1, 1)], [(2, 2), (1, 2), (2, 1)]):
        c = _coeffs(88, 40, sampling, seed=3, quant=np.full((8, 8), 255))  # 5.5 x 2.5 MCUs
        c.components[1].coefficients[0, 0, 0, 0] = -32768
        conv, _ = Cv.to_420(c)
        for flip in (False, True):
            got = fmt.host_window(c, 0, 0, 2, 5, 5, (1, 0), flip)
            want = fmt.host_window(conv, 0, 0, 2, 5, 5, (1, 0), flip)
            for k in want:
                np.testing.assert_array_equal(got[k], want[k], err_msg=f"{sampling} {k} {flip}")


def _batch(fmt, n=2, size=32, seed=0):
    cs = [_coeffs(size, size, [(2, 2), (1, 1), (1, 1)], seed=seed + i) for i in range(n)]
    return cs, fmt.collate([fmt.host(c) for c in cs])


def test_dctnet_repeat_values_and_bytes():
    stats = {"mean": np.linspace(-5, 5, 192).tolist(), "std": np.linspace(1, 3, 192).tolist()}
    fmt = F.get("dctnet", channels=24, upsample="repeat", stats=stats)
    cs, batch = _batch(fmt)
    assert batch["y"].dtype == torch.int16 and tuple(batch["y"].shape) == (2, 16, 4, 4)
    assert tuple(batch["cb"].shape) == (2, 4, 2, 2)
    assert fmt.bytes_per_image(batch) == 16 * 16 * 2 + 2 * 4 * 4 * 2 + 3 * 64 * 2
    x = fmt.device(batch)
    assert x.shape == (2, 24, 4, 4) and x.dtype == torch.float32
    mean, std = np.array(stats["mean"]), np.array(stats["std"])
    c = cs[1]
    for k, f in enumerate(SUBSETS[24]["y"]):
        r, col = divmod(f, 8)
        want = (c.y.coefficients[:, :, r, col] * c.y.quant[r, col] - mean[f]) / std[f]
        np.testing.assert_allclose(x[1, k].numpy(), want, rtol=1e-5, atol=1e-4)
    for k, f in enumerate(SUBSETS[24]["c"]):
        r, col = divmod(f, 8)
        want = (c.cr.coefficients[:, :, r, col] * c.cr.quant[r, col] - mean[128 + f]) / std[128 + f]
        np.testing.assert_allclose(x[1, 20 + k].numpy(), np.repeat(np.repeat(want, 2, 0), 2, 1), rtol=1e-5, atol=1e-4)


def test_dctnet_dct_upsampling_matches_numpy_resampling():
    stats = {"mean": [0.0] * 192, "std": [1.0] * 192}
    fmt = F.get("dctnet", channels=48, upsample="dct", stats=stats)
    cs, batch = _batch(fmt)
    assert tuple(batch["cb"].shape) == (2, 64, 2, 2)  # all chroma channels cross to the device
    x = fmt.device(batch)
    assert x.shape == (2, 48, 4, 4)
    up = M.resample_axis(M.resample_axis(cs[0].cb.dequantize().astype(np.float64), 0, 2.0), 1, 2.0)
    for k, f in enumerate(SUBSETS[48]["c"]):
        r, col = divmod(f, 8)
        np.testing.assert_allclose(x[0, 32 + k].numpy(), up[:, :, r, col], rtol=1e-4, atol=1e-3)


def test_gueguen_and_rgb_shapes():
    fmt = F.get("gueguen")
    cs, batch = _batch(fmt, size=48)
    y, cbcr = fmt.device(batch)
    assert y.shape == (2, 64, 6, 6) and cbcr.shape == (2, 128, 3, 3)
    assert fmt.bytes_per_image(batch) == (64 * 36 + 2 * 64 * 9) * 2 + 384
    mean, std = F.load_stats(None)
    want = (cs[0].cb.dequantize()[:, :, 0, 1] - mean[65]) / std[65]
    np.testing.assert_allclose(cbcr[0, 1].numpy(), want, rtol=1e-5, atol=1e-4)

    rgb = F.get("rgb")
    px = np.random.default_rng(0).integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
    batch = rgb.collate([rgb.host(p) for p in px])
    assert rgb.bytes_per_image(batch) == 20 * 24 * 3
    out = rgb.device(batch)
    assert out.shape == (2, 3, 20, 24)
    np.testing.assert_allclose(out[1, 2].numpy(), (px[1, :, :, 2] / 255 - 0.406) / 0.225, rtol=1e-5, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="unknown format"):
        F.get("jpeg2dct")
    with pytest.raises(ValueError, match="channels"):
        F.get("dctnet", channels=25)
    with pytest.raises(TypeError, match="unknown format options"):
        F.get("dctnet", chanels=24)
    with pytest.raises(ValueError, match="192"):
        F.get("gueguen", stats={"mean": [0] * 64, "std": [1] * 64})
    with pytest.raises(ValueError, match="positive"):
        F.get("gueguen", stats={"mean": [0] * 192, "std": [0] * 192})
    fmt = F.get("dctnet", channels=24)
    with pytest.raises(ValueError, match="differ in shape"):
        fmt.collate([fmt.host(_coeffs(32, 32, [(2, 2), (1, 1), (1, 1)])),
                     fmt.host(_coeffs(48, 32, [(2, 2), (1, 1), (1, 1)]))])
    with pytest.raises(TypeError):
        fmt.host(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        F.get("rgb").host(np.zeros((8, 8), np.uint8))


def test_default_stats_are_sane():
    mean, std = F.load_stats(None)
    assert mean.shape == std.shape == (192,)
    # energy falls with frequency: DC spread far above the highest frequency's, per component
    for k in range(3):
        assert std[64 * k] > 10 * std[64 * k + 63]


def _decoded_luma_block_means(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        y = np.asarray(im.convert("RGB").convert("YCbCr"), np.float64)[..., 0]
    h, w = (y.shape[0] // 16) * 16, (y.shape[1] // 16) * 16
    return y[:h, :w].reshape(h // 8, 8, w // 8, 8).mean((1, 3))


def _dc_levels(c) -> np.ndarray:
    """Mean pixel level of each luma block from its DC coefficient (DC = 8 * (mean - 128))."""
    return c.y.dequantize()[:, :, 0, 0].astype(np.float64) / 8 + 128


def test_real_cmyk_and_rgb_files_convert(tmp_path):
    import shutil
    import subprocess

    import jpegcoef
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    px = np.stack([128 + 100 * np.sin(xx / 9 + k) * np.cos(yy / 7) for k in range(3)], -1)
    px = np.clip(px + rng.normal(0, 3, px.shape), 0, 255).astype(np.uint8)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(px).convert("CMYK").save(cmyk, quality=95)
    c = jpegcoef.read(cmyk)
    assert c.colorspace in ("cmyk", "ycck")
    out, kind = Cv.to_420(c, src=cmyk)
    assert kind == c.colorspace and Cv.sampling_kind(out) == "420"
    want = _decoded_luma_block_means(cmyk)
    assert np.abs(_dc_levels(out)[: want.shape[0], : want.shape[1]] - want).mean() < 2.0

    cjpeg = shutil.which("cjpeg")
    if cjpeg is None:
        pytest.skip("cjpeg (libjpeg-turbo-progs) not installed: no RGB-colourspace JPEG to test")
    ppm = tmp_path / "x.ppm"
    Image.fromarray(px).save(ppm)
    rgbfile = tmp_path / "rgb.jpg"
    subprocess.run([cjpeg, "-rgb", "-quality", "95", "-outfile", str(rgbfile), str(ppm)], check=True)
    c = jpegcoef.read(rgbfile)
    assert c.colorspace == "rgb"
    out, kind = Cv.to_420(c)
    assert kind == "rgb" and Cv.sampling_kind(out) == "420"
    want = _decoded_luma_block_means(rgbfile)
    assert np.abs(_dc_levels(out)[: want.shape[0], : want.shape[1]] - want).max() < 1.5


@pytest.mark.parametrize("sample", ["4x1,1x1,1x1", "4x2,1x1,1x1", "1x2,1x1,1x1", "2x2,1x2,2x1", "1x1,1x1,1x1"])
def test_real_files_of_every_sampling_match_decoded_pixels(tmp_path, sample):
    """Block means of the converted Y, Cb, Cr equal those of libjpeg's decode (via Pillow)."""
    import shutil
    import subprocess

    import jpegcoef
    from PIL import Image

    cjpeg = shutil.which("cjpeg")
    if cjpeg is None:
        pytest.skip("cjpeg (libjpeg-turbo-progs) not installed")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:70, 0:99]
    px = np.stack([128 + 100 * np.sin(xx / (6 + 3 * k)) * np.cos(yy / (5 + k)) for k in range(3)], -1)
    px = np.clip(px + rng.normal(0, 4, px.shape), 0, 255).astype(np.uint8)
    Image.fromarray(px).save(tmp_path / "x.ppm")
    path = tmp_path / "x.jpg"
    subprocess.run([cjpeg, "-sample", sample, "-quality", "95", "-outfile", str(path), str(tmp_path / "x.ppm")],
                   check=True)
    c = jpegcoef.read(path)
    out, kind = Cv.to_420(c)
    assert Cv.sampling_kind(out) == "420" and (kind == "420") == (sample == "2x2,1x1,1x1")
    with Image.open(path) as im:
        ycc = np.asarray(im.convert("RGB").convert("YCbCr"), np.float64)
    h, w = 64, 96
    for i, comp in enumerate(out.components):
        f = 8 if i == 0 else 16
        means = ycc[:h, :w, i].reshape(h // f, f, w // f, f).mean((1, 3))
        dc = comp.dequantize()[: h // f, : w // f, 0, 0] / 8 + 128
        assert np.abs(dc - means).mean() < 1.0, (sample, i)
        assert np.abs(dc - means).max() < 3.0, (sample, i)
