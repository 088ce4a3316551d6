#!/bin/bash
# llamacpp-compare.sh - same-machine reference for the performance issues:
# runs llama.cpp (a CPU build the user made; nothing is fetched) and modelmgr
# back to back on the same benchmark files and prints side-by-side tables with
# ratios: llama-bench vs `modelmgr bench` per type, the cold load (start the
# server, first completion token) of llama-server vs `modelmgr serve`, and
# llama-server's time to first token and 1/2/4-stream generation next to
# bench-throughput's. Figures only; never part of the test suite.
#
#   LLAMA_CPP_DIR=/tmp/llama.cpp BENCH_DIR=/tmp/benchm bench/llamacpp-compare.sh
#
# Environment (see docs/PERFORMANCE.md, "Same-machine llama.cpp reference"):
#   LLAMA_CPP_DIR   llama.cpp source tree with a build (required, else skipped)
#   LLAMA_CPP_BIN   its binaries (default $LLAMA_CPP_DIR/build/bin)
#   BENCH_DIR       bench-<TYPE>.gguf made by build/bench-engine (required)
#   BUILD_DIR       modelmgr's Release build (default ./build)
#   BENCH_TYPES     llama-bench/modelmgr bench types (default F16,Q8_0,Q4_0,Q4_K,F32)
#   SERVE_TYPES     types of the server part (default Q4_0,Q8_0, as bench-throughput)
#   BENCH_THREADS   threads on both sides (default 2)
#   BENCH_REPS      repetitions of each bench test on both sides (default 5, llama-bench's)
#   BENCH_PROMPT_TOKENS, BENCH_TOKENS  prompt length of the TTFT part, tokens per stream
#                   (default 580, 128: bench-throughput's)
#   BENCH_ROUNDS    rounds of the bench part (default 1); each round runs every
#                   type on both sides, the first tool alternating, and the
#                   summary gives each ratio's median over the rounds
#   COMPARE_PARTS   any of bench,load,serve (default all three)
set -u

say() { printf '%s\n' "$*"; }
skip() { say "llamacpp-compare: skipped: $*"; exit 0; }

if [ -z "${LLAMA_CPP_DIR:-}" ] || [ ! -d "${LLAMA_CPP_DIR}" ]; then
    skip "LLAMA_CPP_DIR is not set or not a directory (a CPU build of llama.cpp with llama-bench and llama-server; docs/PERFORMANCE.md says how to make one)"
fi
LLAMA_BIN=${LLAMA_CPP_BIN:-$LLAMA_CPP_DIR/build/bin}
PARTS=${COMPARE_PARTS:-bench,load,serve}
has_part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }
need=""
has_part bench && need="llama-bench"
{ has_part load || has_part serve; } && need="$need llama-server"
for b in $need; do
    [ -x "$LLAMA_BIN/$b" ] || skip "$LLAMA_BIN/$b not found (build it: cmake --build build --target $b)"
done
if [ -z "${BENCH_DIR:-}" ] || [ ! -d "${BENCH_DIR}" ]; then
    skip "BENCH_DIR is not set or not a directory (make the models with: mkdir -p DIR && BENCH_DIR=DIR ./build/bench-engine)"
fi
BUILD_DIR=${BUILD_DIR:-build}
MM=${MODELMGR_BIN:-$BUILD_DIR/modelmgr}
[ -x "$MM" ] || skip "$MM not found (make build)"
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (scripts/setup-deps.sh installs it)"
done

TYPES=${BENCH_TYPES:-F16,Q8_0,Q4_0,Q4_K,F32}
SERVE_TYPES=${SERVE_TYPES:-Q4_0,Q8_0}
THREADS=${BENCH_THREADS:-2}
REPS=${BENCH_REPS:-5}
PROMPT_TOKENS=${BENCH_PROMPT_TOKENS:-580}
GEN_TOKENS=${BENCH_TOKENS:-128}
ROUNDS=3
BENCH_ROUNDS_N=${BENCH_ROUNDS:-1}
case $BENCH_ROUNDS_N in
'' | *[!0-9]* | 0) echo "llamacpp-compare: BENCH_ROUNDS must be a whole number of rounds, 1 or more (got '$BENCH_ROUNDS_N')" >&2; exit 2 ;;
esac

