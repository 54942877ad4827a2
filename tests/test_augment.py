"""jpegcoef.augment against pixel-domain references: block IDCT -> op in pixels (PyTorch's
F.interpolate, torch.flip, torchvision's colour formulas written out here) -> block DCT."""
from __future__ import annotations

import colorsys
import math
import pathlib
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jpegcoef
from jpegcoef import augment as A
from jpegcoef.dctmaps import dct_matrix

DATA = pathlib.Path(__file__).parent / "data"
BOUND = 1e-5  # the documented bound: max abs error <= BOUND * max|x|
SUBSAMPLED = ["gen-420-odd-477x355.jpg", "gen-444-odd-477x355.jpg", "gen-422-odd-477x355.jpg",
              "gen-440-odd-477x355.jpg", "gen-411-odd-477x355.jpg", "gen-410-odd-477x355.jpg",
              "gen-mixed-2x2-1x2-2x1.jpg", "gen-7x9.jpg", "gen-gray.jpg", "gray-600x400-sampling-1x2.jpg"]
WORST: dict = {}  # measured error ratios, printed after the module's tests (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def print_measured_errors():
    yield
    print("\nmeasured max abs error / max|x| (or as named):")
    for k, v in sorted(WORST.items()):
        print(f"  {k}: {v:.3g}")


def planes_of(name: str) -> list:
    """Dequantised components of a bundled file as float32 (1, 64, Hb, Wb) tensors."""
    c = jpegcoef.read(DATA / name)
    return [torch.from_numpy(d.reshape(d.shape[0], d.shape[1], 64)).permute(2, 0, 1)[None].contiguous()
            for d in c.dequantize()]


def random_planes(n: int, hb: int, wb: int, seed: int) -> torch.Tensor:
    """Blocks with random DC (a blocky image: a hard case for the filter) and decaying AC."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 64, hb, wb, generator=g) * 60 / (1 + torch.arange(64.0)[None, :, None, None] ** 0.5)
    x[:, 0] = torch.rand(n, hb, wb, generator=g) * 2000 - 1000
    return x


def ref_resized_crop(x: torch.Tensor, boxes, oh: int, ow: int, aa: bool) -> torch.Tensor:
    """The contract's reference: crop the pixels, F.interpolate, block DCT."""
    p = A.block_idct(x)
    out = []
    for i, (t, left, h, w) in enumerate(torch.as_tensor(boxes).tolist()):
        c = p[i:i + 1, None, t:t + h, left:left + w]
        r = F.interpolate(c, size=(8 * oh, 8 * ow), mode="bilinear", antialias=aa, align_corners=False)
        out.append(A.block_dct(r[:, 0]))
    return torch.cat(out)


def err(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, key: str) -> float:
    e = float((a - b).abs().max() / x.abs().max())
    WORST[key] = max(WORST.get(key, 0.0), e)
    return e


# ------------------------------------------------------------------------------------------------
def test_block_transforms_match_numpy_float64():
    x = random_planes(2, 3, 5, 0)
    c = dct_matrix(8)
    xb = x.double().numpy().reshape(2, 8, 8, 3, 5).transpose(0, 3, 4, 1, 2)
    pix = np.einsum("ur,nbcuv,vs->nbrcs", c, xb, c).reshape(2, 24, 40)
    p = A.block_idct(x)
    assert p.shape == (2, 24, 40) and p.dtype == torch.float32
    assert np.abs(p.double().numpy() - pix).max() <= 1e-6 * np.abs(pix).max()
    back = A.block_dct(p)
    assert back.shape == x.shape and float((back - x).abs().max()) <= 1e-6 * float(x.abs().max())


