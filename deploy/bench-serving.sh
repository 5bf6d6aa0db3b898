#!/bin/bash
# The README's serving figures: duet-bench against the bundled model served
# by a local disaggregated cluster (duetd supervising 1 prefill + 1 decode
# worker under mpirun) and by the in-process daemon, 200 prompts at 4
# requests/s and all at once. Prints one table and writes bench-serving.json.
#   deploy/bench-serving.sh [BUILD_DIR] [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODEL=${2:-models/kjv-small}
BIN=$BUILD/bin
OUT=${OUT:-bench-serving.json}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PORT=18777
tmp=$(mktemp -d)
dpid=""
trap '[ -n "$dpid" ] && kill -9 $dpid 2>/dev/null; rm -rf "$tmp"' EXIT

vocab=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$MODEL/config.json")
ctx=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['max_position_embeddings'])" "$MODEL/config.json")
# Prompt and output lengths that fit the model's context.
in_hi=$((ctx / 2)); out_hi=$((ctx / 2 - 16))
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "model: $MODEL (vocab $vocab, context $ctx); prompts 16:$in_hi tokens, outputs 16:$out_hi tokens"
"$BIN/duet-bench-engine" --shapes none --quick 2>&1 | grep -m1 "sgemm peak" || true

serve() { # name args...
  local name=$1; shift
  "$BIN/duetd" --model "$MODEL" --port $PORT "$@" > "$tmp/$name.log" 2>&1 &
  dpid=$!
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:$PORT/health)" = 200 ] && return 0
    sleep 0.2
  done
  cat "$tmp/$name.log"; return 1
}
stop() { kill -TERM $dpid; wait $dpid || true; dpid=""; }

results=()
for layout in "1p1d:--prefill 1 --decode 1" "in-process:"; do
  name=${layout%%:*}; args=${layout#*:}
  # shellcheck disable=SC2086
  serve "$name" $args
  for rate in 4 inf; do
    "$BIN/duet-bench" --url http://127.0.0.1:$PORT --num-prompts 200 --request-rate $rate \
      --input-len 16:$in_hi --output-len 16:$out_hi --vocab-size "$vocab" --seed 1 \
      --goodput "ttft:1000 tpot:100" --json "$tmp/$name-$rate.json" > "$tmp/$name-$rate.txt" 2>/dev/null || true
    results+=("$name $rate $tmp/$name-$rate.json")
  done
  stop
done

python3 - "$OUT" "${results[@]}" <<'PY'
import json, sys
out, rows = sys.argv[1], sys.argv[2:]
table = []
print("\n| server | rate (req/s) | ok/failed | req/s | out tok/s | TTFT median / p99 (ms) | TPOT median / p99 (ms) | ITL median / p99 (ms) | E2EL median (ms) | goodput (req/s) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for row in rows:
    name, rate, path = row.split(" ")
    r = json.load(open(path)); r["server"], r["rate"] = name, rate
    table.append(r)
    print(f"| {name} | {rate} | {r['completed']}/{r['failed']} | {r['request_throughput']:.2f} | {r['output_throughput']:.1f} "
          f"| {r['ttft_ms']['median']:.1f} / {r['ttft_ms']['p99']:.1f} | {r['tpot_ms']['median']:.1f} / {r['tpot_ms']['p99']:.1f} "
          f"| {r['itl_ms']['median']:.1f} / {r['itl_ms']['p99']:.1f} | {r['e2el_ms']['median']:.1f} | {r.get('request_goodput', 0):.2f} |")
json.dump(table, open(out, "w"), indent=2)
PY
