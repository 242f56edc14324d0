#!/usr/bin/env bash
# bench/instructions.sh: instructions per POST /chat of `bedrock-agent serve`, counted by callgrind after a warm-up (independent of
# the machine's load). Usage: bench/instructions.sh BUILD_DIR [BUILD_DIR...]; env HISTORY="none sqlite", COUNT=2000.
# The simulator is the first build's; every agent runs in front of it with rate limiting off.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${COUNT:-2000}
HISTORY=${HISTORY:-"none sqlite"}
TMP=$(mktemp -d /tmp/ba-instr-XXXXXX)
first=$(cd "$1" && pwd)
LOADGEN=$first/bench_loadgen
MODEL=anthropic.claude-3-sonnet-20240229-v1:0
PROMPT='Summarise the quarterly figures in one short paragraph: revenue rose, costs fell, margins widened and the outlook is steady for the next two quarters.'
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
SIM=$(port)
"$first/bedrock-agent" simulate-bedrock --port "$SIM" --no-fault-header >"$TMP/sim.log" 2>&1 & pids+=($!)
wait_port "$SIM"
for h in $HISTORY; do
  inc=false; [ "$h" = none ] || inc=true
  printf '{"input":"%s","include_history":%s}' "$PROMPT" "$inc" >"$TMP/body-$h.json"
done
for b in "$@"; do
  b=$(cd "$b" && pwd)
  rev=$(git -C "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$b/CMakeCache.txt")" rev-parse --short HEAD)
  for h in $HISTORY; do
    P=$(port); hist=none; [ "$h" = none ] || hist="sqlite:$TMP/hist-$rev.db"
    out="$TMP/cg-$rev-$h.out"
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:$SIM AWS_ACCESS_KEY_ID=AKIDBENCH000000000000 \
    AWS_SECRET_ACCESS_KEY=bench-secret-not-a-secret AWS_REGION=us-east-1 AWS_PROFILE=bench-none \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
      valgrind --tool=callgrind --callgrind-out-file="$out" "$b/bedrock-agent" serve --port "$P" --history "$hist" \
        --max-rpm 1e9 --max-tpm 0 --model-id "$MODEL" >"$TMP/agent-$rev-$h.log" 2>&1 & vp=$!; pids+=($vp)
    wait_port "$P"
    "$LOADGEN" ttfb --port="$P" --path=/chat --body-file="$TMP/body-$h.json" --count=300 >/dev/null
    callgrind_control -z "$vp" >/dev/null
    # ttfb sends count + count/10 requests (a tenth of them as its own warm-up).
    res=$("$LOADGEN" ttfb --port="$P" --path=/chat --body-file="$TMP/body-$h.json" --count="$COUNT")
    callgrind_control -d "$vp" >/dev/null
    n=$((COUNT + COUNT / 10))
    ir=$(cat "$out".* 2>/dev/null | sed -n 's/^summary: //p;s/^totals: //p' | awk '{s+=$1} END {print s}')
    kill "$vp"; wait "$vp" 2>/dev/null || true
    ok=$(printf '%s' "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
    echo "{\"build\":\"$b\",\"git\":\"$rev\",\"history\":\"$h\",\"requests\":$n,\"ok_measured\":$ok,\"instructions\":$ir,\"instructions_per_request\":$((ir / n))}"
    rm -f "$out"*
  done
done
