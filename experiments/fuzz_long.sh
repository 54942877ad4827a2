#!/usr/bin/env bash
# Long fuzz run of the C reader under AddressSanitizer + UndefinedBehaviorSanitizer +
# LeakSanitizer, logged to experiments/results/fuzz-long-<UTC time>.json.
#
#   experiments/fuzz_long.sh [INPUTS] [LIBFUZZER_SECONDS] [SEED]
#
# 1. fuzz_mutate (csrc/fuzz/fuzz_mutate.c): INPUTS deterministic mutations (default 1,000,000)
#    of the seed corpus csrc/fuzz/seeds/ with the marker dictionary (SEED default 20261122;
#    another seed gives other inputs).
# 2. If clang is installed and LIBFUZZER_SECONDS > 0 (default 600): the libFuzzer target
#    fuzz_read_libfuzzer, coverage-guided, for that long (corpus in build/fuzz-long/corpus).
# Both with the fuzz target's limits (1 megapixel, 100 scans) and a 20 s per-input timeout.
# Runs under `nice` (shared CPU). Exit status non-zero when either run found anything; the
# JSON then says "clean": false and the crashing input is kept under build/fuzz-long/.
set -uo pipefail
cd "$(dirname "$0")/.."
INPUTS=${1:-1000000}
LF_SECONDS=${2:-600}
SEED=${3:-20261122}
B=build/fuzz-long
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=experiments/results/fuzz-long-$stamp.json
mkdir -p experiments/results "$B/artifacts" "$B/corpus"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1

# what is tested, recorded when it is built (other engineers may change the tree during the run)
build_commit=$(git rev-parse HEAD)
build_sha=$(sha256sum csrc/jpegcoef.c | cut -d' ' -f1)
build_dirty=$( [ -n "$(git status --porcelain csrc/)" ] && echo true || echo false)
build_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)

cmake -S . -B "$B/gcc" -DJC_SANITIZE=ON -DJC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
cmake --build "$B/gcc" --target fuzz_mutate >/dev/null || exit 2
if [ "$LF_SECONDS" -gt 0 ] && command -v clang >/dev/null; then   # built now: same sources
  cmake -S . -B "$B/clang" -DCMAKE_C_COMPILER=clang -DJC_SANITIZE=ON -DJC_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$B/clang" --target fuzz_read_libfuzzer >/dev/null || exit 2
fi

cmd=(nice -n 15 "$B/gcc/fuzz_mutate" -n "$INPUTS" -seed "$SEED" -timeout 20 -progress 100000
     -dict csrc/fuzz/jpeg.dict -artifacts "$B/artifacts" csrc/fuzz/seeds)
echo "running: ${cmd[*]}" >&2
t0=$(date +%s)
"${cmd[@]}" > "$B/mutate.json" 2> "$B/mutate.log"
rc_m=$?
t1=$(date +%s)
tail -3 "$B/mutate.log" >&2

rc_l=-1; lf_line=""; lf_cmd=""
if [ "$LF_SECONDS" -gt 0 ] && command -v clang >/dev/null; then
  lf=("$B/clang/fuzz_read_libfuzzer" -max_total_time="$LF_SECONDS" -timeout=20 -rss_limit_mb=4096
      -dict=csrc/fuzz/jpeg.dict -seed=$SEED -artifact_prefix="$B/artifacts/" -print_final_stats=1
      "$B/corpus" csrc/fuzz/seeds)
  lf_cmd="nice -n 15 ${lf[*]}"
  echo "running: $lf_cmd" >&2
  nice -n 15 "${lf[@]}" > "$B/libfuzzer.log" 2>&1
  rc_l=$?
  lf_line=$(grep -E "^(#[0-9]+\s+DONE|Done [0-9]+ runs)" "$B/libfuzzer.log" | tail -2 | tr '\n' ' ')
  tail -3 "$B/libfuzzer.log" >&2
fi

python3 - "$out" "$B" "$rc_m" "$rc_l" "$((t1 - t0))" "${cmd[*]}" "$lf_cmd" "$lf_line" \
  "$build_commit" "$build_sha" "$build_dirty" "$build_time" <<'EOF'
import json, pathlib, platform, re, subprocess, sys
out, b, rc_m, rc_l, secs, cmd, lf_cmd, lf_line, commit, sha, dirty, built = sys.argv[1:]
b = pathlib.Path(b)
mutate = {}
try:
    mutate = json.loads((b / "mutate.json").read_text().strip().splitlines()[-1])
except Exception:
    pass
lf = None
if lf_cmd:
    log = (b / "libfuzzer.log").read_text(errors="replace")
    m = re.search(r"Done (\d+) runs in (\d+) second", log)
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    lf = {"command": lf_cmd, "exit_status": int(rc_l), "runs": int(m.group(1)) if m else None,
          "seconds": int(m.group(2)) if m else None, "final_stats": {k: int(v) for k, v in stats.items()},
          "last_lines": lf_line.strip(), "clean": int(rc_l) == 0}
cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
rec = {
    "what": "fuzz_read.c (jc_read both layouts + strict + header-only, jc_decode rgb/native, "
            "jc_write + read-back, jc_read_file, jc_read_rows/max_height) under ASan+UBSan+LSan; limits 1 MP, 100 scans",
    "built_at": built,
    "git_commit": commit,
    "jpegcoef_c_sha256": sha,
    "csrc_uncommitted_changes": dirty == "true",
    "libjpeg_turbo": subprocess.run(["pkg-config", "--modversion", "libjpeg"], capture_output=True, text=True).stdout.strip(),
    "compiler": cc, "machine": platform.machine(),
    "mutation_driver": {"command": cmd, "exit_status": int(rc_m), "wall_seconds": int(secs),
                        **mutate, "clean": int(rc_m) == 0 and bool(mutate)},
    "libfuzzer": lf,
    "asan_options": "detect_leaks=1:abort_on_error=0:allocator_may_return_null=1",
}
rec["clean"] = rec["mutation_driver"]["clean"] and (lf is None or lf["clean"])
pathlib.Path(out).write_text(json.dumps(rec, indent=2) + "\n")
print(json.dumps(rec, indent=2))
EOF
[ "$rc_m" = 0 ] && { [ "$rc_l" = -1 ] || [ "$rc_l" = 0 ]; }
