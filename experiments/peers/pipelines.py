#!/usr/bin/env python3
"""Training-pipeline peers: FFCV and NVIDIA DALI (CPU only) running the standard ImageNet
training transform on a list of JPEG files (issue 15).

Each peer runs decode, RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) to ``crop`` x ``crop``,
random horizontal flip and normalisation with the ImageNet mean/std to float32 N x 3 x crop x crop,
in its own standard way:

* ``ffcv``: the files are first written to a ``.beton`` (``DatasetWriter``, ``RGBImageField`` in
  ``jpg`` mode; FFCV re-encodes every image with OpenCV at ``jpeg_quality``, 4:2:0) -- or, with
  ``jpeg_source="original"``, the files' own bytes are stored unchanged (same decode work as the
  other rows).  The conversion is timed separately.  Timed: ``ffcv.loader.Loader`` with
  ``os_cache=True``, ``order=RANDOM``, ``num_workers=threads`` and the pipeline
  ``RandomResizedCropRGBImageDecoder`` (ROI decode by libjpeg-turbo, ``cv::resize`` INTER_AREA),
  ``RandomHorizontalFlip``, ``NormalizeImage(float32)`` (its CPU kernel works on the HWC uint8
  batch, so it comes before ``ToTensor``), ``ToTensor``, ``ToTorchImage``.
* ``dali``: ``fn.readers.file`` (random shuffle) then, with ``decoder="fused"`` (DALI's ImageNet
  recipe), ``fn.decoders.image_random_crop(device="cpu")`` (decodes only the crop window) and
  ``fn.resize``; with ``decoder="full"``, ``fn.decoders.image`` + ``fn.random_resized_crop``.
  Then ``fn.crop_mirror_normalize`` (flip with ``fn.random.coin_flip``, float32, CHW).  The
  pipeline is built with ``device_id=None`` (no GPU) and ``num_threads=threads``; each batch is
  copied out to one numpy array (``as_array``), as a framework iterator would.

Timing (:func:`timed_round`): a warm-up epoch (FFCV compiles its pipeline with numba there), then
rounds of whole epochs until at least ``min_cpu`` CPU-seconds were used; per round the images,
the wall seconds and the CPU seconds of the process (user + system, all threads: both peers run
their workers as threads) are reported, so ``images / cpu_s`` is the per-core rate.

The peers need their own venvs (``experiments/peers/install.sh --ffcv --dali``), so this file
imports only the standard library at the top and runs there as a worker::

    <venv>/bin/python experiments/peers/pipelines.py ffcv --filelist LIST [--batch 32]
        [--threads 1] [--serve | --rounds 3] [--min-cpu 2] [--dump batch.npz] [--option k=v ...]

It prints one JSON line when ready (versions, conversion cost, warm-up), then one JSON line per
round: with ``--serve`` a round per ``round`` line on stdin (``quit`` ends), else ``--rounds``
rounds.  ``experiments/peers/bench_peers.py`` drives it from the main environment.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_round(epoch: Callable[[], int], min_cpu: float) -> dict:
    """Run whole epochs (``epoch()`` returns the images it produced) until ``min_cpu``
    CPU-seconds were used; images, wall seconds and CPU seconds of the round."""
    n, c0, t0 = 0, cpu_seconds(), time.perf_counter()
    while True:
        got = epoch()
        if got <= 0:
            raise RuntimeError("the pipeline produced no images")
        n += got
        if cpu_seconds() - c0 >= min_cpu:
            break
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"images": n, "wall_s": wall, "cpu_s": cpu, "images_per_s": n / wall,
            "images_per_cpu_s": n / cpu, "cores": cpu / wall}


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001 - unknown version
        return "?"


def _pkg_version(name: str) -> str:
    try:
        out = subprocess.run(["pkg-config", "--modversion", name], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def labels_of(files: list[Path]) -> list[int]:
    """Class index per file from its parent folder's name (sorted), as ImageFolder does."""
    classes = {c: i for i, c in enumerate(sorted({f.parent.name for f in files}))}
    return [classes[f.parent.name] for f in files]


def _dump(path: str | None, images, labels) -> None:
    """Save one batch (for the tests' shape and value checks)."""
    if path:
        import numpy as np
        np.savez(path, images=np.asarray(images), labels=np.asarray(labels))


