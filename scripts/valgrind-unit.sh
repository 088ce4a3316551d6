#!/bin/sh
# valgrind-unit.sh BUILD_DIR [LABEL] - run every CTest test carrying LABEL
# (default: unit) under valgrind memcheck, with the environment CTest would
# give it, and fail when any reports a memory error or a definite/indirect
# leak at exit. Prints one line per test and a summary. Part of
# `make check-reliability` (docs/RELIABILITY.md).
set -u
build=${1:?usage: valgrind-unit.sh BUILD_DIR [LABEL]}
label=${2:-unit}
limit=${VALGRIND_TEST_TIMEOUT:-900}

command -v valgrind >/dev/null || { echo "valgrind-unit: valgrind is not installed" >&2; exit 2; }
command -v jq >/dev/null || { echo "valgrind-unit: jq is not installed" >&2; exit 2; }
cd "$build" || exit 2
log_dir=$(pwd)/valgrind
mkdir -p "$log_dir"

list=$(ctest -N -L "$label" --show-only=json-v1 | jq -r '
  .tests[] | [.name,
              (.command | join(" ")),
              ([(.properties // [])[] | select(.name == "ENVIRONMENT") | .value[]
                | select(startswith("ASAN_") or startswith("UBSAN_") | not)] | join(" ")),
              ([(.properties // [])[] | select(.name == "WORKING_DIRECTORY") | .value] | first // ".")]
  | join("|")')

pass=0 fail=0 skip=0 failed=""
# "|" separates the fields: a tab would collapse an empty environment field.
while IFS="|" read -r name cmd envs dir; do
    [ -n "$name" ] || continue
    log="$log_dir/$name.log"
    start=$(date +%s)
    # MM_VALGRIND tells tests that size their work by speed to do less.
    (cd "$dir" && env $envs MM_VALGRIND=1 timeout "$limit" valgrind --quiet \
        --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --log-file="$log" $cmd >"$log.out" 2>&1)
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1)); echo "ok    $name (${secs}s)"
    elif [ "$rc" -eq 77 ]; then
        skip=$((skip + 1)); echo "skip  $name"
    else
        fail=$((fail + 1)); failed="$failed $name"
        echo "FAIL  $name (exit $rc, ${secs}s): see $log and $log.out"
    fi
done <<EOF
$list
EOF

echo "valgrind memcheck: $pass passed, $skip skipped, $fail failed (label $label)"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
