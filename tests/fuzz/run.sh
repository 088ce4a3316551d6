#!/bin/sh
# run.sh - run each libFuzzer harness for a while from its seed corpus and
# print executions, coverage and crashes per harness (make fuzz).
#   sh tests/fuzz/run.sh BUILD_DIR SECONDS HARNESS...
# Inputs that add coverage are kept in BUILD_DIR/fuzz-corpus/<name> across
# runs; a crash leaves BUILD_DIR/fuzz-crashes/<name>-crash-<sha1>.
set -u
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
crashed=0
mkdir -p "$build/fuzz-crashes"
printf '%-8s %12s %10s %8s %8s %8s\n' harness execs execs/s cov ft crashes
for name in "$@"; do
    corpus="$build/fuzz-corpus/$name"
    seeds="$build/fuzz-seed-corpus/$name"
    log="$build/fuzz-$name.log"
    rm -rf "$seeds"
    mkdir -p "$corpus" "$src/regress/$name"
    "$build/fuzz-seeds" "$name" "$seeds" || exit 1
    before=$(ls "$build/fuzz-crashes" | grep -c "^$name-" || true)
    # The first directory receives new inputs; the others are read only.
    "$build/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$name-" \
        "$corpus" "$seeds" "$src/regress/$name" >"$log" 2>&1
    after=$(ls "$build/fuzz-crashes" | grep -c "^$name-" || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=$((after - before))
    printf '%-8s %12s %10s %8s %8s %8s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "$crashes"
    if [ "$crashes" -gt 0 ]; then
        crashed=1
        echo "  $name: see $log; reproduce with $build/fuzz-$name <crash file>" >&2
    fi
done
exit $crashed
