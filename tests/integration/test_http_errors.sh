# duetd under bad input and overload: every error status in OpenAI's shape
# (400 naming the parameter, 401, 404, 405, 413, 431, 429 and 503 with
# Retry-After), HTTP/1.1 garbage, malformed HTTP/2 frames, truncated
# bodies, stalled clients, and 1000+1000 clients that drop or reset their
# stream mid-generation. Afterwards the daemon still answers the same
# greedy completion, every generation was cancelled and every KV block is
# free again. Budget: about a minute.
. "$DUET_SRC/tests/integration/http_lib.sh"

make_model "$TMP/m"
start_duetd main --model "$TMP/m" --max-body 4096 --max-header 2048 --slow-timeout 2 || exit 1
J='content-type: application/json'
before=$(curl -s "$URL/v1/completions" -d '{"prompt":"hello","max_tokens":12,"temperature":0}' | jq -r .choices[0].text)

# err NAME STATUS PARAM METHOD PATH [curl args]: status, error shape and param
err() {
  local name=$1 want=$2 param=$3
  shift 3
  local got
  got=$(status "$@")
  if [ "$got" = "$want" ] && jq -e --arg p "$param" '(.error | has("message") and has("type") and has("param") and has("code"))
      and ($p == "" or .error.param == $p)' "$TMP/body" >/dev/null; then
    ok "$name -> $want"
  else
    bad "$name -> $want (got $got: $(head -c 300 "$TMP/body"))"
  fi
}
C=/v1/completions
err "malformed JSON" 400 "" POST $C -d '{"prompt": "x",'
err "body not an object" 400 "" POST $C -d '[1,2]'
err "empty body" 400 "" POST $C
err "missing prompt" 400 prompt POST $C -d '{"max_tokens":3}'
err "prompt of wrong type" 400 prompt POST $C -d '{"prompt":{"a":1}}'
err "token id out of vocabulary" 400 prompt POST $C -d '{"prompt":[1,2,999999]}'
err "empty prompt" 400 prompt POST $C -d '{"prompt":""}'
err "temperature out of range" 400 temperature POST $C -d '{"prompt":"x","temperature":-1}'
err "temperature not a number" 400 temperature POST $C -d '{"prompt":"x","temperature":"hot"}'
err "top_p zero" 400 top_p POST $C -d '{"prompt":"x","top_p":0}'
err "min_p over 1" 400 min_p POST $C -d '{"prompt":"x","min_p":2}'
err "top_k below -1" 400 top_k POST $C -d '{"prompt":"x","top_k":-5}'
err "max_tokens zero" 400 max_tokens POST $C -d '{"prompt":"x","max_tokens":0}'
err "max_tokens over the context" 400 max_tokens POST $C -d '{"prompt":"x","max_tokens":4000}'
err "prompt over the context" 400 prompt POST $C -d "{\"prompt\":\"$(head -c 300 /dev/zero | tr '\0' a)\"}"
err "n over the limit" 400 n POST $C -d '{"prompt":"x","n":1000}'
err "stop of wrong type" 400 stop POST $C -d '{"prompt":"x","stop":[1]}'
err "logprobs over 20" 400 logprobs POST $C -d '{"prompt":"x","logprobs":50}'
err "presence_penalty out of range" 400 presence_penalty POST $C -d '{"prompt":"x","presence_penalty":9}'
err "stream_options without stream" 400 stream_options POST $C -d '{"prompt":"x","stream_options":{"include_usage":true}}'
err "chat without messages" 400 messages POST /v1/chat/completions -d '{"max_tokens":3}'
err "chat message without role" 400 messages POST /v1/chat/completions -d '{"messages":[{"content":"hi"}]}'
err "chat top_logprobs without logprobs" 400 top_logprobs POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}'
err "unknown model" 404 model POST $C -d '{"model":"gpt-9","prompt":"x"}'
err "unknown path" 404 "" GET /v2/nothing
err "wrong method on completions" 405 "" GET $C
err "wrong method on health" 405 "" POST /health -d x
err "body over --max-body (HTTP/1.1)" 413 "" POST $C -d "$(head -c 5000 /dev/zero | tr '\0' a)"
err "body over --max-body (HTTP/2)" 413 "" POST $C --http2-prior-knowledge -d "$(head -c 5000 /dev/zero | tr '\0' a)"
err "headers over --max-header (HTTP/1.1)" 431 "" GET /health -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' a)"
check "headers over --max-header (HTTP/2) refused" [ "$(status GET /health --http2-prior-knowledge -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' a)")" != 200 ]

