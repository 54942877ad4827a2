"""ImageFolder semantics of jpegcoef.folder / make_loader, as torchvision's (issue 13): one class
list for every split, hidden entries ignored, non-JPEG images decoded for the RGB baseline and
refused (pointing at `jpegcoef prepare`) for the DCT formats, fewer images than a batch."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jpegcoef import data as D
from jpegcoef.loader import TooFewImages

SRC = Path(__file__).parent / "data" / "gen-420-odd-477x355.jpg"


def _tree(root: Path, spec: dict) -> Path:
    for rel, kind in spec.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if kind == "jpg":
            shutil.copy(SRC, p)
        else:
            Image.fromarray(np.full((40, 48, 3), 120, np.uint8)).save(p)
    return root


def test_one_class_list_for_every_split(tmp_path):
    train = _tree(tmp_path / "train", {"a/1.jpg": "jpg", "b/1.jpg": "jpg", "c/1.jpg": "jpg"})
    val = _tree(tmp_path / "val", {"a/1.jpg": "jpg", "c/1.jpg": "jpg"})  # lacks b
    tr = D.JpegFolder(train, "dctnet", crop=32)
    with pytest.warns(UserWarning, match="no folder for 1 of the 3 classes: b"):
        va = D.JpegFolder(val, "dctnet", crop=32, train=False, classes=tr.classes)
    assert va.classes == ["a", "b", "c"] and va.labels == [0, 2]  # c keeps train's index
    own = D.JpegFolder(val, "dctnet", crop=32, train=False)  # without classes=: its own sorted list
    assert own.labels == [0, 1]
    _tree(tmp_path / "val", {"zebra/1.jpg": "jpg"})
    with pytest.raises(ValueError, match="zebra"):
        D.JpegFolder(val, "dctnet", crop=32, train=False, classes=tr.classes)


def test_hidden_entries_are_ignored_everywhere(tmp_path):
    root = _tree(tmp_path, {"a/1.jpg": "jpg", "a/.ipynb_checkpoints/1-checkpoint.jpg": "jpg",
                            ".ipynb_checkpoints/x.jpg": "jpg", "b/.hidden.jpg": "jpg", "b/2.jpg": "jpg"})
    ds = D.JpegFolder(root, "gueguen", crop=32)
    assert ds.classes == ["a", "b"] and [Path(p).name for p in ds.paths] == ["1.jpg", "2.jpg"]


def test_non_jpeg_images_rgb_decodes_dct_refuses(tmp_path):
    root = _tree(tmp_path, {"a/1.jpg": "jpg", "a/2.png": "png", "b/3.webp": "webp"})
    rgb = D.JpegFolder(root, "rgb", crop=32)
    assert len(rgb) == 3
    host, label, meta = rgb.load(1, seed=0)
    assert host["rgb"].shape == (3, 32, 32) and meta["error"] is None
    with pytest.raises(ValueError, match=r"2 non-JPEG image.*jpegcoef prepare"):
        D.JpegFolder(root, "dctnet", crop=32)


def test_fewer_images_than_a_batch_says_so(tmp_path):
    root = _tree(tmp_path, {"a/1.jpg": "jpg", "b/1.jpg": "jpg", "b/2.jpg": "jpg"})
    with pytest.raises(TooFewImages, match="3 images give no full batch of 8; use a batch size of 3 or less"):
        D.make_loader(root, "dctnet", train=True, crop=32, batch_size=8)
    assert len(D.make_loader(root, "dctnet", train=False, crop=32, batch_size=8)) == 1  # eval keeps it


def test_missing_root_says_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.JpegFolder(tmp_path / "nope", "dctnet", crop=32)
