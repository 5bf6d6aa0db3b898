# duetd with real clients: curl (HTTP/1.1, h2 prior knowledge, h2c
# upgrade, TLS + ALPN), nghttp, h2load (2000 completions, all must
# succeed), the official openai npm SDK, SSE framing, API keys, SIGTERM
# drain. Budget: about a minute.
. "$DUET_SRC/tests/integration/http_lib.sh"

make_model "$TMP/m"
start_duetd main --model "$TMP/m" || exit 1
MODEL=m
J='content-type: application/json'

# --- curl, three ways of speaking ---
for mode in --http1.1 --http2-prior-knowledge --http2; do
  v=$(curl -s $mode -o "$TMP/c.json" -w '%{http_version}' --max-time 10 -H "$J" "$URL/v1/completions" \
    -d '{"model":"m","prompt":"hello","max_tokens":5,"temperature":0}')
  want=2
  [ $mode = --http1.1 ] && want=1.1
  check "curl $mode speaks HTTP/$want" [ "$v" = "$want" ]
  check "curl $mode completion" jq -e '.object == "text_completion" and .usage.completion_tokens >= 1 and
    .usage.completion_tokens <= 5 and (.choices[0].text | type) == "string" and .usage.prompt_tokens == 5' "$TMP/c.json"
done
check "greedy is deterministic across protocols" [ "$(curl -s --http2-prior-knowledge "$URL/v1/completions" \
  -d '{"prompt":"abc","max_tokens":6,"temperature":0}' | jq -r .choices[0].text)" = \
  "$(curl -s "$URL/v1/completions" -d '{"prompt":"abc","max_tokens":6,"temperature":0}' | jq -r .choices[0].text)" ]

seeded() { curl -s "$URL/v1/completions" -d '{"prompt":"hello","max_tokens":8,"seed":42,"n":2}' | jq -c '[.choices[].text]'; }
a=$(seeded)
b=$(seeded)
check "seeded sampling repeats; n choices differ" sh -c "[ '$a' = '$b' ] && echo '$a' | jq -e '.[0] != .[1]'"

# --- SSE: every event is JSON, finish_reason only on the last, [DONE] ends it ---
for mode in --http1.1 --http2-prior-knowledge; do
  curl -sN $mode --max-time 10 "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hé"}],
    "max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}' >"$TMP/sse"
  check "SSE $mode ends with [DONE]" [ "$(grep -c '^data: ' "$TMP/sse")" -ge 3 -a "$(tail -n 2 "$TMP/sse" | head -n 1)" = "data: [DONE]" ]
  grep '^data: {' "$TMP/sse" | sed 's/^data: //' >"$TMP/events"
  check "SSE $mode role first, finish last, usage" jq -se '.[0].choices[0].delta.role == "assistant" and
    ([.[] | select(.choices | length > 0) | .choices[0].finish_reason] | (.[:-1] | all(. == null)) and (.[-1] != null))
    and (.[-1].usage.completion_tokens >= 1)' "$TMP/events"
done

# --- n, batch prompts, logprobs, echo, stop ---
curl -s "$URL/v1/completions" -d '{"prompt":["ab",[65,66,67]],"n":2,"max_tokens":3,"logprobs":2,"echo":true}' >"$TMP/b.json"
check "batch x n gives 4 choices with logprobs" jq -e '(.choices | length) == 4 and ([.choices[].index] == [0,1,2,3])
  and (.choices[0].logprobs.top_logprobs[0] | length) <= 2 and (.choices[2].text | startswith("ABC"))' "$TMP/b.json"
curl -s "$URL/v1/completions" -d '{"prompt":"hello","max_tokens":40,"temperature":0}' >"$TMP/g.json"
full=$(jq -r .choices[0].text "$TMP/g.json")
stop=$(printf '%s' "$full" | python3 -c 'import sys; t=sys.stdin.read(); print(t[3:5] if len(t) >= 6 else "")')
if [ -n "$stop" ]; then
  curl -s "$URL/v1/completions" -d "$(jq -n --arg s "$stop" '{prompt:"hello",max_tokens:40,temperature:0,stop:[$s]}')" >"$TMP/s.json"
  want=$(printf '%s' "$full" | python3 -c "import sys; t=sys.stdin.read(); print(t[:t.index(sys.argv[1])], end='')" "$stop")
  check "stop string cuts the text before it" [ "$(jq -r .choices[0].text "$TMP/s.json")" = "$want" ]
  check "stop string finish_reason stop" jq -e '.choices[0].finish_reason == "stop"' "$TMP/s.json"
fi

# --- /tokenize and /detokenize, in vLLM's and llama-server's shapes ---
curl -s "$URL/tokenize" -d '{"prompt": "h\u00e9llo"}' >"$TMP/tok.json"
curl -s "$URL/v1/completions" -d '{"prompt": "h\u00e9llo", "max_tokens": 1}' >"$TMP/tokc.json"
check "tokenize counts what a completion's prompt_tokens counts" \
  [ "$(jq .count "$TMP/tok.json")" = "$(jq .usage.prompt_tokens "$TMP/tokc.json")" ]
check "detokenize gives the text back" sh -c "curl -s '$URL/detokenize' -d \"{\\\"tokens\\\": \$(jq -c .tokens '$TMP/tok.json')}\" |
  jq -e '.prompt == \"h\u00e9llo\" and .content == .prompt'"
