"""Shared fixtures: the bundled JPEG edge cases, their expected behaviour, and cjpeg-made files."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

DATA = pathlib.Path(__file__).parent / "data"

#: What each bundled edge case must give (from the shared MANIFEST.md; djpeg 2.1.5 as reference):
#: ("ok", None) | ("warning", text) | ("error", libjpeg's text) | ("refused", text).
EXPECTED: dict[str, tuple[str, str | None]] = {
    "pillow-jpeg_ff00_header.jpg": ("warning", "extraneous bytes"),
    "pillow-junk_jpeg_header.jpg": ("warning", "extraneous bytes"),
    "pillow-truncated_app14.jpg": ("warning", "extraneous bytes"),
    "pillow-truncated_jpeg.jpg": ("warning", "Premature end of JPEG file"),
    "bad-truncated-mid-scan.jpg": ("warning", "Premature end of JPEG file"),
    "bad-corrupt-scan.jpg": ("warning", "Corrupt JPEG data"),
    "bad-truncated-in-header.jpg": ("error", "Bogus Huffman table definition"),
    "bad-soi-only.jpg": ("error", "JPEG datastream contains no image"),
    "bad-empty.jpg": ("error", "Empty input file"),
    "bad-not-a-jpeg.jpg": ("error", "Not a JPEG file"),
    "turbo-monkey12-12bit.jpg": ("error", "Unsupported JPEG data precision 12"),
    "mozjpeg-testorig12-12bit.jpg": ("error", "Unsupported JPEG data precision 12"),
    "bad-huge-dimensions.jpg": ("refused", "max_pixels"),
}

ALL_FILES = sorted(p.name for p in DATA.glob("*.jpg"))
OK_FILES = [f for f in ALL_FILES if f not in EXPECTED]
for _f in ALL_FILES:
    EXPECTED.setdefault(_f, ("ok", None))

#: cjpeg options for the generated set: every subsampling, gray, x baseline/progressive/arithmetic.
SAMPLINGS = {"444": ["-sample", "1x1"], "422": ["-sample", "2x1"], "420": ["-sample", "2x2"],
             "440": ["-sample", "1x2"], "411": ["-sample", "4x1"], "gray": ["-grayscale"]}
CODINGS = {"baseline": [], "progressive": ["-progressive"], "arithmetic": ["-arithmetic"],
           "progressive-arithmetic": ["-progressive", "-arithmetic"]}


def synthetic_rgb(height: int = 83, width: int = 117, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like uint8 image: gradients, edges and noise (odd size on purpose)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 255 * (x + y) / (width + height)
    b = np.where((x // 16 + y // 16) % 2 == 0, 200, 40).astype(np.float32)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_ppm(path: pathlib.Path, img: np.ndarray) -> None:
    h, w, _ = img.shape
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + img.tobytes())


def read_pnm(data: bytes) -> np.ndarray:
    """Parse binary PGM/PPM (djpeg's output) into (H, W, C) uint8."""
    parts = data.split(maxsplit=4)
    magic, w, h, maxval = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
    assert maxval == 255
    c = 3 if magic == b"P6" else 1
    return np.frombuffer(parts[4][: w * h * c], np.uint8).reshape(h, w, c)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict:
    """{name: path} of cjpeg-made files for every subsampling x coding (skips without cjpeg)."""
    if not have("cjpeg"):
        pytest.skip("cjpeg (libjpeg-turbo-progs) not installed")
    root = tmp_path_factory.mktemp("gen")
    ppm = root / "src.ppm"
    write_ppm(ppm, synthetic_rgb())
    out = {}
    for s, sargs in SAMPLINGS.items():
        for c, cargs in CODINGS.items():
            path = root / f"{s}-{c}.jpg"
            subprocess.run(["cjpeg", "-quality", "85", *sargs, *cargs, "-outfile", str(path), str(ppm)],
                           check=True)
            out[f"{s}-{c}"] = path
    return out


def djpeg(path: pathlib.Path, *args: str) -> np.ndarray:
    """djpeg's decode (PNM) of ``path``, parsed."""
    res = subprocess.run(["djpeg", "-pnm", *args, str(path)], check=True, capture_output=True)
    return read_pnm(res.stdout)


@pytest.fixture
def one_torch_thread():
    """One torch thread (the model tests use it): with small tensors on a loaded 2-core
    machine, two threads spin-wait (a 300-step toy training took 46 s instead of 1 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
