"""jpegcoef.datasets.photos(): the real-photograph benchmark (issue 12, part 3), and run.py's
--dataset photos. The generator is tested on small photographs made here; the shipped ones
(scikit-image, scikit-learn, matplotlib) only where those packages are installed."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import jpegcoef  # noqa: E402
from jpegcoef import _photos, datasets  # noqa: E402
from jpegcoef.console import UsageError, UserError  # noqa: E402

SMALL = dict(train_per_class=6, val_per_class=4, size=(32, 48), progress=False)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[Path]:
    """Three 'photographs': smooth colour fields with texture, distinct per class."""
    d = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(1)
    out = []
    for i, (w, h) in enumerate([(180, 120), (120, 160), (150, 150)]):
        y, x = np.mgrid[0:h, 0:w]
        px = np.stack([(x * (i + 1)) % 256, (y * 2 + 40 * i) % 256,
                       ((x + y) * (3 - i)) % 256], -1).astype(np.float32)
        px += rng.normal(0, 8, px.shape)
        p = d / f"photo{i}.png"
        Image.fromarray(np.clip(px, 0, 255).astype(np.uint8), "RGB").save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def made(sources, tmp_path_factory) -> Path:
    return datasets.photos(tmp_path_factory.mktemp("photos"), sources=sources, **SMALL)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("w, h", [(512, 512), (600, 400), (400, 640), (123, 77)])
def test_train_and_val_cells_are_disjoint_and_separated_by_the_gap(w, h):
    gap = 0.04
    train, val = (_photos._cells(w, h, s, 0.5, gap) for s in ("train", "val"))
    assert train and val
    sep = int(round(min(w, h) * gap / 2)) * 2
    for a in train:
        for b in val:
            assert not _overlap(a, b)
            # the two rectangles are at least the gap apart on the axis where they do not meet
            dx = max(b[0] - a[2], a[0] - b[2])
            dy = max(b[1] - a[3], a[1] - b[3])
            assert max(dx, dy) >= sep - 1
    for r in train + val:  # inside the photograph
        assert 0 <= r[0] < r[2] <= w and 0 <= r[1] < r[3] <= h


def test_every_crop_box_lies_inside_a_cell_of_its_split(sources, tmp_path, monkeypatch):
    boxes: list[tuple] = []
    real = Image.Image.resize

    def spy(self, size, resample=None, box=None, reducing_gap=None):
        boxes.append(box)
        return real(self, size, resample, box, reducing_gap)

    monkeypatch.setattr(Image.Image, "resize", spy)
    datasets.photos(tmp_path, sources=sources[:2], train_per_class=5, val_per_class=5,
                    size=(32, 40), progress=False)
    assert len(boxes) == 20  # 2 classes x (5 train + 5 val), in that order
    for k, box in enumerate(boxes):
        src = Image.open(sources[k // 10])
        split = "train" if k % 10 < 5 else "val"
        cells = _photos._cells(*src.size, split, 0.5, 0.04)
        assert any(c[0] <= box[0] and c[1] <= box[1] and box[2] <= c[2] and box[3] <= c[3]
                   for c in cells), (split, box)


def test_layout_counts_sizes_and_web_jpeg_encoding(made, sources):
    manifest = json.loads((made / "manifest.json").read_text())
    assert manifest["classes"] == ["00-photo0", "01-photo1", "02-photo2"]
    assert manifest["images"] == {"train": 18, "val": 12}
    assert (made / "LICENSES.md").is_file()
    for split, n in (("train", 6), ("val", 4)):
        for cls in manifest["classes"]:
            files = sorted((made / split / cls).glob("*.jpg"))
            assert len(files) == n
            for f in files:
                with Image.open(f) as im:
                    assert im.format == "JPEG" and im.mode == "RGB"
                    assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
                    assert 32 <= min(im.size) <= 48
                    q = im.quantization[0][0]  # luma DC step of quality 75-95 (IJG): 2..8
                    assert 1 <= q <= 8
    # the reader takes every file (coefficients, no decode errors)
    f = next((made / "val" / "00-photo0").glob("*.jpg"))
    r = jpegcoef.read(str(f))
    with Image.open(f) as im:
        assert (r.width, r.height) == im.size
    assert r.y.shape[:2] == (-(-r.height // 16) * 2, -(-r.width // 16) * 2)  # 4:2:0 MCU rows
    assert r.cb.shape[:2] == (r.y.shape[0] // 2, r.y.shape[1] // 2)


def test_cached_deterministic_and_keyed_by_params_and_source_bytes(made, sources, tmp_path):
    again = datasets.photos(made.parent, sources=sources, **SMALL)
    assert again == made
    other = datasets.photos(tmp_path, sources=sources, **SMALL)  # regenerated elsewhere
    assert other.name == made.name
    for f in sorted(made.rglob("*.jpg")):
        assert (other / f.relative_to(made)).read_bytes() == f.read_bytes()
    reseeded = datasets.photos(tmp_path, sources=sources, **{**SMALL, "seed": 1})
    assert reseeded.name != made.name
    a = (made / "train" / "00-photo0" / "00000.jpg").read_bytes()
    assert (reseeded / "train" / "00-photo0" / "00000.jpg").read_bytes() != a
    # a changed source file changes the cache key
    changed = tmp_path / "changed.png"
    Image.open(sources[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(changed)
    moved = datasets.photos(tmp_path, sources=[("photo0", changed), *sources[1:]], **SMALL)
    assert moved.name != made.name
    assert not list(tmp_path.glob(".*tmp-*"))  # no leftover temporary folders


@pytest.mark.parametrize("kw, match", [
    ({"size": (8, 10)}, "size"), ({"size": (64, 32)}, "size"), ({"scale": (0.0, 0.5)}, "scale"),
    ({"scale": (0.5, 1.5)}, "scale"), ({"ratio": (2.0, 1.0)}, "ratio"), ({"cell": 0.1}, "cell"),
    ({"gap": 0.5}, "gap"), ({"jitter": 1.0}, "jitter"), ({"quality": (0, 90)}, "quality"),
    ({"train_per_class": 0}, "per_class"),
])
def test_bad_parameters_are_value_errors(sources, tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        datasets.photos(tmp_path, sources=sources, **{**SMALL, **kw})
    assert not any(tmp_path.iterdir())  # nothing written


def test_bad_sources_are_value_errors(sources, tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        datasets.photos(tmp_path, sources=sources[:1], **SMALL)
    with pytest.raises(ValueError, match="unique"):
        datasets.photos(tmp_path, sources=[("a", sources[0]), ("a", sources[1])], **SMALL)
    with pytest.raises(ValueError, match="does not exist"):
        datasets.photos(tmp_path, sources=[sources[0], tmp_path / "missing.png"], **SMALL)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20)).save(tiny)
    with pytest.raises(ValueError, match="need >= 32"):
        datasets.photos(tmp_path / "out", sources=[sources[0], tiny], **SMALL)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8not a jpeg")
    with pytest.raises(ValueError, match="cannot read"):
        datasets.photos(tmp_path / "out", sources=[sources[0], junk], **SMALL)
    assert not list((tmp_path / "out").glob("photos-*"))  # no half-made dataset left


def test_missing_packages_name_the_install_command(monkeypatch):
    monkeypatch.setattr(_photos, "_package_dir", lambda package: None)
    with pytest.raises(RuntimeError, match=r"pip install 'jpegcoef\[photos\]'"):
        _photos.shipped_photos()


def test_strict_refuses_a_partial_set(monkeypatch, tmp_path):
    pkg = tmp_path / "fakepkg"
    (pkg / "data").mkdir(parents=True)
    for ph in _photos.SOURCES:
        if ph.package == "skimage":
            (pkg / ph.path).parent.mkdir(parents=True, exist_ok=True)
            (pkg / ph.path).write_bytes(b"x")
    monkeypatch.setattr(_photos, "_package_dir", lambda package: pkg if package == "skimage" else None)
    found = _photos.shipped_photos()
    assert [p.name for p in found] == [p.name for p in _photos.SOURCES if p.package == "skimage"]
    with pytest.raises(RuntimeError, match="missing"):
        _photos.shipped_photos(strict=True)


def test_every_source_has_a_licence_and_credit():
    assert len(_photos.SOURCES) >= 10
    assert len({p.name for p in _photos.SOURCES}) == len(_photos.SOURCES)
    for p in _photos.SOURCES:
        assert p.licence and p.credit and p.package in ("skimage", "sklearn", "matplotlib")


_have = all(_photos._package_dir(p) is not None for p in ("skimage", "sklearn", "matplotlib"))


@pytest.mark.skipif(not _have, reason="pip install 'jpegcoef[photos]' (scikit-image, scikit-learn, matplotlib)")
def test_the_shipped_photographs_are_found_and_are_colour_photographs():
    found = _photos.shipped_photos(strict=True)
    assert len(found) == len(_photos.SOURCES)
    for p in found:
        with Image.open(p.path) as im:
            assert min(im.size) >= 256 and im.mode in ("RGB", "RGBA", "P"), (p.name, im.size, im.mode)


# -- run.py --dataset photos --------------------------------------------------------------------

def _args(*argv: str):
    from harness import config
    return config.fill_defaults(config.build_parser().parse_args(list(argv)))


def test_dataset_photos_selects_the_photos_profile():
    from harness import config
    a = _args("--variant", "resnet50", "--dataset", "photos")
    prof = config.PROFILES["photos"]
    assert a.profile == "photos" and a.dataset == "photos"
    assert (a.epochs, a.batch_size, a.crop, a.lr) == (prof["epochs"], prof["batch_size"],
                                                      prof["crop"], prof["lr"])
    assert a.photos == {"train_per_class": 120, "val_per_class": 100}
    a = _args("--variant", "resnet50", "--dataset", "photos", "--photos-opt", "train_per_class=50")
    assert a.photos == {"train_per_class": 50}
    a = _args("--variant", "resnet50")
    assert (a.profile, a.dataset) == ("synthetic", "synthetic")
    a = _args("--variant", "resnet50", "--data", "/x")
    assert a.profile == "imagenet" and a.dataset is None


def test_dataset_with_data_and_bad_photos_options_are_usage_errors(sources, tmp_path):
    from harness import train
    with pytest.raises(UsageError, match="--dataset"):
        _args("--variant", "resnet50", "--dataset", "photos", "--data", "/x")
    with pytest.raises(UsageError, match="--photos-opt"):
        _args("--variant", "resnet50", "--dataset", "photos", "--photos-opt", "nokeyvalue")
    info = SimpleNamespace(is_main=True)
    a = _args("--variant", "resnet50", "--dataset", "photos", "--photos-opt", "colour=1")
    with pytest.raises(UsageError, match="unknown option.*colour"):
        train.dataset_root(a, info)
    a = _args("--variant", "resnet50", "--dataset", "photos", "--photos-opt", "size=(4,5)")
    with pytest.raises(UserError, match="--dataset photos: .*size"):
        train.dataset_root(a, info)


def test_format_opt_reaches_the_input_format_and_is_checked():
    a = _args("--variant", "dctnet24", "--format-opt", "upsample=repeat")
    assert a.format_opts == {"upsample": "repeat"}
    with pytest.raises(UsageError, match="--format-opt"):
        _args("--variant", "dctnet24", "--format-opt", "upsample")


# -- photos-v2 ----------------------------------------------------------------------------------

_V1_DEFAULT = "photos-v1-6d942c7dc3"  # the v1 study's dataset (experiments/results/study-photos/)


@pytest.mark.skipif(not _have, reason="pip install 'jpegcoef[photos]' (scikit-image, scikit-learn, matplotlib)")
def test_v1_keeps_its_name_under_the_photos_profile():
    from harness import config
    p = _photos._params(**config.PROFILES["photos"]["photos"])
    srcs = _photos.shipped_photos(strict=True)
    assert _photos._v1_name(p, srcs, [_photos._file_digest(s.path) for s in srcs]) == _V1_DEFAULT


@pytest.mark.parametrize("w, h", [(1638, 1024), (1024, 1024), (1024, 1536), (1365, 1024)])
@pytest.mark.parametrize("cut", [0, 1, 2, 5])
def test_v2_cells_interleave_are_disjoint_and_at_least_eight_val(w, h, cut):
    gap = 0.02
    c = _photos.cells_v2(w, h, 0.25, gap, cut, 3)
    assert len(c["val"]) >= 8 and len(c["train"]) >= 8
    sep = int(round(min(w, h) * gap / 2)) * 2
    for a in c["train"]:
        for b in c["val"]:
            assert not _overlap(a, b)
            dx = max(b[0] - a[2], a[0] - b[2])
            dy = max(b[1] - a[3], a[1] - b[3])
            assert max(dx, dy) >= sep - 1
    for r in c["train"] + c["val"]:
        assert 0 <= r[0] < r[2] <= w and 0 <= r[1] < r[3] <= h
    # interleaved over the whole photograph: val cells in every horizontal and vertical third
    for axis, n in ((0, w), (1, h)):
        centres = [(r[axis] + r[axis + 2]) / 2 for r in c["val"]]
        for k in range(3):
            assert any(k * n / 3 <= x < (k + 1) * n / 3 for x in centres), (axis, k)


def test_v2_cut_moves_the_cells_and_is_reproducible():
    a = _photos.cells_v2(1638, 1024, 0.25, 0.02, 0, 0)
    assert _photos.cells_v2(1638, 1024, 0.25, 0.02, 0, 0) == a
    b = _photos.cells_v2(1638, 1024, 0.25, 0.02, 1, 0)
    assert a["val"] != b["val"]
    # a val cell of one cut overlaps train cells of the other: the cut really moves the boundary
    assert any(_overlap(v, t) for v in a["val"] for t in b["train"])
    # the class label changes the grid too (the photographs are not all cut alike)
    assert _photos.cells_v2(1638, 1024, 0.25, 0.02, 0, 1) != a


SMALL_V2 = dict(train_per_class=6, val_per_class=10, size=(32, 40), short_side=160, cell=0.25,
                progress=False)


@pytest.fixture(scope="module")
def made_v2(sources, tmp_path_factory) -> Path:
    return datasets.photos_v2(tmp_path_factory.mktemp("v2"), sources=sources, **SMALL_V2)


def test_v2_layout_manifest_and_every_crop_in_a_cell_of_its_split(made_v2):
    m = json.loads((made_v2 / "manifest.json").read_text())
    assert m["version"] == "photos-v2" and made_v2.name.startswith("photos-v2-")
    assert m["images"] == {"train": 18, "val": 30}
    assert (made_v2 / "LICENSES.md").is_file()
    for cls in m["layout"]:
        assert len(cls["cells"]["val"]) >= 8
        for split, n in (("train", 6), ("val", 10)):
            assert len(list((made_v2 / split / cls["class"]).glob("*.jpg"))) == n
            cells = cls["cells"][split]
            used = set()
            for k, *box in cls["crops"][split]:
                c = cells[k]
                used.add(k)
                assert c[0] <= box[0] and c[1] <= box[1] and box[2] <= c[2] and box[3] <= c[3]
                # and it touches no cell of the other split
                other = cls["cells"]["val" if split == "train" else "train"]
                assert not any(_overlap(box, o) for o in other)
            assert len(used) == min(n, len(cells))  # cells used in turn
    f = next((made_v2 / "val" / m["classes"][0]).glob("*.jpg"))
    with Image.open(f) as im:
        assert JpegImagePlugin.get_sampling(im) == 2 and 32 <= min(im.size) <= 40


def test_v2_is_cached_reproducible_and_the_cut_changes_the_data(made_v2, sources, tmp_path):
    assert datasets.photos_v2(made_v2.parent, sources=sources, **SMALL_V2) == made_v2
    again = datasets.photos_v2(tmp_path, sources=sources, **SMALL_V2)
    assert again.name == made_v2.name
    for f in sorted(made_v2.rglob("*.jpg")):
        assert (again / f.relative_to(made_v2)).read_bytes() == f.read_bytes()
    cut1 = datasets.photos_v2(tmp_path, sources=sources, cut=1, **SMALL_V2)
    assert cut1.name != made_v2.name
    m0, m1 = (json.loads((d / "manifest.json").read_text()) for d in (made_v2, cut1))
    assert m1["params"]["cut"] == 1
    assert [c["cells"] for c in m0["layout"]] != [c["cells"] for c in m1["layout"]]


@pytest.mark.parametrize("kw, match", [({"cut": -1}, "cut"), ({"short_side": 10}, "short_side"),
                                       ({"min_val_cells": 0}, "min_val_cells"),
                                       ({"cell": 0.5}, "val cells"), ({"size": (8, 9)}, "size")])
def test_v2_bad_parameters_are_value_errors(sources, tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        datasets.photos_v2(tmp_path, sources=sources, **{**SMALL_V2, **kw})
    assert not list(tmp_path.glob("photos-v2-*"))


def test_v2_missing_photographs_name_the_debian_packages(monkeypatch):
    monkeypatch.setattr(_photos, "SOURCES_V2", (_photos.Photo("x", "/nonexistent/x.jpg",
                                                              "some-wallpapers", "CC0", "me"),))
    with pytest.raises(RuntimeError, match="apt-get install some-wallpapers"):
        _photos.shipped_photos_v2()
    assert _photos.shipped_photos_v2(strict=False) == []


def test_v2_sources_have_licences_credits_and_debian_packages():
    assert len(_photos.SOURCES_V2) >= 30
    assert len({p.name for p in _photos.SOURCES_V2}) == len(_photos.SOURCES_V2)
    for p in _photos.SOURCES_V2:
        assert p.licence and p.credit and p.package in _photos.PACKAGES_V2
        assert p.path.startswith("/usr/share/")


_have_v2 = all(Path(p.path).is_file() for p in _photos.SOURCES_V2)


@pytest.mark.skipif(not _have_v2, reason="sudo apt-get install " + " ".join(_photos.PACKAGES_V2))
def test_v2_shipped_photographs_are_large_photographs():
    modes = {}
    for p in _photos.shipped_photos_v2():
        with Image.open(p.path) as im:
            assert min(im.size) >= 1000, (p.name, im.size)
            modes[p.name] = im.mode
    # colour, except plasma's "Grey" (a black-and-white photograph, used as RGB)
    assert {n for n, m in modes.items() if m != "RGB"} == {"grey"}


def test_dataset_photos_v2_selects_its_profile_and_takes_photos_opt():
    a = _args("--variant", "resnet50", "--dataset", "photos-v2", "--photos-opt", "cut=1")
    assert a.profile == "photos-v2" and a.dataset == "photos-v2" and a.photos == {"cut": 1}
    from harness import train
    a = _args("--variant", "resnet50", "--dataset", "photos-v2", "--photos-opt", "colour=1")
    with pytest.raises(UsageError, match="--photos-opt: unknown option.*colour"):
        train.dataset_root(a, SimpleNamespace(is_main=True))
