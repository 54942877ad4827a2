"""Tests of the model family (models/): shapes, gradients, sizes, receptive fields, options."""
from __future__ import annotations

import pytest
import torch

from jpegcoef import models
from jpegcoef.models.summary import count_macs, receptive_fields


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# DESIGN.md: receptive field / stride in pixels after each stage (Y path, stride on the 1x1).
RF_TABLE = {
    "resnet50": {"stage2": (35, 4), "stage3": (99, 8), "stage4": (291, 16), "stage5": (483, 32)},
    "upsampling": {"stage3": (72, 8), "stage4": (264, 16), "stage5": (456, 32)},
    "late_concat": {"stage3": (72, 8), "stage4": (264, 16), "stage5": (456, 32)},
    "downsampling": {"rfa": (64, 16), "stage3": (192, 16), "stage4": (384, 16),
                     "stage5": (576, 32)},
}
for _n in ("upsampling_rfa", "deconvolution_rfa", "late_concat_rfa", "late_concat_rfa_thinner"):
    RF_TABLE[_n] = {"rfa": (32, 8), "stage3": (96, 8), "stage4": (288, 16), "stage5": (480, 32)}
GUEGUEN_NAMES = ["upsampling", "upsampling_rfa", "deconvolution_rfa", "downsampling",
                 "late_concat", "late_concat_rfa", "late_concat_rfa_thinner"]


def _batch(x, n):
    return x[:n] if isinstance(x, torch.Tensor) else tuple(t[:n] for t in x)


@pytest.mark.parametrize("name", models.names())
def test_forward_paper_size_and_backward(name):
    """Every name: eval forward at the paper's input size gives (N, classes); a training step
    (forward + backward) at a small size (64 px, to stay fast) reaches every trainable
    parameter."""
    model = models.create(name, num_classes=10)
    assert model.input_format == models.info(name).input_format
    assert isinstance(model.input_options, dict)
    x = model.example_input(1)
    shapes = [tuple(t.shape) for t in (x if isinstance(x, tuple) else (x,))]
    assert shapes == model.input_shapes(1, model.pixel_size)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (1, 10)
    model.train()
    small = model.example_input(2, size=64)  # other input sizes work too (adaptive pool)
    out = model(small)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


def test_resnet50_params_and_macs():
    torchvision_style = models.create("resnet50", stride_in="3x3")
    keras_style = models.create("resnet50")
    assert sum(p.numel() for p in torchvision_style.parameters()) == 25_557_032
    assert sum(p.numel() for p in keras_style.parameters()) == 25_557_032
    macs_3x3 = count_macs(torchvision_style, torchvision_style.example_input(1))
    macs_1x1 = count_macs(keras_style, keras_style.example_input(1))
    assert 4.05e9 < macs_3x3 < 4.15e9      # torchvision's 4.09 GMACs
    assert 3.82e9 < macs_1x1 < 3.90e9      # Keras ResNet-50: 3.86 GMACs


@pytest.mark.parametrize("name", list(RF_TABLE))
def test_receptive_field_matches_design_table(name):
    rf = {s["stage"]: (s["rf"], s["stride"]) for s in receptive_fields(models.create(name))}
    for stage, expected in RF_TABLE[name].items():
        assert rf[stage] == expected, (name, stage)


def test_receptive_field_depends_on_stride_position():
    """Stride on the 3x3 conv changes the field (torchvision's ResNet-50 ends at 427)."""
    rf = receptive_fields(models.create("resnet50", stride_in="3x3"))
    assert (rf[-1]["rf"], rf[-1]["stride"]) == (427, 32)


def test_rfa_stage_kernels_keep_size():
    """The RFA stage's 1x1, 2x2 (asymmetric padding) and 3x3 blocks keep the 28x28 grid."""
    model = models.create("upsampling_rfa", num_classes=10, recipe="paper").eval()
    stage = model.trunk["rfa"]
    assert [b.kernel for b in stage] == [1, 2, 3]
    x = torch.randn(1, 192, 28, 28)
    for block in stage:
        x = block(x)
        assert x.shape[-2:] == (28, 28)


def test_late_concat_widths():
    thin = models.create("late_concat_rfa_thinner", recipe="paper")  # the paper's 192 inputs
    assert thin.y_stages["stage4"][0].out_ch + thin.cbcr_stages["cbcr"][0].out_ch == 1024
    assert thin.y_stages["rfa"][0].out_ch == 384
    assert sum(p.numel() for p in thin.parameters()) == 24_679_400  # with res3a's projection
    # the default recipe (dct24) reads 16 Y + 2 x 4 chroma frequencies: narrower first layers,
    # the rest of the network unchanged
    low = models.create("late_concat_rfa_thinner")
    assert low.recipe["recipe"] == "dct24" and low.y_stages["rfa"][0].out_ch == 384
    assert sum(p.numel() for p in low.parameters()) == 24_609_944  # BN: 2 x 24 input parameters


