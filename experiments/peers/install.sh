#!/usr/bin/env bash
# Install the peer readers that experiments/bench_decode.py compares against.
#
#   experiments/peers/install.sh               peers into the current Python environment
#   experiments/peers/install.sh --torchjpeg   also torchjpeg in its own venv (multi-GB)
#
# Environment: PYTHON (default python3); TORCHJPEG_VENV (default
# ~/.cache/jpegcoef-peers/torchjpeg-venv, where bench_decode.py looks for it).
# numpy is held at its installed version so that no peer upgrades or downgrades it.
# Prints one line per peer: "ok NAME" or "FAILED NAME (see LOG)"; exits 0 even when some
# peers fail (the benchmark lists those as not installed), 2 on bad usage.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
venv="${TORCHJPEG_VENV:-$HOME/.cache/jpegcoef-peers/torchjpeg-venv}"
with_torchjpeg=0
for arg in "$@"; do
  case "$arg" in
    --torchjpeg) with_torchjpeg=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
logdir="$(mktemp -d /tmp/jpegcoef-peers.XXXXXX)"

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
