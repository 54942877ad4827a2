"""The resized-crop pipeline (jpegcoef.pipelines.ResizedCrop + jpegcoef.ops) against references
built from whole-file reads and pixel-domain interpolation, for every subsampling; the box draws
shared with the RGB baseline; the max_height read; the batch padding."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jpegcoef
from jpegcoef import augment as A, convert as Cv, data as D, formats as F, ops, pipelines as Pl, pixels, planning as P, reader

DATA = Path(__file__).parent / "data"
LAYOUTS = ["gen-420-odd-477x355.jpg", "gen-444-odd-477x355.jpg", "gen-422-odd-477x355.jpg",
           "gen-440-odd-477x355.jpg", "gen-411-odd-477x355.jpg", "gen-gray.jpg", "gen-420-progressive.jpg",
           "gen-mixed-2x2-1x2-2x1.jpg"]
CROP = 64


def _planes(path: str) -> tuple[list[torch.Tensor], list[tuple[int, int]], tuple[int, int]]:
    """Dequantised full planes (1, 64, Hb, Wb) per component, their (v, h) sampling, the MCU."""
    c = jpegcoef.read(path)
    out, samp = [], []
    for comp in c.components:
        d = torch.from_numpy(comp.dequantize()).permute(2, 3, 0, 1).reshape(1, 64, *comp.shape[:2])
        out.append(d.contiguous())
        samp.append((1, 1) if len(c.components) == 1 else (comp.sampling[1], comp.sampling[0]))
    return out, samp, c


def _device_planes(pipe: Pl.ResizedCrop, hosts: list[dict]) -> ops.Planes:
    """The pipeline's device step up to (not including) the format: dequantised output planes."""
    batch = pipe.format.collate(hosts)
    steps = ops.DevicePipeline(pipe._device.source, pipe._device.ops, lambda y, cb, cr: ops.Planes(y, cb, cr))
    return steps(batch)


def _pixel_reference(x: torch.Tensor, box: tuple, out_px: int) -> torch.Tensor:
    """block_dct(F.interpolate(block_idct(x)[box], bilinear, antialias)) -- the issue's definition."""
    t, l, h, w = box
    px = A.block_idct(x)[:, None, t:t + h, l:l + w]
    r = TF.interpolate(px, size=(out_px, out_px), mode="bilinear", antialias=True, align_corners=False)
    return A.block_dct(r[:, 0])


def _flip(x: torch.Tensor, on: bool) -> torch.Tensor:
    return A.hflip(x, torch.tensor([on])) if on else x


