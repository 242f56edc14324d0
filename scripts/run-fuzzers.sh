#!/usr/bin/env bash
# Runs the fuzzers of a build (FUZZ_BUILD, default build-fuzz: the fuzz preset; build-sanitize has them
# too, at -O0), $FUZZ_BUILD/fuzz/*_fuzz, one after the other, each for SECONDS seconds (default 20) on one
# core, from its committed seed corpus (fuzz/corpus/<name>, read only) plus what earlier runs found
# ($FUZZ_BUILD/corpus/<name>), with its dictionary (fuzz/dict/<name>.dict) when there is one. A crash,
# leak, sanitizer report, timeout or failed FUZZ_CHECK stops the run: the input is saved as
# $FUZZ_BUILD/artifacts/<name>-crash-<sha1> and the script fails, printing how to reproduce it.
# docs/testing.md, "Fuzzing".
#
#   scripts/run-fuzzers.sh [SECONDS] [NAME...]     e.g. scripts/run-fuzzers.sh 60 xml sigv4
#   FUZZ_BUILD=build-sanitize scripts/run-fuzzers.sh 10      (CI: make fuzz-ci)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-20}"
shift || true
OUT="${FUZZ_BUILD:-build-fuzz}"
BIN="$OUT/fuzz"
if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$BIN"/*_fuzz; do names+=("$(basename "$f" _fuzz)"); done
fi
if [ "${#names[@]}" = 0 ] || [ ! -x "$BIN/${names[0]}_fuzz" ]; then
  echo "run-fuzzers: no fuzzers in $BIN; build them first: cmake --preset fuzz && cmake --build --preset fuzz (or make test-sanitize)" >&2
  exit 2
fi
mkdir -p "$OUT/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=0
for name in "${names[@]}"; do
  work="$OUT/corpus/$name"
  mkdir -p "$work"
  dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=("-dict=fuzz/dict/$name.dict")
  log="$OUT/artifacts/$name.log"
  # -timeout: one input may take 10 s (slow units fail the run); -rss_limit_mb: 2 GB.
  if "$BIN/${name}_fuzz" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$OUT/artifacts/$name-" "${dict[@]}" "$work" "fuzz/corpus/$name" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf 'fuzz %-16s ok   %9s runs in %ss, coverage %s edges, corpus %s inputs\n' "$name" "${execs:-?}" \
      "$SECONDS_EACH" "${cov:-?}" "$(find "$work" "fuzz/corpus/$name" -type f | wc -l)"
  else
    failed=1
    printf 'fuzz %-16s FAILED (log: %s)\n' "$name" "$log"
    grep -E 'FUZZ_CHECK|ERROR: |runtime error|SUMMARY|Test unit written' "$log" | head -20 || true
    echo "  reproduce: $BIN/${name}_fuzz $OUT/artifacts/$name-<crash file>"
  fi
done
exit "$failed"
