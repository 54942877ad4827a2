"""A real-photograph benchmark any machine can build: ``photos()``.

The photographs are the sample images that pip-installable packages ship (scikit-image's
``skimage/data``, scikit-learn's ``sklearn/datasets/images``, matplotlib's ``sample_data``), read
from the installed packages' folders (the packages are located, not imported, and nothing is
downloaded). Install them with ``pip install "jpegcoef[photos]"``. Each photograph is one class.

Train and validation crops come from disjoint parts of each photograph: the photograph is a
checkerboard of cells about half its shorter side (2 x 2 for a square one, 3 x 2 for 3:2), train
crops from the even cells and validation crops from the odd ones, with a band of ``gap`` between
them. So a validation crop never shares a pixel with a training crop, yet every part of the
photograph has neighbours in both splits: the task is to recognise a photograph from a part not
seen in training (its objects, colours and textures), not to match pixels.

Each image is a random crop of varied scale and aspect (``scale``: crop side as a fraction of the
cell's shorter side; ``ratio``: width/height), resized with an antialiasing filter to a short
side drawn from ``size``, given a mild brightness/contrast/saturation jitter, and re-encoded like
a web JPEG: 4:2:0, quality drawn from ``quality`` (75-95).

Licences of the shipped photographs (from the packages' own notes) are in :data:`SOURCES` and
written into ``manifest.json`` and ``LICENSES.md`` next to the images.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
from PIL import Image
from tqdm import tqdm

__all__ = ["photos", "photos_v2", "Photo", "SOURCES", "SOURCES_V2", "shipped_photos", "shipped_photos_v2"]

VERSION = "photos-v1"


@dataclass(frozen=True)
class Photo:
    """One source photograph: a class of the benchmark."""

    name: str            #: class name (folder ``NN-name``)
    path: str            #: file path (for shipped photos: relative to the package folder)
    package: str = ""    #: the pip package that ships it ("" for a user's file)
    licence: str = ""    #: licence, as the package's notes give it
    credit: str = ""     #: photographer / source, as the package's notes give it


#: The shipped colour photographs: (package, path inside the package folder) and their licences,
#: from the packages' notes (skimage/data/_fetchers.py docstrings, sklearn/datasets/images/
#: README.txt, matplotlib's sample_data). Grey-scale samples, drawings and test charts are left out.
SOURCES: tuple[Photo, ...] = (
    Photo("astronaut", "data/astronaut.png", "skimage",
          "public domain (no known copyright restrictions)", "NASA, Eileen Collins"),
    Photo("chelsea", "data/chelsea.png", "skimage", "CC0", "Stefan van der Walt"),
    Photo("coffee", "data/coffee.png", "skimage", "CC0", "Rachel Michetti"),
    Photo("hubble", "data/hubble_deep_field.jpg", "skimage", "public domain", "NASA, HubbleSite"),
    Photo("ihc", "data/ihc.png", "skimage", "no known copyright restrictions",
          "Center for Microscopy And Molecular Imaging (CMMI)"),
    Photo("retina", "data/retina.jpg", "skimage", "CC0 1.0", "Wikimedia Commons (fundus photograph)"),
    Photo("rocket", "data/rocket.jpg", "skimage", "public domain", "SpaceX (DSCOVR launch)"),
    Photo("china", "datasets/images/china.jpg", "sklearn", "CC BY 2.0", "danielbuechele (Flickr)"),
    Photo("flower", "datasets/images/flower.jpg", "sklearn", "CC BY 2.0", "vultilion (Flickr)"),
    Photo("hopper", "mpl-data/sample_data/grace_hopper.jpg", "matplotlib",
          "public domain (U.S. Navy photograph)", "U.S. Navy, via matplotlib's sample data"),
)

_DEFAULTS = dict(train_per_class=200, val_per_class=100, size=(80, 112), scale=(0.3, 0.9),
                 ratio=(3 / 4, 4 / 3), cell=0.5, gap=0.04, jitter=0.15, quality=(75, 95),
                 seed=0)


def _package_dir(package: str) -> Optional[Path]:
    """The installed package's folder, found without importing it (None when absent)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def shipped_photos(strict: bool = False) -> list[Photo]:
    """The :data:`SOURCES` photographs found in this environment, with absolute paths.

    Missing packages or files are skipped (``strict=True``: raise instead). Raises ``RuntimeError``
    when fewer than two are found, naming the packages to install.
    """
    found, missing = [], []
    for ph in SOURCES:
        base = _package_dir(ph.package)
        path = base / ph.path if base is not None else None
        if path is not None and path.is_file():
            found.append(Photo(ph.name, str(path), ph.package, ph.licence, ph.credit))
        else:
            missing.append(f"{ph.package}:{ph.path}")
    if missing and (strict or len(found) < 2):
        raise RuntimeError(
            f"photos(): {len(found)} of {len(SOURCES)} shipped photographs found; missing "
            f"{', '.join(missing)}. Install them with: pip install 'jpegcoef[photos]' "
            f"(scikit-image, scikit-learn, matplotlib)")
    return found


