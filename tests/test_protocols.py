"""The papers' data protocols (issue 12): each profile's resolved settings, how --crop scales
them, and that their model options reach the models. Sources: Gueguen et al. 2018 (RRC 224,
resize 256 + centre 224), Xu et al. 2020 (RRC 448, resize 512 + centre 448, full-resolution
chroma, torchvision ResNet-50 baseline), seeds/004 (448, layer2 stride 2, threshold 0.85)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from harness import config, protocols, train  # noqa: E402
from jpegcoef import models  # noqa: E402


def _args(*argv: str):
    return config.fill_defaults(config.build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("name, crop, resize", [("gueguen", 224, 256), ("dctnet", 448, 512),
                                                ("hilo", 448, 512)])
def test_paper_crop_and_eval_resize(name, crop, resize):
    p = protocols.get(name)
    assert p.crop == crop and p.eval_resize() == resize and p.augment == "rrc"
    # the harness's DCT-domain evaluation uses the same rule (short side crop / 0.875)
    from jpegcoef import formats, pipelines
    rc = pipelines.ResizedCrop(formats.get("dctnet", channels=24), crop, train=False)
    assert rc.short_side == resize


def test_crop_scales_the_evaluation_resize_in_proportion():
    for name in protocols.PROTOCOLS:
        r = protocols.get(name).resolved(64)
        assert (r["crop"], r["eval_resize"], r["paper_crop"]) == (64, 73, protocols.get(name).crop)
        assert r["eval_resize"] == int(64 * protocols.EVAL_RESIZE_RATIO)
    a = _args("--variant", "dctnet", "--protocol", "dctnet", "--crop", "96")
    assert a.crop == 96 and a.protocol_settings["eval_resize"] == 109


def test_imagenet_profile_takes_the_papers_crop_synthetic_the_profiles():
    a = _args("--variant", "dctnet", "--protocol", "dctnet", "--data", "/x")
    assert a.crop == 448 and a.augment == "rrc" and a.protocol_stats == "train"
    a = _args("--variant", "dctnet", "--protocol", "dctnet")
    assert a.crop == config.PROFILES["synthetic"]["crop"]
    a = _args("--variant", "resnet50", "--protocol", "gueguen", "--data", "/x")
    assert a.crop == 224 and a.protocol_stats == "shipped"
    # no protocol: nothing set, profiles as before
    a = _args("--variant", "resnet50")
    assert a.protocol_settings is None and a.protocol_stats is None


def test_hilo_paper_schedule_only_with_imagenet_profile():
    a = _args("--variant", "hilo", "--protocol", "hilo", "--data", "/x")
    assert (a.lr, a.batch_size, a.epochs) == (0.5, 128, 90)
    a = _args("--variant", "hilo", "--protocol", "hilo", "--data", "/x", "--lr", "0.2")
    assert a.lr == 0.2
    a = _args("--variant", "hilo", "--protocol", "hilo")
    assert a.lr == config.PROFILES["synthetic"]["lr"]


def test_hilo_protocol_model_options():
    a = _args("--variant", "hilo", "--protocol", "hilo")
    # seeds/004: layer2 at stride 2, over the synthetic profile's stride 1
    assert train.model_options(a, "hilo", models.names())[1]["layer2_stride"] == 2
    assert train.model_options(a, "dctnet24_s2", models.names())[1] == \
        {"channels": 24, "layer2_stride": 2, "zero_init_residual": True}
    assert protocols.get("hilo").hilo_threshold == 0.85
    assert models.create("hilo", num_classes=3).threshold == 0.85  # the model's default agrees
    # --model-opt still wins over the protocol
    a = _args("--variant", "hilo", "--protocol", "hilo", "--model-opt", "layer2_stride=1")
    assert train.model_options(a, "hilo", models.names())[1]["layer2_stride"] == 1


def test_dctnet_protocol_baseline_is_torchvisions_resnet50():
    a = _args("--variant", "resnet50", "--protocol", "dctnet", "--data", "/x")
    name, opts = train.model_options(a, "resnet50", models.names())
    assert opts == {"stride_in": "3x3"}
    from jpegcoef.models.summary import summary
    gmacs = summary(name, size=224, **opts)["macs"] / 1e9
    assert 4.05 < gmacs < 4.15  # torchvision's ResNet-50: 4.09 GMACs (DCTNet's comparison)
    # full-resolution chroma: the DCTNet format's default chroma mode
    from jpegcoef import formats
    assert formats.get("dctnet", channels=24).upsample == "bilinear"


def test_dctnet_protocol_halves_the_rgb_crop():
    """DCTNet compared its DCT models at 448 with the RGB ResNet-50 at 224 (4.09 GMACs): under
    --protocol dctnet an RGB model gets half the DCT crop, and the evaluation resize of that
    half; the DCT models keep the full crop (end to end: tests/test_harness_budget.py)."""
    p = protocols.get("dctnet")
    assert p.rgb_crop_divisor == 2
    assert (p.crop_for("rgb"), p.crop_for("dctnet")) == (224, 448)       # DCTNet vs ResNet-50
    r = p.resolved()
    assert (r["crop"], r["eval_resize"], r["rgb_crop"], r["rgb_eval_resize"]) == (448, 512, 224, 256)
    r = p.resolved(64)
    assert (r["crop"], r["eval_resize"], r["rgb_crop"], r["rgb_eval_resize"]) == (64, 73, 32, 36)
    for name in ("gueguen", "hilo"):                                       # the others: one crop
        q = protocols.get(name).resolved(64)
        assert q["rgb_crop"] == q["crop"] == 64 and q["rgb_crop_divisor"] == 1
    a = _args("--variant", "resnet50", "--protocol", "dctnet", "--data", "/x")
    assert protocols.model_crop(a.protocol_settings, a.crop, "rgb") == 224
    assert protocols.model_crop(a.protocol_settings, a.crop, "dctnet") == 448
    assert protocols.model_crop(None, 64, "rgb") == 64                     # no protocol
    assert protocols.model_crop(a.protocol_settings, None, "rgb") is None  # the model's own size
    assert "rgb_crop_divisor" in protocols.__doc__ and "224" in protocols.__doc__


def test_unknown_protocol_is_a_usage_error():
    with pytest.raises(SystemExit):
        config.build_parser().parse_args(["--protocol", "nope"])
    with pytest.raises(ValueError, match="known: dctnet, gueguen, hilo"):
        protocols.get("nope")