CASES = [  # (hb, wb, boxes (one per sample), (oh, ow))
    (5, 7, [[0, 0, 40, 56], [3, 5, 30, 20], [10, 1, 7, 55], [33, 50, 7, 6]], (3, 4)),       # down, up, mixed
    (5, 7, [[0, 0, 40, 56], [0, 55, 40, 1], [39, 0, 1, 56], [17, 23, 1, 1]], (6, 9)),       # borders, 1 px
    (9, 3, [[0, 0, 72, 24], [1, 2, 70, 21], [40, 0, 32, 24], [0, 9, 13, 15]], (1, 1)),       # to one block
    (13, 11, [[5, 7, 99, 81], [0, 0, 104, 88], [2, 80, 100, 8], [50, 3, 9, 85]], (7, 5)),    # aspect changes
    (40, 40, [[0, 0, 320, 320], [13, 29, 211, 160], [100, 0, 220, 77], [0, 250, 57, 70]], (28, 28)),
]


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_resized_crop_equals_pixel_reference(case, antialias):
    hb, wb, boxes, (oh, ow) = CASES[case]
    x = random_planes(len(boxes), hb, wb, case)
    for b in (torch.tensor(boxes), np.array(boxes, np.int64), torch.tensor(boxes, dtype=torch.float64)):
        got = A.resized_crop(x, b, (oh, ow), antialias=antialias)
        assert got.shape == (len(boxes), 64, oh, ow) and got.dtype == torch.float32
        assert err(got, ref_resized_crop(x, boxes, oh, ow, antialias), x, "resized_crop") <= BOUND


def test_resized_crop_random_sweep():
    rng = np.random.default_rng(5)
    for trial in range(12):
        hb, wb = (int(v) for v in rng.integers(1, 30, 2))
        oh, ow = (int(v) for v in rng.integers(1, 20, 2))
        boxes = []
        for _ in range(3):
            h, w = int(rng.integers(1, 8 * hb + 1)), int(rng.integers(1, 8 * wb + 1))
            boxes.append([int(rng.integers(0, 8 * hb - h + 1)), int(rng.integers(0, 8 * wb - w + 1)), h, w])
        x = random_planes(3, hb, wb, 100 + trial)
        aa = bool(trial % 2)
        assert err(A.resized_crop(x, boxes, (oh, ow), antialias=aa), ref_resized_crop(x, boxes, oh, ow, aa),
                   x, "resized_crop") <= BOUND


def frac_reference(x: torch.Tensor, boxes, oh: int, ow: int, aa: bool) -> torch.Tensor:
    """The fractional-box definition written out per output pixel in float64: output pixel i at
    top + (i + 0.5) * h / (8*oh) - 0.5, reading the pixels the box overlaps."""
    p = A.block_idct(x).double().numpy()

    def axis(start: float, size: float, n_out: int, n_in: int) -> np.ndarray:
        s, lo, hi = size / n_out, math.floor(start), math.ceil(start + size)
        r = np.zeros((n_out, n_in))
        for i in range(n_out):
            pos = start + (i + 0.5) * s - 0.5
            if aa and s > 1:
                for j in range(lo, hi):
                    r[i, j] = max(0.0, 1 - abs(j - pos) / s)
                r[i] /= r[i].sum()
            else:
                src = min(max(pos, lo), hi - 1)
                j0 = int(math.floor(src))
                r[i, j0] += 1 - (src - j0)
                if src > j0:
                    r[i, j0 + 1] += src - j0
        return r

    out = [axis(t, h, 8 * oh, p.shape[1]) @ p[k] @ axis(left, w, 8 * ow, p.shape[2]).T
           for k, (t, left, h, w) in enumerate(boxes)]
    return A.block_dct(torch.tensor(np.stack(out), dtype=torch.float32))


