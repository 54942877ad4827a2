"""The Gueguen input recipe: frequency subsets (dropped or masked), the input normalisation
(per-coefficient BN, one scale per component, a learned per-frequency gain), and their record in
results and checkpoints."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import models
from jpegcoef import formats, read
from jpegcoef.channels import SUBSETS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

from harness import schedule  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _jpeg(seed: int = 0, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    px = (rng.random((size // 8, size // 8, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(px).resize((size, size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85, subsampling=2)
    return buf.getvalue()


def _batch(fmt: formats.Format, n: int = 2):
    return fmt.collate([fmt.host(read(_jpeg(i))) for i in range(n)])


# -- formats ---------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [24, 64])
def test_gueguen_subset_is_the_full_input_at_those_frequencies(channels):
    full, sub = formats.get("gueguen"), formats.get("gueguen", channels=channels)
    s = SUBSETS[channels]
    assert sub.options == {"channels": channels, "norm": "coef"} and sub.name == f"gueguen{channels}"
    yb, cb = full.device(_batch(full))
    ys, cs = sub.device(_batch(sub))
    assert ys.shape[1] == len(s["y"]) and cs.shape[1] == 2 * len(s["c"])
    ci = list(s["c"]) + [64 + i for i in s["c"]]
    torch.testing.assert_close(ys, yb[:, list(s["y"])], rtol=0, atol=0)
    torch.testing.assert_close(cs, cb[:, ci], rtol=0, atol=0)
    # dropped frequencies are never gathered: fewer bytes cross to the device
    assert sub.bytes_per_image(_batch(sub)) < full.bytes_per_image(_batch(full))


def test_gueguen_from_planes_selects_the_subset():
    sub = formats.get("gueguen", channels=24)
    g = torch.Generator().manual_seed(0)
    y, cb, cr = (torch.randn(2, 64, 4, 4, generator=g), torch.randn(2, 64, 2, 2, generator=g),
                 torch.randn(2, 64, 2, 2, generator=g))
    yo, co = sub.from_planes(y, cb, cr)
    assert yo.shape == (2, 16, 4, 4) and co.shape == (2, 8, 2, 2)
    s = SUBSETS[24]
    st = sub.std[64 + np.array(s["c"])]
    mean = sub.mean[64 + np.array(s["c"])]
    want = (cb[:, list(s["c"])] - torch.tensor(mean)[None, :, None, None]) / torch.tensor(st)[None, :, None, None]
    torch.testing.assert_close(co[:, :4], want, rtol=1e-5, atol=1e-5)


def test_component_norm_keeps_the_natural_spectrum():
    """norm='component': one scale per component, the RMS of its 64 coefficient stds (the
    pixel std, since the JPEG DCT is orthonormal): the ratio of two frequencies' inputs is the
    ratio of their dequantised coefficients (after the mean), unlike norm='coef'."""
    mean, std = formats.load_stats(None)
    cs = formats.component_std(std)
    for c in range(3):
        blk = std[64 * c:64 * (c + 1)].astype(np.float64)
        assert np.allclose(cs[64 * c:64 * (c + 1)], np.sqrt((blk ** 2).mean()), rtol=1e-6)
    coef, comp = formats.get("gueguen"), formats.get("gueguen", norm="component")
    b = _batch(coef)
    yq = b["y"].float() * b["q"][:, 0, :].float()[:, :, None, None]       # dequantised Y
    y_comp = comp.device(b)[0]
    y_coef = coef.device(b)[0]
    back = y_comp * float(cs[0]) + torch.tensor(mean[:64])[None, :, None, None]
    torch.testing.assert_close(back, yq, rtol=1e-4, atol=1e-2)
    # the high frequencies keep their small natural scale with 'component', not with 'coef'
    hi = [63, 62, 55, 54]
    assert y_comp[:, hi].abs().mean() < 0.2 * y_comp[:, 0].abs().mean()
    assert y_coef[:, hi].abs().mean() > y_comp[:, hi].abs().mean()


def test_format_option_errors():
    with pytest.raises(ValueError, match="norm must be one of"):
        formats.get("gueguen", norm="pixel")
    with pytest.raises(ValueError, match="channels must be one of"):
        formats.get("gueguen", channels=10)
    with pytest.raises(ValueError, match="upsample is a dctnet option"):
        formats.get("gueguen", upsample="repeat")


# -- models ----------------------------------------------------------------------------------
GUEGUEN = ["late_concat_rfa_thinner", "late_concat_rfa", "upsampling_rfa"]


@pytest.mark.parametrize("variant", GUEGUEN)
def test_dropped_channels_narrow_the_first_layers(variant):
    full = models.create(variant, 10, recipe="paper")
    sub = models.create(variant, 10, recipe="paper", channels=24)
    assert sub.input_options == {"channels": 24, "norm": "coef"}
    assert [t.shape[1] for t in sub.example_input(1, 64)] == [16, 8]
    assert sum(p.numel() for p in sub.parameters()) < sum(p.numel() for p in full.parameters())
    macs = {m: models.summary(variant, 10, size=64, **o)["macs"]
            for m, o in (("full", {"recipe": "paper"}), ("sub", {"recipe": "paper", "channels": 24}))}
    assert macs["sub"] < macs["full"]
    assert sub(sub.example_input(2, 64)).shape == (2, 10)


def test_input_norm_options_build_what_they_say():
    bn = models.create("late_concat_rfa_thinner", 10, recipe="paper")
    natural = models.create("late_concat_rfa_thinner", 10, recipe="paper", input_norm="natural")
    gain = models.create("late_concat_rfa_thinner", 10, recipe="paper", input_norm="gain")
    assert isinstance(bn.bn_y, torch.nn.BatchNorm2d)
    assert isinstance(natural.bn_y, torch.nn.Identity) and isinstance(natural.bn_cbcr, torch.nn.Identity)
    assert natural.input_options["norm"] == gain.input_options["norm"] == "component"
    assert bn.input_options["norm"] == "coef"
    x = natural.example_input(2, 32)
    natural.eval()
    # no input normalisation: scaling one input channel changes the output (a BN would undo it)
    y2 = x[0].clone()
    y2[:, 5] *= 3.0
    assert not torch.allclose(natural(x), natural((y2, x[1])))
    # the gain: 1-D parameter (no weight decay), learns
    g = gain.bn_y.g
    assert g.dim() == 1 and g.shape == (64,) and torch.all(g == 1)
    opt = schedule.make_optimizer(gain, 0.1, 0.9, 1e-4)
    decay_free = [p for grp in opt.param_groups if grp["weight_decay"] == 0.0 for p in grp["params"]]
    assert any(p is g for p in decay_free)
    gain.train()
    loss = gain(gain.example_input(4, 32)).logsumexp(1).mean()
    loss.backward()
    assert g.grad is not None and g.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="input_norm must be one of"):
        models.create("late_concat_rfa_thinner", 10, input_norm="layer")


def test_mask_zeroes_the_other_frequencies_at_full_width():
    m = models.create("late_concat_rfa_thinner", 10, recipe="paper", mask=24).eval()
    assert [t.shape[1] for t in m.example_input(1, 64)] == [64, 128]
    x = m.example_input(2, 32)
    y2, c2 = x[0].clone(), x[1].clone()
    keep = SUBSETS[24]
    drop_y = [i for i in range(64) if i not in keep["y"]]
    drop_c = [i for i in range(64) if i not in keep["c"]]
    y2[:, drop_y] = torch.randn_like(y2[:, drop_y]) * 10
    c2[:, drop_c + [64 + i for i in drop_c]] = 7.0
    torch.testing.assert_close(m(x), m((y2, c2)))         # the masked inputs do not matter
    y3 = x[0].clone()
    y3[:, keep["y"][3]] += 5.0
    assert not torch.allclose(m(x), m((y3, x[1])))        # the kept ones do
    with pytest.raises(ValueError, match="drops"):
        models.create("late_concat_rfa_thinner", 10, channels=24, mask=64)
    with pytest.raises(ValueError, match="paper's recipe only"):
        models.create("deconvolution_rfa", 10, input_norm="gain")


# -- through run.py: recorded in results and checkpoints, predict agrees ---------------------
def test_recipe_is_recorded_and_reloaded(tmp_path):
    from test_run import make_dataset, results, run  # noqa: PLC0415

    from jpegcoef import inference  # noqa: PLC0415

    data = make_dataset(tmp_path / "data")
    # the paper's recipe, one flag away from the default (dct24): recorded resolved, so the
    # checkpoint rebuilds the paper's network whatever the default is when it is loaded
    run(["--data", str(data), "--variant", "late_concat_rfa_thinner", "--epochs", "1",
         "--model-opt", "recipe=paper", "--no-measure", "--shift-max", "0"], tmp_path)
    r = results(tmp_path)["late_concat_rfa_thinner"]
    assert {k: r["model_options"][k] for k in ("recipe", "channels", "input_norm", "mask")} == \
        {"recipe": "paper", "channels": 192, "input_norm": "bn", "mask": None}
    assert r["format_options"] == {"channels": 192, "norm": "coef"}
    ck = tmp_path / "ckpt" / f"late_concat_rfa_thinner-{data.name}" / "model.pt"
    clf = inference.load(ck)
    assert clf.format.options == {"channels": 192, "norm": "coef"}
    assert isinstance(clf.model.bn_y, torch.nn.BatchNorm2d) and clf.model.bn_y.num_features == 64
    files = sorted(str(p) for p in (data / "val").rglob("*.jpg"))
    top1 = np.mean([p["top"][0][0] == Path(p["file"]).parent.name
                    for p in clf.predict(files, top_k=1)])
    assert top1 == pytest.approx(r["metrics"]["top1"], abs=1e-6)


def test_default_recipe_is_dct24_and_deconvolution_keeps_the_papers():
    for variant in GUEGUEN:
        m = models.create(variant, 10)
        assert m.recipe == {"recipe": "dct24", "channels": 24, "input_norm": "bn", "mask": None}
        assert m.input_options == {"channels": 24, "norm": "coef"}
        assert isinstance(m.bn_y, torch.nn.BatchNorm2d) and m.bn_y.num_features == 16
        assert [t.shape[1] for t in m.example_input(1, 64)] == [16, 8]
    d = models.create("deconvolution_rfa", 10)
    assert d.recipe["recipe"] == "paper" and d.input_options == {"channels": 192, "norm": "coef"}
