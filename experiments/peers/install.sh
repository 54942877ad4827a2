#!/usr/bin/env bash
# Install the peer readers that experiments/bench_decode.py compares against, and the pipeline
# peers of experiments/peers/bench_peers.py.
#
#   experiments/peers/install.sh               peers into the current Python environment
#   experiments/peers/install.sh --torchjpeg   also torchjpeg in its own venv (multi-GB)
#   experiments/peers/install.sh --ffcv        also FFCV in its own venv (~1.5 GB; builds
#                                              against Debian's libopencv-dev, libturbojpeg0-dev)
#   experiments/peers/install.sh --dali        also NVIDIA DALI in its own venv (~1.1 GB)
#   experiments/peers/install.sh --pipelines-only --ffcv --dali   only those venvs
#
# Environment: PYTHON (default python3); TORCHJPEG_VENV, FFCV_VENV, DALI_VENV (default
# ~/.cache/jpegcoef-peers/{torchjpeg,ffcv,dali}-venv, where the benchmarks look for them).
# numpy is held at its installed version so that no peer upgrades or downgrades it.
# Prints one line per peer: "ok NAME" or "FAILED NAME (see LOG)"; exits 0 even when some
# peers fail (the benchmark lists those as not installed), 2 on bad usage.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
cache="$HOME/.cache/jpegcoef-peers"
venv="${TORCHJPEG_VENV:-$cache/torchjpeg-venv}"
ffcv_venv="${FFCV_VENV:-$cache/ffcv-venv}"
dali_venv="${DALI_VENV:-$cache/dali-venv}"
with_torchjpeg=0 with_ffcv=0 with_dali=0 readers=1
for arg in "$@"; do
  case "$arg" in
    --torchjpeg) with_torchjpeg=1 ;;
    --ffcv) with_ffcv=1 ;;
    --dali) with_dali=1 ;;
    --pipelines-only) readers=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
logdir="$(mktemp -d /tmp/jpegcoef-peers.XXXXXX)"

# Debian packages (root + apt-get), with one 'apt-get update' retry: apt_install LOG PKG...
apt_install() {
  local log="$1"; shift
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 \
    || { apt-get update -qq >>"$log" 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; }
}

# A venv with a requirements file, checked by importing: venv_install NAME VENV REQS CHECK
venv_install() {
  local name="$1" dir="$2" reqs="$3" check="$4" log="$logdir/$1.log"
  if { [ -x "$dir/bin/python" ] || "$python" -m venv "$dir" >"$log" 2>&1; } \
     && "$dir/bin/python" -m pip install -q -r "$reqs" >>"$log" 2>&1 \
     && "$dir/bin/python" -c "$check" >>"$log" 2>&1; then
    echo "ok $name (venv $dir)"
  else
    echo "FAILED $name (see $log)"
  fi
}

if [ "$with_ffcv" = 1 ]; then
  # libffcv compiles against OpenCV and libjpeg-turbo, found with pkg-config
  if ! pkg-config --exists opencv4 libturbojpeg 2>/dev/null; then
    apt_install "$logdir/apt-ffcv.log" pkg-config libopencv-dev libturbojpeg0-dev \
      || echo "FAILED libopencv-dev libturbojpeg0-dev pkg-config (see $logdir/apt-ffcv.log): ffcv will not build"
  fi
  venv_install ffcv "$ffcv_venv" "$here/requirements-ffcv.txt" \
    'import ffcv.loader, ffcv.writer, ffcv._libffcv'
fi
if [ "$with_dali" = 1 ]; then
  venv_install dali "$dali_venv" "$here/requirements-dali.txt" 'from nvidia.dali import fn, pipeline_def'
fi
[ "$readers" = 1 ] || { echo "logs: $logdir"; exit 0; }

# PyTurboJPEG loads libturbojpeg.so.0 at run time (Debian: libturbojpeg0).
if ! ldconfig -p 2>/dev/null | grep -q 'libturbojpeg\.so\.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq libturbojpeg0 >"$logdir/apt.log" 2>&1 \
      || { apt-get update -qq >>"$logdir/apt.log" 2>&1 && apt-get install -y -qq libturbojpeg0 >>"$logdir/apt.log" 2>&1; } \
      || echo "FAILED libturbojpeg0 (see $logdir/apt.log): PyTurboJPEG will not load"
  else
    echo "note: libturbojpeg.so.0 not found; install libturbojpeg0 (Debian) for PyTurboJPEG"
  fi
fi

constraints="$logdir/constraints.txt"
"$python" -c 'import numpy; print("numpy==" + numpy.__version__)' >"$constraints" 2>/dev/null || : >"$constraints"

grep -v '^\s*#' "$here/requirements.txt" | grep -v '^\s*$' | while read -r req; do
  name="${req%%[=<>]*}"
  if "$python" -m pip install -q -c "$constraints" "$req" >"$logdir/$name.log" 2>&1; then
    echo "ok $req"
  else
    echo "FAILED $req (see $logdir/$name.log)"
  fi
done

if [ "$with_torchjpeg" = 1 ]; then
  if { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } \
     && "$venv/bin/python" -m pip install -q -r "$here/requirements-torchjpeg.txt" >"$logdir/torchjpeg.log" 2>&1 \
     && "$venv/bin/python" -c 'import torchjpeg.codec' >>"$logdir/torchjpeg.log" 2>&1; then
    echo "ok torchjpeg (venv $venv)"
  else
    echo "FAILED torchjpeg (see $logdir/torchjpeg.log)"
  fi
fi
echo "logs: $logdir"