def _as_photos(sources: Iterable[Union[Photo, str, os.PathLike, tuple]]) -> list[Photo]:
    out = []
    for s in sources:
        if isinstance(s, Photo):
            out.append(s)
        elif isinstance(s, tuple):
            name, path = s
            out.append(Photo(str(name), str(path)))
        else:
            out.append(Photo(Path(s).stem, str(s)))
    names = [p.name for p in out]
    if len(out) < 2:
        raise ValueError(f"photos(): need at least 2 source photographs, got {len(out)}")
    if len(set(names)) != len(names):
        raise ValueError(f"photos(): class names must be unique, got {names}")
    return out


def _params(**kw) -> dict:
    p = dict(_DEFAULTS)
    p.update({k: v for k, v in kw.items() if v is not None})
    for key in ("size", "quality"):
        p[key] = [int(p[key][0]), int(p[key][1])]
    for key in ("scale", "ratio"):
        p[key] = [float(p[key][0]), float(p[key][1])]
    if not 16 <= p["size"][0] <= p["size"][1]:
        raise ValueError(f"size must be (min, max) with 16 <= min <= max, got {p['size']}")
    if not 0.0 < p["scale"][0] <= p["scale"][1] <= 1.0:
        raise ValueError(f"scale must be (min, max) with 0 < min <= max <= 1, got {p['scale']}")
    if not 0.0 < p["ratio"][0] <= p["ratio"][1]:
        raise ValueError(f"ratio must be (min, max) with 0 < min <= max, got {p['ratio']}")
    if not 0.2 <= float(p["cell"]) <= 1.0:
        raise ValueError(f"cell must be in [0.2, 1], got {p['cell']}")
    if not 0.0 <= float(p["gap"]) <= 0.2 * float(p["cell"]):
        raise ValueError(f"gap must be in [0, cell / 5], got {p['gap']}")
    if not 0.0 <= float(p["jitter"]) < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {p['jitter']}")
    if not 1 <= p["quality"][0] <= p["quality"][1] <= 100:
        raise ValueError(f"quality must be (min, max) within 1..100, got {p['quality']}")
    if int(p["train_per_class"]) < 1 or int(p["val_per_class"]) < 1:
        raise ValueError("train_per_class and val_per_class must be >= 1")
    return p


