"""The DCT channel subsets, one table for the input formats and the models.

DCTNet (Xu et al., CVPR 2020) keeps a static subset of each component's 64 frequencies
(natural order, index = 8*row + col): ``SUBSETS[n]`` has the ``"y"`` and the chroma (``"c"``,
the same for Cb and Cr) indices of the ``n``-channel input, ordered ``[Y | Cb | Cr]``.
``192`` is all 64 frequencies of all three components.
"""
from __future__ import annotations

__all__ = ["SUBSETS", "subset", "channel_names"]


def _ranges(*spans: tuple[int, int]) -> tuple[int, ...]:
    return tuple(i for a, b in spans for i in range(a, b + 1))


SUBSETS: dict[int, dict[str, tuple[int, ...]]] = {
    24: {"y": _ranges((0, 3), (8, 11), (16, 19), (24, 27)), "c": (0, 1, 8, 9)},
    32: {"y": _ranges((0, 4), (8, 12), (16, 20), (24, 27), (32, 34)), "c": (0, 1, 2, 8, 9)},
    48: {"y": _ranges((0, 5), (8, 13), (16, 21), (24, 29), (32, 35), (40, 43)),
         "c": (0, 1, 2, 8, 9, 10, 16, 17)},
    64: {"y": _ranges((0, 6), (8, 14), (16, 21), (24, 29), (32, 37), (40, 45), (48, 53)),
         "c": (0, 1, 2, 8, 9, 10, 16, 17, 24, 25)},
    192: {"y": tuple(range(64)), "c": tuple(range(64))},
}
for _n, _s in SUBSETS.items():
    assert len(_s["y"]) + 2 * len(_s["c"]) == _n, _n


def subset(channels: int) -> dict[str, tuple[int, ...]]:
    """``{"y": ..., "cb": ..., "cr": ...}`` frequency indices of the ``channels`` subset."""
    if channels not in SUBSETS:
        raise ValueError(f"channels must be one of {sorted(SUBSETS)}, got {channels!r}")
    s = SUBSETS[channels]
    return {"y": s["y"], "cb": s["c"], "cr": s["c"]}


def channel_names(channels: int) -> list[str]:
    """Names of the input channels of a subset, e.g. ``['Y0', 'Y1', ..., 'Cr9']``."""
    s = subset(channels)
    return [f"{'Y' if comp == 'y' else comp.capitalize()}{i}" for comp in ("y", "cb", "cr") for i in s[comp]]
