#!/bin/bash
# duet-generate end to end: greedy ids equal the PyTorch reference's 32 greedy
# tokens for every fixture model (whole prompt, chunked prefill, --f32), the
# output is one line of ids, sampling is reproducible for a seed, and bad
# input fails with a message and a non-zero status.
set -u
BIN="${DUET_BIN:?}/duet-generate"
M=fixtures/models
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
field() { /usr/bin/python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]])))" "$1" "$2"; }

for d in "$M"/*/; do
  name=$(basename "$d")
  prompt=$(field "$d/expected.json" prompt)
  want=$(field "$d/expected.json" greedy)
  for extra in "" "--chunk 4" "--f32"; do
    got=$(timeout 60 "$BIN" --model "$d" --prompt-ids "$prompt" -n 32 --ignore-eos $extra 2>/dev/null)
    [ "$got" = "$want" ] && ok || bad "$name $extra: got $got want $want"
  done
done

d="$M/llama_gqa_tied"
a=$(timeout 60 "$BIN" --model "$d" --prompt-ids 5,6,7 -n 20 --temperature 0.9 --top-k 40 --top-p 0.95 --seed 7 --ignore-eos 2>/dev/null)
b=$(timeout 60 "$BIN" --model "$d" --prompt-ids 5,6,7 -n 20 --temperature 0.9 --top-k 40 --top-p 0.95 --seed 7 --ignore-eos 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "seeded sampling not reproducible: $a vs $b"
[[ "$a" =~ ^[0-9]+(,[0-9]+){19}$ ]] && ok || bad "output is not one line of 20 ids: $a"
err=$(timeout 60 "$BIN" --model "$d" --prompt-ids 5,6,7 -n 4 2>&1 >/dev/null)
[[ "$err" == *"tokens/s"* ]] && ok || bad "no tokens/s on stderr: $err"

expect_fail() { # message-substring args...
  local want="$1"; shift
  out=$(timeout 60 "$BIN" "$@" 2>&1); rc=$?
  [ $rc -ne 0 ] && [[ "$out" == *"$want"* ]] && ok || bad "$* -> rc $rc, '$out' (wanted '$want')"
}
expect_fail "outside the vocabulary" --model "$d" --prompt-ids 1,256
expect_fail "bad id" --model "$d" --prompt-ids 1,x
expect_fail "top_p" --model "$d" --prompt-ids 1 --top-p 2
expect_fail "config.json" --model /nonexistent --prompt-ids 1
expect_fail "max_position_embeddings" --model "$d" --prompt-ids 1 -n 100000
expect_fail "tokenizer" --model "$d" --prompt "hello"
expect_fail "usage" --model "$d"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