# --- broken transport ---
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw 'GARBAGE NONSENSE\r\n\r\n' >"$TMP/g"
check "HTTP/1.1 garbage: 400 and close" grep -q "^HTTP/1.1 400" "$TMP/g"
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >"$TMP/g"
check "bad Content-Length: 400" grep -q "^HTTP/1.1 400" "$TMP/g"
# preface + SETTINGS + a DATA frame on stream 0 (a connection error)
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw \
  505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000000000050001000000006869686968 >"$TMP/g"
check "malformed HTTP/2 frame: GOAWAY and close" test -s "$TMP/g"
# preface then a HEADERS frame with a garbage HPACK block
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw \
  505249202a20485454502f322e300d0a0d0a534d0d0a0d0a00000400000000000000000501050000000001ffffffff41 >/dev/null
check "bad HPACK survived" [ "$(status GET /health)" = 200 ]
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw \
  'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":' half >"$TMP/g"
check "truncated body: no response, connection closed" test ! -s "$TMP/g"
start=$(date +%s)
node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw 'POST /v1/completions HTTP/1.1\r\nHost: x\r\n' >/dev/null
check "stalled request closed by --slow-timeout" [ $(($(date +%s) - start)) -le 6 ]
t=$(node "$SRC/tests/integration/http_abuse.mjs" "$PORT" h2stall)
check "stalled HTTP/2 stream closed by --slow-timeout (${t} s)" awk -v t="$t" 'BEGIN { exit !(t != "" && t <= 5) }'

# --- 429 when the queue is full, 503 when the workers are not there ---
MAIN_URL=$URL MAIN_PORT=$PORT
start_duetd small --model "$TMP/m" --max-queued 2 || exit 1
# three choices can never fit a queue of two: refused at once
curl -s -D "$TMP/h" -o "$TMP/body" "$URL$C" -d '{"prompt":"a","max_tokens":2,"n":3}' >/dev/null
check "queue full: 429" grep -q "^HTTP/1.1 429" "$TMP/h"
check "429 has Retry-After" grep -qi "^retry-after: [0-9]" "$TMP/h"
kill -TERM $DPID
start_duetd_down() {
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  "$BIN/duetd" --port "$PORT" --model "$TMP/m" --workers "127.0.0.1:$(free_port)" >"$TMP/down.log" 2>&1 &
  DPID=$!
  PIDS="$PIDS $DPID"
  for _ in $(seq 100); do curl -s -o /dev/null "$URL/health" && return 0; sleep 0.1; done
  return 1
}
start_duetd_down
curl -s -D "$TMP/h" -o "$TMP/body" "$URL/health" >/dev/null
check "workers down: /health 503 + Retry-After" sh -c "grep -q '^HTTP/1.1 503' '$TMP/h' && grep -qi '^retry-after' '$TMP/h'"
curl -s -D "$TMP/h" -o "$TMP/body" "$URL$C" -d '{"prompt":"a"}' >/dev/null
check "workers down: request 503 + Retry-After" sh -c "grep -q '^HTTP/1.1 503' '$TMP/h' && grep -qi '^retry-after' '$TMP/h'"
kill $DPID

# --- connection limit and idle timeout ---
start_duetd lim --model "$TMP/m" --max-conns 3 --idle-timeout 1 || exit 1
python3 - "$PORT" >"$TMP/conns" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(5):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    socks.append(s)
    time.sleep(0.05)