def _file_digest(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _cells(w: int, h: int, split: str, cell: float, gap: float) -> list[tuple[int, int, int, int]]:
    """The split's cells of a w x h photograph, as (left, top, right, bottom).

    The photograph is a grid of cells about ``cell`` x its shorter side (at least 2 x 2), coloured
    like a checkerboard: train the even cells, val the odd ones. Each cell loses ``gap / 2`` x the
    shorter side on every edge, so crops of the two splits are at least ``gap`` x that side apart.
    """
    short = min(w, h)
    nx = max(2, int(round(w / (cell * short))))
    ny = max(2, int(round(h / (cell * short))))
    margin = int(round(short * gap / 2))
    xs = np.linspace(0, w, nx + 1).round().astype(int)
    ys = np.linspace(0, h, ny + 1).round().astype(int)
    want = 0 if split == "train" else 1
    return [(int(xs[i]) + margin, int(ys[j]) + margin, int(xs[i + 1]) - margin, int(ys[j + 1]) - margin)
            for j in range(ny) for i in range(nx) if (i + j) % 2 == want]


def _draw_box(cells: list[tuple[int, int, int, int]], rng: np.random.Generator, p: dict,
              index: Optional[int] = None) -> tuple[int, int, int, int]:
    """A crop box in a cell: random scale, aspect and position. The cell is random (v1) or
    ``cells[index % len(cells)]`` (v2: every cell used in turn)."""
    k = int(rng.integers(len(cells))) if index is None else index % len(cells)
    left, top, right, bottom = cells[k]
    rw, rh = right - left, bottom - top
    side = rng.uniform(*p["scale"]) * min(rw, rh)
    aspect = float(np.exp(rng.uniform(np.log(p["ratio"][0]), np.log(p["ratio"][1]))))
    cw = int(min(rw, max(8, round(side * np.sqrt(aspect)))))
    ch = int(min(rh, max(8, round(side / np.sqrt(aspect)))))
    x0 = left + int(rng.integers(0, rw - cw + 1))
    y0 = top + int(rng.integers(0, rh - ch + 1))
    return x0, y0, x0 + cw, y0 + ch


def _render(photo: Image.Image, box: tuple[int, int, int, int], rng: np.random.Generator,
            p: dict) -> Image.Image:
    """The box resized (antialiased) to a random short side, then colour-jittered."""
    x0, y0, x1, y1 = box
    cw, ch = x1 - x0, y1 - y0
    short = int(rng.integers(p["size"][0], p["size"][1] + 1))
    scale = short / min(cw, ch)
    out_w, out_h = max(16, round(cw * scale)), max(16, round(ch * scale))
    img = photo.resize((out_w, out_h), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    j = float(p["jitter"])
    if j > 0:
        px = np.asarray(img, dtype=np.float32)
        gray = px.mean(axis=2, keepdims=True)
        px = gray + (px - gray) * rng.uniform(1 - j, 1 + j)              # saturation
        px = px.mean() + (px - px.mean()) * rng.uniform(1 - j, 1 + j)    # contrast
        px = px * rng.uniform(1 - j, 1 + j)                                # brightness
        img = Image.fromarray(np.clip(px + 0.5, 0, 255).astype(np.uint8), "RGB")
    return img


def _sample(photo: Image.Image, cells: list[tuple[int, int, int, int]], rng: np.random.Generator,
            p: dict) -> Image.Image:
    """One crop of a random cell (v1): :func:`_draw_box` then :func:`_render`."""
    return _render(photo, _draw_box(cells, rng, p), rng, p)


def _encode(img: Image.Image, rng: np.random.Generator, quality: Sequence[int]) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(quality[0], quality[1] + 1)), subsampling=2)
    return buf.getvalue()


