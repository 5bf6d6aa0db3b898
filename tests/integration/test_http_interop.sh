# duetd with what other HTTP clients and intermediaries send, beyond the
# curl/openai defaults: HEAD and OPTIONS (HTTP/1.1 and HTTP/2), a chunked
# body with Expect: 100-continue (also pipelined behind a stream), an h2c
# upgrade with a large body, HTTP/1.0 clients, an absolute-form target, a
# trailing slash, a UTF-8 BOM before the JSON, and CORS (browser clients).
# Each of these once broke a real client (httpx, h2, curl --http2, HTTP/1.0
# tools, web UIs) or made it wait.
# Budget: a few seconds.
. "$DUET_SRC/tests/integration/http_lib.sh"

make_model "$TMP/m"
start_duetd main --model "$TMP/m" || exit 1
raw() { node "$SRC/tests/integration/http_abuse.mjs" "$PORT" raw "$1"; }

# --- HEAD: the headers of GET, no body (a body would be read as the next
# response: httpx failed with "illegal status line") ---
raw 'HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$TMP/head"
check "HEAD over HTTP/1.1: 200 with Content-Length" grep -q "^Content-Length: 15" "$TMP/head"
check "HEAD over HTTP/1.1: no body before the next response" \
  python3 -c 'import sys; t=open(sys.argv[1], encoding="latin1", newline="").read(); sys.exit(not (t.startswith("HTTP/1.1 200") and "\r\n\r\nHTTP/1.1 200" in t and t.count("{") == 1))' "$TMP/head"
cat >"$TMP/head.mjs" <<'JS'
import http2 from "node:http2";
const s = http2.connect(`http://127.0.0.1:${process.argv[2]}`);
const head = s.request({ ":method": "HEAD", ":path": "/v1/models" });
let status = 0, bytes = 0;
head.on("response", (h) => (status = h[":status"]));
head.on("data", (d) => (bytes += d.length));
head.on("error", (e) => { console.log("error " + e.code); process.exit(1); });
head.on("close", () => {
  const get = s.request({ ":path": "/health" });
  get.on("response", (h) => { console.log(`${status} ${bytes} ${h[":status"]}`); s.close(); });
  get.resume();
});
head.end();
JS
check "HEAD over HTTP/2: 200, no DATA, the session still serves" \
  [ "$(timeout 10 node "$TMP/head.mjs" "$PORT")" = "200 0 200" ]

# --- OPTIONS and 405 say what is allowed ---
check "OPTIONS: 200 with Allow" sh -c "curl -si -X OPTIONS '$URL/v1/chat/completions' | grep -qi '^Allow: POST, OPTIONS'"
check "405 carries Allow" sh -c "curl -si -X DELETE '$URL/health' | grep -qi '^Allow: GET, HEAD, OPTIONS'"