def closed(s, wait):
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True
print("over", sum(closed(s, 0.5) for s in socks[3:]))
print("kept", sum(not closed(s, 0.1) for s in socks[:3]))
time.sleep(2.5)
print("idle", sum(closed(s, 0.5) for s in socks[:3]))
PY
check "connections over --max-conns closed" grep -qx "over 2" "$TMP/conns"
check "connections within the limit kept" grep -qx "kept 3" "$TMP/conns"
check "idle connections closed after --idle-timeout" grep -qx "idle 3" "$TMP/conns"
check "serves again once the idle ones are gone" [ "$(status GET /health)" = 200 ]
# an idle HTTP/2 connection ends with a GOAWAY naming the last stream taken,
# not a bare close: a pooling client then knows a late request was not taken
cat >"$TMP/goaway.mjs" <<'JS'
import http2 from "node:http2";
const s = http2.connect(`http://127.0.0.1:${process.argv[2]}`);
let got = "none";
s.on("goaway", (code, last) => (got = `${code} ${last}`));
s.on("error", () => {});
s.on("close", () => console.log(got));
s.request({ ":path": "/health" }).resume();
JS
check "idle HTTP/2 connection: GOAWAY, then close" [ "$(timeout 10 node "$TMP/goaway.mjs" "$PORT")" = "0 1" ]
kill $DPID

# a non-streamed HTTP/2 answer that takes longer than --slow-timeout is the
# server's delay, not a stalled client: it arrives (three n=16 requests
# ahead of it on the bundled model make it wait about 2 s)
start_duetd slow --model "$SRC/models/kjv-small" --slow-timeout 1 || exit 1
long='{"prompt":"And","max_tokens":250,"ignore_eos":true,"n":16}'
ahead=""
for i in 1 2 3; do
  curl -s -m 60 -o /dev/null "$URL/v1/completions" -d "$long" &
  ahead="$ahead $!"
done
got=$(curl -s -m 60 --http2-prior-knowledge -o "$TMP/slow" -w '%{http_code} %{time_total}' "$URL/v1/completions" -d "$long")
for p in $ahead; do wait "$p"; done
check "slow non-streamed HTTP/2 answer kept past --slow-timeout ($got s)" \
  awk -v g="$got" 'BEGIN { split(g, a, " "); exit !(a[1] == 200 && a[2] > 1.2) }'
kill $DPID

# a KV pool smaller than the model's context caps every request up front:
# a clear 400 naming the limit (as for the context), not a 500 from the
# workers; /v1/models reports the cap; what fits is served
start_duetd kv --model "$SRC/models/kjv-small" --kv-blocks 2 || exit 1
curl -s "$URL/v1/completions" -d '{"prompt":"In the beginning","max_tokens":40}' >"$TMP/kv.json"
check "over the pool: 400 naming max_tokens and the 32-token limit" \
  jq -e '.error.code == 400 and .error.param == "max_tokens" and (.error.message | test("maximum context length is 32 tokens"))' "$TMP/kv.json"
check "/v1/models reports max_model_len 32" sh -c "curl -s '$URL/v1/models' | jq -e '.data[0].max_model_len == 32'"
check "a request that fits the pool is served" sh -c "curl -s '$URL/v1/completions' -d '{\"prompt\":\"In the\",\"max_tokens\":20}' |
  jq -e '.usage.completion_tokens >= 1'"
kill $DPID

# --- 1000 + 1000 clients that go away mid-stream ---
URL=$MAIN_URL PORT=$MAIN_PORT
check "1000 HTTP/1.1 drops + 1000 HTTP/2 resets" timeout 150 node "$SRC/tests/integration/http_abuse.mjs" "$PORT" disconnect 1000
check "every dropped generation was cancelled" [ "$(metric duet_cancels_total)" -ge 1900 ]
check "every KV pool is full again" kv_full
after=$(curl -s --http2-prior-knowledge "$URL/v1/completions" -d '{"prompt":"hello","max_tokens":12,"temperature":0}' | jq -r .choices[0].text)
check "still answers the same completion" [ "$before" = "$after" ]
check "health still 200" [ "$(status GET /health)" = 200 ]
finish
