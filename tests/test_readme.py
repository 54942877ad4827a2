"""The README's set-up lines and its first example, run as a new user would paste them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATA

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _block(lang: str, after: str = "") -> str:
    """The first ```lang block after the text ``after``."""
    start = README.index(after) if after else 0
    m = re.search(rf"```{lang}\n(.*?)```", README[start:], re.S)
    assert m, f"no {lang} block after {after!r}"
    return m.group(1)


SETUP = _block("bash")


def _line(word: str) -> str:
    lines = [ln for ln in SETUP.splitlines() if word in ln and not ln.lstrip().startswith("#")]
    assert lines, f"no set-up line with {word!r}"
    return lines[0]


def test_setup_block_is_valid_bash():
    subprocess.run(["bash", "-n"], input=SETUP, text=True, check=True)


@pytest.mark.parametrize("with_sudo", [False, True])
def test_system_package_line_works_as_root_and_with_sudo(tmp_path, with_sudo):
    """The apt line runs apt-get directly where there is no sudo (root in a container) and
    through sudo where there is one: stubs on an otherwise empty PATH record what ran."""
    stubs, log = tmp_path / "bin", tmp_path / "log"
    stubs.mkdir()
    names = ["apt-get"] + (["sudo"] if with_sudo else [])
    for name in names:
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        (stubs / name).chmod(0o755)
    proc = subprocess.run(["/bin/bash", "-c", _line("apt-get install")], env={"PATH": str(stubs)},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    prefix = "sudo apt-get" if with_sudo else "apt-get"
    assert [c.split()[:2 if with_sudo else 1] for c in calls] == [prefix.split()] * 2
    assert calls[0].endswith("update") and "install -y" in calls[1]


def test_setup_matches_ci():
    """One torch pin everywhere; the CPU line names PyTorch's CPU index; every system package
    .ci/run may install (but cmake, for the C test builds) is on the README's line."""
    ci = (REPO / ".ci" / "run").read_text()
    pins = set(re.findall(r"torch==([\w.]+)", SETUP)) | set(re.findall(r"torch==([\w.]+)", ci))
    assert len(pins) == 1, pins
    torch_lines = [ln for ln in SETUP.splitlines() if "pip install torch==" in ln]
    assert len(torch_lines) == 2
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_lines[1]
    assert "--index-url" not in torch_lines[0]  # the GPU line: PyPI's (CUDA) wheel
    apt = set(_line("apt-get install").split("install -y", 1)[1].split())
    ci_pkgs = set(re.findall(r"need\+=\(([\w.+-]+)\)", ci))
    assert ci_pkgs and ci_pkgs - {"cmake"} <= apt, ci_pkgs - apt


def test_photos_v2_packages_are_in_the_setup_and_in_ci():
    """photos-v2's photographs come from Debian packages: the README's optional line and
    .ci/run (which installs them for the tests that read them) name every one."""
    from jpegcoef.datasets import PACKAGES_V2
    ci = (REPO / ".ci" / "run").read_text()
    line = next(ln for ln in SETUP.splitlines() if "apt-get install" in ln and "wallpapers" in ln)
    for pkg in PACKAGES_V2:
        assert pkg in line.split(), pkg
        assert re.search(rf"(?<![\w.-]){re.escape(pkg)}(?![\w.-])", ci), pkg


def _cmyk_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 4), dtype=np.uint8), "CMYK").save(path, quality=90)
    return path


@pytest.mark.parametrize("name,colorspace", [("gen-420-progressive.jpg", "ycbcr"),
                                             ("gen-444-odd-477x355.jpg", "ycbcr"),
                                             ("gen-gray.jpg", "gray"),
                                             ("gen-rgb-colorspace.jpg", "rgb"),
                                             ("pillow-pil_sample_cmyk.jpg", "ycck"),
                                             ("cmyk", "cmyk")])
def test_first_example_runs_on_every_colour_space(tmp_path, name, colorspace):
    """The 'Reading coefficients' block, pasted as is, on a file of each colour space."""
    code = _block("python", "## Reading coefficients")
    img = tmp_path / "img.jpg"
    if name == "cmyk":
        _cmyk_file(img)
    else:
        shutil.copy(DATA / name, img)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the documented example
    finally:
        os.chdir(cwd)
    assert scope["c"].colorspace == colorspace
    assert scope["y"].dtype == np.int16 and scope["y"].ndim == 4
    assert scope["rgb"].shape == (scope["c"].height, scope["c"].width, 3)
    assert len(scope["batch"]) == 2 and (tmp_path / "copy.jpg").stat().st_size > 0
