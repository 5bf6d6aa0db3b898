#!/bin/bash
# The command-line clients against a real duetd: `duet complete` streamed
# and not, over HTTP/2 and HTTP/1.1, must print the same text as the
# server's own JSON answer; `duet chat` keeps the conversation, and Ctrl-C
# stops the current answer but not the program; `duet-bench` completes every
# request over both protocols, writes its JSON, and reports failures.
. "$(dirname "$0")/http_lib.sh"

make_model "$TMP/model" llama_gqa_tied
start_duetd clients --model "$TMP/model" || exit 1

# The reference: the server's non-streamed JSON answer, greedy.
want=$(curl -s --max-time 10 "$URL/v1/completions" -H 'content-type: application/json' \
  -d '{"prompt":"In the beginning","max_tokens":12,"temperature":0}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"], end="")')
[ -n "$want" ] && ok "reference completion" || bad "reference completion"
for proto in "" --http1; do
  for mode in "" --no-stream; do
    got=$(timeout 20 "$BIN/duet" complete "In the beginning" -n 12 --temperature 0 --url "$URL" $proto $mode)
    [ "$got" = "$want" ] && ok "duet complete ${proto:-h2} ${mode:-stream}" ||
      bad "duet complete ${proto:-h2} ${mode:-stream}: '$got' != '$want'"
  done
done
timeout 20 "$BIN/duet" complete "x" -n 4 --json --url "$URL" | grep -q '^data: \|"text_completion' &&
  ok "duet --json prints raw events" || bad "duet --json"
if timeout 10 "$BIN/duet" complete "x" --url "http://127.0.0.1:$(free_port)" 2>"$TMP/err"; then
  bad "duet against a closed port should fail"
else
  grep -qi "closed\|refused\|error" "$TMP/err" && ok "duet reports a dead server" || bad "duet dead-server message"
fi

# duet chat: two turns through a pipe; the second request must carry the
# first exchange (checked in the server's prompt token count via -v log).
printf 'first question\nsecond question\n' | timeout 30 "$BIN/duet" chat -n 6 --temperature 0 \
  --system "be brief" --url "$URL" > "$TMP/chat.out" 2>&1
[ "$(grep -c . "$TMP/chat.out")" -ge 2 ] && ok "duet chat answers two turns" || { cat "$TMP/chat.out"; bad "duet chat"; }
# a conversation outgrowing the context (256 tokens here, up to 150 per
# answer) forgets its oldest exchanges instead of failing every later turn
printf 'first question\nsecond question\nthird question\n' |
  timeout 60 "$BIN/duet" chat -n 150 --temperature 0 --url "$URL" > "$TMP/chat3.out" 2>&1
rc=$?
[ "$rc" = 0 ] && ! grep -q "maximum context length" "$TMP/chat3.out" && grep -q "forgotten to fit" "$TMP/chat3.out" &&
  ok "duet chat forgets the oldest exchanges to fit the context" || { cat "$TMP/chat3.out"; bad "duet chat past the context (rc $rc)"; }

# Ctrl-C during an answer: [stopped], then the next question is answered
# and carries the stopped (partial) answer in its history. The tiny test
# model answers faster than a signal can be sent, so this part talks to a
# deliberately slow OpenAI-style stream (one token per 50 ms) that records
# how many messages each request carried.
SLOW=$(free_port)
python3 - "$SLOW" "$TMP/slow.log" <<'PY' &
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        open(sys.argv[2], "a").write("%d\n" % len(body["messages"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        def chunk(s):
            b = s.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b)); self.wfile.flush()
        try:
            for i in range(body.get("max_tokens", 16)):
                chunk("data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "tok "}}]}) + "\n\n")
                time.sleep(0.05)
            chunk("data: [DONE]\n\n"); self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS="$PIDS $!"
sleep 0.5
mkfifo "$TMP/in"
# No `timeout` wrapper: the signal must reach duet itself; a watchdog bounds it.
"$BIN/duet" chat -n 100 --http1 --url "http://127.0.0.1:$SLOW" < "$TMP/in" > "$TMP/int.out" 2>&1 &
cpid=$!
(sleep 60; kill -9 "$cpid") >/dev/null 2>&1 &  # not holding ctest's output pipe
PIDS="$PIDS $cpid $!"
exec 7>"$TMP/in"
echo "tell me a long story" >&7
sleep 0.6
kill -INT "$cpid"
sleep 0.3
echo "and another" >&7
sleep 0.3
kill -INT "$cpid"
exec 7>&-
wait "$cpid"
rc=$?
[ "$(grep -c "\[stopped\]" "$TMP/int.out")" = 2 ] && [ "$rc" = 0 ] &&
  [ "$(tr '\n' ' ' < "$TMP/slow.log")" = "1 3 " ] &&
  ok "Ctrl-C stops the answer, not duet chat; history kept" ||
  { cat "$TMP/int.out" "$TMP/slow.log"; bad "Ctrl-C in duet chat (rc $rc)"; }

# duet-bench over HTTP/2 and HTTP/1.1.
for proto in "" --http1; do
  timeout 120 "$BIN/duet-bench" --url "$URL" $proto --num-prompts 40 --request-rate 200 --max-concurrency 16 \
    --input-len 8:48 --output-len 4:12 --vocab-size 256 --seed 7 --goodput "ttft:60000 tpot:60000" \
    --json "$TMP/bench.json" > "$TMP/bench.out" 2>/dev/null
  python3 - "$TMP/bench.json" <<'PY' && ok "duet-bench ${proto:-h2}: 40/40, JSON" || { cat "$TMP/bench.out"; bad "duet-bench ${proto:-h2}"; }
import json, sys
r = json.load(open(sys.argv[1]))
assert r["completed"] == 40 and r["failed"] == 0, r
assert 40 * 4 <= r["total_output_tokens"] <= 40 * 12, r
assert r["ttft_ms"]["p99"] >= r["ttft_ms"]["median"] > 0
assert r["request_goodput"] > 0
PY
done
# Requests the server refuses are counted as failed and the exit code says so.
if timeout 60 "$BIN/duet-bench" --url "$URL" --num-prompts 3 --input-len 400 --vocab-size 256 > "$TMP/fail.out" 2>&1; then
  bad "duet-bench should exit non-zero when requests fail"
else
  grep -q "Failed requests: *3" "$TMP/fail.out" && ok "duet-bench counts failures" || { cat "$TMP/fail.out"; bad "duet-bench failures"; }
fi
# an absurd arrival rate is refused by name (its gaps would overflow the timer)
out=$(timeout 10 "$BIN/duet-bench" --url "$URL" --num-prompts 2 --request-rate 1e-300 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"--request-rate must be at least"* ]] && ok "duet-bench refuses --request-rate 1e-300" ||
  bad "duet-bench --request-rate 1e-300: rc $rc, $out"
# duet-bench-http: help on stdout with status 0; a bad count named, status 2
timeout 10 "$BIN/duet-bench-http" --help | grep -q "^usage: duet-bench-http" && ok "duet-bench-http --help" || bad "duet-bench-http --help"
out=$(timeout 10 "$BIN/duet-bench-http" --model x --requests 0 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"--requests: '0'"* ]] && ok "duet-bench-http refuses --requests 0" ||
  bad "duet-bench-http --requests 0: rc $rc, $out"
finish