# ---------------------------------------------------------------------------------------------
# FFCV
# ---------------------------------------------------------------------------------------------

def _ffcv_dataset(files: list[Path], jpeg_source: str):
    """The indexed dataset DatasetWriter reads: decoded RGB arrays (FFCV re-encodes them), or
    the files' bytes for ``jpeg_source="original"``."""
    import cv2
    labels = labels_of(files)

    class Decoded:
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            bgr = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"OpenCV cannot decode {files[i]}")
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), labels[i]

    class Original(Decoded):
        def __getitem__(self, i):
            return files[i].read_bytes(), labels[i]

    return {"reencode": Decoded, "original": Original}[jpeg_source]()


def _original_jpeg_field():
    """RGBImageField whose ``encode`` stores a JPEG file's own bytes (no re-encode); FFCV's
    decoder reads them as any of its jpg-mode images."""
    import numpy as np
    from io import BytesIO
    from PIL import Image
    from ffcv.fields import RGBImageField
    from ffcv.fields.rgb_image import IMAGE_MODES

    class OriginalJpegField(RGBImageField):
        def encode(self, destination, blob, malloc):
            with Image.open(BytesIO(blob)) as im:
                if im.format != "JPEG":
                    raise ValueError(f"not a JPEG file ({im.format})")
                width, height = im.size
            data = np.frombuffer(blob, np.uint8)
            destination["mode"] = IMAGE_MODES["jpg"]
            destination["height"], destination["width"] = height, width
            destination["data_ptr"], storage = malloc(data.nbytes)
            storage[:] = data

    return OriginalJpegField(write_mode="jpg")


def write_beton(files: list[Path], beton: Path, threads: int, jpeg_source: str = "reencode",
                jpeg_quality: int = 90) -> dict:
    """Convert ``files`` to an FFCV ``.beton`` (unless it exists); the conversion's cost."""
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter
    if beton.exists():
        return {"beton": str(beton), "image_bytes": stored_bytes(beton), "conversion_s": None,
                "note": "existing .beton reused"}
    field = (_original_jpeg_field() if jpeg_source == "original"
             else RGBImageField(write_mode="jpg", jpeg_quality=jpeg_quality))
    beton.parent.mkdir(parents=True, exist_ok=True)
    part = beton.with_suffix(".part")
    t0 = time.perf_counter()
    writer = DatasetWriter(str(part), {"image": field, "label": IntField()}, num_workers=threads)
    writer.from_indexed_dataset(_ffcv_dataset(files, jpeg_source))
    seconds = time.perf_counter() - t0
    part.rename(beton)
    return {"beton": str(beton), "image_bytes": stored_bytes(beton), "conversion_s": seconds,
            "conversion_images_per_s": len(files) / seconds}


def stored_bytes(beton: Path) -> int:
    """Bytes of image data in a .beton (its allocation table; the file itself is rounded up to
    FFCV's 8 MiB pages)."""
    from ffcv.fields import RGBImageField
    from ffcv.reader import Reader
    return int(Reader(str(beton), custom_handlers={"image": RGBImageField}).alloc_table["size"].sum())


def beton_path(files: list[Path], cache_dir: Path, jpeg_source: str, jpeg_quality: int) -> Path:
    """A .beton name unique to the file list and the encoding options."""
    key = hashlib.sha1("\n".join(str(f.resolve()) for f in files).encode()).hexdigest()[:12]
    tag = "original" if jpeg_source == "original" else f"q{jpeg_quality}"
    return cache_dir / f"ffcv-{key}-{len(files)}-{tag}.beton"


def ffcv_loader(beton: Path, batch_size: int, threads: int, crop: int, seed: int = 0):
    """FFCV's loader with the ImageNet training pipeline, on the CPU.  (A .beton written with
    ``jpeg_source="original"`` names its image field as a custom one; it holds RGBImageField
    data, so it is read as one.)"""
    import numpy as np
    from ffcv.fields import RGBImageField
    from ffcv.fields.decoders import IntDecoder, RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.transforms import NormalizeImage, RandomHorizontalFlip, Squeeze, ToTensor, ToTorchImage
    image = [RandomResizedCropRGBImageDecoder((crop, crop), scale=SCALE, ratio=RATIO),
             RandomHorizontalFlip(),
             NormalizeImage(np.array(MEAN) * 255, np.array(STD) * 255, np.float32),
             ToTensor(), ToTorchImage()]
    return Loader(str(beton), batch_size=batch_size, num_workers=threads, os_cache=True,
                  order=OrderOption.RANDOM, drop_last=False, seed=seed,
                  custom_fields={"image": RGBImageField},
                  pipelines={"image": image, "label": [IntDecoder(), ToTensor(), Squeeze()]})