# --- Expect: 100-continue on a chunked body: answered at once, not after
# the client's wait (curl's is set to 5 s here, 1 s by default) ---
t=$(curl -s -o "$TMP/body" -w '%{time_total}' --max-time 10 --expect100-timeout 5 "$URL/v1/completions" \
  -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' -d '{"prompt":"hi","max_tokens":2}')
check "Expect: 100-continue with a chunked body: no wait" python3 -c "import sys; sys.exit(not float('$t') < 2)"
check "Expect: 100-continue with a chunked body: completion" grep -q text_completion "$TMP/body"

# --- Upgrade: h2c on a POST whose body takes more than one read (curl
# --http2 sends it so): the body is still HTTP/1.1, the switch comes after ---
python3 -c 'import json; print(json.dumps({"prompt": "hi", "max_tokens": 2, "user": "x" * 200000}))' >"$TMP/big.json"
check "h2c upgrade with a 200 kB body" [ "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --max-time 10 --http2 \
  "$URL/v1/completions" --data-binary @"$TMP/big.json")" = "2 200" ]

# --- HTTP/1.0: no chunked framing; keep-alive only when both sides say so ---
B='{"prompt":"hi","max_tokens":3,"stream":true}'
raw "POST /v1/completions HTTP/1.0\r\nContent-Length: ${#B}\r\n\r\n$B" >"$TMP/h10"
check "HTTP/1.0 stream: not chunked" sh -c "! grep -qi '^Transfer-Encoding' '$TMP/h10'"
check "HTTP/1.0 stream: events end in [DONE], then close" sh -c "tail -c 16 '$TMP/h10' | grep -q 'data: \[DONE\]'"
raw 'GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n' >"$TMP/h10ka"
check "HTTP/1.0 keep-alive: said in the response" grep -q "^Connection: keep-alive" "$TMP/h10ka"
check "HTTP/1.0 keep-alive: second request answered" [ "$(grep -o 'HTTP/1.1 200' "$TMP/h10ka" | wc -l)" = 2 ]

# --- targets and bodies as other clients write them ---
raw "GET http://127.0.0.1:$PORT/v1/models?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >"$TMP/abs"
check "absolute-form target" grep -q "^HTTP/1.1 200" "$TMP/abs"
check "trailing slash" [ "$(status GET /v1/models/)" = 200 ]
check "query string" [ "$(status GET '/health?probe=1')" = 200 ]
printf '\357\273\277{"prompt":"hi","max_tokens":2}' >"$TMP/bom.json"
check "UTF-8 BOM before the JSON" [ "$(status POST /v1/completions -H 'Content-Type: application/json; charset=utf-8' \
  --data-binary @"$TMP/bom.json")" = 200 ]
# \u0000 is valid JSON (vLLM tokenizes it): it reaches the tokenizer, in a
# prompt, a chat message and echo, instead of a 400 or a string cut there
check "\\u0000 in a prompt: tokenized (byte 0)" sh -c "curl -s '$URL/tokenize' -d '{\"prompt\": \"a\\u0000b\"}' |
  jq -e '.tokens == [97, 0, 98]'"
check "\\u0000 in a chat message" sh -c "[ \$(curl -s '$URL/tokenize' -d '{\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}' |
  jq -c '.tokens | index([97, 0, 98])') != null ]"
check "\\u0000 echoed whole" sh -c "curl -s '$URL/v1/completions' -d '{\"prompt\": \"a\\u0000b\", \"max_tokens\": 1, \"echo\": true}' |
  jq -e '.choices[0].text | startswith(\"a\\u0000b\")'"
check "\\u0000 in a stop string: 400" [ "$(status POST /v1/completions -d '{"prompt": "a", "stop": ["x", "\u0000"]}')" = 400 ]
check "\\u0000 in a stop string: the error names stop" jq -e '.error.param == "stop"' "$TMP/body"
# chat logprobs' "bytes" are each token's own bytes (the byte-level test
# tokenizer splits characters), so joined they are the content
curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d '{"messages": [{"role": "user",
  "content": "h\u00e9llo w\u00f6rld \u4e16"}], "max_tokens": 24, "logprobs": true, "temperature": 0}' >"$TMP/lpb"
