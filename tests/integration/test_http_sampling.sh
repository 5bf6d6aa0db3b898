# Sampling controls that OpenAI and vLLM clients send, through duetd in
# process, through an MPI worker job (1 prefill + 1 decode: the parameters
# cross the wire) and through a job whose prefill runs in chunks of 32
# tokens: logit_bias (OpenAI), stop_token_ids and min_tokens (vLLM), the
# EOS ids of generation_config.json (Llama 3 and Qwen instruct models end a
# turn with an id that config.json may not list), and echo with logprobs,
# which scores the prompt (how lm-evaluation-harness computes
# log-likelihoods). Budget: ~30 s.
. "$DUET_SRC/tests/integration/http_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

make_model "$TMP/m"
# a second EOS id (77) in generation_config.json; config.json has 2
printf '{"bos_token_id": 1, "eos_token_id": [2, 77]}' >"$TMP/m/generation_config.json"

# ids CASE BODY: the generated ids of a greedy completion, one per line
ids() {
  curl -s --max-time 20 "$URL/v1/completions" -d "{\"prompt\": \"hello\", \"temperature\": 0, \"logprobs\": 0,
    \"return_tokens_as_token_ids\": true, $1}" >"$TMP/r.json"
  jq -r '.choices[0].logprobs.tokens[]' "$TMP/r.json" | sed 's/token_id://'
}
finish_of() { jq -r '.choices[0].finish_reason' "$TMP/r.json"; }

