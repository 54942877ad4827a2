"""WebDataset-style tar shards: patterns, `jpegcoef prepare --shards N`, samples equal to the
ImageFolder path's for the same seeds, the split across DataLoader workers and 2 gloo
processes, run.py on shards, and bad shards / members named in the errors."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from jpegcoef import data as D, datasets, shards as S
from jpegcoef.cli import main
from jpegcoef.prepare import RECORD, prepare

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(REPO / "experiments"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """A generated ImageFolder (2 classes, 6 + 2 images each), prepared once as a folder and
    once as 3 shards per split (through the command line)."""
    tmp = tmp_path_factory.mktemp("shards")
    src = datasets.synthetic(tmp / "src", classes=2, train_per_class=6, val_per_class=2, progress=False)
    assert main(["prepare", str(src), str(tmp / "folder"), "--short-side", "64", "--workers", "0"]) == 0
    assert main(["prepare", str(src), str(tmp / "shards"), "--short-side", "64", "--workers", "0",
                 "--shards", "3"]) == 0
    return {"src": src, "folder": tmp / "folder", "shards": tmp / "shards"}


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return path


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# -- patterns ------------------------------------------------------------------------------------
def test_brace_patterns():
    assert S.expand_braces("train-{000000..000002}.tar") == [f"train-00000{i}.tar" for i in range(3)]
    assert S.expand_braces("s{8..11}.tar") == ["s8.tar", "s9.tar", "s10.tar", "s11.tar"]
    assert S.expand_braces("{a,b{1..2}}-{x,y}.tar") == ["a-x.tar", "a-y.tar", "b1-x.tar", "b1-y.tar",
                                                        "b2-x.tar", "b2-y.tar"]
    assert S.expand_braces("{3..1}") == ["3", "2", "1"] and S.expand_braces("plain.tar") == ["plain.tar"]
    for bad in ("a-{0..3.tar", "a-0..3}.tar", "a-{x}.tar"):
        with pytest.raises(ValueError, match="brace|unbalanced"):
            S.expand_braces(bad)


def test_specs_name_the_same_shards(prepared):
    train = prepared["shards"] / "train"
    tars = sorted(str(p) for p in train.glob("*.tar"))
    assert [Path(t).name for t in tars] == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    for spec in (train, str(train / "train-{000000..000002}.tar"), str(train / "train-*.tar"), tars):
        assert S.is_shards(spec) and S.shard_paths(spec) == tars
    assert not S.is_shards(prepared["folder"] / "train") and not S.is_shards([str(DATA / "gen-7x9.jpg")])
    with pytest.raises(ValueError, match="mixes"):
        S.is_shards([tars[0], str(DATA / "gen-7x9.jpg")])
    with pytest.raises(FileNotFoundError, match="no shard matches"):
        S.shard_paths(str(train / "nope-*.tar"))


# -- prepare --shards ----------------------------------------------------------------------------
def test_prepare_shards_hold_the_prepared_files(prepared, tmp_path, capsys):
    folder, out = prepared["folder"], prepared["shards"]
    for split, n in (("train", 12), ("val", 4)):
        assert (out / split / "classes.txt").read_text().split() == sorted(
            d.name for d in (folder / split).iterdir())
        ix = S.ShardIndex(out / split)
        assert len(ix) == n and len(ix.paths) == 3
        names = [ix[i].split(":", 1)[1] for i in range(len(ix))]
        files = sorted(str(p.relative_to(folder / split)) for p in (folder / split).rglob("*.jpg"))
        assert sorted(names) == files  # each file once, as .jpg of its relative key
        for i, name in enumerate(names):  # the same re-encoded bytes, the label of its class folder
            assert ix.read(i) == (folder / split / name).read_bytes()
            assert ix.classes[ix.labels[i]] == name.split("/")[0]
        assert names != files  # dealt in a seeded random order, not class by class
    before = {p: p.read_bytes() for p in out.rglob("*.tar")}
    capsys.readouterr()
    assert main(["prepare", str(prepared["src"]), str(out), "--short-side", "64", "--workers", "0",
                 "--shards", "3"]) == 0
    assert "0 written, 16 kept (already made with these settings), 0 failed" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in out.rglob("*.tar")} == before
    record = json.loads((out / RECORD).read_text())
    assert record["settings"]["shards"] == 3 and record["shards"] == 6 and record["complete"]
    # another --shards over the same output is other settings: refused in one line, nothing written
    assert main(["prepare", str(prepared["src"]), str(out), "--short-side", "64", "--shards", "2",
                 "--workers", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("jpegcoef: error: ") and "shards 3 -> 2" in err and "\n" not in err
    assert {p: p.read_bytes() for p in out.rglob("*.tar")} == before
    assert main(["prepare", str(prepared["src"]), str(tmp_path / "x"), "--shards", "0"]) == 2
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(ValueError, match="shards must be a positive int"):
        prepare(prepared["src"], tmp_path / "x", shards=0)


def test_prepare_shards_overwrite_and_unrecorded_shards(prepared, tmp_path, capsys):
    """--overwrite with another N replaces every shard (the old plan's extra shards removed);
    a folder of shards without a settings record is refused, as a folder of images is."""
    out = tmp_path / "out"
    for sub in ("train", "val"):
        (out / sub).mkdir(parents=True)
        for p in (prepared["shards"] / sub).iterdir():
            (out / sub / p.name).write_bytes(p.read_bytes())
    assert main(["prepare", str(prepared["src"]), str(out), "--short-side", "64", "--shards", "2",
                 "--workers", "0"]) == 1
    assert "already holds shards but no record" in capsys.readouterr().err
    assert main(["prepare", str(prepared["src"]), str(out), "--short-side", "64", "--shards", "2",
                 "--workers", "0", "--overwrite"]) == 0
    assert "16 written, 0 kept" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "train").glob("*.tar")) == ["train-000000.tar", "train-000001.tar"]
    ix, fo = S.ShardIndex(out / "train"), S.ShardIndex(prepared["shards"] / "train")
    assert sorted(ix.read(i) for i in range(len(ix))) == sorted(fo.read(i) for i in range(len(fo)))


def test_prepare_shards_resumes_and_reports_failures(prepared, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    for cls in ("a", "b"):
        for i, f in enumerate(sorted(prepared["folder"].glob("train/*/*.jpg"))[:3]):
            (src / cls).mkdir(parents=True, exist_ok=True)
            (src / cls / f"{i}.v2.jpg").write_bytes(f.read_bytes())
    (src / "b" / "bad.jpg").write_bytes(b"not an image")
    (src / "loose.jpg").write_bytes((src / "a" / "0.v2.jpg").read_bytes())
    r = prepare(src, out, short_side=32, workers=2, shards=2, progress=False)
    assert r["done"] == 6 and r["existing"] == 0 and r["shards"] == 2
    assert set(r["failed"]) == {str(src / "b" / "bad.jpg"), str(src / "loose.jpg")}
    assert "in no class" in r["failed"][str(src / "loose.jpg")]
    ix = S.ShardIndex(out)  # one split: DST/<name>-000000.tar
    assert [Path(p).name for p in ix.paths] == ["src-000000.tar", "src-000001.tar"]
    assert sorted(ix[i].split(":")[1] for i in range(6)) == [f"{c}/{i}_v2.jpg" for c in "ab" for i in range(3)]
    (src / "b" / "bad.jpg").unlink()  # another plan: every shard is rewritten
    r = prepare(src, out, short_side=32, workers=0, shards=2, progress=False)
    assert (r["done"], r["existing"]) == (6, 0)
    first = out / "src-000000.tar"
    first.write_bytes(first.read_bytes()[:3000])  # an interrupted copy: rewritten by the rerun
    (out / ".src-000001.tar.jpegcoef-tmp-7").write_bytes(b"stale")
    r = prepare(src, out, short_side=32, workers=0, shards=2, progress=False)
    assert (r["done"], r["existing"]) == (3, 3)
    assert len(S.ShardIndex(out)) == 6 and [p.name for p in out.glob(".*")] == [RECORD]


# -- samples -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,augment", [("dctnet", "rrc"), ("dctnet", "crop"), ("rgb", None),
                                         ("gueguen", "rgb-reencode")])
def test_samples_equal_the_folder_samples(prepared, fmt, augment):
    for train in (True, False):
        sh = D.JpegFolder(prepared["shards"] / "train", fmt, train=train, crop=32, augment=augment)
        fo = D.JpegFolder(prepared["folder"] / "train", fmt, train=train, crop=32, augment=augment)
        assert sh.classes == fo.classes and len(sh) == len(fo) == 12
        where = {p: i for i, p in enumerate(fo.paths)}
        for i in range(len(sh)):
            j = where[str(prepared["folder"] / "train" / sh.paths[i].split(":", 1)[1])]
            (hs, ls, ms), (hf, lf, mf) = sh.load(i, 77 + i), fo.load(j, 77 + i)
            assert ls == lf and ms["kind"] == mf["kind"] and _same(hs, hf)
            assert ms["path"] == sh.paths[i] and ".tar:" in ms["path"]


def test_bytes_sources_equal_paths_for_odd_files(tmp_path):
    """The pipelines on a shard member's bytes == on the file: CMYK, 4:4:4, 4:1:1, gray with
    odd sampling, RGB colour space, progressive (the header walk and to_420 on bytes)."""
    names = ["pillow-pil_sample_cmyk.jpg", "gen-444-odd-477x355.jpg", "gen-411-odd-477x355.jpg",
             "gray-600x400-sampling-1x2.jpg", "gen-rgb-colorspace.jpg", "gen-420-progressive.jpg"]
    shard = S.write_shard(tmp_path / "odd.tar", [(f"k{i}", (DATA / n).read_bytes(), i) for i, n in enumerate(names)])
    assert shard == len(names)
    for fmt, augment, train in [("dctnet", "rrc", True), ("dctnet", "rrc", False), ("gueguen", "crop", True),
                                ("rgb", None, True)]:
        sh = D.JpegFolder(tmp_path / "odd.tar", fmt, train=train, crop=32, augment=augment)
        fo = D.JpegFolder([(DATA / n, i) for i, n in enumerate(names)], fmt, train=train, crop=32, augment=augment)
        for i in range(len(names)):
            (hs, ls, ms), (hf, lf, mf) = sh.load(i, 5 + i), fo.load(i, 5 + i)
            assert ls == lf == i and ms["kind"] == mf["kind"] and _same(hs, hf), (fmt, augment, names[i])


def test_loader_workers_give_the_same_batches(prepared):
    spec = str(prepared["shards"] / "train" / "train-{000000..000002}.tar")

    def epoch(workers: int) -> tuple:
        ld = D.make_loader(spec, "dctnet", train=True, crop=32, batch_size=4, workers=workers, seed=3)
        xs, ys = zip(*[(ld.to_device(x), y) for x, y in ld])
        return torch.cat(xs), torch.cat(ys), set(ld.dataset.file_kinds)

    x0, y0, seen0 = epoch(0)
    x2, y2, seen2 = epoch(2)
    assert torch.equal(x0, x2) and torch.equal(y0, y2)
    assert len(y0) == 12 and seen0 == seen2 and len(seen0) == 12


_RANK_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch.distributed as dist
    from jpegcoef import data as D
    rank, spec, out, init = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    ld = D.make_loader(spec, "dctnet", train=True, crop=32, batch_size=2, workers=rank, seed=5,
                       distributed=True)
    epochs = []
    for e in range(2):
        ld.dataset.file_kinds.clear()
        labels = [int(v) for _, y in ld for v in y]
        epochs.append({"names": sorted(ld.dataset.file_kinds), "labels": labels})
    dist.barrier()
    dist.destroy_process_group()
    with open(out, "w") as f:
        json.dump(epochs, f)
""")