check "llama-server shape: content and with_pieces" sh -c "curl -s '$URL/tokenize' \
  -d '{\"content\": \"ab\", \"with_pieces\": true}' | jq -e '.tokens == [{\"id\": 97, \"piece\": \"a\"}, {\"id\": 98, \"piece\": \"b\"}]'"
check "llama-server shape: a piece of a character as its bytes" sh -c "curl -s '$URL/tokenize' \
  -d '{\"content\": \"\\u00e9\", \"with_pieces\": true}' | jq -e '.tokens == [{\"id\": 195, \"piece\": [195]}, {\"id\": 169, \"piece\": [169]}]'"
check "tokenize messages through the chat template" sh -c "curl -s '$URL/tokenize' \
  -d '{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}' | jq -e '.count > 2'"
check "tokenize without text: 400" [ "$(status POST /tokenize -d '{"prompt": 3}')" = 400 ]
check "tokenize with both messages and a prompt: 400" [ "$(status POST /tokenize \
  -d '{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}')" = 400 ]
check "detokenize of an id outside the vocabulary: 400" [ "$(status POST /detokenize -d '{"tokens": [100000]}')" = 400 ]

# --- nghttp ---
check "nghttp prior knowledge /health" sh -c "nghttp -n '$URL/health' -t 5 && nghttp '$URL/v1/models' -t 5 | grep -q '\"id\":\"m\"'"
check "nghttp h2c upgrade" sh -c "nghttp -u '$URL/v1/models' -t 5 | grep -q '\"object\":\"list\"'"

# a 63-byte stream window: every event waits for WINDOW_UPDATEs (deferred
# DATA resumed under flow control) and the whole stream still arrives
echo '{"prompt":"hello","max_tokens":120,"stream":true,"ignore_eos":true}' >"$TMP/sb.json"
timeout 20 nghttp -w 6 -W 8 -d "$TMP/sb.json" "$URL/v1/completions" >"$TMP/fbody"
timeout 20 nghttp -v -w 6 -W 8 -d "$TMP/sb.json" "$URL/v1/completions" >"$TMP/fc"
check "tiny HTTP/2 window: stream completes" sh -c "tail -n 2 '$TMP/fbody' | grep -q 'data: \[DONE\]' &&
  [ \$(grep -c 'recv DATA frame <length=63' '$TMP/fc') -ge 100 ] && [ \$(grep -c 'send WINDOW_UPDATE' '$TMP/fc') -ge 20 ]"

# --- h2load: 2000 completions, 20 connections, 10 streams each ---
echo '{"model":"m","prompt":"hi","max_tokens":4}' >"$TMP/req.json"
h2load -n 2000 -c 20 -m 10 -d "$TMP/req.json" -H "$J" "$URL/v1/completions" >"$TMP/h2load" 2>&1
check "h2load 2000 completions all succeed" grep -q "2000 succeeded, 0 failed" "$TMP/h2load"
check "h2load all 2xx" grep -q "status codes: 2000 2xx" "$TMP/h2load"
grep -E "finished in|requests:" "$TMP/h2load"
h2load --h1 -n 300 -c 10 -m 4 -d "$TMP/req.json" -H "$J" "$URL/v1/completions" >"$TMP/h1load" 2>&1
check "h2load --h1 pipelined completions succeed" grep -q "300 succeeded, 0 failed" "$TMP/h1load"

# --- openai SDK ---
check "openai npm SDK" timeout 60 node "$SRC/tests/integration/http_openai.mjs" "$URL" m
check "KV pools free after the load" kv_full

# --- TLS with ALPN, and an API key ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 -subj /CN=127.0.0.1 2>/dev/null
MAIN_URL=$URL
SCHEME=https start_duetd tls --model "$TMP/m" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --api-key sekret
check "TLS + ALPN h2" [ "$(curl -sk --http2 -o /dev/null -w '%{http_version}' "$URL/health")" = 2 ]
check "TLS + ALPN http/1.1" [ "$(curl -sk --http1.1 -o /dev/null -w '%{http_version}' "$URL/health")" = 1.1 ]
check "API key missing: 401" [ "$(status GET /v1/models -k)" = 401 ]
check "API key wrong: 401" [ "$(status POST /v1/completions -k -H 'Authorization: Bearer nope' -d '{}')" = 401 ]
check "API key right: 200" [ "$(status GET /v1/models -k -H 'Authorization: Bearer sekret')" = 200 ]
check "TLS streaming completion with key" sh -c "curl -skN --http2 -H 'Authorization: Bearer sekret' '$URL/v1/completions' \
  -d '{\"prompt\":\"x\",\"max_tokens\":4,\"stream\":true}' | tail -n 2 | grep -q DONE"
kill -TERM $DPID

# --- SIGTERM drains: the stream in flight completes, exit code 0 ---
URL=$MAIN_URL
MAINPID=$(echo $PIDS | awk '{print $1}')
curl -sN --max-time 20 "$URL/v1/completions" -d '{"prompt":"a","max_tokens":200,"stream":true,"ignore_eos":true}' >"$TMP/drain" &
CPID=$!
sleep 0.3
kill -TERM "$MAINPID"
wait $CPID
check "in-flight stream finished during drain" sh -c "tail -n 2 '$TMP/drain' | grep -q 'data: \[DONE\]'"
for _ in $(seq 100); do kill -0 "$MAINPID" 2>/dev/null || break; sleep 0.1; done
wait "$MAINPID"
check "duetd exits 0 after SIGTERM" [ $? = 0 ]
check "no longer listening" [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/health")" = 000 ]
finish