@pytest.mark.parametrize("antialias", [True, False])
def test_fractional_boxes(antialias):
    x = random_planes(4, 6, 9, 7)
    boxes = [[0.5, 0.0, 47.5, 72.0], [3.25, 10.75, 20.5, 30.0], [0.0, 0.5, 5.5, 3.5],
             [12.5, 33.5, 30.0, 37.5]]
    got = A.resized_crop(x, torch.tensor(boxes), (4, 5), antialias=antialias)
    assert err(got, frac_reference(x, boxes, 4, 5, antialias), x, "fractional") <= BOUND
    # whole-pixel float boxes are the int boxes
    ints = [[0, 0, 48, 72], [3, 10, 21, 31], [1, 1, 4, 2], [12, 33, 30, 38]]
    assert err(A.resized_crop(x, torch.tensor(ints, dtype=torch.float32), (4, 5), antialias=antialias),
               ref_resized_crop(x, ints, 4, 5, antialias), x, "resized_crop") <= BOUND


def test_chroma_box_is_luma_box_halved():
    """JPEG's centred chroma siting: on a linear ramp (which bilinear resampling reproduces
    exactly away from the clamped borders), the 2x2-averaged chroma plane resampled with the
    luma box / 2 equals the 2x2 average of the luma plane resampled with the luma box."""
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(128.0), indexing="ij")
    ramp = (3.0 * yy - 2.0 * xx + 17.0)[None]
    luma = A.block_dct(ramp)
    chroma = A.block_dct(F.avg_pool2d(ramp[:, None], 2)[:, 0])
    boxes = torch.tensor([[10, 6, 64, 96], [1, 3, 93, 120], [0, 0, 96, 128], [21, 17, 70, 101]])
    for oh, ow in ((4, 6), (2, 3), (1, 1)):  # downscale or scale 1: no clamping inside the box
        got = A.resized_crop(chroma.expand(4, -1, -1, -1), boxes.double() / 2, (oh, ow), antialias=False)
        big = A.resized_crop(luma.expand(4, -1, -1, -1), boxes, (2 * oh, 2 * ow), antialias=False)
        want = A.block_dct(F.avg_pool2d(A.block_idct(big)[:, None], 2)[:, 0])
        assert float((got - want).abs().max()) <= 1e-5 * float(luma.abs().max()), (oh, ow)


def test_upsample_chroma():
    for x in (random_planes(3, 5, 4, 3), planes_of("gen-420-odd-477x355.jpg")[1]):
        want = A.block_dct(F.interpolate(A.block_idct(x)[:, None], scale_factor=2, mode="bilinear",
                                         align_corners=False)[:, 0])
        got = A.upsample_chroma(x)
        assert got.shape == (x.shape[0], 64, 2 * x.shape[2], 2 * x.shape[3])
        assert err(got, want, x, "upsample_chroma") <= BOUND


# ------------------------------------------------------------------------------------------------
def ref_resize_center_crop(x: torch.Tensor, short: int, crop: int, sizes, aa: bool) -> torch.Tensor:
    p = A.block_idct(x)
    out = []
    for i, (h, w) in enumerate(sizes):
        rh, rw = (int(short * h / w), short) if w <= h else (short, int(short * w / h))
        r = F.interpolate(p[i:i + 1, None, :h, :w], size=(rh, rw), mode="bilinear", antialias=aa,
                          align_corners=False)
        ct, cl = int(round((rh - crop) / 2.0)), int(round((rw - crop) / 2.0))
        out.append(A.block_dct(r[:, 0, ct:ct + crop, cl:cl + crop]))
    return torch.cat(out)


def test_center_crop_box_known_values():
    # 375x500 -> Resize(256) gives 256x341; CenterCrop(224): top 16, left round(58.5) = 58
    box = A.center_crop_box(375, 500, 256, 224)
    assert box == pytest.approx((16 * 375 / 256, 58 * 500 / 341, 224 * 375 / 256, 224 * 500 / 341))
    assert A.center_crop_box(256, 256, 256, 224) == (16.0, 16.0, 224.0, 224.0)
    with pytest.raises(ValueError, match="larger than the resized"):
        A.center_crop_box(100, 100, 64, 72)
    rng = np.random.default_rng(3)
    for _ in range(2000):  # crops reaching the resized image's edges end inside the image
        h, w = (int(v) for v in rng.integers(1, 5000, 2))
        short = int(rng.integers(1, 600))
        t, left, bh, bw = A.center_crop_box(h, w, short, short)
        assert 0 <= t and 0 <= left and t + bh <= h and left + bw <= w and bh > 0 and bw > 0