check "chat logprobs: bytes join to the content" python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["choices"][0]
b = bytes(x for e in c["logprobs"]["content"] for x in e["bytes"])
sys.exit(not (len(c["logprobs"]["content"]) == 24 and b.decode("utf-8", "replace") == c["message"]["content"]))' "$TMP/lpb"
# completions' text_offset counts characters, as vLLM and OpenAI do (a
# client slicing the text with it gets the token), from 0 through the
# echoed prompt's tokens (scored too) and on; streamed chunks alike
LP='{"prompt": "h\u00e9llo w\u00f6rld \u4e16", "max_tokens": 12, "logprobs": 1, "echo": true, "temperature": 0'
curl -s "$URL/v1/completions" -d "$LP}" >"$TMP/off"
curl -sN "$URL/v1/completions" -d "$LP, \"stream\": true}" | sed -n 's/^data: {/{/p' >"$TMP/offs"
check "completions text_offset: characters, after the echo, streamed alike" python3 -c 'import json, sys
lp = json.load(open(sys.argv[1]))["choices"][0]["logprobs"]
chunks = [json.loads(l)["choices"][0]["logprobs"] for l in open(sys.argv[2])]
streamed = [o for c in chunks if c for o in c["text_offset"]]
want = [0]
for t in lp["tokens"][:-1]: want.append(want[-1] + len(t))
n_prompt = len("h\u00e9llo w\u00f6rld \u4e16".encode())  # the test tokenizer: a token per byte
sys.exit(not (len(lp["tokens"]) == n_prompt + 12 and lp["token_logprobs"][0] is None and
              lp["text_offset"] == want and streamed == want))' "$TMP/off" "$TMP/offs"
# --- OpenAI's retrieve model (the SDKs' models.retrieve), chat content
# parts joined with a newline (as vLLM and llama-server join them), null
# content as "", and
# chat's echo false (vLLM's default) taken as asking for nothing ---
check "GET /v1/models/{id}" sh -c "curl -s '$URL/v1/models/m' | jq -e '.id == \"m\" and .object == \"model\"'"
check "GET /v1/models/{id}%00...: 404 (the whole id must match)" [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/models/m%00x")" = 404 ]
check "GET /v1/models/{another}: 404 naming model" sh -c "[ \$(curl -s -o '$TMP/mr' -w '%{http_code}' '$URL/v1/models/gpt-4') = 404 ] &&
  jq -e '.error.param == \"model\"' '$TMP/mr'"
tok() { curl -s "$URL/tokenize" -d "{\"messages\": [{\"role\": \"user\", \"content\": $1}]}" | jq -c .tokens; }
check "chat text parts join with a newline" [ "$(tok '[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]')" = "$(tok '"a\nb"')" ]
# an assistant turn that only called tools comes back from the SDKs with
# content null: vLLM renders it as "", the template printed "None"
check "chat content null reads as empty" [ "$(tok 'null')" = "$(tok '""')" ]
check "chat content absent reads as empty" [ "$(curl -s "$URL/tokenize" -d '{"messages": [{"role": "user"}]}' | jq -c .tokens)" = "$(tok '""')" ]
check "chat echo false accepted" [ "$(status POST /v1/chat/completions -d '{"messages": [{"role": "user", "content": "x"}],
  "max_tokens": 2, "echo": false}')" = 200 ]

# --- CORS: browser clients (web UIs calling the API with fetch) read
# responses only with Access-Control-Allow-Origin, and send a preflight
# first for a JSON POST with Authorization ---
O='Origin: http://ui.example'
cors_hdr() { grep -qi "^access-control-allow-origin: $1"; }
curl -si --max-time 10 -H "$O" "$URL/v1/models" >"$TMP/cors"
check "CORS: a request with Origin gets Access-Control-Allow-Origin: *" cors_hdr '\*' <"$TMP/cors"
curl -si --max-time 10 "$URL/v1/models" >"$TMP/nocors"
check "CORS: none without Origin" sh -c "! grep -qi '^access-control' '$TMP/nocors'"
curl -si --max-time 10 -X OPTIONS -H "$O" -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: authorization,content-type,x-stainless-os' "$URL/v1/chat/completions" >"$TMP/pre"
check "CORS preflight: 2xx" grep -q "^HTTP/1.1 20[04]" "$TMP/pre"
check "CORS preflight: origin" cors_hdr '\*' <"$TMP/pre"
check "CORS preflight: the route's methods" grep -qi "^access-control-allow-methods: POST, OPTIONS" "$TMP/pre"
check "CORS preflight: the headers asked for" grep -qi "^access-control-allow-headers: authorization,content-type,x-stainless-os" "$TMP/pre"
check "CORS preflight: max-age" grep -qi "^access-control-max-age: [0-9]" "$TMP/pre"
curl -s -D "$TMP/sseh" -o "$TMP/sse" --max-time 10 -H "$O" "$URL/v1/completions" -d '{"prompt":"hi","max_tokens":4,"stream":true}'
check "CORS: a streamed response" cors_hdr '\*' <"$TMP/sseh"
curl -si --max-time 10 -H "$O" "$URL/v1/nope" >"$TMP/c404"
check "CORS: an error response" sh -c "grep -q '^HTTP/1.1 404' '$TMP/c404' && grep -qi '^access-control-allow-origin: \*' '$TMP/c404'"
curl -si --max-time 10 --http2-prior-knowledge -H "$O" -X OPTIONS -H 'Access-Control-Request-Method: POST' \
  "$URL/v1/completions" >"$TMP/pre2"
