"""jpegcoef.inference without training: inputs are brought to the training images' scale
(the recorded 'jpegcoef prepare' settings), non-JPEG files work for the DCT formats, and a
checkpoint without an inference record is refused by name."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from jpegcoef import formats, inference
from jpegcoef.prepare import reencode


def _photo(path, w=200, h=150, fmt="JPEG"):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    px = np.stack([(x * 255 // w), (y * 255 // h), rng.integers(0, 255, (h, w))], -1).astype(np.uint8)
    Image.fromarray(px).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


def _clf(fmt_name="dctnet", prepared=None, **opts):
    fmt = formats.get(fmt_name, **opts)
    return inference.Classifier(torch.nn.Identity(), fmt, ["a", "b"], 32, {"prepared": prepared})


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_recorded_prepare_settings_are_applied(tmp_path):
    src = _photo(tmp_path / "big.jpg")
    ref = tmp_path / "ref.jpg"
    ref.write_bytes(reencode(src, 48, 95))
    got, good, errors = _clf(prepared={"short_side": 48, "quality": 95}).host_batch([src])
    want, _, _ = _clf().host_batch([ref])
    assert good == [0] and not errors
    _same(got, want)
    plain, _, _ = _clf().host_batch([src])  # without the record: the file as it is
    assert not torch.equal(plain["y"], got["y"])


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_dct_formats_take_other_image_files(tmp_path, fmt):
    src = _photo(tmp_path / f"x.{fmt.lower()}", fmt=fmt)
    ref = tmp_path / "ref.jpg"
    ref.write_bytes(reencode(src, 150, 95))  # at its own size
    got, good, errors = _clf("gueguen").host_batch([src, tmp_path / "missing.png"])
    assert good == [0] and errors == {1: "does not exist"}
    _same(got, _clf("gueguen").host_batch([ref])[0])


def test_a_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="not a jpegcoef model checkpoint"):
        inference.load(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inference.load(tmp_path / "none.pt")
