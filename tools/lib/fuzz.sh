# The fuzzing mode of tools/test: builds the libFuzzer targets in build-fuzz/ (clang, AddressSanitizer
# and UndefinedBehaviorSanitizer, CUDA off), writes their generated seed corpora, runs each target for
# a bounded time from its corpus and prints executions, executions per second and any crash.
# Source it after common.sh, then call run_fuzz SECONDS [TARGET...].
#
# A crash input is copied to tests/fuzz/regressions/<target>/, where the main suite's
# FuzzTargets.KeptCrashInputsRunCleanly replays it: it fails there until the bug is fixed, and keeps
# the fix covered afterwards. The corpus grows in build-fuzz/corpus/<target> from run to run.

DYBAT_FUZZ_TARGETS=(safetensors cifar10 cifar100 stl10 image cli cache)

# fuzz_one TARGET SECONDS: runs one target, its log in build-fuzz/logs/TARGET.log; prints one
# summary line "TARGET seconds executions exec/s corpus result".
fuzz_one() {
  local t="$1" secs="$2" b="$DYBAT_FUZZ_BUILD"
  local log="$b/logs/$t.log" crashes="$b/crashes/$t"
  mkdir -p "$b/corpus/$t" "$crashes" "$b/logs"
  rm -f "$crashes"/*
  local start end rc dict=()
  [ -f "$DYBAT_ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$DYBAT_ROOT/tests/fuzz/$t.dict")
  start=$(date +%s)
  # One thread (the readers use OpenMP); an input taking 10 s is slow or a hang; 2 GB of memory.
  OMP_NUM_THREADS=1 ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$b/fuzz_$t" -max_total_time="$secs" -timeout=10 -report_slow_units=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$b/corpus/$t" "$b/seeds/$t" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  local execs rate corpus result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "$b/corpus/$t" -type f | wc -l)
  result=ok
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$crashes")" ]; then
    # libFuzzer names each artifact by its kind: crash-, leak-, oom-, timeout- or slow-unit- (an
    # input that took 10 s or more but finished before the hang watchdog fired; it counts too).
    local f kinds="" kept="$DYBAT_ROOT/tests/fuzz/regressions/$t"
    for f in "$crashes"/*; do [ -f "$f" ] && kinds="$kinds$(basename "$f" | sed 's/-[0-9a-f]*$//') "; done
    result="FAILED: ${kinds:-crash }(exit $rc; log $log)"
    mkdir -p "$kept"
    for f in "$crashes"/*; do
      [ -f "$f" ] || continue
      cp "$f" "$kept/"
      result="$result; input kept as tests/fuzz/regressions/$t/$(basename "$f")"
    done
  fi
  printf '%-12s %6ss %12s %9s %7s  %s\n' "$t" "$((end - start))" "${execs:--}" "${rate:--}" "$corpus" "$result"
}

run_fuzz() {
  local secs="$1"
  shift
  local chosen=("$@")
  [ ${#chosen[@]} -eq 0 ] && chosen=("${DYBAT_FUZZ_TARGETS[@]}")
  ensure_packages libomp-14-dev
  DYBAT_FUZZ_BUILD="$DYBAT_ROOT/build-fuzz"
  DYBAT_BUILD="$DYBAT_FUZZ_BUILD" configure_build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DDYBAT_FUZZ=ON -DDYBAT_CUDA=OFF -DDYBAT_TESTS=OFF
  local log="$DYBAT_FUZZ_BUILD/build-fuzz.log"
  echo "dybat: building the fuzz targets in $DYBAT_FUZZ_BUILD..." >&2
  if ! cmake --build "$DYBAT_FUZZ_BUILD" --target fuzz -j"$(nproc)" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "dybat: building the fuzz targets failed; full log: $log" >&2
    return 2
  fi
  rm -rf "$DYBAT_FUZZ_BUILD/seeds"
  "$DYBAT_FUZZ_BUILD/fuzz_seeds" "$DYBAT_FUZZ_BUILD/seeds" "${chosen[@]}" >/dev/null || return 2
  echo "dybat: fuzzing ${#chosen[@]} targets for ${secs}s each, $(nproc) at a time" >&2
  printf '%-12s %7s %12s %9s %7s  %s\n' target time executions exec/s corpus result
  export -f fuzz_one
  export DYBAT_FUZZ_BUILD DYBAT_ROOT
  local summary
  summary=$(printf '%s\n' "${chosen[@]}" | xargs -P "$(nproc)" -I{} bash -c 'fuzz_one "$1" "$2"' _ {} "$secs")
  local sorted t
  for t in "${chosen[@]}"; do sorted+=$(grep "^$t " <<<"$summary" || true)$'\n'; done
  printf '%s' "$sorted"
  if grep -q FAILED <<<"$summary"; then
    echo "dybat: a fuzz target failed (a crash, leak, out-of-memory, hang or slow input); fix the bug, then" \
      "./tools/test -R FuzzTargets replays the kept input" >&2
    return 1
  fi
  return 0
}
