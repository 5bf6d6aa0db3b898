# duetd supervising an MPI worker job (--prefill 1 --decode 1): a decode
# rank killed with SIGKILL during a streaming load, then one stopped with
# SIGSTOP (caught by --stall-timeout). Every client ends
# within 5 s of the kill (an error event on its stream, or an error
# status), /health turns 503 with Retry-After, new requests get 503, and
# duetd restarts the job by itself and serves again. Last, a prompt whose
# prefill outlasts --stall-timeout is not taken for a stall. Budget: ~30 s.
. "$DUET_SRC/tests/integration/http_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

make_model "$TMP/m"
start_duetd sup --model "$TMP/m" --prefill 1 --decode 1 --stall-timeout 3 || exit 1
check "supervised completion" sh -c "curl -s --max-time 10 '$URL/v1/completions' -d '{\"prompt\":\"hi\",\"max_tokens\":4}' |
  jq -e '.usage.completion_tokens >= 1'"

# the decode rank: rank 2 of the job (0 coordinator, 1 prefill, 2 decode)
decode_pid() {
  for p in $(pgrep -f "duet-worker .*--model $TMP/m"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=2 && echo "$p" && return
  done
}
victim=$(decode_pid)
check "found the decode rank" [ -n "$victim" ]

# start_streams N: N long streams ($TMP/sI, end times in $TMP/endI), back
# once every one has its first event (all are mid-generation)
start_streams() {
  for i in $(seq "$1"); do
    rm -f "$TMP/end$i"
    (curl -sN --max-time 30 "$URL/v1/completions" -d '{"prompt":"hello","max_tokens":240,"stream":true,"ignore_eos":true}' \
      >"$TMP/s$i"; date +%s.%N >"$TMP/end$i") &
  done
  for _ in $(seq 200); do
    n=0
    for i in $(seq "$1"); do grep -q '^data: {' "$TMP/s$i" 2>/dev/null && n=$((n + 1)); done
    [ "$n" = "$1" ] && break
    sleep 0.01
  done
}
# ended_within N T0 SECONDS: every one of the N streams ended by T0 + SECONDS
ended_within() {
  local late=0
  for i in $(seq "$1"); do
    for _ in $(seq 150); do [ -s "$TMP/end$i" ] && break; sleep 0.1; done
    end=$(cat "$TMP/end$i" 2>/dev/null || echo 1e12)
    awk -v e="$end" -v k="$2" -v s="$3" 'BEGIN { exit !(e - k <= s) }' || late=1
  done
  [ $late = 0 ]
}

start_streams 8
kill -KILL "$victim"
killed=$(date +%s.%N)
saw503=0
for _ in $(seq 100); do
  code=$(curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' --max-time 2 "$URL/health")
  if [ "$code" = 503 ]; then saw503=1; break; fi
  sleep 0.05
done
check "every stream ended within 5 s of the kill" ended_within 8 "$killed" 5
check "streams cut short end with an error event" sh -c "cat $TMP/s* | grep -q '\"error\"'"
complete=1
for i in $(seq 8); do
  tail -n 2 "$TMP/s$i" | grep -q -e '\[DONE\]' -e '"error"' || complete=0
done
check "every stream ends with [DONE] or an error event" [ $complete = 1 ]
# as vLLM: an error event is followed by [DONE], so a client reading to it ends cleanly
done_after=1
for i in $(seq 8); do
  grep -q '"error"' "$TMP/s$i" && ! grep -v '^$' "$TMP/s$i" | tail -n 1 | grep -qx 'data: \[DONE\]' && done_after=0
done
check "an error event is followed by [DONE]" [ $done_after = 1 ]
check "/health 503 while the job is down" [ $saw503 = 1 ]
check "503 carries Retry-After" grep -qi "^retry-after" "$TMP/h"
up=0
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/health")" = 200 ] && up=1 && break
  sleep 0.1
done
check "service resumes by itself" [ $up = 1 ]
check "completion after the restart" sh -c "curl -s --max-time 10 '$URL/v1/completions' -d '{\"prompt\":\"hi\",\"max_tokens\":4}' |
  jq -e '.usage.completion_tokens >= 1'"
check "backend_down counted" [ "$(metric duet_backend_down_total)" -ge 1 ]

# a stopped rank: MPI does not notice, duetd's stall watchdog must
victim=$(decode_pid)
check "found the new decode rank" [ -n "$victim" ]
start_streams 4
kill -STOP "$victim"
stopped=$(date +%s.%N)
check "streams on a stopped rank end within --stall-timeout + 5 s" ended_within 4 "$stopped" 8
kill -CONT "$victim" 2>/dev/null
check "they end with a stall error" sh -c "cat $TMP/s1 $TMP/s2 $TMP/s3 $TMP/s4 | grep -q 'stalled'"
up=0
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/health")" = 200 ] &&
    curl -s --max-time 10 "$URL/v1/completions" -d '{"prompt":"hi","max_tokens":4}' | jq -e '.usage.completion_tokens >= 1' >/dev/null &&
    up=1 && break
  sleep 0.1
done
check "serves again after the stalled job was replaced" [ $up = 1 ]
kill -TERM "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
wait "$DPID"
check "drain with a supervised job exits 0" [ $? = 0 ]
check "no worker left behind" [ -z "$(pgrep -f "duet-worker .*--model $TMP/m")" ]

# a prompt whose prefill outlasts --stall-timeout is not a stall: its
# chunks (512 tokens each, no token until the last) are the job's progress
# (the bundled model with an 8192-token context: 8000 tokens take ~2.5 s)
mkdir -p "$TMP/long"
cp "$SRC"/models/kjv-small/* "$TMP/long/"
sed -i 's/"max_position_embeddings": *[0-9]*/"max_position_embeddings": 8192/' "$TMP/long/config.json"
start_duetd long --model "$TMP/long" --prefill 1 --decode 1 --stall-timeout 1 --kv-blocks 1024 || exit 1
python3 -c 'import json; print(json.dumps({"prompt": [5 + i % 3000 for i in range(8000)], "max_tokens": 2}))' >"$TMP/long.json"
t0=$(date +%s.%N)
curl -s --max-time 60 "$URL/v1/completions" -d @"$TMP/long.json" >"$TMP/long.out"
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "8000-token prompt answered in $took s"
check "a prefill longer than --stall-timeout completes" jq -e '.usage.prompt_tokens == 8000' "$TMP/long.out"
check "it took longer than the timeout (else this proves nothing)" awk -v t="$took" 'BEGIN { exit !(t > 1.2) }'
check "no stall reported" sh -c "! grep -q stalled '$TMP/long.log'"
finish