def test_two_gloo_processes_split_the_samples(prepared, tmp_path):
    """2 processes (gloo; rank 1 with a DataLoader worker): each epoch the ranks see disjoint
    halves that together are every sample once, and the shuffle changes between epochs."""
    script = tmp_path / "rank.py"
    script.write_text(_RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])}
    spec = str(prepared["shards"] / "train")
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [subprocess.Popen([sys.executable, str(script), str(r), spec, str(tmp_path / f"r{r}.json"), init],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
    r0, r1 = (json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1))
    ix = S.ShardIndex(spec)
    everything = sorted(ix[i] for i in range(len(ix)))
    for e0, e1 in zip(r0, r1):
        assert len(e0["names"]) == len(e1["names"]) == 6 and not set(e0["names"]) & set(e1["names"])
        assert sorted(e0["names"] + e1["names"]) == everything
        assert sorted(e0["labels"] + e1["labels"]) == sorted(int(v) for v in ix.labels)
    assert r0[0]["names"] != r0[1]["names"]


def test_run_py_trains_on_shard_folders(prepared, tmp_path):
    from harness import folders  # noqa: PLC0415

    assert folders.class_names(prepared["shards"] / "train") == sorted(
        d.name for d in (prepared["src"] / "train").iterdir() if d.is_dir())
    assert folders.check_root(prepared["shards"]) == prepared["shards"]
    cmd = [sys.executable, str(REPO / "experiments" / "run.py"), "--data", str(prepared["shards"]),
           "--variant", "dctnet", "--epochs", "1", "--crop", "32", "--batch-size", "4", "--no-progress",
           "--no-measure", "--shift-max", "0", "--results-dir", str(tmp_path / "res"),
           "--checkpoint-dir", str(tmp_path / "ck"), "--run-dir", str(tmp_path / "runs")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = [json.loads(p.read_text()) for p in (tmp_path / "res").glob("*.json")]
    assert res["dataset"]["classes"] == 2 and res["dataset"]["train_images"] == 12
    assert res["dataset"]["val_images"] == 4 and res["dataset"]["file_kinds"]["train"] == {"420": 12}


# -- bad shards and members ----------------------------------------------------------------------
def test_bad_shards_are_named(prepared, tmp_path):
    good = sorted((prepared["shards"] / "train").glob("*.tar"))
    raw = good[0].read_bytes()
    with tarfile.open(good[0]) as tf:
        third = tf.getmembers()[2]  # the second sample's JPEG
    assert third.name.endswith(".jpg")
    cases = {
        "garbage.tar": (b"this is not a tar file" * 40, "not an uncompressed tar"),
        "gzipped.tar": (gzip.compress(raw), "not an uncompressed tar"),
        "truncated.tar": (raw[: third.offset_data + 100], "truncated"),
        "badheader.tar": (raw[:third.offset] + b"\x07" * 512 + raw[third.offset + 512:], "corrupt tar header"),
    }
    for name, (blob, msg) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match=msg) as info:
            D.JpegFolder([str(good[1]), str(bad)], "dctnet", crop=32)
        assert str(bad) in str(info.value)
        ds = D.JpegFolder([str(good[1]), str(bad)], "dctnet", crop=32, on_error="skip")
        assert any(k.startswith(str(bad)) and msg in v for k, v in ds.skipped.items()), ds.skipped
        assert len(ds) >= 4  # the good shard (and any members before the damage)
    for name in ("truncated.tar", "badheader.tar"):  # the sample before the damage is kept
        assert len(D.JpegFolder([str(tmp_path / name)], "dctnet", crop=32, on_error="skip")) == 1
    missing = str(prepared["shards"] / "train" / "train-{000000..000003}.tar")
    with pytest.raises(FileNotFoundError, match="train-000003.tar not found"):
        D.JpegFolder(missing, "dctnet", crop=32)
    ds = D.JpegFolder(missing, "dctnet", crop=32, on_error="skip")
    assert len(ds) == 12 and list(ds.skipped) == [missing.replace("{000000..000003}", "000003")]


def test_bad_members_are_named(tmp_path):
    jpg = (DATA / "gen-7x9.jpg").read_bytes()
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    shard = _tar(tmp_path / "s.tar", [
        ("a.jpg", jpg), ("a.cls", b"1"), ("a.json", b"{}"),       # good, with an ignored .json
        ("b.cls", b"0"),                                          # no JPEG
        ("c.jpg", jpg), ("c.cls", b"cat"),                        # label not an integer
        ("d.jpg", b"not a jpeg at all"), ("d.cls", b"0"),         # fails when read
        ("e.jpg", jpg), ("e.jpeg", jpg),                          # two JPEGs
        ("f.jpg", jpg), ("f.cls", b"2"),                          # label beyond classes.txt
        ("dir/g.jpg", jpg),                                       # key dir/g, unlabelled
        ("h.seg.jpg", b"a mask"), ("h.jpg", jpg), ("h.cls", b"0"),  # field seg.jpg: not the JPEG
    ])
    with tarfile.open(tmp_path / "link.tar", "w") as tf:  # a link is named, the members after it kept
        info = tarfile.TarInfo("l.jpg")
        info.type, info.linkname = tarfile.SYMTYPE, "a.jpg"
        tf.addfile(info)
        info = tarfile.TarInfo("m.jpg")
        info.size = len(jpg)
        tf.addfile(info, io.BytesIO(jpg))
    with pytest.raises(ValueError, match="member l.jpg: not a regular file"):
        S.ShardIndex(tmp_path / "link.tar")
    ix = S.ShardIndex(tmp_path / "link.tar", on_error="skip")
    assert len(ix) == 1 and ix[0].endswith("link.tar:m.jpg") and list(ix.skipped) == [f"{tmp_path / 'link.tar'}:l.jpg"]
    cases = [([("b.cls", b"0")], "b.cls", "no JPEG"),
             ([("c.jpg", jpg), ("c.cls", b"cat")], "c.cls", "not an integer"),
             ([("e.jpg", jpg), ("e.jpeg", jpg)], "e.jpg", "2 JPEG members")]
    for members, member, msg in cases:
        with pytest.raises(ValueError, match=msg) as info:
            S.ShardIndex(_tar(tmp_path / "one.tar", members))
        assert f"member {member}" in str(info.value) and "one.tar" in str(info.value)
    with pytest.raises(ValueError, match=r"f\.jpg: label 2 >= 2 classes"):
        S.ShardIndex(_tar(tmp_path / "f.tar", [("f.jpg", jpg), ("f.cls", b"2")]))
    ds = D.JpegFolder(shard, "dctnet", crop=16, on_error="skip")
    assert ds.classes == ["cat", "dog"]
    assert sorted(k.split(":")[1] for k in ds.skipped) == ["b.cls", "c.cls", "e.jpg", "f.jpg"]
    assert [p.split(":")[1] for p in ds.paths] == ["a.jpg", "d.jpg", "dir/g.jpg", "h.jpg"]
    assert list(ds.labels) == [1, 0, -1, 0]
    with pytest.raises(D.SampleError, match=r"t\.tar:d\.jpg: JpegError"):
        D.JpegFolder(_tar(tmp_path / "t.tar", [("d.jpg", b"not a jpeg at all")]), "dctnet", crop=16).load(0, 1)
    ld = D.make_loader(shard, "dctnet", train=False, crop=16, batch_size=3, on_error="skip")
    assert sum(len(y) for _, y in ld) == 3 and list(ld.dataset.skipped)[-1] == f"{shard}:d.jpg"
    shard.write_bytes(shard.read_bytes()[:600])  # shrunk after indexing: the read says so
    host, _, meta = ds.load(2, 0)
    assert host is None and "shorter than its index" in meta["error"] and "s.tar" in meta["error"]


def test_class_list_from_members_and_ambiguous_folders(tmp_path):
    jpg = (DATA / "gen-7x9.jpg").read_bytes()
    (tmp_path / "a").mkdir()
    _tar(tmp_path / "a" / "0.tar", [("classes.txt", b"x\ny\n"), ("k.jpg", jpg), ("k.cls", b"1")])
    _tar(tmp_path / "a" / "1.tar", [("classes.txt", b"x\ny\n"), ("m.jpg", jpg), ("m.cls", b"0")])
    ix = S.ShardIndex(tmp_path / "a")
    assert ix.classes == ["x", "y"] and list(ix.labels) == [1, 0]
    _tar(tmp_path / "a" / "2.tar", [("classes.txt", b"y\nx\n"), ("n.jpg", jpg)])
    with pytest.raises(ValueError, match="different classes.txt"):
        S.ShardIndex(tmp_path / "a")
    with pytest.raises(ValueError, match="no JPEG samples in the shards"):
        D.JpegFolder(_tar(tmp_path / "empty.tar", [("classes.txt", b"x\n")]), "dctnet", crop=16)
    (tmp_path / "a" / "cls0").mkdir()
    with pytest.raises(ValueError, match="both .tar shards and image folders"):
        D.JpegFolder(tmp_path / "a", "dctnet", crop=16)


def test_shard_labels_follow_the_given_classes(tmp_path):
    """classes= (train's list) relabels the shards by name, as for folders: another order is
    mapped, a class the list lacks is an error naming it, a missing one a warning."""
    jpg = (DATA / "gen-7x9.jpg").read_bytes()
    (tmp_path / "classes.txt").write_text("dog\ncat\n")
    shard = _tar(tmp_path / "v.tar", [("a.jpg", jpg), ("a.cls", b"0"), ("b.jpg", jpg), ("b.cls", b"1"),
                                      ("c.jpg", jpg)])
    with pytest.warns(UserWarning, match="no class for 1 of the 3 classes: eel"):
        ds = D.JpegFolder(shard, "dctnet", crop=16, classes=["cat", "dog", "eel"])
    assert ds.classes == ["cat", "dog", "eel"] and list(ds.labels) == [1, 0, -1]
    assert [ds.load(i, 0)[1] for i in range(3)] == [1, 0, -1]
    with pytest.raises(ValueError, match="shard class.*not among the 1 classes given.*: dog"):
        D.JpegFolder(shard, "dctnet", crop=16, classes=["cat"])
    ld = D.make_loader(shard, "dctnet", train=False, crop=16, batch_size=3, classes=["dog", "cat"])
    assert [int(v) for _, y in ld for v in y] == [0, 1, -1]
    (tmp_path / "classes.txt").unlink()  # no class list: the labels must fit the classes given
    assert list(D.JpegFolder(shard, "dctnet", crop=16, classes=["x", "y"]).labels) == [0, 1, -1]
    with pytest.raises(ValueError, match="shard label 1 with 1 classes given"):
        D.JpegFolder(shard, "dctnet", crop=16, classes=["x"])
