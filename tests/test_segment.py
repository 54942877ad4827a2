"""Dense prediction: the synthetic set's masks and experiments/segment.py (issue 14 item 3)."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jpegcoef import datasets as S
from jpegcoef import formats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

import segment  # noqa: E402

TINY = dict(classes=3, train_per_class=3, val_per_class=2, size=(64, 80), progress=False)
BACKBONES = ("resnet50", "dctnet24", "late_concat_rfa_thinner")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("seg")
    return S.synthetic(base, masks=True, **TINY), S.synthetic(base, **TINY)


# -- the dataset -------------------------------------------------------------------------------
def test_default_dataset_unchanged():
    # the default parameters and cache names as they were before masks existed
    assert S._params() == {"classes": 10, "train_per_class": 120, "val_per_class": 40, "size": [128, 192],
                           "difficulty": 0.5, "seed": 0, "quality": [75, 95]}
    assert S._name(S._params()) == "synthetic-v1"
    assert S._name(S._params(classes=10, train_per_class=4, val_per_class=2, size=(64, 80))) == "synthetic-v1-f8cd857ba7"
    assert S._name(S._params(), masks=True) == "synthetic-v1-masks"
    # the drawn pixels: sha256 recorded from the generator before the mask option was added
    h = hashlib.sha256()
    for label in (0, 3, 7):
        for i in range(2):
            h.update(S._draw(label, np.random.default_rng([0, 0, label, i]), (96, 112), 0.5).astype(np.uint8).tobytes())
    assert h.hexdigest() == "0a6ef8c47509664a3b88a3c384a7304ce35890ddd420fbc160d94e25010f206e"


def test_masks_beside_the_same_jpegs(tiny):
    with_masks, plain = tiny
    assert with_masks.name == plain.name + "-masks" and plain.name == S._name(S._params(**{
        k: v for k, v in TINY.items() if k != "progress"}))
    jpgs = sorted(p.relative_to(plain) for p in plain.rglob("*.jpg"))
    assert len(jpgs) == 3 * 5 and jpgs == sorted(p.relative_to(with_masks) for p in with_masks.rglob("*.jpg"))
    assert not list(plain.rglob("*.npy"))
    names = S.class_names(3)
    for rel in jpgs:
        assert (with_masks / rel).read_bytes() == (plain / rel).read_bytes()
        mask = np.load((with_masks / rel).with_suffix(".npy"))
        with Image.open(with_masks / rel) as im:
            assert mask.shape == (im.height, im.width) and mask.dtype == np.uint8
        label = names.index(rel.parent.name)
        assert set(np.unique(mask)) == {0, 1 + label}  # background and the folder's class
        assert 0.02 < (mask > 0).mean() < 0.6
    manifest = json.loads((with_masks / "manifest.json").read_text())
    assert manifest["masks"]["labels"]["0"].startswith("background")
    assert manifest["masks"]["labels"][str(1 + 2)] == names[2]
    assert manifest["params"] == json.loads((plain / "manifest.json").read_text())["params"]
    # the masks are no images to an ImageFolder scan (the RGB format would take a .png for one)
    from jpegcoef.data import JpegFolder
    assert len(JpegFolder(with_masks / "train", "rgb", train=False, crop=48)) == 3 * 3


def test_masks_deterministic(tiny, tmp_path):
    again = S.synthetic(tmp_path, masks=True, **TINY)
    for p in sorted(tiny[0].rglob("*.npy")):
        assert np.array_equal(np.load(p), np.load(again / p.relative_to(tiny[0])))


def test_mask_covers_the_textured_object():
    """The object carries a strong high-frequency texture, the background is smooth: the local
    high-pass energy is far higher inside the mask than outside it (and it is the shape: a ring
    has background at its centre)."""
    for label in range(10):
        px, mask = S._draw(label, np.random.default_rng([5, label]), (96, 96), 0.0, mask=True)
        luma = px @ np.array([0.299, 0.587, 0.114])
        lap = np.abs(4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:])
        m = mask[1:-1, 1:-1] > 0
        inside = m.copy()
        outside = ~m
        for axis in (0, 1):  # leave the 2-px border of the mask out of both
            for shift in (-2, -1, 1, 2):
                inside &= np.roll(m, shift, axis)
                outside &= ~np.roll(m, shift, axis)
        assert lap[inside].mean() > 2.5 * lap[outside].mean(), label
        if S._pairs(10)[label][0] == 3:  # ring: the centre of the object's bounding box is background
            ys, xs = np.nonzero(mask)
            assert mask[(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2] == 0


# -- crops, features, head ---------------------------------------------------------------------
def test_windows_align_dct_input_pixels_and_mask(tiny):
    """The DCT input (the library's BlockCrop) and the pixel/mask window are the same crop,
    flipped alike: the luma DC of each 8x8 block follows the block means of the decoded pixels."""
    root = tiny[0] / "val"
    classes = S.class_names(3)
    dct = segment.SegmentationSet(root, classes, formats.get("gueguen"), 48, True, seed=3)
    rgb = segment.SegmentationSet(root, classes, formats.get("rgb"), 48, True, seed=3)
    flips = set()
    for epoch in range(3):
        dct.epoch = rgb.epoch = epoch
        for i in range(len(dct)):
            (h_dct, m_dct), (h_rgb, m_rgb) = dct[i], rgb[i]
            assert np.array_equal(m_dct, m_rgb) and m_dct.shape == (48, 48)
            y = formats.get("gueguen").device(dct.collate([(h_dct, m_dct)])[0])[0][0, 0].numpy()
            px = h_rgb["rgb"].astype(np.float64)
            luma = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]
            blocks = luma.reshape(6, 8, 6, 8).mean(axis=(1, 3))
            assert np.corrcoef(y.ravel(), blocks.ravel())[0, 1] > 0.97
            mirrored = blocks[:, ::-1]
            if not np.allclose(mirrored, blocks, atol=2):
                assert np.corrcoef(y.ravel(), mirrored.ravel())[0, 1] < np.corrcoef(y.ravel(), blocks.ravel())[0, 1]
            _, _, flip = segment.window(*np.load(rgb.items[i][1]).shape, 48, True,
                                        segment.sample_seed(3, epoch, i))
            flips.add(flip)
    assert flips == {True, False}
    # evaluation: the centre window, the same every time
    ev = segment.SegmentationSet(root, classes, formats.get("dctnet", channels=24), 48, False, seed=3)
    a, b = ev[0], ev[0]
    assert np.array_equal(a[1], b[1]) and all(np.array_equal(a[0][k], b[0][k]) for k in a[0])


@pytest.mark.parametrize("variant", BACKBONES)
def test_feature_shapes_and_head_output(tiny, variant):
    crop = segment.build_parser().get_default("crop")  # the segmentation crop (64)
    model, name, _ = segment.build(variant, 4, width=16)
    bb = model.backbone
    ds = segment.SegmentationSet(tiny[0] / "val", S.class_names(3), formats.get(bb.input_format, **bb.input_options),
                                 crop, False, seed=0)
    batch, target = ds.collate([ds[0], ds[1]])
    x = ds.fmt.device(batch)
    model.eval()
    with torch.no_grad():
        feats = bb(*x) if isinstance(x, tuple) else bb(x)
        logits = model(x, (crop, crop))
    assert len(feats) == len(bb.feature_info) >= 3
    reductions = bb.feature_info.reduction()
    assert reductions == sorted(set(reductions))  # one level per reduction, finest first
    assert reductions[0] == (4 if name == "resnet50" else 8)
    for f, ch, red in zip(feats, bb.feature_info.channels(), reductions):
        assert f.shape == (2, ch, crop // red, crop // red)
    assert logits.shape == (2, 4, crop, crop) and target.shape == (2, crop, crop)


def test_pyramid_indices_take_the_deepest_stage_per_reduction():
    from jpegcoef import models

    info = models.create("dctnet", 10, features_only=True, channels=24).feature_info
    assert info.reduction() == [8, 8, 16, 32]
    assert segment.pyramid_indices(info) == (1, 2, 3)
    info = models.create("resnet50", 10, features_only=True).feature_info
    assert segment.pyramid_indices(info) == (1, 2, 3, 4)  # not the stem at reduction 2


def test_scores():
    conf = np.array([[50, 5, 0, 0], [5, 10, 0, 0], [0, 0, 0, 0], [10, 0, 0, 20]])
    s = segment.scores(conf)
    ious = [50 / 70, 10 / 20, None, 20 / 30]
    assert s["iou"][2] is None and s["labels_present"] == 3
    assert s["iou"][0] == pytest.approx(ious[0]) and s["iou"][3] == pytest.approx(ious[3])
    assert s["miou"] == pytest.approx((ious[0] + ious[1] + ious[3]) / 3)
    assert s["pixel_accuracy"] == pytest.approx(80 / 100)
    pred = torch.tensor([[0, 1], [1, 3]])
    gt = torch.tensor([[0, 1], [0, 3]])
    assert segment.confusion(pred, gt, 4).tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


# -- the command -------------------------------------------------------------------------------
def test_end_to_end_tiny_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JPEGCOEF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "res"
    argv = ["--backbones", ",".join(BACKBONES), "--epochs", "1", "--max-steps", "1", "--crop", "32",
            "--batch-size", "4", "--width", "16", "--threads", "1", "--no-progress", "--results-dir", str(out),
            "--synthetic-opt", "classes=2", "--synthetic-opt", "train_per_class=2",
            "--synthetic-opt", "val_per_class=1", "--synthetic-opt", "size=(48,48)"]
    assert segment.main(argv) == 0
    files = list(out.glob("segment-synthetic-*.json"))
    assert len(files) == 1
    r = json.loads(files[0].read_text())
    assert r["schema"] == "jpegcoef.segment/1" and r["dataset"]["labels"] == ["background"] + S.class_names(2)
    assert r["dataset"]["train_images"] == 4 and r["dataset"]["val_images"] == 2
    assert (tmp_path / "cache" / (S._name(S._params(classes=2, train_per_class=2, val_per_class=1,
                                                     size=(48, 48)), masks=True))).is_dir()
    assert [b["backbone"] for b in r["results"]] == list(BACKBONES)
    for b in r["results"]:
        m, meas = b["metrics"], b["measures"]
        assert 0.0 <= m["miou"] <= 1.0 and 0.0 <= m["pixel_accuracy"] <= 1.0
        assert np.sum(m["confusion"]) == 2 * 32 * 32 and len(m["iou"]) == 3
        assert b["train"]["steps"] == 1 and b["train"]["images"] == 4
        assert meas["train_images_per_s"] > 0 and meas["inference_images_per_s"] > 0
        assert meas["params"] == meas["params_backbone"] + meas["params_head"] > 1e6
    assert "--max-steps 1" in r["environment"]["command"]
    assert "results ->" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--crop", "40"], "multiple of 16"),
    (["--crop", "0"], "must be > 0"),
    (["--epochs", "x"], "not a number"),
    (["--backbones", "resnet50,nosuchnet"], "unknown variant 'nosuchnet'"),
    (["--backbones", ","], "empty"),
    (["--synthetic-opt", "colour=3"], "KEY one of"),
    (["--synthetic-opt", "classes=40"], "classes must be 2..25"),
    (["--crop", "144"], "larger than the smallest image side"),
])
def test_bad_arguments_are_one_line_errors(argv, words, tmp_path, capsys):
    assert segment.main(argv + ["--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("segment.py: error:")
    assert not list(tmp_path.iterdir())