check "CORS over HTTP/2: preflight, default headers" sh -c "grep -q '^HTTP/2 200' '$TMP/pre2' &&
  grep -qi '^access-control-allow-origin: \*' '$TMP/pre2' && grep -qi '^access-control-allow-headers: .*authorization' '$TMP/pre2'"
curl -s -D "$TMP/sse2h" -o /dev/null --max-time 10 --http2-prior-knowledge -H "$O" "$URL/v1/completions" \
  -d '{"prompt":"hi","max_tokens":4,"stream":true}'
check "CORS over HTTP/2: a streamed response" cors_hdr '\*' <"$TMP/sse2h"

# --- Expect: 100-continue behind a stream on the same connection: the 100
# comes right after that stream's last chunk (never inside it), not after
# the client gave up waiting ---
cat >"$TMP/cont.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
b1, b2 = b'{"prompt":"hi","max_tokens":64,"stream":true}', b'{"prompt":"hi","max_tokens":2}'
post = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
s.sendall(post + b"Content-Length: %d\r\n\r\n%s" % (len(b1), b1) +
          post + b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(b2))
buf, end = b"", time.time() + 3  # the old code never sent it; curl waits 1 s
cont = b"\r\n0\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
while cont not in buf and time.time() < end:
    s.settimeout(max(end - time.time(), 0.01))
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    buf += d
if cont not in buf or b"data: [DONE]" not in buf or b"100 Continue" in buf[buf.index(cont) + len(cont):]:
    sys.exit("no 100 Continue after the stream: %r" % buf[-200:])
s.sendall(b2)
while d:
    d = s.recv(65536)
    buf += d
rest = buf[buf.index(cont) + len(cont):]
sys.exit(0 if rest.startswith(b"HTTP/1.1 200") and b"text_completion" in rest else "bad response: %r" % rest[:200])
PY
check "Expect: 100-continue behind a stream: the 100 follows the stream" timeout 10 python3 "$TMP/cont.py" "$PORT"
check "still serving" [ "$(status GET /health)" = 200 ]

# --- --allowed-origin: one origin (sent as is), none (no CORS) ---
check "--allowed-origin: a value with a space is refused" \
  sh -c "timeout 5 '$BIN/duetd' --port 1 --allowed-origin 'a b' 2>/dev/null; [ \$? = 2 ]"
start_duetd one --model "$TMP/m" --allowed-origin http://ui.example || exit 1
curl -si --max-time 10 -H "$O" "$URL/health" >"$TMP/one"
check "--allowed-origin ORIGIN: that origin" cors_hdr 'http://ui.example' <"$TMP/one"
start_duetd off --model "$TMP/m" --allowed-origin none || exit 1
curl -si --max-time 10 -H "$O" "$URL/health" >"$TMP/off"
check "--allowed-origin none: no CORS" sh -c "grep -q '^HTTP/1.1 200' '$TMP/off' && ! grep -qi '^access-control' '$TMP/off'"
finish