def _numba_layer(numba) -> str:
    try:
        return numba.threading_layer()  # known once a parallel kernel ran
    except ValueError:
        return str(numba.config.THREADING_LAYER)


def ffcv_versions() -> dict:
    import numba
    return {"ffcv": _version("ffcv"), "numba": numba.__version__,
            "numba_threading_layer": _numba_layer(numba),
            "libopencv (libffcv links)": _pkg_version("opencv4"),
            "libturbojpeg (libffcv links)": _pkg_version("libturbojpeg"),
            "torch": _version("torch"), "numpy": _version("numpy")}


def start_ffcv(files: list[Path], batch_size: int, threads: int, crop: int = 224,
               jpeg_source: str = "reencode", jpeg_quality: int = 90,
               cache_dir: str | None = None, dump: str | None = None) -> tuple[Callable[[], int], dict]:
    """Build FFCV's pipeline (converting the files first) and warm it up; returns the epoch
    callable and the setup facts."""
    if jpeg_source not in ("reencode", "original"):
        raise ValueError(f"jpeg_source must be 'reencode' or 'original', not {jpeg_source!r}")
    cache = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="jpegcoef-ffcv-"))
    beton = beton_path(files, cache, jpeg_source, int(jpeg_quality))
    info = write_beton(files, beton, threads, jpeg_source, int(jpeg_quality))
    loader = ffcv_loader(beton, batch_size, threads, crop)

    first: list = []

    def epoch() -> int:
        n = 0
        for images, labels in loader:
            if not first:  # the warm-up epoch keeps its first batch
                first.append((images.contiguous().numpy().copy(), labels.numpy().copy()))
            n += len(labels)
        return n

    t0 = time.perf_counter()
    epoch()
    _dump(dump, *first[0])
    info.update(warmup_s=time.perf_counter() - t0, output_shape=list(first[0][0].shape),
                output_dtype=str(first[0][0].dtype), jpeg_source=jpeg_source,
                jpeg_quality=int(jpeg_quality) if jpeg_source == "reencode" else None,
                versions=ffcv_versions(), steps="RandomResizedCropRGBImageDecoder, "
                "RandomHorizontalFlip, NormalizeImage(float32), ToTensor, ToTorchImage")
    if not cache_dir:
        info["cleanup"] = lambda: shutil.rmtree(cache, ignore_errors=True)
    return epoch, info


# ---------------------------------------------------------------------------------------------
# DALI
# ---------------------------------------------------------------------------------------------

def dali_pipeline(files: list[Path], batch_size: int, threads: int, crop: int,
                  decoder: str = "fused", seed: int = 0):
    """DALI's ImageNet training pipeline on the CPU (``device_id=None``)."""
    from nvidia.dali import fn, pipeline_def, types
    if decoder not in ("fused", "full"):
        raise ValueError(f"decoder must be 'fused' or 'full', not {decoder!r}")

    @pipeline_def(batch_size=batch_size, num_threads=threads, device_id=None, seed=seed)
    def imagenet_train():
        jpegs, labels = fn.readers.file(files=[str(f) for f in files], labels=labels_of(files),
                                        random_shuffle=True, name="Reader")
        if decoder == "fused":
            images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB,
                                                   random_area=list(SCALE),
                                                   random_aspect_ratio=list(RATIO),
                                                   num_attempts=10)
            images = fn.resize(images, resize_x=crop, resize_y=crop)
        else:
            images = fn.decoders.image(jpegs, device="cpu", output_type=types.RGB)
            images = fn.random_resized_crop(images, size=[crop, crop], random_area=list(SCALE),
                                            random_aspect_ratio=list(RATIO), num_attempts=10)
        images = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="CHW",
                                          mean=[m * 255 for m in MEAN], std=[s * 255 for s in STD],
                                          mirror=fn.random.coin_flip(probability=0.5))
        return images, labels

    pipe = imagenet_train()
    pipe.build()
    return pipe


