"""Variant names: a variant is a model name from :func:`models.names` plus model options.

Aliases are data (this table), not code: ``dctnet_gate`` is ``dctnet`` with
``{"channels": 192, "gate": True}``. Any name that :func:`models.names` knows is also a
variant (with no options). ``--model-opt key=value`` adds or overrides options.
"""
from __future__ import annotations

import ast
from typing import Any

#: alias -> (model name, model options). Names equal to a model name need no entry.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "dctnet": ("dctnet", {"channels": 24}),
    "dctnet24": ("dctnet", {"channels": 24}),
    "dctnet32": ("dctnet", {"channels": 32}),
    "dctnet48": ("dctnet", {"channels": 48}),
    "dctnet64": ("dctnet", {"channels": 64}),
    "dctnet192": ("dctnet", {"channels": 192}),
    "dctnet_gate": ("dctnet", {"channels": 192, "gate": True}),
    # seeds/004's baseline for hilo: DCT-24 ResNet-50 with layer2 at stride 2 (3.93 GMACs),
    # not DCTNet's released stride 1 (13.5 GMACs)
    "dctnet24_s2": ("dctnet", {"channels": 24, "layer2_stride": 2}),
    # Zhang's anti-aliased ResNet-50 (adobe/antialiased-cnns): stride on the 3x3, the blur after
    # it at full resolution, filter size 4; Zou's PASA ResNet: the same placement, k=3, 8 groups
    "resnet50_blur": ("resnet50", {"antialias": "blur", "stride_in": "3x3", "aa_size": 4}),
    "resnet50_adaptive": ("resnet50", {"antialias": "adaptive", "stride_in": "3x3",
                                       "aa_size": 3, "aa_groups": 8}),
    "mobilenet_v2_dct24": ("mobilenet_v2_dct", {"channels": 24}),
    "mobilenet_v2_dct32": ("mobilenet_v2_dct", {"channels": 32}),
    "mobilenet_v2_dct48": ("mobilenet_v2_dct", {"channels": 48}),
    "mobilenet_v2_dct64": ("mobilenet_v2_dct", {"channels": 64}),
}

#: What ``--variant all`` runs, in this order (the ones the model registry provides).
#: ``dctnet24_s2`` (hilo's baseline in seeds/004) is not in it: at the synthetic profile's
#: 64 px crop its last stage runs on 1x1 maps (the profile runs hilo at layer2 stride 1,
#: whose baseline there is ``dctnet``); name it where the paper's protocol is run.
ALL: tuple[str, ...] = (
    "resnet50",
    "upsampling",
    "upsampling_rfa",
    "deconvolution_rfa",
    "downsampling",
    "late_concat",
    "late_concat_rfa",
    "late_concat_rfa_thinner",
    "dctnet",
    "dctnet_gate",
    "hilo",
    "mobilenet_v2",
    "mobilenet_v2_dct",
)


def parse_value(text: str) -> Any:
    """``"24"`` -> 24, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"blur"`` -> ``"blur"``."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_model_opts(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["channels=24", "gate=true"]`` into ``{"channels": 24, "gate": True}``."""
    opts: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-opt takes key=value, got {item!r}")
        opts[key.strip()] = parse_value(value)
    return opts


def expand(spec: str, available: list[str]) -> list[str]:
    """Expand ``"all"`` or a comma-separated list into variant names, checking each one."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError("--variant is empty")
    out: list[str] = []
    for name in names:
        if name == "all":
            out.extend(v for v in ALL if ALIASES.get(v, (v, {}))[0] in available)
        else:
            resolve(name, available, {})  # raises on unknown names
            out.append(name)
    return out


def resolve(variant: str, available: list[str], extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Variant name -> (model name, options), with ``extra`` (from ``--model-opt``) on top."""
    if variant in ALIASES:
        model, opts = ALIASES[variant]
        opts = dict(opts)
    elif variant in available:
        model, opts = variant, {}
    else:
        known = sorted(set(available) | set(ALIASES))
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(known)} (or 'all')")
    if model not in available:
        raise ValueError(f"variant {variant!r} needs model {model!r}, which models.names() "
                         f"does not provide ({', '.join(available)})")
    opts.update(extra)
    return model, opts
