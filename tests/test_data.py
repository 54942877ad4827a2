"""Datasets and loaders (jpegcoef.data): crops, flips, padding, bad files, workers, seeds."""

from __future__ import annotations

from pathlib import Path

import warnings
import numpy as np
import pytest
import torch
from PIL import Image

import jpegcoef
from jpegcoef import convert as Cv, data as D, formats as F, pipelines as Pl, planning as P, ring as R, transforms as T


def _photo(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 80 * np.sin(xx / (5 + k) + seed) * np.cos(yy / 7 - k) for k in range(3)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two classes: 4:2:0 / 4:4:4 / 4:2:2 / gray files of several sizes (one smaller than the
    crop), and one bad file in class b."""
    root = tmp_path_factory.mktemp("folder")
    specs = [("a", 80, 64, "420"), ("a", 72, 50, "444"), ("a", 24, 40, "420"),
             ("b", 64, 96, "422"), ("b", 70, 70, "gray"), ("b", 96, 64, "420")]
    for i, (cls, w, h, kind) in enumerate(specs):
        (root / cls).mkdir(exist_ok=True)
        img = _photo(w, h, i)
        if kind == "gray":
            img.convert("L").save(root / cls / f"{i}.jpg", quality=90)
        else:
            img.save(root / cls / f"{i}.jpg", quality=90, subsampling={"444": 0, "422": 1, "420": 2}[kind])
    (root / "b" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


def _all(loader):
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(y)
    return xs, ys


def test_skip_reports_bad_files_and_kinds(folder):
    loader = D.make_loader(folder, "dctnet", augment="crop", train=True, crop=32, batch_size=7, channels=24, on_error="skip")
    xs, ys = _all(loader)
    ds = loader.dataset
    assert ds.classes == ["a", "b"] and len(ds) == 7
    assert list(ds.skipped) == [str(folder / "b" / "broken.jpg")]
    assert "JpegError" in ds.skipped[str(folder / "b" / "broken.jpg")]
    assert ds.kinds == {"420": 3, "444": 1, "422": 1, "gray": 1}
    rep = ds.report()
    assert rep["converted"] == 3 and rep["files"] == 7
    assert sum(len(y) for y in ys) == 6  # the bad file removed from its batch
    x = loader.to_device(xs[0])
    assert x.shape[1:] == (24, 4, 4) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert "_meta" not in xs[0]


@pytest.mark.parametrize("workers", [0, 2])
def test_raise_names_the_file(folder, workers):
    loader = D.make_loader(folder, "gueguen", augment="crop", train=False, crop=32, batch_size=7, workers=workers)
    with pytest.raises(D.SampleError, match="broken.jpg"):
        _all(loader)


def test_workers_report_and_match_single_process(folder):
    kw = dict(train=True, crop=32, batch_size=2, channels=24, on_error="skip", seed=3, drop_last=False)
    l0 = D.make_loader(folder, "dctnet", augment="crop", workers=0, **kw)
    l2 = D.make_loader(folder, "dctnet", augment="crop", workers=2, **kw)
    for epoch in range(2):  # persistent workers, new augmentation each epoch
        x0, y0 = _all(l0)
        x2, y2 = _all(l2)
        assert torch.equal(torch.cat(y0), torch.cat(y2))
        for a, b in zip(x0, x2):
            assert torch.equal(a["y"], b["y"]) and torch.equal(a["cb"], b["cb"])
        if epoch == 0:
            first = torch.cat([a["y"] for a in x0])
    assert not torch.equal(first, torch.cat([a["y"] for a in x0]))  # epochs differ
    assert l2.dataset.skipped == l0.dataset.skipped and len(l2.dataset.skipped) == 1
    assert l2.dataset.kinds == l0.dataset.kinds


def test_eval_centre_crop_and_train_flip_are_lossless_ops(folder):
    path = folder / "b" / "5.jpg"  # 96x64 4:2:0
    c = jpegcoef.read(path)
    ds = D.JpegFolder([path], "gueguen", augment="crop", train=False, crop=32)
    host, label, meta = ds[0]
    want = T.crop(c, 16, 32, 32, 32)  # 6x4 MCUs -> centre 2x2 at MCU (1, 2)
    np.testing.assert_array_equal(host["y"], want.y.channels())
    np.testing.assert_array_equal(host["cr"], want.cr.channels())
    assert label == -1 and meta["kind"] == "420"
    # training: the same pixels as some MCU-grid crop, flipped or not
    ds = D.JpegFolder([path], "gueguen", augment="crop", train=True, crop=32)
    seen = set()
    for seed in range(12):
        host, _, _ = ds.load(0, seed)
        found = False
        for top in range(0, 64 - 32 + 1, 16):
            for left in range(0, 96 - 32 + 1, 16):
                crop = T.crop(c, top, left, 32, 32)
                for flip in (False, True):
                    cand = T.hflip(crop) if flip else crop
                    if np.array_equal(host["y"], cand.y.channels()) and np.array_equal(host["cb"], cand.cb.channels()):
                        seen.add((top, left, flip))
                        found = True
        assert found
    assert len(seen) > 3 and {f for *_, f in seen} == {False, True}


def test_crop_matches_decoded_pixels(folder):
    """The DC of each luma block of the centre crop equals the mean of the same 8x8 pixels."""
    path = folder / "a" / "0.jpg"  # 80x64 4:2:0 -> centre 32x32 at (16, 16)
    ds = D.JpegFolder([path], "gueguen", augment="crop", train=False, crop=32)
    host, _, _ = ds[0]
    q = host["q"][0, 0]
    dc = host["y"][0].astype(np.float64) * q / 8 + 128
    with Image.open(path) as im:
        luma = np.asarray(im.convert("YCbCr"), np.float64)[16:48, 16:48, 0]
    means = luma.reshape(4, 8, 4, 8).mean((1, 3))
    assert np.abs(dc - means).max() < 2.5


def test_small_image_is_padded_with_zero_blocks(folder):
    path = folder / "a" / "2.jpg"  # 24x40: 2x3 MCUs (partial) in a 4x4-MCU canvas for crop 64
    c, _ = Cv.to_420(jpegcoef.read(path))
    host, _, _ = D.JpegFolder([path], "dctnet", augment="crop", train=False, crop=64)[0]
    y = host["y"]  # 192 channels -> y is (64, 8, 8)
    assert y.shape == (64, 8, 8)
    # rows: 3 MCUs centred in 4 -> pad 0 above; columns: 2 MCUs in 4 -> pad 1 left
    np.testing.assert_array_equal(y[:, 0:6, 2:6], c.y.channels()[:, :6, :4])
    assert not y[:, 6:].any() and not y[:, :, :2].any() and not y[:, :, 6:].any()


def test_rgb_baseline_and_reencode(folder):
    loader = D.make_loader(folder, "rgb", train=True, crop=40, batch_size=2, on_error="skip")
    x, y = next(iter(loader))
    assert x["rgb"].dtype == torch.uint8 and x["rgb"].shape == (2, 3, 40, 40)
    assert loader.format.bytes_per_image(x) == 3 * 40 * 40
    out = loader.to_device(x)
    assert out.shape == (2, 3, 40, 40) and out.dtype == torch.float32
    ev = D.JpegFolder(folder, "rgb", train=False, crop=40, on_error="skip")
    assert ev[0][0]["rgb"].shape == (3, 40, 40)

    loader = D.make_loader(folder, "dctnet", train=True, crop=32, batch_size=7, channels=64,
                           augment="rgb-reencode", on_error="skip")
    xs, _ = _all(loader)
    assert xs[0]["y"].shape == (6, 44, 4, 4)
    assert loader.dataset.kinds["reencoded"] == 6 and len(loader.dataset.skipped) == 1


def test_random_resized_crop_box_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w, h = (int(v) for v in rng.integers(20, 400, 2))
        l, t, r, b = D.random_resized_crop_box(w, h, rng)
        assert 0 <= l < r <= w and 0 <= t < b <= h
        assert 3 / 4 - 0.05 <= (r - l) / (b - t) <= 4 / 3 + 0.05 or (r - l, b - t) in ((w, h),)


def test_file_lists_and_sharding(folder, tmp_path):
    files = sorted(str(p) for p in (folder / "a").glob("*.jpg"))
    ds = D.JpegFolder([(f, 7) for f in files], "dctnet", augment="crop", channels=24, train=False, crop=32)
    assert ds.labels == [7, 7, 7]
    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"{Path(f).relative_to(folder)} {i}\n" for i, f in enumerate(files)))
    (tmp_path / "a").symlink_to(folder / "a")
    ds = D.JpegFolder(lst, "rgb", train=False, crop=32)
    assert ds.labels == [0, 1, 2] and Path(ds.paths[0]).exists()
    shards = [list(D.SeededSampler(7, shuffle=True, seed=1, distributed=True, num_replicas=2, rank=r)) for r in (0, 1)]
    idx = [i for s in shards for i, _ in s]
    assert len(shards[0]) == len(shards[1]) == 4 and set(idx) == set(range(7))
    with pytest.raises(ValueError, match="multiple of 16"):
        D.JpegFolder(folder, "dctnet", augment="crop", crop=30)
    with pytest.raises(ValueError, match="no JPEG"):
        D.JpegFolder([], "dctnet", augment="crop", crop=32)


def test_stats_streaming_matches_numpy(folder, tmp_path):
    from jpegcoef import stats as St

    files = [p for p in St.list_jpegs(folder) if p.name != "broken.jpg"]
    r = St.compute(St.list_jpegs(folder), progress=False)
    assert list(r["skipped"]) == [str(folder / "b" / "broken.jpg")] and r["images"] == 6
    assert r["kinds"] == {"420": 3, "422": 1, "444": 1, "gray": 1}
    ys = []
    for f in files:
        c, _ = Cv.to_420(jpegcoef.read(f))
        hb, wb = c.y.blocks
        ys.append(c.y.dequantize()[:hb, :wb].reshape(-1, 64))
    ys = np.concatenate(ys).astype(np.float64)
    np.testing.assert_allclose(r["mean"][:64], ys.mean(0), atol=1e-3)
    np.testing.assert_allclose(r["std"][:64], np.maximum(ys.std(0), 1e-3), rtol=1e-4, atol=1e-3)
    assert r["blocks"][0] == len(ys)
    fmt = F.get("dctnet", channels=24, stats=r)  # the JSON dict is accepted as stats
    assert fmt.mean[0] == pytest.approx(r["mean"][0])
    from jpegcoef.cli import main

    out = tmp_path / "s.json"
    assert main(["stats", str(folder), "-o", str(out)]) == 0
    assert F.get("gueguen", stats=out).std[70] == pytest.approx(r["std"][70])
    with pytest.raises(jpegcoef.JpegError, match="broken"):
        St.compute([folder / "b" / "broken.jpg"], progress=False, on_error="raise")


def test_prepare_resizes_resumes_and_reports(folder, tmp_path):
    from jpegcoef.prepare import prepare

    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    _photo(120, 90, 0).save(src / "x" / "a.jpg", quality=90, subsampling=0)
    _photo(50, 80, 1).convert("L").save(src / "x" / "b.png")
    img = _photo(100, 60, 2)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 when displayed
    img.save(src / "x" / "c.jpg", exif=exif)
    (src / "x" / "d.jpg").write_bytes(b"broken")
    r = prepare(src, tmp_path / "dst", short_side=32, quality=90, workers=0, progress=False)
    assert r["done"] == 3 and r["existing"] == 0 and list(r["failed"]) == [str(src / "x" / "d.jpg")]
    sizes = {}
    for name in ("a", "b", "c"):
        c = jpegcoef.read(tmp_path / "dst" / "x" / f"{name}.jpg")
        assert Cv.sampling_kind(c) == "420"
        sizes[name] = (c.width, c.height)
    assert sizes == {"a": (43, 32), "b": (32, 51), "c": (32, 53)}  # c turned upright by EXIF
    (tmp_path / "dst" / "x" / ".a.jpg.jpegcoef-tmp-1").write_bytes(b"stale")
    r = prepare(src, tmp_path / "dst", short_side=32, quality=90, workers=2, progress=False)
    assert r["done"] == 0 and r["existing"] == 3 and len(r["failed"]) == 1
    assert not list((tmp_path / "dst").rglob(".*tmp*"))
    with pytest.raises(ValueError, match="inside"):
        prepare(src, src / "out", progress=False)


@pytest.mark.parametrize("name", ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg"])
def test_fast_path_equals_reference_transforms(folder, name):
    """dct_sample (fused gather) == host(dct_crop(...)) built from jpegcoef.transforms."""
    path = next(folder.rglob(name))
    c = jpegcoef.read(path)
    for fmt in (F.get("dctnet", channels=24), F.get("gueguen"), F.get("dctnet", channels=48, upsample="dct")):
        for crop in (32, 64):
            for train, seed in ((False, 0), (True, 1), (True, 2), (True, 5)):
                fast = D.dct_sample(c, fmt, crop, train, np.random.default_rng(seed))
                ref = fmt.host(D.dct_crop(c, crop, train, np.random.default_rng(seed)))
                assert fast.keys() == ref.keys()
                for k in ref:
                    np.testing.assert_array_equal(fast[k], ref[k], err_msg=f"{name} {fmt.name} {crop} {seed} {k}")


# ------------------------------------------------------------------------------------------------
# The training path reads only the rows down to the crop's bottom (frame header first)
# ------------------------------------------------------------------------------------------------
def _synthetic_file(path, w, h, sampling, seed, colorspace="ycbcr"):
    """A JPEG of any sampling (written losslessly from random coefficients)."""
    rng = np.random.default_rng(seed)
    hmax, vmax = max(s[0] for s in sampling), max(s[1] for s in sampling)
    my, mx = -(-h // (8 * vmax)), -(-w // (8 * hmax))
    comps = [jpegcoef.Component(rng.integers(-30, 30, (my * v, mx * hh, 8, 8)), rng.integers(1, 9, (8, 8)), (hh, v))
             for hh, v in sampling]
    jpegcoef.write(jpegcoef.Coefficients(w, h, comps, colorspace=colorspace), path)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> Path:
    """Files of every layout the DCT pipeline treats differently, larger than a 64 crop in both
    directions (or smaller: padding), sequential and progressive, with a long APP segment."""
    root = tmp_path_factory.mktemp("layouts")
    for i, (w, h, kind, extra) in enumerate([
            (150, 120, "420", {}), (131, 101, "444", {}), (120, 150, "422", {}), (140, 90, "gray", {}),
            (150, 120, "420", {"progressive": True}), (100, 140, "444", {"progressive": True}),
            (48, 150, "420", {}), (140, 40, "444", {}), (110, 100, "cmyk", {})]):
        img = _photo(w, h, i)
        if kind == "gray":
            img.convert("L").save(root / f"{i}.jpg", quality=90, **extra)
        elif kind == "cmyk":
            img.convert("CMYK").save(root / f"{i}.jpg", quality=90)
        else:
            img.save(root / f"{i}.jpg", quality=90, subsampling={"444": 0, "422": 1, "420": 2}[kind], **extra)
    _synthetic_file(root / "s440.jpg", 120, 130, [(1, 2), (1, 1), (1, 1)], 1)
    _synthetic_file(root / "s411.jpg", 130, 100, [(4, 1), (1, 1), (1, 1)], 2)
    _synthetic_file(root / "smix.jpg", 100, 120, [(2, 2), (1, 2), (2, 1)], 3)
    data = (root / "0.jpg").read_bytes()  # two 40 KB COM segments before the frame header
    com = b"\xff\xfe" + (2 + 40000).to_bytes(2, "big") + bytes(40000)
    (root / "long_header.jpg").write_bytes(data[:2] + com + com + data[2:])
    return root


def _reference(path, fmt, crop, train, seed):
    """The pipeline without the header shortcut: whole file read, whole-file conversion where
    the loader does it, then host(dct_crop(...)) built from jpegcoef.transforms."""
    rng = np.random.default_rng(seed) if train else None
    c = jpegcoef.read(path)
    kind = Cv.sampling_kind(c)
    if kind != "420" and (kind in ("cmyk", "ycck") or not P._mcu_divides_16(c)):
        c, _ = Cv.to_420(c, src=path)
    return fmt.host(D.dct_crop(c, crop, train, rng))


def test_frame_header_matches_libjpeg(layouts):
    for path in sorted(layouts.glob("*.jpg")):
        c = jpegcoef.read(path)
        assert D.file_frame(str(path)) == (c.height, c.width, tuple(x.sampling for x in c.components)), path.name
    assert D.jpeg_frame((layouts / "long_header.jpg").read_bytes()[:20000]) is None  # SOF not in reach
    assert D.jpeg_frame(b"this is not a jpeg") is None
    assert D.jpeg_frame(b"\xff\xd8\xff\xda\x00\x08" + bytes(20)) is None  # scan before any frame
    assert D.jpeg_frame(b"\xff\xd8\xff\xe0\x00") is None  # cut short


@pytest.mark.parametrize("train", [True, False])
def test_top_rows_read_equals_whole_file_pipeline(layouts, train, monkeypatch):
    """Crop window from the frame header, read(max_height=window bottom): the same crop, flip
    and values as reading the whole file, for every layout; max_height really is used."""
    heights = []
    real = jpegcoef.reader.read

    def spy(src, **kw):
        heights.append(kw.get("max_height"))
        return real(src, **kw)

    files = sorted(str(p) for p in layouts.glob("*.jpg"))
    for fmt in (F.get("dctnet", channels=24), F.get("gueguen")):
        ds = D.JpegFolder(files, fmt, augment="crop", train=train, crop=64)
        for i, path in enumerate(files):
            for seed in (range(6) if train else [None]):
                want = _reference(path, fmt, 64, train, seed)
                monkeypatch.setattr(jpegcoef.reader, "read", spy)
                host, _, meta = ds.load(i, seed)
                monkeypatch.setattr(jpegcoef.reader, "read", real)
                assert meta["kind"] == Cv.sampling_kind(jpegcoef.read(path))
                for k in want:
                    np.testing.assert_array_equal(host[k], want[k], err_msg=f"{path} {seed} {k}")
    assert sum(h is not None for h in heights) > len(heights) // 2


def test_header_disagreeing_with_libjpeg_falls_back_to_whole_read(layouts, monkeypatch):
    path = str(layouts / "1.jpg")
    fmt = F.get("dctnet", channels=24)
    real = D.file_frame
    calls = []
    monkeypatch.setattr(Pl, "file_frame", lambda p: calls.append(p) or (lambda h, w, s: (h, w + 16, s))(*real(p)))
    ds = D.JpegFolder([path], fmt, augment="crop", train=True, crop=64)
    for seed in range(4):
        host, _, _ = ds.load(0, seed)
        want = _reference(path, fmt, 64, True, seed)
        for k in want:
            np.testing.assert_array_equal(host[k], want[k])
    assert len(calls) == 4  # the lying header walk was used


def test_worker_collate_sends_one_shared_block(folder, monkeypatch):
    """In a worker the batch's tensors share one shared-memory block; pickled for the main
    process it carries that block once, and unpickles to equal ordinary tensors."""
    import io
    import pickle
    from multiprocessing import reduction

    import torch.multiprocessing  # noqa: F401 - registers the shared-memory reductions
    from torch.utils.data._utils import worker as W

    ds = D.JpegFolder(folder, "dctnet", augment="crop", channels=24, train=True, crop=32, on_error="skip")
    samples = [ds.load(i, i) for i in range(len(ds))]  # includes the broken file (skipped)
    plain_x, plain_y = D.collate(samples, ds.format)
    monkeypatch.setattr(W, "_worker_info", object())  # as inside a DataLoader worker
    x, y = batch = D.collate(samples, ds.format)
    assert all(t.is_shared() for t in (y, *(v for k, v in x.items() if k != "_meta")))
    assert len({t.untyped_storage().data_ptr() for t in (y, x["y"], x["cb"], x["q"])}) == 1
    fds = []
    real = reduction.DupFd
    monkeypatch.setattr(reduction, "DupFd", lambda fd: fds.append(fd) or real(fd))
    buf = io.BytesIO()
    reduction.ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(batch)
    assert len(fds) == 1
    x2, y2 = pickle.loads(buf.getvalue())
    assert type(x2) is dict and list(x2) == list(plain_x) and torch.equal(y2, plain_y) and y2.dtype == torch.long
    for k in ("y", "cb", "cr", "q"):
        assert x2[k].dtype == plain_x[k].dtype and torch.equal(x2[k], plain_x[k])
    assert x2["_meta"] == plain_x["_meta"]


@pytest.mark.parametrize("name,opts", [("dctnet", {"channels": 24, "augment": "crop"}), ("gueguen", {"augment": "crop"}),
                                       ("rgb", {}), ("dctnet", {"channels": 24}), ("gueguen", {})])
def test_worker_batches_through_the_ring_equal_the_ordinary_path(folder, name, opts, monkeypatch):
    """With workers, make_loader's batches travel through BatchRing slots (the main process
    copies them out) and equal those of ring=False and of workers=0, epoch after epoch."""
    reads = []
    real = D.BatchRing.read
    monkeypatch.setattr(D.BatchRing, "read", lambda self, msg, pin=False: reads.append(msg["slot"]) or real(self, msg, pin))
    kw = dict(train=True, crop=32, batch_size=2, on_error="skip", seed=5, drop_last=False, **opts)
    loaders = [D.make_loader(folder, name, workers=w, ring=r, **kw) for w, r in ((0, True), (2, True), (2, False))]
    assert loaders[1].collate_fn.ring is not None and loaders[2].collate_fn.ring is None
    assert loaders[1].collate_fn.ring.nbytes == loaders[1].dataset.pipeline.batch_bytes(2)
    batches = 0
    for epoch in range(3):
        (x0, y0), (x1, y1), (x2, y2) = (_all(loader) for loader in loaders)
        assert len(x0) == len(x1) == len(x2) >= 3
        batches += len(x1)
        for a, b, c, ya, yb, yc in zip(x0, x1, x2, y0, y1, y2):
            assert list(a) == list(b) == list(c)
            assert torch.equal(ya, yb) and torch.equal(ya, yc) and yb.dtype == torch.long
            for k in a:
                assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) and torch.equal(a[k], c[k])
    rrc = name != "rgb" and "augment" not in opts  # windows vary: batches larger than a slot bypass it
    assert (0 < len(reads) <= batches if rrc else len(reads) == batches) and len(set(reads)) == 6  # 2 x 3 slots
    assert loaders[1].dataset.kinds == loaders[0].dataset.kinds and len(loaders[1].dataset.skipped) == 1


def test_ring_overwrite_is_an_error_and_large_batches_take_the_ordinary_path(folder, monkeypatch):
    ds = D.JpegFolder(folder, "dctnet", augment="crop", channels=24, train=True, crop=32, on_error="skip")
    samples = [ds.load(i, i) for i in range(len(ds))]
    plain_x, plain_y = D.collate(samples, ds.format)
    monkeypatch.setattr(R, "get_worker_info", lambda: type("Info", (), {"id": 0})())
    ring = D.BatchRing(1, 1, ds.format.batch_bytes(32, len(samples)))
    first, _ = D.collate(samples, ds.format, ring)
    second, none = D.collate(samples[:3], ds.format, ring)  # the same (only) slot again
    assert none is None and set(first) == {"\0ring", "_meta"} and first["_meta"] == plain_x["_meta"]
    with pytest.raises(RuntimeError, match="overwritten"):
        ring.read(first["\0ring"])
    got = ring.read(second["\0ring"])
    want_x, want_y = D.collate(samples[:3], ds.format)
    assert torch.equal(got.pop("\0labels"), want_y)
    assert list(got) == [k for k in want_x if k != "_meta"] and all(torch.equal(got[k], want_x[k]) for k in got)
    small = D.BatchRing(1, 1, 64)  # too small: the ordinary shared-memory block
    x, y = D.collate(samples, ds.format, small)
    assert "\0ring" not in x and torch.equal(y, plain_y) and torch.equal(x["y"], plain_x["y"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_pin_memory_without_an_accelerator_only_warns(folder):
    """pin_memory=True on a machine without CUDA: DataLoader warns and does not pin; the ring's
    copy-out must not try to pin either (it raised before)."""
    kw = dict(train=False, crop=32, batch_size=4, channels=24, on_error="skip", drop_last=False)
    plain = _all(D.make_loader(folder, "dctnet", augment="crop", workers=0, **kw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _all(D.make_loader(folder, "dctnet", augment="crop", workers=2, pin_memory=True, **kw))
    assert torch.equal(torch.cat(plain[1]), torch.cat(got[1]))
    for a, b in zip(plain[0], got[0]):
        assert torch.equal(a["y"], b["y"]) and torch.equal(a["cb"], b["cb"])