def start_dali(files: list[Path], batch_size: int, threads: int, crop: int = 224,
               decoder: str = "fused", dump: str | None = None) -> tuple[Callable[[], int], dict]:
    """Build DALI's CPU pipeline and warm it up; returns the epoch callable and setup facts.
    An epoch is ceil(files / batch) batches (the reader wraps around, so each is full)."""
    import nvidia.dali
    t0 = time.perf_counter()
    pipe = dali_pipeline(files, batch_size, threads, crop, decoder)
    batches = -(-len(files) // batch_size)

    def epoch() -> int:
        n = 0
        for _ in range(batches):
            images, labels = pipe.run()
            n += len(images.as_array())
        return n

    images, labels = pipe.run()
    _dump(dump, images.as_array(), labels.as_array().reshape(-1))
    epoch()
    info = {"warmup_s": time.perf_counter() - t0, "decoder": decoder,
            "output_shape": list(images.as_array().shape), "output_dtype": "float32",
            "versions": {"nvidia-dali-cuda120": nvidia.dali.__version__,
                         "numpy": _version("numpy")},
            "steps": ("readers.file, decoders.image_random_crop(cpu), resize" if decoder == "fused"
                         else "readers.file, decoders.image(cpu), random_resized_crop")
            + ", crop_mirror_normalize(float32, CHW)"}
    return epoch, info


STARTERS: dict[str, Callable[..., tuple[Callable[[], int], dict]]] = {
    "ffcv": start_ffcv, "dali": start_dali}


def run_peer_here(peer: str, files: Iterable, batch_size: int = 32, threads: int = 1,
                  rounds: int = 3, min_cpu: float = 2.0, **options) -> dict:
    """Run one peer in this interpreter (it must have the peer installed): setup facts and
    ``rounds`` timed rounds."""
    if peer not in STARTERS:
        raise ValueError(f"unknown peer {peer!r} (known: {', '.join(STARTERS)})")
    epoch, info = STARTERS[peer]([Path(f) for f in files], batch_size, threads, **options)
    cleanup = info.pop("cleanup", None)
    try:
        info["rounds"] = [timed_round(epoch, min_cpu) for _ in range(rounds)]
    finally:
        if cleanup:
            cleanup()
    return info


# ---------------------------------------------------------------------------------------------
# Worker entry point (runs in the peer's venv)
# ---------------------------------------------------------------------------------------------

def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"option must be key=value, not {text!r}")
    return key, int(value) if value.isdigit() else value


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300]


def worker_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="run one pipeline peer; JSON lines on stdout")
    ap.add_argument("peer", choices=list(STARTERS))
    ap.add_argument("--filelist", required=True, help="file with one JPEG path per line")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--min-cpu", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", action="store_true", help="one round per 'round' line on stdin")
    ap.add_argument("--dump", help="save the first batch to this .npz")
    ap.add_argument("--option", type=_option, action="append", default=[],
                    help="peer option key=value (ffcv: jpeg_source, jpeg_quality, cache_dir; "
                         "dali: decoder)")
    args = ap.parse_args(argv)
    files = [Path(line) for line in Path(args.filelist).read_text().splitlines() if line.strip()]
    if not files:
        print(json.dumps({"ready": False, "error": "empty file list"}), flush=True)
        return 2
    out = sys.stdout
    sys.stdout = sys.stderr  # the peers' progress bars and prints must not corrupt the JSON lines
    try:
        epoch, info = STARTERS[args.peer](files, args.batch, args.threads, crop=args.crop,
                                          dump=args.dump, **dict(args.option))
    except Exception as exc:  # noqa: BLE001 - reported to the driver
        print(json.dumps({"ready": False, "error": _short(exc)}), file=out, flush=True)
        return 1
    cleanup = info.pop("cleanup", None)
    info.update(ready=True, python=sys.executable, files=len(files), batch=args.batch,
                threads=args.threads, crop=args.crop)
    print(json.dumps(info), file=out, flush=True)
    try:
        requests = (line.strip() for line in sys.stdin) if args.serve else ("round",) * args.rounds
        for request in requests:
            if request != "round":
                break
            print(json.dumps(timed_round(epoch, args.min_cpu)), file=out, flush=True)
    finally:
        if cleanup:
            cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
