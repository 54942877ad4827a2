"""The papers' data protocols as named profiles (``run.py --protocol NAME``).

A protocol fixes what the papers fixed about the data: the training crop and augmentation (and,
for ``dctnet``, the RGB baseline's smaller crop), the evaluation resize and centre crop, the chroma resolution, the input normalisation, the variants
it compares and the model options they were compared with. The *schedule* (epochs, learning
rate, batch) stays the ``--profile``'s: a CPU-sized run of a protocol is the protocol at a
smaller ``--crop`` with the evaluation resize scaled in proportion (256/224 x crop), so the
families compare at any size.

=========  ======================================================================================
gueguen    Gueguen et al., "Faster Neural Networks Straight from JPEG" (NeurIPS 2018): ResNet-50
           and the DCT variants; train RandomResizedCrop 224 + flip (DCT-domain RRC for DCT
           inputs), evaluate resize 256 + centre crop 224; shipped (photograph) statistics.
dctnet     Xu et al., "Learning in the Frequency Domain" (CVPR 2020): RRC 448 + flip, evaluate
           resize 512 + centre crop 448; chroma at full resolution (the DCT of the bilinearly
           upsampled chroma, DCTNet's ``upsample="bilinear"`` default); normalisation from the
           training set's statistics; RGB baseline torchvision's ResNet-50 (stride on the 3x3,
           4.09 GMACs at 224), which DCTNet compared against *at 224*: its DCT models take a 448
           crop (56x56 blocks, the grid the RGB model reaches after its stride-4 stem at 224), so
           an RGB model (input format ``rgb``) gets half the DCT crop (``rgb_crop_divisor`` 2:
           RRC 224, evaluate resize 256 + centre 224; at ``--crop N``, N // 2 and its resize
           int(N // 2 / 0.875)). The DCT models keep the full crop.
hilo       seeds/004 (high/low-frequency split): 448 px DCT input (56x56 maps), RRC + flip,
           evaluate resize 512 + centre crop 448; every ResNet with layer2 at stride 2; baseline
           DCT-24 ResNet-50 at layer2 stride 2 (``dctnet24_s2``) and RGB ResNet-50; early-exit
           threshold 0.85; the paper's schedule (SGD lr 0.5, cosine, batch 128, 90 epochs) is in
           ``paper_schedule`` (applied with the ``imagenet`` profile only).
=========  ======================================================================================
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: the evaluation resize of every protocol, as a ratio of the crop (256/224 = 512/448)
EVAL_RESIZE_RATIO = 256 / 224


@dataclass(frozen=True)
class Protocol:
    """One paper's data protocol; see the module docstring."""

    name: str
    paper: str
    crop: int
    augment: str
    variants: tuple[str, ...]
    baseline: tuple[str, ...]
    stats: str = "shipped"                                  # "shipped" or "train"
    chroma: str = "as the format"                           # what the DCT inputs' chroma is
    variant_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    hilo_threshold: float | None = None
    paper_schedule: dict[str, Any] = field(default_factory=dict)
    #: an RGB model's crop is the protocol's (DCT) crop divided by this (dctnet: 2, the RGB
    #: baseline at 224 against DCT inputs at 448); the evaluation resize follows its crop
    rgb_crop_divisor: int = 1

    def eval_resize(self, crop: int | None = None) -> int:
        """Short side the evaluation resizes to before its centre crop of ``crop`` (default the
        protocol's): 256 for 224, 512 for 448; the same rule as ``pipelines.ResizedCrop``."""
        c = self.crop if crop is None else int(crop)
        return int(c / 0.875)

    def crop_for(self, input_format: str, crop: int | None = None) -> int:
        """The crop of a model whose input format is ``input_format`` when the protocol runs at
        ``crop`` (default the protocol's): an RGB model's is ``crop // rgb_crop_divisor``."""
        c = self.crop if crop is None else int(crop)
        return c // self.rgb_crop_divisor if input_format == "rgb" else c

    def resolved(self, crop: int | None = None) -> dict[str, Any]:
        """The protocol's settings at ``crop`` (a CPU-sized run), for result files and tests:
        ``crop`` / ``eval_resize`` are the DCT inputs', ``rgb_crop`` / ``rgb_eval_resize`` an
        RGB model's (the same unless ``rgb_crop_divisor`` > 1)."""
        out = asdict(self)
        c = self.crop if crop is None else int(crop)
        rgb = self.crop_for("rgb", c)
        out.update(crop=c, eval_resize=self.eval_resize(c), paper_crop=self.crop,
                   rgb_crop=rgb, rgb_eval_resize=self.eval_resize(rgb),
                   variants=list(self.variants), baseline=list(self.baseline))
        return out


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        name="gueguen", paper="Gueguen et al. 2018, Faster Neural Networks Straight from JPEG",
        crop=224, augment="rrc",
        variants=("upsampling", "upsampling_rfa", "deconvolution_rfa", "downsampling", "late_concat",
                  "late_concat_rfa", "late_concat_rfa_thinner"),
        baseline=("resnet50",), chroma="4:2:0 blocks at their own resolution (the models' chroma paths)"),
    Protocol(
        name="dctnet", paper="Xu et al. 2020, Learning in the Frequency Domain (DCTNet)",
        crop=448, augment="rrc", variants=("dctnet", "dctnet64", "dctnet_gate"),
        baseline=("resnet50",), stats="train",
        chroma="full resolution: DCT of the bilinearly upsampled chroma (format upsample='bilinear')",
        # torchvision's ResNet-50 (v1.5): the stride on the 3x3 of each first bottleneck
        variant_defaults={"resnet50": {"stride_in": "3x3"}},
        # DCTNet's comparison: DCT inputs at 448 against the RGB ResNet-50 at 224
        rgb_crop_divisor=2),
    Protocol(
        name="hilo", paper="seeds/004, high/low-frequency split ResNet-50 (two 0.5x ResNet-50s)",
        crop=448, augment="rrc", variants=("hilo",), baseline=("dctnet24_s2", "resnet50"),
        chroma="full resolution (as dctnet)", hilo_threshold=0.85,
        variant_defaults={"hilo": {"layer2_stride": 2}},
        paper_schedule={"lr": 0.5, "batch_size": 128, "epochs": 90, "schedule": "cosine"}),
)}


