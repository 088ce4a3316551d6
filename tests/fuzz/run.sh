#!/bin/sh
# run.sh - run each libFuzzer harness for a while from its seed corpus and
# print executions, coverage and crashes per harness (make fuzz, and CI).
#   sh tests/fuzz/run.sh BUILD_DIR SECONDS HARNESS...
# Inputs that add coverage are kept in BUILD_DIR/fuzz-corpus/<name> across
# runs; a crash, leak, timeout or out-of-memory leaves
# BUILD_DIR/fuzz-crashes/<name>-<kind>-<sha1>. A harness that fails prints
# the end of its log and each input it saved (base64, so a CI log alone
# reproduces it), and the script exits 1 after running the others.
set -u
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
failed=""
mkdir -p "$build/fuzz-crashes"
stamp="$build/fuzz-crashes/.started"
printf '%-8s %12s %10s %8s %8s %8s\n' harness execs execs/s cov ft crashes
for name in "$@"; do
    corpus="$build/fuzz-corpus/$name"
    seeds="$build/fuzz-seed-corpus/$name"
    log="$build/fuzz-$name.log"
    rm -rf "$seeds"
    mkdir -p "$corpus" "$src/regress/$name"
    "$build/fuzz-seeds" "$name" "$seeds" || exit 1
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-crashes/$name-"
    [ -f "$src/fuzz-$name.dict" ] && set -- "$@" -dict="$src/fuzz-$name.dict"
    touch "$stamp"
    # The first directory receives new inputs; the others are read only.
    "$build/fuzz-$name" "$@" "$corpus" "$seeds" "$src/regress/$name" >"$log" 2>&1
    status=$?
    saved=$(find "$build/fuzz-crashes" -name "$name-*" -newer "$stamp" -type f | sort)
    crashes=$(printf '%s' "$saved" | grep -c . || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    printf '%-8s %12s %10s %8s %8s %8s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "$crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed="$failed $name"
        {
            echo "==== fuzz-$name failed (exit $status); the end of $log:"
            tail -n 60 "$log"
            for f in $saved; do
                echo "==== input saved in $f ($(wc -c <"$f") bytes); reproduce with"
                echo "     $build/fuzz-$name $f   (or fuzz-$name-replay $f in a normal build)"
                echo "     recreate it from this log: base64 -d > input <<'EOF'"
                head -c 65536 "$f" | base64
                echo "EOF"
            done
        } >&2
    fi
done
rm -f "$stamp"
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed (inputs in $build/fuzz-crashes/)" >&2
    exit 1
fi
exit 0
