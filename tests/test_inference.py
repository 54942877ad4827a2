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


def _untrained(fmt_name: str, model: str) -> inference.Classifier:
    from jpegcoef import models

    net = models.create(model, num_classes=3).eval()
    fopts = dict(getattr(net, "input_options", {}))  # the format the model asks for (its recipe)
    rec = inference.model_record(model=model, model_options={}, classes=["a", "b", "c"],
                                 input_format=fmt_name, format_options=fopts, stats=None, crop=32,
                                 augment="crop" if fmt_name != "rgb" else None)
    return inference.Classifier(net, formats.get(fmt_name, **fopts), ["a", "b", "c"], 32, rec)


def _random_batch(clf: inference.Classifier, n: int = 5) -> dict:
    """Host tensors of the exported programs' shapes and dtypes (crop pipeline), random values."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for k, v in inference._zeros(clf).items():
        shape = (n, *v.shape[1:])
        if k == "q":
            out[k] = torch.randint(1, 40, shape, generator=g).to(torch.uint16)
        elif v.dtype == torch.uint8:
            out[k] = torch.randint(0, 256, shape, generator=g).to(torch.uint8)
        else:
            out[k] = torch.randint(-60, 60, shape, generator=g).to(torch.int16)
    return out


def _onnx_ready() -> bool:
    import importlib.util
    return all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


@pytest.mark.parametrize("kind,suffix", [
    ("export", ".pt2"), ("torchscript", ".pt"),
    pytest.param("onnx", ".onnx", marks=pytest.mark.skipif(
        not _onnx_ready(), reason="ONNX export/run needs onnx, onnxscript and onnxruntime"))])
def test_each_export_kind_gives_the_eager_models_outputs(tmp_path, kind, suffix):
    """A fresh (untrained) gueguen model with its device step, exported with an example batch of
    2, run at batch 5 on random coefficients and tables: the same logits as the eager model's.
    Tolerance: torch.export/TorchScript run torch's own kernels (1e-5); ONNX Runtime's
    convolutions sum in another order (1e-4 of the largest logit)."""
    clf = _untrained("gueguen", "late_concat_rfa_thinner")
    out = inference.export(clf, tmp_path / f"m{suffix}", kind=kind)
    module, meta = inference.load_exported(out)
    assert meta["classes"] == ["a", "b", "c"] and meta["export_kind"] == kind
    assert meta["inputs"]["q"]["dtype"] == ("int32" if kind == "onnx" else "uint16")
    batch = _random_batch(clf)
    args = [batch[k] for k in inference.input_names(clf.format)]
    with torch.no_grad():
        got, want = module(*args), clf.forward_host(batch, augment="crop")
    assert got.shape == (5, 3)
    scale = float(want.abs().max())
    tol = 1e-4 * scale if kind == "onnx" else 1e-5 * max(1.0, scale)
    torch.testing.assert_close(got, want, rtol=0, atol=tol)


def test_export_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        inference.export(_untrained("gueguen", "late_concat_rfa_thinner"), tmp_path / "m", kind="tflite")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inference.load_exported(tmp_path / "none.pt2")


def test_cli_export_kind(tmp_path, capsys):
    """``jpegcoef export --kind torchscript`` on a checkpoint (fresh weights, the record
    experiments/run.py writes): the file gives the eager model's logits; an unknown kind is a
    usage error (status 2)."""
    from jpegcoef.cli import main

    clf = _untrained("gueguen", "late_concat_rfa_thinner")
    ckpt = tmp_path / "model.pt"
    torch.save({"model": clf.model.state_dict(), "inference": clf.record}, ckpt)
    assert main(["export", "--kind", "torchscript", str(ckpt), str(tmp_path / "m.pt")]) == 0
    assert "TorchScript" in capsys.readouterr().out
    module, meta = inference.load_exported(tmp_path / "m.pt")
    assert meta["export_kind"] == "torchscript"
    batch = _random_batch(clf, 3)
    with torch.no_grad():
        got = module(*[batch[k] for k in inference.input_names(clf.format)])
        want = inference.load(ckpt).forward_host(batch, augment="crop")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * max(1.0, float(want.abs().max())))
    assert main(["export", "--kind", "tflite", str(ckpt), str(tmp_path / "m.x")]) == 2
    assert "--kind" in capsys.readouterr().err