run_checks() {
  local where=$1
  # a free run: 8 tokens, none of them an EOS id (the bias below decides)
  ids '"max_tokens": 8, "logit_bias": {"2": -100, "77": -100}' >"$TMP/free"
  check "$where: a free run of 8 tokens" [ "$(wc -l <"$TMP/free")" = 8 ]
  # logit_bias +100 makes a token the greedy choice every time
  ids '"max_tokens": 5, "logit_bias": {"65": 100, "2": -100, "77": -100}' >"$TMP/biased"
  check "$where: logit_bias 65: +100 gives 65 five times" \
    eval '[ "$(sort -u "$TMP/biased")" = 65 ] && [ "$(wc -l <"$TMP/biased")" = 5 ]'
  # stop_token_ids: ends at the free run's third token, finish "stop"
  third=$(sed -n 3p "$TMP/free")
  ids "\"max_tokens\": 8, \"logit_bias\": {\"2\": -100, \"77\": -100}, \"stop_token_ids\": [$third]" >"$TMP/stopped"
  check "$where: stop_token_ids ends at that token" eval '[ "$(finish_of)" = stop ] &&
    [ "$(wc -l <"$TMP/stopped")" -le 3 ] && [ "$(head -n 2 "$TMP/stopped")" = "$(head -n 2 "$TMP/free")" ]'
  # the token that ends a choice counts, but its text is left out (vLLM)
  curl -s --max-time 20 "$URL/v1/completions" -d '{"prompt": "hello", "max_tokens": 6, "temperature": 0,
    "logit_bias": {"65": 100}, "stop_token_ids": [65]}' >"$TMP/r.json"
  check "$where: a stop token's text is not in the text" \
    jq -e '.choices[0].text == "" and .choices[0].finish_reason == "stop" and .usage.completion_tokens == 1' "$TMP/r.json"
  # EOS 77 ("M") drawn third (min_tokens 2): two tokens' text, none of 77's
  EOSB='"prompt": "hello", "max_tokens": 6, "temperature": 0, "logit_bias": {"77": 100}, "min_tokens": 2'
  curl -s --max-time 20 "$URL/v1/completions" -d "{$EOSB}" >"$TMP/r.json"
  curl -s --max-time 20 "$URL/v1/completions" -d "{$EOSB, \"stream\": true}" |
    sed -n 's/^data: {/{/p' | jq -rj '.choices[0].text // ""' >"$TMP/streamed"
  check "$where: EOS ends the choice without its text, streamed alike" eval '
    jq -e ".usage.completion_tokens == 3 and .choices[0].finish_reason == \"stop\" and
      (.choices[0].text | test(\"M\") | not)" "$TMP/r.json" >/dev/null &&
    [ "$(jq -rj .choices[0].text "$TMP/r.json")" = "$(cat "$TMP/streamed")" ]'
  # generation_config.json's second EOS id ends the sequence
  ids '"max_tokens": 8, "logit_bias": {"77": 100}' >"$TMP/eos77"
  check "$where: an EOS id from generation_config.json stops" \
    eval '[ "$(finish_of)" = stop ] && [ "$(wc -l <"$TMP/eos77")" -le 1 ]'
  # min_tokens holds EOS back for that many tokens, then it ends
  ids '"max_tokens": 10, "min_tokens": 4, "logit_bias": {"77": 100}' >"$TMP/min"
  check "$where: min_tokens 4 masks EOS for 4 tokens" eval '[ "$(finish_of)" = stop ] &&
    [ "$(head -n 4 "$TMP/min" | grep -cx 77)" = 0 ] && [ "$(wc -l <"$TMP/min")" -ge 4 ] &&
    [ "$(wc -l <"$TMP/min")" -le 5 ]'
  # nor do stop strings before min_tokens ("A" forced, "A" a stop string:
  # without min_tokens the choice stops within a token or two)
  curl -s --max-time 20 "$URL/v1/completions" -d '{"prompt": "hello", "max_tokens": 10, "temperature": 0,
    "logit_bias": {"65": 100}, "stop": ["A"], "min_tokens": 6}' >"$TMP/r.json"
  check "$where: a stop string counts only from min_tokens on" \
    jq -e '.usage.completion_tokens >= 6 and .choices[0].finish_reason == "stop" and (.choices[0].text | length) < 6' \
    "$TMP/r.json"
  check "$where: min_tokens over the default max_tokens (16): 400" \
    [ "$(status POST /v1/completions -d '{"prompt": "x", "min_tokens": 20}')" = 400 ]
  # ignore_eos: EOS biased up is drawn and does not end the run
  ids '"max_tokens": 4, "ignore_eos": true, "logit_bias": {"77": 100}' >"$TMP/ign"
  check "$where: ignore_eos runs on through EOS ids" \
    eval '[ "$(finish_of)" = length ] && [ "$(wc -l <"$TMP/ign")" = 4 ] && [ "$(sort -u "$TMP/ign")" = 77 ]'
  # echo + logprobs scores every prompt token but the first. Each score
  # must be what the model gives that token after the tokens before it:
  # the raw log-prob of the token forced (logit_bias leaves log-probs raw)
  # right after that prefix.
  P=$(python3 -c 'print(",".join(str((i * 37 + 11) % 250 + 3) for i in range(70)))')
  curl -s --max-time 20 "$URL/v1/completions" -d "{\"prompt\": [$P], \"max_tokens\": 1, \"logprobs\": 2,
    \"echo\": true, \"temperature\": 0}" >"$TMP/echo.json"
  for k in 1 33 69; do
    tok=$(python3 -c "print([$P][$k])"); pre=$(python3 -c "print(','.join(map(str, [$P][:$k])))")
    curl -s --max-time 20 "$URL/v1/completions" -d "{\"prompt\": [$pre], \"max_tokens\": 1, \"logprobs\": 2,
      \"temperature\": 0, \"logit_bias\": {\"$tok\": 100}}" >"$TMP/one$k.json"
  done
  check "$where: echo + logprobs scores the prompt as the model does after each prefix" python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["choices"][0]["logprobs"]
ok = len(e["tokens"]) == 71 and e["token_logprobs"][0] is None and e["top_logprobs"][0] is None
ok = ok and e["text_offset"][:3] == [0, 1, 2] and all(len(t) <= 2 for t in e["top_logprobs"][1:])
for k in (1, 33, 69):
    one = json.load(open(sys.argv[2] + str(k) + ".json"))["choices"][0]["logprobs"]
    ok = ok and abs(one["token_logprobs"][0] - e["token_logprobs"][k]) < 1e-4
    ok = ok and one["top_logprobs"][0].keys() == e["top_logprobs"][k].keys()
sys.exit(not ok)' "$TMP/echo.json" "$TMP/one"
  check "$where: echo + logprobs of a one-token prompt: its entry, null" sh -c "curl -s --max-time 20 '$URL/v1/completions' \
    -d '{\"prompt\": [7], \"max_tokens\": 2, \"logprobs\": 1, \"echo\": true}' |
    jq -e '.choices[0].logprobs | (.tokens | length) == 3 and .token_logprobs[0] == null and .text_offset[0] == 0'"
  # bad values: a 400 naming the parameter
  for body in '"logit_bias": {"256": 1}' '"logit_bias": {"1": 200}' '"stop_token_ids": [-1]' \
    '"min_tokens": 9, "max_tokens": 4'; do
    code=$(status POST /v1/completions -d "{\"prompt\": \"x\", $body}")
    check "$where: 400 for $body" [ "$code" = 400 ]
  done
}

start_duetd local --model "$TMP/m" || exit 1
run_checks "in process"
kill "$DPID"
wait "$DPID" 2>/dev/null
start_duetd job --model "$TMP/m" --prefill 1 --decode 1 || exit 1
run_checks "worker job"
kill "$DPID"
wait "$DPID" 2>/dev/null

# a job started by hand, prompts prefilled 32 tokens at a time
mpirun -np 3 --oversubscribe "$BIN/duet-worker" --prefill 1 --decode 1 --tp 1 --model "$TMP/m" \
  --listen 127.0.0.1:0 --budget 32 >"$TMP/job.out" 2>"$TMP/job.err" &
PIDS="$PIDS $!"
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/^DUET_WORKER_LISTENING //p' "$TMP/job.out" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
check "the chunked job listens" [ -n "$addr" ]
start_duetd chunked --model "$TMP/m" --workers "$addr" || exit 1
run_checks "chunked prefill"
finish