@pytest.mark.parametrize("name", LAYOUTS)
def test_train_planes_equal_the_pixel_reference(name):
    """Luma: equal to interpolating the box's pixels (int box, the issue's reference). Chroma: equal
    to resized_crop of the whole chroma plane with the box scaled to its grid. Then the flip."""
    path = str(DATA / name)
    planes, samp, c = _planes(path)
    if name.startswith("gen-mixed"):  # Cb and Cr sampled differently: the pipeline converts to 4:2:0 first
        conv = Cv.to_420(c)[0]
        planes = [torch.from_numpy(comp.dequantize()).permute(2, 3, 0, 1).reshape(1, 64, *comp.shape[:2]).contiguous()
                  for comp in conv.components]
        samp = [(2, 2), (1, 1), (1, 1)]
    pipe = Pl.ResizedCrop(F.get("gueguen"), CROP, train=True)
    vmax, hmax = max(s[0] for s in samp), max(s[1] for s in samp)
    for seed in range(5):
        host = pipe.host(path, seed, {})
        got = _device_planes(pipe, [host])
        rng = np.random.default_rng(seed)
        box = A.sample_rrc_box(c.height, c.width, rng)
        flip = bool(rng.random() < 0.5)
        want_y = _flip(_pixel_reference(planes[0], box, CROP), flip)
        scale = float(want_y.abs().max())
        assert float((got.y - want_y).abs().max()) <= 1e-3 * scale, (name, seed)
        if len(planes) == 1:
            assert float(got.cb.abs().max()) == 0.0 and float(got.cr.abs().max()) == 0.0  # neutral
            continue
        sv, sh = samp[1][0] / vmax, samp[1][1] / hmax
        cbox = torch.tensor([[box[0] * sv, box[1] * sh, box[2] * sv, box[3] * sh]], dtype=torch.float64)
        for g, plane in ((got.cb, planes[1]), (got.cr, planes[2])):
            want = _flip(A.resized_crop(plane, cbox, CROP // 16), flip)
            assert float((g - want).abs().max()) <= 1e-3 * max(float(want.abs().max()), 1.0), (name, seed)


@pytest.mark.parametrize("name", LAYOUTS[:5] + ["gen-gray.jpg"])
def test_eval_planes_equal_resize_then_centre_crop(name):
    """Evaluation: resize the short side to crop/0.875, centre crop, reading the pixels around
    the box (bounded filter) -- equal to augment.resize_center_crop of the whole plane."""
    path = str(DATA / name)
    planes, samp, c = _planes(path)
    pipe = Pl.ResizedCrop(F.get("gueguen"), CROP, train=False)
    host = pipe.host(path, None, {})
    got = _device_planes(pipe, [host])
    short = int(CROP / 0.875)
    want_y = A.resize_center_crop(planes[0], short, CROP, sizes=torch.tensor([[c.height, c.width]]))
    assert float((got.y - want_y).abs().max()) <= 1e-3 * float(want_y.abs().max())
    if len(planes) == 3:
        vmax, hmax = max(s[0] for s in samp), max(s[1] for s in samp)
        sv, sh = samp[1][0] / vmax, samp[1][1] / hmax
        t, l, h, w = A.center_crop_box(c.height, c.width, short, CROP)
        cbox = torch.tensor([[t * sv, l * sh, h * sv, w * sh]], dtype=torch.float64)
        bounds = torch.tensor([[0, 0, math.ceil(c.height * sv), math.ceil(c.width * sh)]])
        want = A.resized_crop(planes[1], cbox, CROP // 16, bounds=bounds)
        assert float((got.cb - want).abs().max()) <= 1e-3 * max(float(want.abs().max()), 1.0)


def test_same_boxes_as_the_rgb_baseline(monkeypatch):
    """For one seed the RGB pipeline resizes exactly the box the DCT pipeline cuts."""
    path = str(DATA / "gen-420-odd-477x355.jpg")
    seen = []
    real = pixels.Image.Image.resize
    monkeypatch.setattr(pixels.Image.Image, "resize", lambda self, size, resample=None, box=None, **k:
                        seen.append(box) or real(self, size, resample, box, **k))
    rgb = Pl.make(F.get("rgb"), CROP, True)
    dct = Pl.make(F.get("dctnet", channels=24), CROP, True)
    c = jpegcoef.read(path)
    for seed in range(20):
        rgb.host(path, seed, {})
        host = dct.host(path, seed, {})
        left, top, right, bottom = seen[-1]
        t, lf, rows, cols = P.box_window((top, left, bottom - top, right - left), (16, 16), c.height, c.width)
        rel = host["box"]
        assert tuple(rel) == (top - 16 * t, left - 16 * lf, bottom - top, right - left), seed


def test_reads_only_down_to_the_box_and_equals_the_whole_read(monkeypatch):
    path = str(DATA / "gen-420-odd-477x355.jpg")
    pipe = Pl.ResizedCrop(F.get("dctnet", channels=24), CROP, train=True)
    heights = []
    real = reader.read
    monkeypatch.setattr(Pl.reader, "read", lambda p, **k: heights.append(k.get("max_height")) or real(p, **k))
    cut = [pipe.host(path, s, {}) for s in range(8)]
    assert any(h is not None for h in heights)  # some boxes end above the bottom
    monkeypatch.setattr(Pl, "file_frame", lambda p: None)  # no header walk: whole-file reads
    whole = [pipe.host(path, s, {}) for s in range(8)]
    for a, b in zip(cut, whole):
        assert list(a) == list(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_dctnet_input_is_the_format_of_the_planes():
    """The model input = DCTFormat.from_planes of the device planes (channel selection, chroma
    alignment, normalisation) -- for both chroma alignments."""
    path = str(DATA / "gen-420-odd-477x355.jpg")
    for upsample in ("repeat", "dct", "bilinear"):
        fmt = F.get("dctnet", channels=24, upsample=upsample)
        pipe = Pl.ResizedCrop(fmt, CROP, train=True)
        hosts = [pipe.host(path, s, {}) for s in range(3)]
        x = pipe.device(fmt.collate(hosts))
        p = _device_planes(pipe, hosts)
        assert x.shape == (3, 24, CROP // 8, CROP // 8)
        y_sel = (p.y[:, list(fmt.y_index)] - torch.tensor(fmt.mean[list(fmt.y_index)])[None, :, None, None]) \
            / torch.tensor(fmt.std[list(fmt.y_index)])[None, :, None, None]
        torch.testing.assert_close(x[:, :16], y_sel, rtol=1e-5, atol=1e-4)
        if upsample == "repeat":
            cb = p.cb[:, list(fmt.c_index)].repeat_interleave(2, 2).repeat_interleave(2, 3)
            ix = [64 + i for i in fmt.c_index]
            want = (cb - torch.tensor(fmt.mean[ix])[None, :, None, None]) / torch.tensor(fmt.std[ix])[None, :, None, None]
            torch.testing.assert_close(x[:, 16:20], want, rtol=1e-5, atol=1e-4)


def test_batches_of_different_windows_are_packed_and_each_sample_is_its_own():
    """Files of different sizes and layouts in one batch: the packed batch (groups padded to
    their largest window on the device) gives each sample the planes it gives alone."""
    paths = [str(DATA / n) for n in ("gen-420-odd-477x355.jpg", "gen-444-odd-477x355.jpg", "gen-gray.jpg",
                                      "gen-17x333.jpg", "pillow-pil_sample_cmyk.jpg", "gen-rgb-colorspace.jpg")]
    pipe = Pl.ResizedCrop(F.get("gueguen"), CROP, train=True)
    hosts = [pipe.host(p, i, {}) for i, p in enumerate(paths)]
    assert len({h["y"].shape for h in hosts}) > 1
    batch = pipe.format.collate(hosts)
    assert batch["y"].shape == (sum(h["y"].size for h in hosts),)  # packed: nothing padded
    pipe._device.source.group = 4  # two groups of different padding
    together = _device_planes(pipe, hosts)
    for i, h in enumerate(hosts):
        alone = _device_planes(pipe, [h])
        for k in ("y", "cb", "cr"):
            torch.testing.assert_close(getattr(together, k)[i:i + 1], getattr(alone, k), rtol=0, atol=1e-3)


def test_loader_with_workers_equals_single_process(tmp_path):
    from jpegcoef import datasets
    root = datasets.synthetic(tmp_path, classes=2, train_per_class=5, val_per_class=2, progress=False)
    kw = dict(train=True, crop=32, batch_size=3, channels=24, seed=1, drop_last=False)
    a = [(x, y) for x, y in D.make_loader(root / "train", "dctnet", workers=0, **kw)]
    b = [(x, y) for x, y in D.make_loader(root / "train", "dctnet", workers=2, **kw)]
    assert len(a) == len(b) == 4
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(ya, yb)
        for k in ("y", "cb", "cr", "y_shape", "cb_shape", "q", "box", "flip"):
            assert torch.equal(xa[k], xb[k]), k


def test_jitter_is_drawn_per_sample_and_applied_on_the_device():
    path = str(DATA / "gen-420-odd-477x355.jpg")
    fmt = F.get("gueguen")
    plain = Pl.ResizedCrop(fmt, CROP, train=True)
    jit = Pl.ResizedCrop(fmt, CROP, train=True, jitter=(0.4, 0.4, 0.4, 0.1))
    h0, h1 = plain.host(path, 3, {}), jit.host(path, 3, {})
    assert h1["jitter"].shape == (4,) and not np.allclose(h1["jitter"], [1, 1, 1, 0])
    p0, p1 = _device_planes(plain, [h0]), _device_planes(jit, [h1])
    b, c, s, hue = (float(v) for v in h1["jitter"])
    y, cb, cr = A.adjust_brightness(p0.y, p0.cb, p0.cr, b)
    y, cb, cr = A.adjust_contrast(y, cb, cr, c)
    y, cb, cr = A.adjust_saturation(y, cb, cr, s)
    y, cb, cr = A.adjust_hue(y, cb, cr, hue)
    torch.testing.assert_close(p1.y, y, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(p1.cr, cr, rtol=1e-5, atol=1e-3)


def test_bad_augment_names_and_crops_are_refused():
    with pytest.raises(ValueError, match="augment"):
        Pl.make(F.get("dctnet"), 64, True, "mixup")
    with pytest.raises(ValueError, match="DCT formats"):
        Pl.make(F.get("rgb"), 64, True, "rgb-reencode")
    with pytest.raises(ValueError, match="multiple of 16"):
        Pl.make(F.get("gueguen"), 56, True)


def test_dctnet_bilinear_chroma_matches_libjpeg_full_resolution_chroma():
    """Issue 12 fix 2 (DCTNet, Xu et al. 2020, calmevtime/DCTNet: the DCT of the decoded image's
    full-resolution chroma): the default ``upsample="bilinear"`` equals the DCT of libjpeg's
    fancy-upsampled Cb/Cr (jpegcoef.decode(..., "ycbcr")) up to its integer rounding, far
    closer than block repetition."""
    path = str(DATA / "gen-420-odd-477x355.jpg")
    c = jpegcoef.read(path)
    full = jpegcoef.decode(path, "ycbcr").astype(np.float32) - 128.0  # (H, W, 3) libjpeg's decode
    hb, wb = (c.height // 16) * 2, (c.width // 16) * 2
    ref = A.block_dct(torch.from_numpy(np.ascontiguousarray(full[:8 * hb, :8 * wb, 1]))[None])  # Cb
    cb = torch.from_numpy(c.cb.dequantize()).permute(2, 3, 0, 1).reshape(1, 64, *c.cb.shape[:2]).contiguous()
    ours = A.upsample_chroma(cb)[..., 1:hb - 1, 1:wb - 1]  # interior blocks (libjpeg edge rules differ)
    ref = ref[..., 1:hb - 1, 1:wb - 1]
    rep = cb.repeat_interleave(2, 2).repeat_interleave(2, 3)[..., 1:hb - 1, 1:wb - 1]
    for k in (1, 8, 9):  # low AC frequencies, where the alignments differ
        corr = float(torch.corrcoef(torch.stack([ours[0, k].flatten(), ref[0, k].flatten()]))[0, 1])
        corr_rep = float(torch.corrcoef(torch.stack([rep[0, k].flatten(), ref[0, k].flatten()]))[0, 1])
        assert corr > 0.97 and corr > corr_rep + 0.1, (k, corr, corr_rep)
    assert F.get("dctnet", channels=24).upsample == "bilinear"


@pytest.mark.parametrize("train", [True, False])
def test_rgb_crop_is_the_pixels_of_the_dct_crop_window(train):
    """--augment crop for the RGB baseline (the no-scale-augmentation ablation of
    experiments/study.py): for one seed, the same 16-px-grid window and flip as the DCT
    pipeline's lossless crop, seen in pixels; no resize."""
    path = str(DATA / "gen-420-odd-477x355.jpg")
    rgb = Pl.make(F.get("rgb"), CROP, train, "crop")
    assert isinstance(rgb, Pl.PixelCrop)
    c = jpegcoef.read(path)
    full = np.asarray(pixels.Image.open(path).convert("RGB"), dtype=np.float32)
    diffs = []
    for seed in range(6):
        got = rgb.host(path, seed, {})["rgb"].astype(np.float32).transpose(1, 2, 0)
        assert got.shape == (CROP, CROP, 3)
        ref = P.dct_crop(c, CROP, train, Pl._rng(seed, train)).to_rgb().astype(np.float32)
        diffs.append(np.abs(got - ref).mean())
        # and exactly the decoded image's window (no resampling)
        top, left, *_ = P.crop_plan(c.height, c.width, CROP, train, Pl._rng(seed, train))
        win = full[top * 16: top * 16 + CROP, left * 16: left * 16 + CROP]
        assert (np.array_equal(got, win) or np.array_equal(got, win[:, ::-1])), seed
    assert max(diffs) < 4.0, diffs  # libjpeg decode of the cut coefficients vs Pillow's: a few levels
    if train:  # the windows move with the seed
        a, b = (rgb.host(path, s, {})["rgb"] for s in (0, 1))
        assert not np.array_equal(a, b)


def test_rgb_refuses_the_reencode_pipeline():
    with pytest.raises(ValueError, match="rgb takes 'rrc' or 'crop'"):
        Pl.make(F.get("rgb"), CROP, True, "rgb-reencode")
