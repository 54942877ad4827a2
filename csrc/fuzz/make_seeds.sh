#!/usr/bin/env bash
# Rebuilds the fuzz seed corpus csrc/fuzz/seeds/ (committed; run again only to change it).
# Small files on purpose (a few hundred bytes to a few KB): every input is read several ways
# per fuzz iteration, so small seeds mean many more iterations per second.
#   - copies of the smallest bundled edge cases (tests/data/, see its README for origins),
#   - a 40x32 crop of libjpeg-turbo's testorig.jpg re-encoded with cjpeg in every subsampling x
#     baseline / progressive / arithmetic / progressive+arithmetic, plus restart markers,
#     optimised Huffman tables, RGB colour space, a CMYK crop, a 67-scan progressive file.
# Needs libjpeg-turbo-progs (cjpeg, djpeg, jpegtran).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../../tests/data"
out="$here/seeds"
mkdir -p "$out"
rm -f "$out"/*.jpg        # README.md stays
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for f in gen-1x1.jpg gen-7x9.jpg gen-250x3.jpg gen-17x333.jpg pillow-hopper_16bit_qtables.jpg \
         pillow-hopper_orientation_6.jpg pillow-icc-after-SOF.jpg turbo-testimgari-arithmetic.jpg \
         ijg-testimgp-progressive.jpg turbo-testorig.jpg bad-truncated-in-header.jpg \
         bad-huge-dimensions.jpg bad-truncated-mid-scan.jpg pillow-truncated_jpeg.jpg \
         mozjpeg-testorig12-12bit.jpg bad-not-a-jpeg.jpg; do
  cp "$data/$f" "$out/$f"
done

# A small CMYK file (Adobe marker, 4 components) cut from Pillow's sample.
jpegtran -crop 32x24+0+0 -copy all "$data/pillow-pil_sample_cmyk.jpg" > "$out/cmyk-32x24.jpg"
# A small EXIF-bearing crop keeps the APP1 parser in play.
jpegtran -crop 24x24+0+0 -copy all "$data/pillow-hopper_orientation_6.jpg" > "$out/exif-24x24.jpg"

jpegtran -crop 40x32+8+8 "$data/turbo-testorig.jpg" | djpeg -ppm > "$tmp/small.ppm"
declare -A samp=([444]="-sample 1x1" [422]="-sample 2x1" [420]="-sample 2x2" [440]="-sample 1x2"
                 [411]="-sample 4x1" [mixed]="-sample 2x2,1x2,2x1" [gray]="-grayscale")
declare -A code=([baseline]="" [progressive]="-progressive" [arithmetic]="-arithmetic"
                 [progarith]="-progressive -arithmetic")
for s in "${!samp[@]}"; do
  for c in "${!code[@]}"; do
    # shellcheck disable=SC2086
    cjpeg -quality 80 ${samp[$s]} ${code[$c]} "$tmp/small.ppm" > "$out/gen-$s-$c.jpg"
  done
done
cjpeg -quality 90 -restart 1B "$tmp/small.ppm" > "$out/gen-420-restart-1block.jpg"
cjpeg -quality 60 -optimize "$tmp/small.ppm" > "$out/gen-420-optimize.jpg"
cjpeg -quality 75 -rgb "$tmp/small.ppm" > "$out/gen-rgb.jpg"
cjpeg -quality 95 -sample 1x1 "$tmp/small.ppm" > "$out/gen-444-q95.jpg"
# Many small progressive scans (one scan per AC band of the luma; jpegtran allows 100 scans).
{
  echo "0 1 2: 0 0 0 1;"
  for k in $(seq 1 63); do echo "0: $k $k 0 0;"; done
  echo "0 1 2: 0 0 1 0;"
  echo "1: 1 63 0 0;"
  echo "2: 1 63 0 0;"
} > "$tmp/scans.txt"
jpegtran -scans "$tmp/scans.txt" "$out/gen-420-baseline.jpg" > "$out/gen-420-67-scans.jpg"
# Scans a banded read (jc_read_bands) skips: AC split into bands 1-8 / 9-63 (with successive
# approximation; and arithmetic-coded), one component per sequential scan, and a successive
# approximation that never finishes (block smoothing state).
printf '%s\n' "0 1 2: 0 0 0 1;" "0: 1 8 0 2;" "0: 9 63 0 2;" "1: 1 8 0 1;" "2: 1 8 0 1;" "1: 9 63 0 1;" \
  "2: 9 63 0 1;" "0: 1 8 2 1;" "0: 9 63 2 1;" "0 1 2: 0 0 1 0;" "1: 1 8 1 0;" "2: 1 8 1 0;" \
  "1: 9 63 1 0;" "2: 9 63 1 0;" "0: 1 8 1 0;" "0: 9 63 1 0;" > "$tmp/split-sa.txt"
jpegtran -scans "$tmp/split-sa.txt" "$out/gen-420-baseline.jpg" > "$out/gen-420-split-bands.jpg"
printf '%s\n' "0 1 2: 0 0 0 0;" "0: 1 8 0 0;" "1: 1 8 0 0;" "2: 1 8 0 0;" "0: 9 63 0 0;" "1: 9 63 0 0;" \
  "2: 9 63 0 0;" > "$tmp/split.txt"
jpegtran -scans "$tmp/split.txt" -arithmetic "$out/gen-420-baseline.jpg" > "$out/gen-420-split-bands-arith.jpg"
printf '%s\n' "0;" "1;" "2;" > "$tmp/seq.txt"
jpegtran -scans "$tmp/seq.txt" "$out/gen-420-baseline.jpg" > "$out/gen-420-sequential-3-scans.jpg"
printf '%s\n' "0 1 2: 0 0 0 1;" "0: 1 5 0 2;" "0: 6 63 0 2;" "1: 1 63 0 1;" "2: 1 63 0 1;" \
  "0: 1 63 2 1;" > "$tmp/sa.txt"
jpegtran -scans "$tmp/sa.txt" "$out/gen-420-baseline.jpg" > "$out/gen-420-sa-unfinished.jpg"

cp "$data/LICENSE-libjpeg-turbo-testimages.txt" "$out/"
ls "$out" | wc -l