def _load(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ValueError(f"photos(): cannot read source photograph {path}: {exc}") from exc


def _licences_md(sources: list[Photo], shipped_by: str = "the package named") -> str:
    lines = ["# Source photographs", "",
             f"Each class of this dataset is cut from one photograph, shipped by {shipped_by}.", "",
             "| class | package | file | licence | credit |", "|---|---|---|---|---|"]
    for ph in sources:
        lines.append(f"| {ph.name} | {ph.package or '-'} | {Path(ph.path).name} | {ph.licence or '-'} "
                     f"| {ph.credit or '-'} |")
    return "\n".join(lines) + "\n"


def _v1_name(p: dict, srcs: list[Photo], digests: list[str]) -> str:
    """photos-v1's folder name: the version and a hash of the parameters and sources' bytes
    (unchanged since v1 shipped, so a v1 dataset keeps its name)."""
    key = json.dumps({"params": p, "sources": list(zip([ph.name for ph in srcs], digests))}, sort_keys=True)
    return f"{VERSION}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def photos(root: Union[None, str, os.PathLike] = None, *,
           sources: Optional[Iterable[Union[Photo, str, os.PathLike, tuple]]] = None,
           train_per_class: Optional[int] = None, val_per_class: Optional[int] = None,
           size: Optional[tuple] = None, scale: Optional[tuple] = None, ratio: Optional[tuple] = None,
           cell: Optional[float] = None, gap: Optional[float] = None,
           jitter: Optional[float] = None, quality: Optional[tuple] = None, seed: Optional[int] = None,
           progress: bool = True) -> Path:
    """Path of the photographs ImageFolder (``train/``, ``val/``, ``manifest.json``), made if needed.

    Args:
        root: parent directory (default :func:`jpegcoef.datasets.cache_dir`); the dataset lives in
            ``root/photos-v1-<hash>``, the hash covering the parameters and the source files' bytes.
        sources: the photographs, one class each: :class:`Photo` objects, paths (class = file
            stem) or ``(name, path)`` pairs; default :func:`shipped_photos` (10 photographs from
            scikit-image, scikit-learn and matplotlib).
        train_per_class, val_per_class: crops per class (default 200 and 100).
        size: ``(min, max)`` short side of each image in pixels (default (80, 112)).
        scale: crop side as a fraction of the cell's shorter side (default (0.3, 0.9)).
        ratio: crop width/height range (default (3/4, 4/3)).
        cell: the checkerboard's cell side as a fraction of the photograph's shorter side (default
            0.5: 2 x 2 cells for a square photograph, 3 x 2 for 3:2); train crops come from the even
            cells, val crops from the odd ones. gap: unused band between cells of the two splits,
            as a fraction of the shorter side (default 0.04).
        jitter: brightness, contrast and saturation factors drawn from 1 +- jitter (default 0.15).
        quality: JPEG quality range (default (75, 95)); every image is 4:2:0.
        seed: changes every crop (default 0).

    Raises:
        RuntimeError: the default sources are requested and fewer than two are installed.
        ValueError: a bad parameter or an unreadable source file.
    """
    p = _params(train_per_class=train_per_class, val_per_class=val_per_class, size=size, scale=scale,
                ratio=ratio, cell=cell, gap=gap, jitter=jitter, quality=quality, seed=seed)
    srcs = shipped_photos() if sources is None else _as_photos(sources)
    for ph in srcs:
        if not Path(ph.path).is_file():
            raise ValueError(f"photos(): source photograph {ph.path} does not exist")
    digests = [_file_digest(ph.path) for ph in srcs]
    from .datasets import _building, cache_dir  # noqa: PLC0415  (datasets re-exports this module)

    final = (Path(root) if root is not None else cache_dir()) / _v1_name(p, srcs, digests)
    if (final / "manifest.json").is_file():
        return final
    with _building(final) as tmp:
        names = [f"{i:02d}-{ph.name}" for i, ph in enumerate(srcs)]
        counts = {"train": int(p["train_per_class"]), "val": int(p["val_per_class"])}
        bar = tqdm(total=len(srcs) * sum(counts.values()), desc=f"photos {final.name}", unit="img",
                   disable=not progress)
        for label, ph in enumerate(srcs):
            img = _load(ph.path)
            w, h = img.size
            if min(w, h) < 32:
                raise ValueError(f"photos(): source photograph {ph.path} is {w}x{h}; need >= 32 px")
            for split, n in counts.items():
                cells = _cells(w, h, split, p["cell"], p["gap"])
                d = tmp / split / names[label]
                d.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    rng = np.random.default_rng([p["seed"], 0 if split == "train" else 1, label, i])
                    (d / f"{i:05d}.jpg").write_bytes(_encode(_sample(img, cells, rng, p), rng, p["quality"]))
                    bar.update()
        bar.close()
        manifest = {"version": VERSION, "params": p, "classes": names,
                    "sources": [{**asdict(ph), "path": Path(ph.path).name, "sha1": dg}
                                for ph, dg in zip(srcs, digests)],
                    "split": "train crops from the even cells of a checkerboard over each photograph, val crops "
                             "from the odd cells: no pixel is in both",
                    "images": {s: n * len(srcs) for s, n in counts.items()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        (tmp / "LICENSES.md").write_text(_licences_md(srcs))
    return final


# -- photos-v2: 37 photographs, interleaved cells, a cut seed ----------------------------------

VERSION_V2 = "photos-v2"

_LOMIRI = "/usr/share/backgrounds"
_MATE = "/usr/share/backgrounds/mate/nature"
_PLASMA = "/usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
_GPL = "GPL-2+"
_LGPL = "LGPL-3 (the wallpaper's metadata; package copyright GPL-2+)"

#: photos-v2's photographs: the nature and scenery photographs that Debian's wallpaper packages
#: ship (``path`` is absolute; ``package`` is the Debian package). Licences and credits from each
#: package's ``/usr/share/doc/<package>/copyright`` (plasma: each wallpaper's ``metadata.json``).
#: Drawings, renders and abstract patterns in those packages are left out.
SOURCES_V2: tuple[Photo, ...] = (
    *(Photo(name, f"{_LOMIRI}/{file}.jpg", "lomiri-wallpapers-16.04", lic, credit)
      for name, file, lic, credit in (
          ("bridge", "Bridge_by_Sander_Klootwijk", "CC-BY-SA-4.0", "Sander Klootwijk"),
          ("dragonfly", "Dragonfly_by_Bolly", "CC-BY-SA-4.0", "Bolly"),
          ("fig", "Picture_0B_by_freespace", "CC-BY-4.0", "Trevor 'Freespace'"),
          ("brushes", "Picture_1A_by_freespace", "CC-BY-4.0", "Trevor 'Freespace'"),
          ("wine", "Wine_by_Jakkub_Mede", "CC-BY-4.0", "Jakub Mede"),
          ("aitzgorri", "aitzgorri_by_Aitzol_Berasategi", "CC-BY-4.0", "Aitzol Berasategi"),
          ("friends", "friends_by_Aitzol_Berasategi", "CC-BY-4.0", "Aitzol Berasategi"),
          ("life", "life_by_Aitzol_Berasategi", "CC-BY-4.0", "Aitzol Berasategi"),
          ("picos", "picosdeeuropa_by_Aitzol_Berasategi", "CC-BY-4.0", "Aitzol Berasategi"),
          ("sunset", "sunset_by_Aitzol_Berasategi", "CC-BY-4.0", "Aitzol Berasategi"),
          ("lamp", "free_by_Peter_Nerlich", "CC-BY-SA-4.0", "Peter Nerlich"),
          ("clock", "greentock_by_Peter_Nerlich", "CC-BY-SA-4.0", "Peter Nerlich"),
          ("dandelions", "seeding_by_Clements_Engelhardt", "CC0-1.0", "Clemens Engelhardt"))),
    Photo("nuthatch", f"{_LOMIRI}/Kleiber_by_Lukas_Baubkus.jpg", "lomiri-wallpapers-20.04",
          "CC-BY-SA-3.0", "Lukas Baubkus"),
    *(Photo(name.lower(), f"{_MATE}/{name}.jpg", "mate-backgrounds", _GPL, credit)
      for name, credit in (
          ("Aqua", "Charles Barbin"), ("LadyBird", "Charles Barbin"),
          ("YellowFlower", "Charles Barbin"), ("Garden", "Charles Barbin"),
          ("Blinds", "Lennart Poettering, Andrea Cimitan"), ("Dune", "Marco Cogoni, Hylke Bons"),
          ("FreshFlower", "Jens Ansorg"), ("GreenMeadow", "Timothy Schellhase, Lapo Calamandrei"),
          ("RainDrops", "blackcombwhistler07"), ("Storm", "Sergey Nazarov"),
          ("TwoWings", "Charles Barbin, Hylke Bons"), ("Wood", "Jean-François Fortin Tam"))),
    *(Photo(name.lower(), _PLASMA.format(name), "plasma-workspace-wallpapers", _LGPL, credit)
      for name, credit in (
          ("BytheWater", "Maciej Wiklo"), ("ColdRipple", "Risto Saukonpää"),
          ("DarkestHour", "Risto Saukonpää"), ("Kite", "Risto Saukonpää"),
          ("OneStandsOut", "Risto Saukonpää"), ("Path", "Risto Saukonpää"),
          ("summer_1am", "Risto Saukonpää"), ("ColorfulCups", "Dmitri Popov"),
          ("EveningGlow", "Ian Hex"), ("FallenLeaf", "Martin Klapetek"), ("Grey", "Sigi Sagi"))),
)

#: the Debian packages that ship :data:`SOURCES_V2`
PACKAGES_V2: tuple[str, ...] = tuple(dict.fromkeys(p.package for p in SOURCES_V2))

_DEFAULTS_V2 = dict(train_per_class=32, val_per_class=24, size=(80, 112), scale=(0.3, 0.9),
                    ratio=(3 / 4, 4 / 3), cell=0.25, gap=0.02, jitter=0.15, quality=(75, 95),
                    short_side=1024, min_val_cells=8, cut=0, seed=0)


def shipped_photos_v2(strict: bool = True) -> list[Photo]:
    """The :data:`SOURCES_V2` photographs found on this machine.

    photos-v2 is defined by all of them, so by default (``strict``) a missing one raises
    ``RuntimeError`` naming the Debian packages to install; ``strict=False`` returns those found.
    """
    found = [ph for ph in SOURCES_V2 if Path(ph.path).is_file()]
    if strict and len(found) < len(SOURCES_V2):
        missing = sorted({ph.package for ph in SOURCES_V2 if not Path(ph.path).is_file()})
        raise RuntimeError(
            f"photos_v2(): {len(found)} of {len(SOURCES_V2)} photographs found; install them with: "
            f"sudo apt-get install {' '.join(missing)}")
    return found


def _params_v2(**kw) -> dict:
    """photos-v2's parameters: its defaults, overridden by ``kw``, checked as in :func:`photos`."""
    merged = {**_DEFAULTS_V2, **{k: v for k, v in kw.items() if v is not None}}
    p = _params(**{k: merged[k] for k in _DEFAULTS})  # the shared checks and normalisation
    for key in ("short_side", "min_val_cells", "cut"):
        p[key] = int(merged[key])
    if not 64 <= p["short_side"] <= 8192:
        raise ValueError(f"short_side must be in [64, 8192], got {p['short_side']}")
    if p["cut"] < 0:
        raise ValueError(f"cut must be >= 0, got {p['cut']}")
    if p["min_val_cells"] < 1:
        raise ValueError(f"min_val_cells must be >= 1, got {p['min_val_cells']}")
    return p


def cells_v2(w: int, h: int, cell: float, gap: float, cut: int, label: int
             ) -> dict[str, list[tuple[int, int, int, int]]]:
    """photos-v2's train and val cells of a w x h photograph, as (left, top, right, bottom).

    A checkerboard of square cells ``cell`` x the shorter side, interleaved over the whole
    photograph: train the cells of one colour, val the other. The ``cut`` seed (with the class
    ``label``) moves the grid by a random phase on each axis and picks which colour is val, so
    each cut puts the boundary between the splits elsewhere. A partial cell at an edge narrower
    than half a cell is left unused; each cell loses ``gap / 2`` x the shorter side on every
    edge, so crops of the two splits are at least ``gap`` x that side apart.
    """
    short = min(w, h)
    side = cell * short
    rng = np.random.default_rng([int(cut), int(label), 7])
    phase_x, phase_y = rng.uniform(0, side, 2)
    parity = int(rng.integers(2))
    margin = int(round(short * gap / 2))

    def edges(n: int, phase: float) -> list[tuple[int, int, int]]:
        # (index, start, end) of every cell at least half a cell wide along an axis of n pixels
        out, k = [], 0
        start = phase - side if phase > 0 else 0.0
        while start < n:
            a, b = max(0.0, start), min(float(n), start + side)
            if b - a >= side / 2:
                out.append((k, int(round(a)), int(round(b))))
            start += side
            k += 1
        return out

    split: dict[str, list[tuple[int, int, int, int]]] = {"train": [], "val": []}
    for j, y0, y1 in edges(h, phase_y):
        for i, x0, x1 in edges(w, phase_x):
            name = "val" if (i + j + parity) % 2 else "train"
            split[name].append((x0 + margin, y0 + margin, x1 - margin, y1 - margin))
    return split


def photos_v2(root: Union[None, str, os.PathLike] = None, *,
              sources: Optional[Iterable[Union[Photo, str, os.PathLike, tuple]]] = None,
              cut: Optional[int] = None, train_per_class: Optional[int] = None,
              val_per_class: Optional[int] = None, size: Optional[tuple] = None,
              scale: Optional[tuple] = None, ratio: Optional[tuple] = None,
              cell: Optional[float] = None, gap: Optional[float] = None,
              jitter: Optional[float] = None, quality: Optional[tuple] = None,
              short_side: Optional[int] = None, min_val_cells: Optional[int] = None,
              seed: Optional[int] = None, progress: bool = True) -> Path:
    """photos-v2, the accuracy study's benchmark: path of its ImageFolder, made if needed.

    37 photographs from Debian's wallpaper packages (:data:`SOURCES_V2`; ``sudo apt-get install``
    :data:`PACKAGES_V2`), one class each. Each photograph is first resized to a shorter side of
    ``short_side`` pixels, then cut into a checkerboard of cells ``cell`` x that side
    (:func:`cells_v2`): at least ``min_val_cells`` val cells per photograph, interleaved with the
    train cells over the whole picture. Crops go round the cells of their split in turn, so every
    cell is used. Each crop is made as in :func:`photos` (scale, aspect, resize, jitter, web JPEG).

    Args:
        root: parent directory (default :func:`jpegcoef.datasets.cache_dir`); the dataset lives in
            ``root/photos-v2-<hash>``, the hash covering the parameters and the sources' bytes.
        sources: the photographs (as in :func:`photos`); default :data:`SOURCES_V2`, all required.
        cut: the dataset cut (default 0): moves the cells (grid phase and which colour is val),
            so a study can measure the variance due to the cut apart from the training seed's.
        train_per_class, val_per_class: crops per class (default 32 and 24).
        short_side: each photograph's shorter side before cutting (default 1024).
        cell: cell side as a fraction of the shorter side (default 0.25); gap: unused band
            between cells (default 0.02); min_val_cells: fewer val cells is a ValueError (8).
        size, scale, ratio, jitter, quality, seed: as in :func:`photos` (seed changes every crop,
            not the cells).

    Raises:
        RuntimeError: the default photographs are not all installed (names the packages).
        ValueError: a bad parameter, an unreadable source, or too few val cells.
    """
    p = _params_v2(train_per_class=train_per_class, val_per_class=val_per_class, size=size,
                   scale=scale, ratio=ratio, cell=cell, gap=gap, jitter=jitter, quality=quality,
                   seed=seed, short_side=short_side, min_val_cells=min_val_cells, cut=cut)
    srcs = shipped_photos_v2() if sources is None else _as_photos(sources)
    for ph in srcs:
        if not Path(ph.path).is_file():
            raise ValueError(f"photos_v2(): source photograph {ph.path} does not exist")
    digests = [_file_digest(ph.path) for ph in srcs]
    key = json.dumps({"version": VERSION_V2, "params": p,
                      "sources": list(zip([ph.name for ph in srcs], digests))}, sort_keys=True)
    from .datasets import _building, cache_dir  # noqa: PLC0415

    base = Path(root) if root is not None else cache_dir()
    final = base / f"{VERSION_V2}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    if (final / "manifest.json").is_file():
        return final
    names = [f"{i:02d}-{ph.name}" for i, ph in enumerate(srcs)]
    counts = {"train": int(p["train_per_class"]), "val": int(p["val_per_class"])}
    with _building(final) as tmp:
        bar = tqdm(total=len(srcs) * sum(counts.values()), desc=f"photos {final.name}", unit="img",
                   disable=not progress)
        classes = []
        for label, ph in enumerate(srcs):
            img = _load(ph.path)
            w, h = img.size
            if min(w, h) < 64:
                raise ValueError(f"photos_v2(): source photograph {ph.path} is {w}x{h}; need >= 64 px")
            k = p["short_side"] / min(w, h)
            if k != 1.0:
                img = img.resize((max(1, round(w * k)), max(1, round(h * k))),
                                 Image.Resampling.LANCZOS, reducing_gap=3.0)
            w, h = img.size
            cells = cells_v2(w, h, p["cell"], p["gap"], p["cut"], label)
            if len(cells["val"]) < p["min_val_cells"] or not cells["train"]:
                raise ValueError(f"photos_v2(): {ph.path} gives {len(cells['val'])} val cells "
                                 f"(min_val_cells {p['min_val_cells']}); use a smaller cell")
            crops: dict[str, list] = {}
            for split, n in counts.items():
                d = tmp / split / names[label]
                d.mkdir(parents=True, exist_ok=True)
                crops[split] = []
                for i in range(n):
                    rng = np.random.default_rng([p["seed"], p["cut"], 0 if split == "train" else 1, label, i])
                    box = _draw_box(cells[split], rng, p, index=i)
                    (d / f"{i:05d}.jpg").write_bytes(_encode(_render(img, box, rng, p), rng, p["quality"]))
                    crops[split].append([i % len(cells[split]), *box])
                    bar.update()
            classes.append({"class": names[label], "size": [w, h],
                            "cells": {s: [list(c) for c in cs] for s, cs in cells.items()},
                            "crops": crops})
        bar.close()
        manifest = {"version": VERSION_V2, "params": p, "classes": names,
                    "sources": [{**asdict(ph), "path": Path(ph.path).name, "sha1": dg}
                                for ph, dg in zip(srcs, digests)],
                    "split": "each photograph (resized to short_side) is a checkerboard of cells; train "
                             "crops from the cells of one colour, val crops from the other, moved by the "
                             "cut seed; no pixel is in both",
                    "layout": classes,  # per class: resized size, cells per split, crops as [cell, box]
                    "images": {s: n * len(srcs) for s, n in counts.items()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        (tmp / "LICENSES.md").write_text(_licences_md(
            srcs, "the Debian package named (its /usr/share/doc/<package>/copyright)"))
    return final