WORK=$(mktemp -d /tmp/mm-llamacpp-compare-XXXXXX) || exit 1
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "" }'; }

# A port nothing listens on (bash's /dev/tcp connects when something does).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Polls URL until it answers 200; fails after 120 s or when the server exits.
wait_200() {
    local url=$1 deadline=$(($(now_ms) + 120000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
        sleep 0.01
    done
    return 1
}

post() { curl -s -f -H 'Content-Type: application/json' --data-binary "@$2" "$1"; }

say "llamacpp-compare: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load average $(loadavg)"
say "llama.cpp: $LLAMA_BIN ($(cat "$LLAMA_CPP_DIR/SOURCE-COMMIT" 2>/dev/null || "$LLAMA_BIN/${need%% *}" --version 2>&1 | grep -m1 version))"
say "modelmgr: $MM ($("$MM" --version 2>&1 | head -1)); models: $BENCH_DIR; $THREADS threads"

# ---- 1. llama-bench vs modelmgr bench, per type, back to back ----
# "A ± B" t/s of test NAME (pp128, tg64) from modelmgr bench's table.
mm_ts() { awk -F'|' -v t="$2" '{ g = $7; gsub(/ /, "", g) } g == t { split($8, a, "±"); gsub(/ /, "", a[1]); gsub(/ /, "", a[2]); print a[1], a[2] }' "$1"; }
# the same from llama-bench -o json
ll_ts() { jq -r --argjson p "$2" --argjson n "$3" '.[] | select(.n_prompt == $p and .n_gen == $n) | "\(.avg_ts) \(.stddev_ts)"' "$1" 2>/dev/null | awk '{ printf "%.2f %.2f\n", $1, $2 }'; }

# One line of the table: both tools on type $1, in the order $2 (ll-mm or
# mm-ll); appends "pp-ratio tg-ratio" to $WORK/ratios-$1.
bench_pair() {
    local t=$1 order=$2 f="$BENCH_DIR/bench-$1.gguf" la side
    la=$(loadavg)
    for side in ${order//-/ }; do
        if [ "$side" = ll ]; then
            "$LLAMA_BIN/llama-bench" -m "$f" -p 128 -n 64 -t "$THREADS" -r "$REPS" -o json \
                >"$WORK/ll-$t.json" 2>"$WORK/ll-$t.err" ||
                say "  $t: llama-bench failed: $(tail -2 "$WORK/ll-$t.err" | tr '\n' ' ')"
        else
            "$MM" bench "$f" -p 128 -n 64 -t "$THREADS" -r "$REPS" >"$WORK/mm-$t.txt" 2>&1 ||
                say "  $t: modelmgr bench failed: $(tail -2 "$WORK/mm-$t.txt" | tr '\n' ' ')"
        fi
    done
    read -r lpp lpps <<<"$(ll_ts "$WORK/ll-$t.json" 128 0)"
    read -r ltg ltgs <<<"$(ll_ts "$WORK/ll-$t.json" 0 64)"
    read -r mpp mpps <<<"$(mm_ts "$WORK/mm-$t.txt" pp128)"
    read -r mtg mtgs <<<"$(mm_ts "$WORK/mm-$t.txt" tg64)"
    local rpp rtg size
    rpp=$(ratio "${mpp:-}" "${lpp:-}")
    rtg=$(ratio "${mtg:-}" "${ltg:-}")
    echo "$rpp $rtg" >>"$WORK/ratios-$t"
    size=$(du -m "$f" | cut -f1)
    printf '%-5s %6s | %9s ± %-6s %9s ± %-6s %5s | %8s ± %-5s %8s ± %-5s %5s | %s\n' \
        "$t" "${size}M" "${lpp:--}" "${lpps:--}" "${mpp:--}" "${mpps:--}" "$rpp" \
        "${ltg:--}" "${ltgs:--}" "${mtg:--}" "${mtgs:--}" "$rtg" "$la"
}

# "median (min-max)" of column $2 of file $1, ignoring "-"
ratio_summary() {
    local vals
    vals=$(awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -g)
    if [ -z "$vals" ]; then
        echo "-"
        return
    fi
    printf '%s (%s-%s)' "$(median <<<"$vals")" "$(head -1 <<<"$vals")" "$(tail -1 <<<"$vals")"
}

if has_part bench; then
    say ""
    say "== llama-bench -p 128 -n 64 -t $THREADS -r $REPS  vs  modelmgr bench FILE -p 128 -n 64 -t $THREADS -r $REPS, $BENCH_ROUNDS_N round(s)"
    printf '%-5s %6s | %18s %18s %5s | %16s %16s %5s | %s\n' type size "pp128 llama.cpp" "pp128 modelmgr" ratio \
        "tg64 llama.cpp" "tg64 modelmgr" ratio "load average before"
    present=""
    for t in ${TYPES//,/ }; do
        if [ -r "$BENCH_DIR/bench-$t.gguf" ]; then
            present="$present $t"
        else
            say "  $t: $BENCH_DIR/bench-$t.gguf not found (BENCH_DIR=$BENCH_DIR ./build/bench-engine makes it)"
        fi
    done
    # Rounds alternate which tool goes first, so a machine that speeds up
    # or slows down during the run favours neither side.
    for r in $(seq "$BENCH_ROUNDS_N"); do
        [ "$BENCH_ROUNDS_N" -gt 1 ] && say "-- round $r of $BENCH_ROUNDS_N"
        order=ll-mm
        [ $((r % 2)) -eq 0 ] && order=mm-ll
        for t in $present; do
            bench_pair "$t" "$order"
        done
    done
    say "(t/s, mean ± stddev of $REPS; ratio = modelmgr / llama.cpp, above 1 is faster)"
    if [ "$BENCH_ROUNDS_N" -gt 1 ]; then
        say "ratio over the $BENCH_ROUNDS_N rounds, median (min-max):"
        for t in $present; do
            printf '%-5s pp128 %s   tg64 %s\n' "$t" "$(ratio_summary "$WORK/ratios-$t" 1)" \
                "$(ratio_summary "$WORK/ratios-$t" 2)"
        done
    fi
fi

# ---- 2. cold load: start the server, first completion token ----
# Prints "ready_ms first_ms" for one start of llama-server on FILE.
llama_cold() {
    local port
    port=$(free_port) || return 1
    local t0
    t0=$(now_ms)
    "$LLAMA_BIN/llama-server" -m "$1" --host 127.0.0.1 --port "$port" -t "$THREADS" \
        >"$WORK/llama-server.log" 2>&1 &
    SERVER_PID=$!
    wait_200 "http://127.0.0.1:$port/health" || { stop_server; return 1; }
    local ready
    ready=$(now_ms)
    printf '{"prompt":"Hello","n_predict":1,"temperature":0}' >"$WORK/req.json"
    post "http://127.0.0.1:$port/completion" "$WORK/req.json" >/dev/null || { stop_server; return 1; }
    local done_
    done_=$(now_ms)
    stop_server
    echo "$((ready - t0)) $((done_ - t0))"
}

# The same for modelmgr serve: catalog of one model, lazily loaded by the
# first request (what bench-startup measures, but from the process start).
mm_cold() {
    local home="$WORK/mmhome"
    rm -rf "$home"
    mkdir -p "$home/models" "$home/hub"
    ln -s "$(realpath "$1")" "$home/models/bench.gguf"
    printf 'threads: %s\n' "$THREADS" >"$home/config.yaml"
    local t0
    t0=$(now_ms)
    HOME="$home" MODELS_DIR="$home/models" MODELS_FILE="$home/models.txt" HF_HUB_CACHE="$home/hub" \
        MODELMGR_CONFIG="$home/config.yaml" SKIP_MODEL_DOWNLOADS=1 HF_HUB_OFFLINE=1 \
        "$MM" serve --host 127.0.0.1 --port 0 >"$home/out.log" 2>"$home/err.log" &
    SERVER_PID=$!
    local url="" deadline=$(($(now_ms) + 60000))
    while [ -z "$url" ] && [ "$(now_ms)" -lt "$deadline" ]; do
        url=$(grep -o -m1 'listening on http://[^ ]*' "$home/out.log" 2>/dev/null | cut -d' ' -f3)
        [ -n "$url" ] || sleep 0.005
    done
    if [ -z "$url" ] || ! wait_200 "$url/api/health"; then
        stop_server
        return 1
    fi
    local ready
    ready=$(now_ms)
    printf '{"model":"bench","prompt":"Hello","max_tokens":1,"temperature":0}' >"$WORK/req.json"
    post "$url/v1/completions" "$WORK/req.json" >/dev/null || { stop_server; return 1; }
    local done_
    done_=$(now_ms)
    stop_server
    echo "$((ready - t0)) $((done_ - t0))"
}

if has_part load; then
    f="$BENCH_DIR/bench-Q4_0.gguf"
    say ""
    say "== cold load: from starting the server on bench-Q4_0.gguf to its first completion token (max 1 token), median of $ROUNDS, alternated"
    if [ ! -r "$f" ]; then
        say "  $f not found"
    else
        cat "$f" >/dev/null   # both start with the file in the page cache
        : >"$WORK/ll-cold" && : >"$WORK/mm-cold"
        la=$(loadavg)
        for _ in $(seq $ROUNDS); do
            llama_cold "$f" >>"$WORK/ll-cold" || say "  llama-server failed: $(tail -3 "$WORK/llama-server.log" | tr '\n' ' ')"
            mm_cold "$f" >>"$WORK/mm-cold" || say "  modelmgr serve failed: $(tail -3 "$WORK/mmhome/err.log" | tr '\n' ' ')"
        done
        lr=$(cut -d' ' -f1 "$WORK/ll-cold" | median); lf=$(cut -d' ' -f2 "$WORK/ll-cold" | median)
        mr=$(cut -d' ' -f1 "$WORK/mm-cold" | median); mf=$(cut -d' ' -f2 "$WORK/mm-cold" | median)
        printf '%-34s %12s %12s %7s\n' "figure (ms)" llama-server "modelmgr" ratio
        printf '%-34s %12s %12s %7s\n' "health answers 200" "${lr:--}" "${mr:--}" "$(ratio "${mr:-}" "${lr:-}")"
        printf '%-34s %12s %12s %7s\n' "first completion token" "${lf:--}" "${mf:--}" "$(ratio "${mf:-}" "${lf:-}")"
        say "(ratio = modelmgr / llama-server, below 1 is faster; llama-server loads and warms up the model"
        say " before /health answers 200, modelmgr serve loads it on the first request; load average before: $la)"
    fi
fi

# ---- 3. serving: TTFT of a long prompt, first and repeated; 1/2/4 streams ----
# Token ids of a ~N-token prompt from this model's own tokenizer: the word
# list of bench/throughput.c, tokenized by the server, cut to N with BOS first.
prompt_ids() {
    local url=$1 n=$2 w words text=""
    words=(you are a careful assistant who answers questions about the weather and maps with short clear sentences never guess facts)
    for ((w = 0; w < n; w++)); do
        text+="${text:+ }${words[$(((w * 7 + w / 20) % 20))]}"
    done
    jq -n --arg c "$text" '{content: $c}' >"$WORK/tok.json"
    post "$url/tokenize" "$WORK/tok.json" | jq -c --argjson n "$n" '[1] + .tokens[0:($n - 1)]'
}

# Aggregate generation t/s of K concurrent greedy streams: the tokens they
# generated over the longest stream's generation time (all start together
# and are decoded in one batch, so this is the rate while all generate).
streams_tps() {
    local url=$1 k=$2 i
    for ((i = 0; i < k; i++)); do
        jq -n --arg p "stream $i: tell me a story about the number $((i * 17 + 3))" --argjson n "$GEN_TOKENS" \
            '{prompt: $p, n_predict: $n, temperature: 0, ignore_eos: true, cache_prompt: false}' >"$WORK/s$i.json"
    done
    local pids=()
    for ((i = 0; i < k; i++)); do
        post "$url/completion" "$WORK/s$i.json" >"$WORK/s$i.out" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for ((i = 0; i < k; i++)); do
        jq -r '.timings | "\(.predicted_n) \(.predicted_ms)"' "$WORK/s$i.out" 2>/dev/null
    done | awk '{ n += $1; if ($2 > m) m = $2 } END { if (m > 0) printf "%.1f\n", n * 1000 / m }'
}

best_of_2() { { "$@"; "$@"; } | sort -g | tail -1; }

if has_part serve; then
    for t in ${SERVE_TYPES//,/ }; do
        f="$BENCH_DIR/bench-$t.gguf"
        say ""
        say "== serving $t: llama-server --parallel 4 -c 4096 -t $THREADS (figures as bench-throughput measures them)"
        [ -r "$f" ] || { say "  $f not found"; continue; }
        la=$(loadavg)
        port=$(free_port) || continue
        "$LLAMA_BIN/llama-server" -m "$f" --host 127.0.0.1 --port "$port" -t "$THREADS" --parallel 4 -c 4096 \
            >"$WORK/llama-server.log" 2>&1 &
        SERVER_PID=$!
        url="http://127.0.0.1:$port"
        if ! wait_200 "$url/health"; then
            say "  llama-server did not start: $(tail -3 "$WORK/llama-server.log" | tr '\n' ' ')"
            stop_server
            continue
        fi
        ids=$(prompt_ids "$url" "$PROMPT_TOKENS")
        # first: nothing cached; then the same prompt again (llama.cpp
        # evaluates its last token); then the same first N-26 tokens with a
        # new tail of 26 (bench-throughput's "same system prompt + new user
        # message" evaluates 26 tokens)
        ttft() {
            jq -n --argjson p "$1" '{prompt: $p, n_predict: 1, temperature: 0, cache_prompt: true}' >"$WORK/t.json"
            local t0 t1
            t0=$(now_ms)
            post "$url/completion" "$WORK/t.json" >"$WORK/t.out" || return 1
            t1=$(now_ms)
            echo "$((t1 - t0)) $(jq -r '.timings.prompt_n' "$WORK/t.out")"
        }
        read -r first first_n <<<"$(ttft "$ids")"
        : >"$WORK/rep"
        for _ in 1 2 3 4; do ttft "$ids" >>"$WORK/rep"; done
        rep=$(cut -d' ' -f1 "$WORK/rep" | median); rep_n=$(head -1 "$WORK/rep" | cut -d' ' -f2)
        : >"$WORK/tail"
        for j in 1 2 3 4; do
            tail_ids=$(jq -c --argjson j "$j" '.[0:(length - 26)] + [range(0; 26) | 1000 + . * 31 + $j * 997]' <<<"$ids")
            ttft "$tail_ids" >>"$WORK/tail"
        done
        tl=$(cut -d' ' -f1 "$WORK/tail" | median); tl_n=$(head -1 "$WORK/tail" | cut -d' ' -f2)
        say "  time to first token, $(jq length <<<"$ids")-token prompt: first ${first:--} ms (${first_n:-?} evaluated),"
        say "  same first $(( $(jq length <<<"$ids") - 26 )) tokens + 26 new ${tl:--} ms (${tl_n:-?} evaluated, median of 4),"
        say "  identical prompt again ${rep:--} ms (${rep_n:-?} evaluated, median of 4) -> $(ratio "${first:-}" "${rep:-}")x"
        s1=$(best_of_2 streams_tps "$url" 1)
        s2=$(best_of_2 streams_tps "$url" 2)
        s4=$(best_of_2 streams_tps "$url" 4)
        say "  generation of $GEN_TOKENS tokens, aggregate t/s (best of 2): 1 stream ${s1:--}, 2 streams ${s2:--} ($(ratio "${s2:-}" "${s1:-}")x),"
        say "  4 streams ${s4:--} ($(ratio "${s4:-}" "${s1:-}")x)   [load average before: $la]"
        stop_server
        if [ -x "$BUILD_DIR/bench-throughput" ]; then
            say "  -- modelmgr, right after (build/bench-throughput, BENCH_TYPES=$t):"
            BENCH_TYPES=$t BENCH_THREADS=$THREADS BENCH_TOKENS=$GEN_TOKENS BENCH_PROMPT_TOKENS=$PROMPT_TOKENS \
                BENCH_DIR=$BENCH_DIR "$BUILD_DIR/bench-throughput" 2>&1 |
                grep -E 'time to first token|identical prompt again|stream' |
                sed -e 's/^ */  /' -e 's/; llama.cpp server.*//'
        else
            say "  ($BUILD_DIR/bench-throughput not built: modelmgr's side skipped)"
        fi
    done
fi
say ""
say "llamacpp-compare: done, load average $(loadavg)"