def get(name: str) -> Protocol:
    """The protocol ``name``; a ``ValueError`` naming the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}") from None


def apply(args: Any, profile_crop: int | None) -> None:
    """Fill ``args`` (run.py's namespace) from ``args.protocol`` where the command line left a
    value unset, before the schedule profile fills the rest: the crop (the paper's with the
    ``imagenet`` profile, else the profile's ``profile_crop``: the protocol scaled to CPU size),
    the augmentation, and with the ``imagenet`` profile the paper schedule's lr/batch/epochs.
    The protocol's per-model options and statistics switch go to ``args.protocol_variant_defaults``
    and ``args.protocol_stats`` (see :func:`merge_variant_defaults`)."""
    args.protocol_settings = None
    args.protocol_stats = None
    args.protocol_variant_defaults = {}
    if not getattr(args, "protocol", None):
        return
    p = get(args.protocol)
    imagenet = getattr(args, "profile", None) == "imagenet"
    if args.crop is None:
        args.crop = p.crop if imagenet or profile_crop is None else profile_crop
    if args.augment is None:
        args.augment = p.augment
    if imagenet:
        for key in ("lr", "batch_size", "epochs"):
            if key in p.paper_schedule and getattr(args, key, None) is None:
                setattr(args, key, p.paper_schedule[key])
    args.protocol_variant_defaults = p.variant_defaults
    args.protocol_stats = p.stats
    args.protocol_settings = p.resolved(args.crop)


def model_crop(settings: dict[str, Any] | None, crop: int | None, input_format: str) -> int | None:
    """The crop to request for a model of ``input_format`` under the protocol whose resolved
    ``settings`` (``args.protocol_settings``; None: no protocol) are given, ``crop`` being the
    run's (``args.crop``; None: the model's own size, left as it is)."""
    if not settings or crop is None:
        return crop
    divisor = int(settings.get("rgb_crop_divisor") or 1)
    return crop // divisor if input_format == "rgb" else crop


def merge_variant_defaults(profile: dict[str, dict[str, Any]],
                           protocol: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-model default options: the profile's, with the protocol's winning (``--model-opt``
    and a variant alias's own options still win over both: see ``train.model_options``)."""
    merged = {k: dict(v) for k, v in profile.items()}
    for model, opts in protocol.items():
        merged.setdefault(model, {}).update(opts)
    return merged
