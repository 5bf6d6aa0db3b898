#!/usr/bin/env bash
# The disaggregated runtime end to end on loopback: greedy generations of 16
# concurrent prompts of different lengths must equal duet-generate's token
# for token through every backend and layout (in-process; supervised 1P+1D,
# 2P+1D, 1P+2D, 1P+1D with T=2; socket to a hand-started job with chunked
# prefill and a small pool so requests wait for blocks); then 200 requests
# cancelled at random points must leave every pool full again; and wrong
# rank counts are refused by every rank with a clear message.
set -euo pipefail
: "${DUET_BIN:?}" "${DUET_SRC:?}"
MODEL="$DUET_SRC/tests/fixtures/models/llama_gqa_tied"
N=12
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*" >&2; exit 1; }

# 16 prompts, lengths 1..91, ids from a fixed LCG (vocabulary 256).
python3 - "$work/prompts" <<'PY'
import sys
x, lines = 12345, []
for i in range(16):
    n = 1 + i * 6
    ids = []
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2**31
        ids.append(3 + x % 250)
    lines.append(",".join(map(str, ids)))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY

i=0
: > "$work/expected"
while read -r ids; do
  out=$(timeout 30 "$DUET_BIN/duet-generate" --model "$MODEL" --prompt-ids "$ids" -n $N 2>/dev/null | head -1)
  echo "R$i $out" >> "$work/expected"
  i=$((i + 1))
done < "$work/prompts"

# idclient prints "R<i> <reason> <ids>"; compare the ids.
check() {
  local name=$1 file=$2
  awk '{print $1, $3}' "$file" | sed 's/ $//' > "$work/got.$name"
  sed 's/ $//' "$work/expected" > "$work/exp"
  if ! diff -u "$work/exp" "$work/got.$name"; then fail "$name: generations differ from duet-generate"; fi
  grep -q " error " "$file" && fail "$name: a request failed"
  echo "ok: $name (16 requests identical to duet-generate)"
}

run_client() { # name, args...
  local name=$1; shift
  timeout 120 "$DUET_BIN/duet-idclient" --prompts "$work/prompts" -n $N --timeout 100 "$@" > "$work/out.$name" 2> "$work/err.$name" \
    || { cat "$work/err.$name" >&2; fail "$name: duet-idclient failed"; }
  check "$name" "$work/out.$name"
}

run_client inprocess --model "$MODEL"
sup=(--model "$MODEL" --worker-bin "$DUET_BIN/duet-worker")
run_client 1p1d "${sup[@]}" --prefill 1 --decode 1
run_client 2p1d "${sup[@]}" --prefill 2 --decode 1
run_client 1p2d "${sup[@]}" --prefill 1 --decode 2
run_client tp2 "${sup[@]}" --prefill 1 --decode 1 --tp 2

# A job started by hand; the socket backend connects to it. Chunked prefill
# (budget 32 tokens), a 48-block pool (requests wait for blocks) and at
# most 3 sequences per decode step (the others take turns).
mpirun -np 5 --oversubscribe "$DUET_BIN/duet-worker" --prefill 2 --decode 2 --tp 1 --model "$MODEL" \
  --listen 127.0.0.1:0 --budget 32 --kv-blocks 48 --max-batch 3 > "$work/job.out" 2> "$work/job.err" &
pids+=($!)
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^DUET_WORKER_LISTENING //p' "$work/job.out" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/job.err" >&2; fail "job did not start listening"; }
run_client socket --connect "$addr"

# 200 requests cancelled at random points (some before any token), then
# every decode pool must be full again.
for _ in $(seq 1 13); do cat "$work/prompts"; done | head -200 > "$work/many"
timeout 120 "$DUET_BIN/duet-idclient" --connect "$addr" --prompts "$work/many" -n 150 --ignore-eos \
  --cancel-random 7 --expect-free --timeout 100 > "$work/out.cancel" 2> "$work/err.cancel" \
  || { cat "$work/err.cancel" >&2; fail "cancel: duet-idclient failed"; }
[ "$(grep -c '^R' "$work/out.cancel")" = 200 ] || fail "cancel: not 200 results"
grep -q "unfinished\| error " "$work/out.cancel" && fail "cancel: unfinished or failed requests"
ncancel=$(grep -c ' cancelled ' "$work/out.cancel" || true)
[ "$ncancel" -ge 100 ] || fail "cancel: only $ncancel of 200 were cancelled"
grep -q "^POOL decode0 used=0 free=48" "$work/out.cancel" || fail "cancel: decode0 pool not full"
grep -q "^POOL decode1 used=0 free=48" "$work/out.cancel" || fail "cancel: decode1 pool not full"
echo "ok: 200 requests, $ncancel cancelled at random points, every pool back to full"

# Wrong counts are refused cleanly by every rank: non-zero exit (not a
# timeout) and a message naming the problem.
refused() { # np, tp, expected message
  local msg rc
  set +e
  msg=$(timeout 60 mpirun -np "$1" --oversubscribe "$DUET_BIN/duet-worker" --prefill 1 --decode 1 --tp "$2" \
    --model "$MODEL" --listen 127.0.0.1:0 2>&1)
  rc=$?
  set -e
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "np $1 tp $2: exit $rc"
  echo "$msg" | grep -qF "$3" || fail "np $1 tp $2: message was: $msg"
}
refused 3 2 "needs 1+(1+1)*2 = 5 MPI ranks, but the job has 3"
refused 7 3 "must divide the model's attention heads (4)"
echo "ok: wrong counts refused"
echo "1 passed, 0 failed"