def test_bad_inputs_raise_clear_errors():
    rgb = models.create("resnet50", num_classes=10)
    gg = models.create("late_concat", num_classes=10, recipe="paper")
    with pytest.raises(ValueError, match="expects input"):
        rgb(torch.randn(1, 4, 64, 64))
    with pytest.raises(ValueError, match="takes 2 tensor"):
        gg(torch.randn(1, 64, 28, 28))
    with pytest.raises(ValueError, match="line up"):
        gg.eval()((torch.randn(1, 64, 28, 28), torch.randn(1, 128, 28, 28)))
    with pytest.raises(ValueError, match="unknown model"):
        models.create("resnet51")
    with pytest.raises(TypeError, match="resnet50"):
        models.create("resnet50", no_such_option=1)
    with pytest.raises(ValueError, match="antialias"):
        models.create("resnet50", antialias="gauss")
    with pytest.raises(ValueError, match="stride_in"):
        models.create("resnet50", stride_in="2x2")


# -- DCTNet ---------------------------------------------------------------------------------
def test_dctnet_macs_and_options():
    """layer2 stride 1 (DCTNet's code) ~13.5 GMACs; stride 2 ~3.9 (seeds/004: 3.93G)."""
    s1 = models.create("dctnet", channels=24)
    s2 = models.create("dctnet", channels=24, layer2_stride=2)
    assert 13.3e9 < count_macs(s1, s1.example_input(1)) < 13.7e9
    assert 3.85e9 < count_macs(s2, s2.example_input(1)) < 4.0e9
    for c in (24, 32, 48, 64, 192):
        m = models.create("dctnet", channels=c, num_classes=10)
        assert m.input_options == {"channels": c}
        assert m.example_input(1).shape == (1, c, 56, 56)
    with pytest.raises(ValueError, match="channels"):
        models.create("dctnet", channels=25)
    with pytest.raises(ValueError, match="layer2_stride"):
        models.create("dctnet", layer2_stride=3)


def test_dctnet_subsets_match_design():
    """models.dctnet's channel_names/subset_of are jpegcoef.channels' (one shared table)."""
    import jpegcoef.channels as J
    from jpegcoef.models.dctnet import channel_names, subset_of
    for c in J.SUBSETS:
        sub = subset_of(c)
        assert len(sub["y"]) + len(sub["cb"]) + len(sub["cr"]) == c
        assert sub == J.subset(c) and channel_names(c) == J.channel_names(c)
    assert channel_names(24)[:5] == ["Y0", "Y1", "Y2", "Y3", "Y8"]
    assert channel_names(24)[16:] == ["Cb0", "Cb1", "Cb8", "Cb9", "Cr0", "Cr1", "Cr8", "Cr9"]
    with pytest.raises(ValueError, match="channels"):
        subset_of(25)


def test_gate_decisions_and_straight_through_gradient():
    torch.manual_seed(0)
    model = models.create("dctnet", channels=24, gate=True, num_classes=10)
    seen = {}
    model.stages["stage2"].register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    x = model.example_input(2, size=64)
    model.train()
    out = model(x)
    gate = model.last_gate
    assert gate.shape == (2, 24)
    assert set(gate.unique().tolist()) <= {0.0, 1.0}
    # the stage input is the input with the "off" channels zeroed
    torch.testing.assert_close(seen["x"], x * gate[:, :, None, None])
    # straight-through: the fraction-on penalty alone sends gradient into the gate's logits
    (out.sum() * 0 + gate.mean()).backward()
    g = model.gate.logits.weight.grad
    assert g is not None and g.abs().sum() > 0
    # eval: deterministic argmax decisions
    model.eval()
    with torch.no_grad():
        model(x)
        first = model.last_gate.clone()
        model(x)
    assert torch.equal(first, model.last_gate)
    # forcing the 'off' logit to win turns every channel off
    with torch.no_grad():
        model.gate.logits.bias.view(24, 2).copy_(torch.tensor([50.0, -50.0]))
        model.gate.logits.weight.zero_()
        model(x)
    assert model.last_gate.sum() == 0