@pytest.mark.parametrize("antialias", [True, False])
def test_resize_center_crop(antialias):
    x = random_planes(4, 12, 15, 21)
    sizes = [[96, 120], [90, 117], [61, 64], [96, 75]]  # padded planes, down- and upscaling
    got = A.resize_center_crop(x, 64, 56, sizes, antialias=antialias)
    assert got.shape == (4, 64, 7, 7)
    assert err(got, ref_resize_center_crop(x, 64, 56, sizes, antialias), x, "resize_center_crop") <= BOUND
    whole = A.resize_center_crop(x[:1], 128, 112)  # default sizes: the plane, upscaled
    want = ref_resize_center_crop(x[:1], 128, 112, [[96, 120]], True)
    assert err(whole, want, x, "resize_center_crop") <= BOUND
    # the same box through resized_crop with the image as bounds
    box = torch.tensor([A.center_crop_box(90, 117, 64, 56)])
    via = A.resized_crop(x[1:2], box, 7, antialias=antialias, bounds=[[0, 0, 90, 117]])
    assert err(via, got[1:2], x, "resize_center_crop") <= BOUND
    with pytest.raises(ValueError, match="multiple of 8"):
        A.resize_center_crop(x, 64, 60)
    with pytest.raises(ValueError, match="sample 2: size"):
        A.resize_center_crop(x, 64, 56, [[96, 120], [90, 117], [97, 64], [96, 75]])


# ------------------------------------------------------------------------------------------------
def test_flips_exact_and_equal_to_pixel_flips():
    x = random_planes(4, 5, 7, 2)
    mask = torch.tensor([True, False, True, True])
    a = x.numpy()
    v = np.arange(64) % 8
    u = np.arange(64) // 8
    want_h = np.where((v % 2 == 1)[None, :, None, None], -a[..., ::-1], a[..., ::-1])
    want_v = np.where((u % 2 == 1)[None, :, None, None], -a[:, :, ::-1], a[:, :, ::-1])
    for fn, want, dim in ((A.hflip, want_h, -1), (A.vflip, want_v, -2)):
        got = fn(x, mask)
        exact = np.where(mask.numpy()[:, None, None, None], want, a)
        assert np.array_equal(got.numpy(), exact)  # bit for bit
        p = A.block_idct(x)
        pix = A.block_dct(torch.where(mask[:, None, None], torch.flip(p, [dim]), p))
        assert err(got, pix, x, "flip vs pixels") <= BOUND
        assert torch.equal(fn(fn(x, mask), mask), x)


# ------------------------------------------------------------------------------------------------
# Colour: pixel-domain references (torchvision's formulas without the clamp, on 0..255 levels)
JFIF_GRAY = (0.299, 0.587, 0.114)
TV_GRAY = (0.2989, 0.587, 0.114)


def to_rgb(y, cb, cr):
    return torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)


def to_ycc(rgb):
    r, g, b = rgb.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b, -0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b)


def pixel_colour(op: str, planes: list, f: torch.Tensor, gray=JFIF_GRAY) -> list:
    """IDCT -> YCbCr levels (chroma replicated to the luma grid) -> RGB -> op -> YCbCr -> chroma
    box-averaged back to its grid -> DCT. Double precision."""
    pix = [A.block_idct(p).double() for p in planes]
    y = pix[0] + 128.0
    f = f.double()[:, None, None]
    if len(planes) == 1:  # torchvision on one channel: the image is its own grayscale
        out = {"brightness": f * y, "contrast": f * y + (1 - f) * y.mean((1, 2), keepdim=True)}[op]
        return [A.block_dct((out - 128.0).float())]
    facs = [(y.shape[1] // p.shape[1], y.shape[2] // p.shape[2]) for p in pix[1:]]
    cb, cr = (p.repeat_interleave(a, 1).repeat_interleave(b, 2) for p, (a, b) in zip(pix[1:], facs))
    rgb = to_rgb(y, cb, cr)
    g = sum(w * c for w, c in zip(gray, rgb.unbind(1)))[:, None]
    if op == "brightness":
        rgb = f[:, None] * rgb
    elif op == "contrast":
        rgb = f[:, None] * rgb + (1 - f[:, None]) * g.mean((1, 2, 3), keepdim=True)
    elif op == "saturation":
        rgb = f[:, None] * rgb + (1 - f[:, None]) * g
    y2, cb2, cr2 = to_ycc(rgb)
    down = [F.avg_pool2d(c[:, None], k)[:, 0] for c, k in zip((cb2, cr2), facs)]
    return [A.block_dct((p - o).float()) for p, o in zip([y2] + down, (128.0, 0.0, 0.0))]


OPS = {"brightness": A.adjust_brightness, "contrast": A.adjust_contrast, "saturation": A.adjust_saturation}


@pytest.mark.parametrize("name", SUBSAMPLED)
def test_colour_on_real_files(name):
    planes = planes_of(name)
    planes = [p.repeat(3, 1, 1, 1) for p in planes]
    f = torch.tensor([0.6, 1.0, 1.4])
    scale = max(float(p.abs().max()) for p in planes)
    for op, fn in OPS.items():
        if len(planes) == 1 and op == "saturation":
            assert fn(planes[0], None, None, f)[0] is planes[0]
            continue
        got = fn(planes[0], *(planes[1:] if len(planes) == 3 else (None, None)), f)
        want = pixel_colour(op, planes, f)
        for g, w in zip(got, want):
            e = float((g - w).abs().max()) / scale
            WORST[f"colour {op}"] = max(WORST.get(f"colour {op}", 0.0), e)
            assert e <= BOUND, (op, e)


def test_colour_against_torchvision_grayscale_weights():
    """The documented difference to torchvision's grayscale (0.2989, 0.587, 0.114): Y differs by
    (1-f) * 0.0001 * R per pixel (saturation) or by its mean (contrast), chroma not at all. A
    coefficient is at most 16x its block's largest pixel (8x for the DC)."""
    planes = [p.repeat(2, 1, 1, 1) for p in planes_of("gen-420-odd-477x355.jpg")]
    f = torch.tensor([0.5, 1.5])
    r_max = (float(A.block_idct(planes[0]).abs().max()) + 128
             + 1.402 * float(A.block_idct(planes[2]).abs().max()))
    for op in ("contrast", "saturation"):
        got = OPS[op](*planes, f)
        want = pixel_colour(op, planes, f, gray=TV_GRAY)
        diff = float((got[0] - want[0]).abs().max())
        WORST[f"{op}: luma vs torchvision grayscale (abs)"] = diff
        assert 0 < diff <= 16 * 0.5 * 0.0001 * r_max + 1e-3
        for g, w in zip(got[1:], want[1:]):
            assert float((g - w).abs().max()) <= BOUND * float(planes[0].abs().max())


def test_colour_random_planes_444():
    planes = [random_planes(3, 4, 5, s) for s in (1, 2, 3)]
    for op in ("brightness", "contrast", "saturation"):
        for f in (0.0, 0.3, torch.tensor([0.2, 1.0, 2.0])):
            fv = torch.full((3,), f) if isinstance(f, float) else f
            got = OPS[op](*planes, f)
            want = pixel_colour(op, planes, fv)
            for g, w in zip(got, want):
                assert err(g, w, planes[0], f"colour {op}") <= BOUND


def hsv_hue(rgb: np.ndarray) -> np.ndarray:
    return np.array([colorsys.rgb_to_hsv(*c)[0] for c in rgb])


def test_hue_rotation_and_its_approximation_of_hsv():
    planes = [p.repeat(2, 1, 1, 1) for p in planes_of("gen-444-odd-477x355.jpg")]
    h = torch.tensor([0.1, -0.25])
    y, cb, cr = A.adjust_hue(*planes, h)
    assert torch.equal(y, planes[0])
    th = 2 * math.pi * h.double()[:, None, None]
    pb, pr = (A.block_idct(p).double() for p in planes[1:])
    want = (torch.cos(th) * pb - torch.sin(th) * pr, torch.sin(th) * pb + torch.cos(th) * pr)
    for g, w in zip((cb, cr), want):
        assert float((A.block_idct(g).double() - w).abs().max()) <= BOUND * float(planes[0].abs().max())
    # direction and size vs HSV hue: mid-saturated colours, hue shift 0.05 (18 degrees)
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0.2, 0.8, (400, 3))
    y0, b0, r0 = to_ycc(torch.tensor(rgb)[:, :, None, None])
    t = 2 * math.pi * 0.05
    out = to_rgb(y0, math.cos(t) * b0 - math.sin(t) * r0, math.sin(t) * b0 + math.cos(t) * r0)
    out = out[:, :, 0, 0].numpy()
    keep = (rgb.max(1) - rgb.min(1) > 0.2) & (out.min(1) >= 0) & (out.max(1) <= 1)
    shift = (hsv_hue(out[keep]) - hsv_hue(rgb[keep]) + 0.5) % 1 - 0.5
    WORST["hue: |hsv shift - 0.05| max"] = float(np.abs(shift - 0.05).max())
    assert np.all(np.abs(shift - 0.05) < 0.02) and abs(float(np.median(shift)) - 0.05) < 0.01
    mixed = planes_of("gen-mixed-2x2-1x2-2x1.jpg")
    with pytest.raises(ValueError, match="one grid"):
        A.adjust_hue(*mixed, 0.1)
    assert A.adjust_hue(planes[0], None, None, 0.2)[0] is planes[0]


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SUBSAMPLED)
def test_geometry_on_real_files(name):
    rng = np.random.default_rng(len(name))
    planes = planes_of(name)
    for k, x in enumerate(planes):
        hb, wb = x.shape[2:]
        x3 = x.repeat(3, 1, 1, 1)
        boxes = [list(A.sample_rrc_box(8 * hb, 8 * wb, rng)) for _ in range(2)] + [[0, 0, 8 * hb, 8 * wb]]
        oh, ow = max(1, hb // 2), max(1, (wb * 2) // 3)
        for aa in (True, False):
            got = A.resized_crop(x3, boxes, (oh, ow), antialias=aa)
            assert err(got, ref_resized_crop(x3, boxes, oh, ow, aa), x3, "resized_crop real") <= BOUND
        mask = torch.tensor([True, False, True])
        pix = A.block_idct(x3)
        flipped = A.block_dct(torch.where(mask[:, None, None], torch.flip(pix, [-1]), pix))
        assert err(A.hflip(x3, mask), flipped, x3, "flip vs pixels") <= BOUND
        if k:
            up = F.interpolate(pix[:, None], scale_factor=2, mode="bilinear", align_corners=False)
            want = A.block_dct(up[:, 0])
            assert err(A.upsample_chroma(x3), want, x3, "upsample_chroma") <= BOUND


# ------------------------------------------------------------------------------------------------
def test_bad_input_names_the_sample():
    x = random_planes(4, 8, 8, 0)
    ok = [[0, 0, 8, 8]] * 4
    cases = [
        ([[0, 0, 8, 8], [0, 0, 8, 8], [0, 0, 8, 8], [0, 10, 70, 20]],
         "sample 3: box \\(0, 10, 70, 20\\) outside the 64x64 plane"),
        ([[0, 0, 8, 8], [-1, 0, 8, 8], [0, 0, 8, 8], [0, 0, 8, 8]], "sample 1: box .* outside"),
        ([[0, 0, 8, 8], [0, 0, 8, 8], [0, 0, 0, 8], [0, 0, 8, 8]], "sample 2: box .* zero or negative size"),
        ([[0, 0, -3, 8]] + ok[1:], "sample 0: box .* zero or negative size"),
        ([[0, 0, 8, 8], [0, 0, 8, float("nan")], [0, 0, 8, 8], [0, 0, 8, 8]], "sample 1: box .* not finite"),
        ([[0, 0, 8, 8], [0, 0, 8, 8], [0, 0.5, 8, 63.75], [0, 0, 8, 8]], "sample 2: box .* outside"),
    ]
    for boxes, msg in cases:
        with pytest.raises(ValueError, match=msg):
            A.resized_crop(x, torch.tensor(boxes), 2)
    bad = x.clone()
    bad[2, 5, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="sample 2: x holds non-finite"):
        A.resized_crop(bad, ok, 2)
    for ob in (0, (1, 0), (2, -1), 1.5, (1, 2, 3)):
        with pytest.raises(ValueError, match="out_blocks"):
            A.resized_crop(x, ok, ob)
    for shape_bad in (x[:, :63], x[0], x.double()):
        with pytest.raises(ValueError, match="x must"):
            A.resized_crop(shape_bad, ok, 2)
    with pytest.raises(ValueError, match="boxes must have shape"):
        A.resized_crop(x, ok[:3], 2)
    with pytest.raises(ValueError, match="sample 1: box .* outside bounds"):
        A.resized_crop(x, ok, 2, bounds=[[0, 0, 64, 64], [1, 0, 63, 64]] + [[0, 0, 64, 64]] * 2)
    with pytest.raises(ValueError, match="mask must"):
        A.hflip(x, torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must"):
        A.vflip(x, torch.ones(4))
    with pytest.raises(ValueError, match="sample 2: brightness factor -1"):
        A.adjust_brightness(x, x, x, torch.tensor([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="sample 0: hue 0.6"):
        A.adjust_hue(x, x, x, torch.tensor([0.6, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="sample 3: contrast factor nan"):
        A.adjust_contrast(x, x, x, torch.tensor([1.0, 1.0, 1.0, float("nan")]))
    with pytest.raises(ValueError, match="both"):
        A.adjust_saturation(x, x, None, 1.0)
    with pytest.raises(ValueError, match="same 4 samples"):
        A.adjust_brightness(x, x[:2], x[:2], 1.0)
    with pytest.raises(ValueError, match="sample 1: x holds non-finite"):
        A.upsample_chroma(bad[1:])


# ------------------------------------------------------------------------------------------------
class TorchLikeDraws:
    """The two torch calls RandomResizedCrop.get_params makes, served by a numpy Generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def uniform_item(self, a: float, b: float) -> float:  # torch.empty(1).uniform_(a, b).item()
        return float(self.rng.uniform(a, b))

    def randint_item(self, low: int, high: int) -> int:  # torch.randint(low, high, size=(1,)).item()
        return int(self.rng.integers(low, high))


def oracle_get_params(height: int, width: int, draws: TorchLikeDraws, scale, ratio) -> tuple:
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed: ((i, j, h, w), fell back)."""
    area = height * width
    log_ratio = [math.log(r) for r in ratio]
    for _ in range(10):
        target_area = area * draws.uniform_item(scale[0], scale[1])
        aspect_ratio = math.exp(draws.uniform_item(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = draws.randint_item(0, height - h + 1)
            j = draws.randint_item(0, width - w + 1)
            return (i, j, h, w), False
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    i = (height - h) // 2
    j = (width - w) // 2
    return (i, j, h, w), True


def test_sample_rrc_box_matches_torchvision_algorithm():
    sizes = [(1, 1), (1, 2), (2, 1), (3, 3), (5, 1000), (1000, 5), (1, 500), (375, 500), (500, 375),
             (224, 224), (7, 9), (17, 333), (4000, 3000)]
    params = [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 0.5), (1.0, 1.0)), ((0.9, 1.0), (2.0, 3.0)),
              ((0.01, 0.02), (0.1, 10.0))]
    fallbacks = empty = 0
    for (h, w) in sizes:
        for scale, ratio in params:
            for seed in range(25):
                a, b = np.random.default_rng(seed), np.random.default_rng(seed)
                want, fell_back = oracle_get_params(h, w, TorchLikeDraws(b), scale, ratio)
                fallbacks += fell_back
                if want[2] < 1 or want[3] < 1:  # torchvision's empty fallback box: refused
                    with pytest.raises(ValueError, match="empty"):
                        A.sample_rrc_box(h, w, a, scale, ratio)
                    empty += 1
                    continue
                got = A.sample_rrc_box(h, w, a, scale, ratio)
                assert got == want, (h, w, scale, ratio, seed)
                assert a.random() == b.random()  # the same number of draws
                t, left, bh, bw = got
                assert 0 <= t and 0 <= left and 0 < bh and 0 < bw and t + bh <= h and left + bw <= w
    assert 0 < empty < fallbacks < len(sizes) * len(params) * 25  # every path exercised
    for bad in [(0, 5), (5, 0)]:
        with pytest.raises(ValueError):
            A.sample_rrc_box(*bad, np.random.default_rng(0))
    with pytest.raises(ValueError):
        A.sample_rrc_box(5, 5, np.random.default_rng(0), scale=(1.0, 0.5))


# ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_path_matches_cpu():
    x = random_planes(4, 13, 11, 1)
    boxes = CASES[3][2]
    xc = x.cuda()
    for aa in (True, False):
        got = A.resized_crop(xc, torch.tensor(boxes).cuda(), (7, 5), antialias=aa)
        assert got.device.type == "cuda"
        assert err(got.cpu(), A.resized_crop(x, boxes, (7, 5), antialias=aa), x, "cuda") <= BOUND
    mask = torch.tensor([True, False, True, False])
    assert torch.equal(A.hflip(xc, mask.cuda()).cpu(), A.hflip(x, mask))
    assert err(A.upsample_chroma(xc).cpu(), A.upsample_chroma(x), x, "cuda") <= BOUND
    for fn in OPS.values():
        f = torch.tensor([0.5, 1, 1.5, 2.0])
        for g, w in zip(fn(xc, xc, xc, f.cuda()), fn(x, x, x, f)):
            assert err(g.cpu(), w, x, "cuda") <= BOUND


def test_time_rrc_batch_cpu():
    """Time measured (printed, not asserted): a batch of 64 Y planes 40x40 blocks -> 28x28 and two
    chroma planes 20x20 -> 14x14 (RRC boxes from sample_rrc_box, chroma box = luma box / 2)."""
    rng = np.random.default_rng(0)
    y = random_planes(64, 40, 40, 0)
    cb, cr = random_planes(64, 20, 20, 1), random_planes(64, 20, 20, 2)
    boxes = torch.tensor([A.sample_rrc_box(320, 320, rng) for _ in range(64)], dtype=torch.float64)
    A.resized_crop(y[:2], boxes[:2], 28)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = (A.resized_crop(y, boxes, 28), A.resized_crop(cb, boxes / 2, 14),
               A.resized_crop(cr, boxes / 2, 14))
        times.append(time.perf_counter() - t0)
    ints = boxes[:2].long()
    assert err(out[0][:2], ref_resized_crop(y[:2], ints, 28, 28, True), y, "resized_crop") <= BOUND
    assert out[1].shape == out[2].shape == (64, 64, 14, 14)
    print(f"\nresized_crop 64 x (Y 40x40 -> 28x28 + 2 x C 20x20 -> 14x14) on CPU, {torch.get_num_threads()} "
          f"threads: best {min(times) * 1e3:.1f} ms, median {sorted(times)[1] * 1e3:.1f} ms")