def test_gate_learns_to_keep_the_useful_channel_and_drop_the_rest():
    """The gate's mechanism end to end on a toy task: channel 0 carries the label, the others
    are noise; task loss + lambda x fraction on (DESIGN.md) must leave channel 0 on and turn
    the noise channels off, in eval (deterministic) decisions."""
    from jpegcoef.models.dctnet import ChannelGate, gate_penalty
    torch.manual_seed(0)
    gate = ChannelGate(8, tau=1.0, init_on=1.0)
    gate.reset_parameters()
    torch.testing.assert_close(gate.logits.bias.view(8, 2)[0], torch.tensor([0.1, 1.0]))
    head = torch.nn.Linear(8, 2)
    opt = torch.optim.SGD([{"params": gate.parameters(), "lr": 1.0},
                           {"params": head.parameters(), "lr": 0.1}], momentum=0.9)
    for _ in range(300):
        y = torch.randint(0, 2, (64,))
        x = torch.randn(64, 8, 2, 2)
        x[:, 0] += 1.5 * (2 * y - 1).float()[:, None, None]
        gated, on = gate(x)
        # lambda x sum over the 8 channels (the paper's term) = the former 0.5 x mean
        loss = torch.nn.functional.cross_entropy(head(gated.mean((2, 3))), y) \
            + 0.0625 * gate_penalty(on)
        opt.zero_grad()
        loss.backward()
        opt.step()
    gate.eval()
    with torch.no_grad():
        _, on = gate(torch.randn(256, 8, 2, 2))
    freq = on.mean(0)
    assert freq[0] > 0.95 and freq[1:].max() < 0.05, freq


def test_gate_init_option():
    model = models.create("dctnet", channels=24, gate=True, gate_init=0.5, num_classes=3)
    torch.testing.assert_close(model.gate.logits.bias.view(24, 2),
                               torch.tensor([0.1, 0.5]).expand(24, 2))


# -- high/low split ---------------------------------------------------------------------------
def test_hilo_split_and_size():
    from jpegcoef.models.hilo import split_indices
    lo, hi = split_indices({"y": [0, 1, 8, 9], "cb": [0], "cr": [0]})
    assert lo == [0, 1, 4, 5, 16, 20] and len(hi) == 18
    model = models.create("hilo", num_classes=100)
    # The input layers are 1x1 convolutions with bias (the authors' conv_block in
    # zaocan666/DCTNet_split), no longer 3x3 without bias. Recomputed from the layer shapes:
    #   params: low 6->32 and high 18->32 went from 9*(6+18)*32 = 6,912 weights to
    #     (6+18)*32 + 2*32 = 832 (weights + biases): 11,992,904 - 6,080 = 11,986,824
    #   MACs at the 56x56 grid (bias adds are not multiply-accumulates):
    #     low input layer 6*32*3136 = 602,112 (was 5,419,008): low model 997,801,984 -> 992,985,088
    #     high input layer 18*32*3136 = 1,806,336 (was 16,257,024): high's extra
    #     1,024,696,320 -> 1,010,245,632; both 2,022,498,304 -> 2,003,230,720
    for part in (model.low_in, model.high_in):
        conv = part[0]
        assert conv.kernel_size == (1, 1) and conv.bias is not None
    assert sum(p.numel() for p in model.parameters()) == 11_986_824  # seeds/004: 11.88M, 100 classes
    low, high = model.part_macs(56, 56)
    assert low == 992_985_088                # seeds/004: 0.99 GFLOPs through the low model
    assert low + high == 2_003_230_720       # and 2.00 through both
    with pytest.raises(ValueError, match="not in the 24"):
        models.create("hilo", low={"y": [63]})


def test_hilo_early_exit_is_exact():
    torch.manual_seed(0)
    model = models.create("hilo", num_classes=10).eval()
    x = model.example_input(6, size=64)
    with torch.no_grad():
        low = model.low_logits(x)
        high = model.high_logits(x)
        conf = low.float().softmax(1).amax(1)
        low_macs, high_macs = model.part_macs(8, 8)
        for threshold in [conf.median().item(), conf.min().item(), conf.max().item(), 0.0, 1.01]:
            model.threshold = threshold
            out = model(x)
            expect_exit = conf >= threshold
            assert torch.equal(model.last_exit, expect_exit)
            torch.testing.assert_close(out[expect_exit], low[expect_exit])
            torch.testing.assert_close(out[~expect_exit], high[~expect_exit], rtol=1e-4, atol=1e-4)
            n_rest = int((~expect_exit).sum())
            assert model.last_macs == pytest.approx(low_macs + high_macs * n_rest / 6)
        # forced logits: a huge bias on one class makes the low model certain -> all exit
        model.threshold = 0.85
        model.low.fc.bias.data[3] = 1e4
        out = model(x)
    assert model.last_exit.all() and (out.argmax(1) == 3).all()


def test_hilo_training_steps():
    model = models.create("hilo", num_classes=10)
    x = model.example_input(2, size=64)
    model.train().set_step(1)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.high.parameters())
    assert all(p.grad is not None for p in model.low_in.parameters())
    assert all(p.grad is None for p in model.low.parameters())
    model.zero_grad(set_to_none=True)
    model.set_step(2)
    assert not model.low_in[1].training  # frozen BN keeps its statistics
    before = model.low_in[1].running_mean.clone()
    out = model(x)
    torch.testing.assert_close(out, model.low_logits(x))
    out.sum().backward()
    assert all(p.grad is not None for p in model.low.parameters())
    assert all(p.grad is None for p in model.low_in.parameters())
    assert all(p.grad is None for p in model.high.parameters())
    assert torch.equal(before, model.low_in[1].running_mean)
    with pytest.raises(ValueError, match="step"):
        model.set_step(3)


# -- anti-aliasing ----------------------------------------------------------------------------
def test_blurpool_filter_and_sizes():
    from jpegcoef.models.layers import BlurPool, binomial_filter
    torch.testing.assert_close(binomial_filter(3)[1], torch.tensor([2.0, 4.0, 2.0]) / 16)
    for size in (2, 3, 4, 5):
        pool = BlurPool(4, 2, size)
        for h in (7, 8):
            x = torch.full((1, 4, h, h), 3.0)
            y = pool(x)
            assert y.shape == (1, 4, (h + 1) // 2, (h + 1) // 2)
            torch.testing.assert_close(y, torch.full_like(y, 3.0))  # low-pass keeps DC
    # a one-pixel shift of a checkerboard (all energy at Nyquist) no longer flips the output
    board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
    x = board.float()[None, None].repeat(1, 4, 1, 1)
    plain = x[..., ::2, ::2], x[..., 1:, :][..., ::2, ::2]
    assert not torch.equal(plain[0][..., :3, :], plain[1][..., :3, :])
    pool = BlurPool(4, 2, 3)
    a, b = pool(x), pool(torch.roll(x, 1, dims=2))
    torch.testing.assert_close(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1])


def test_adaptive_pool_is_a_lowpass_and_strided_equals_dense():
    from jpegcoef.models.layers import AdaptiveBlurPool
    torch.manual_seed(0)
    pool = AdaptiveBlurPool(16, stride=2, size=3, groups=4, softmax="group").eval()
    with torch.no_grad():
        pool.weight_bn.running_var.fill_(2.0)
    x = torch.full((2, 16, 9, 9), -1.5)
    torch.testing.assert_close(pool(x), torch.full((2, 16, 5, 5), -1.5))  # weights sum to 1
    dense = AdaptiveBlurPool(16, stride=1, size=3, groups=4, softmax="group").eval()
    dense.load_state_dict(pool.state_dict())
    x = torch.randn(2, 16, 10, 10)
    torch.testing.assert_close(pool(x), dense(x)[..., ::2, ::2])
    assert AdaptiveBlurPool(6, groups=4).groups == 2  # groups must divide the channels
    pool.train()
    pool(x).sum().backward()
    assert pool.weight_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["blur", "adaptive"])
def test_every_model_takes_antialias(mode):
    """Every name builds with its strided layers replaced by the AA pool (filter size option
    honoured); a few representative ones also run a forward (the rest share their blocks)."""
    from jpegcoef.models.layers import AdaptiveBlurPool, BlurPool
    kind = BlurPool if mode == "blur" else AdaptiveBlurPool
    for name in models.names():
        model = models.create(name, num_classes=10, antialias=mode, aa_size=4).eval()
        pools = [m for m in model.modules() if isinstance(m, kind)]
        assert pools and all(p.kernel_size == 4 for p in pools), name
        inner = {id(getattr(p, "weight_conv", None)) for p in pools}
        stem = {id(m) for m in getattr(model, "stem", torch.nn.Identity()).modules()}
        # RGB stems keep their strided first conv (adobe/antialiased-cnns: pool_only=True)
        strided = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)
                   and m.stride != (1, 1) and id(m) not in inner and id(m) not in stem]
        assert not strided, f"{name}: strided conv left: {strided[:2]}"
        if name in ("resnet50", "downsampling", "late_concat_rfa_thinner", "hilo",
                    "mobilenet_v2_dct"):
            with torch.no_grad():
                assert model(model.example_input(1, size=32)).shape == (1, 10)


def test_summary_and_cli(capsys):
    from jpegcoef.models.__main__ import main
    s = models.summary("late_concat_rfa_thinner", num_classes=10, recipe="paper")
    assert s["input_format"] == "gueguen" and s["input_shapes"] == [[1, 64, 28, 28], [1, 128, 14, 14]]
    assert s["params"] == sum(p.numel() for p in models.create("late_concat_rfa_thinner",
                                                                  num_classes=10, recipe="paper").parameters())
    assert 2.85e9 < s["macs"] < 2.92e9   # 2.89 G with res3a's projection (2.77 G without)
    assert main(["summary", "resnet50", "-o", "stride_in=3x3"]) == 0
    out = capsys.readouterr().out
    assert "25,557,032" in out and "427/32" in out
    with pytest.raises(SystemExit):
        main(["summary", "resnet51"])
