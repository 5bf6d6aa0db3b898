#!/usr/bin/env bash
# A tokenizer trained by duet (4096-token byte-level BPE on the whole KJV)
# must load in @huggingface/tokenizers and encode the mixed sample text
# (prose, code, whitespace runs, numbers, CJK, Arabic, emoji ZWJ, combining
# marks, special tokens) to the same ids as duet-tokenize, with and without
# special tokens, and decode back to the same text. Training must finish in
# under a minute (it takes well under a second).
set -euo pipefail
: "${DUET_SRC:?}" "${DUET_BIN:?}"
work=$(mktemp -d /tmp/duet-bpe-hf.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cache=$(sh "$DUET_SRC/tests/npm-deps.sh")
export DUET_NPM_CACHE="$cache"
command -v bible >/dev/null || fail "bible (Debian bible-kjv) is not installed"
timeout 60 bible -f gen1:1-rev22:21 > "$work/kjv.txt"
[ "$(wc -c < "$work/kjv.txt")" -gt 4000000 ] || fail "KJV text too short"

start=$(date +%s%N)
timeout 60 "$DUET_BIN/bpe-train" --data "$work/kjv.txt" --vocab-size 4096 --out "$work/tok" \
  || fail "training did not finish in 60 s (or failed)"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "trained 4096-token BPE on KJV in ${ms} ms"

# duet-train tokenizer is the same code behind the user-facing command.
if [ -x "$DUET_BIN/duet-train" ]; then
  timeout 60 "$DUET_BIN/duet-train" tokenizer --data "$work/kjv.txt" --vocab-size 4096 --out "$work/tok2" \
    || fail "duet-train tokenizer failed"
  cmp -s "$work/tok/tokenizer.json" "$work/tok2/tokenizer.json" || fail "duet-train tokenizer wrote different files"
fi

sample="$DUET_SRC/tests/fixtures/bpe/sample.txt"
hf="$DUET_SRC/tests/fixtures/bpe/hf_encode.cjs"
for mode in special no-special; do
  flag=""; [ "$mode" = no-special ] && flag="--no-special"
  # shellcheck disable=SC2086
  timeout 60 node "$hf" "$work/tok" "$sample" $flag --decode > "$work/hf.$mode" || fail "node reference failed"
  # shellcheck disable=SC2086
  timeout 60 "$DUET_BIN/duet-tokenize" --model "$work/tok" $flag < "$sample" > "$work/duet.$mode" \
    || fail "duet-tokenize failed"
  python3 - "$work/hf.$mode" "$work/duet.$mode" "$mode" <<'PY' || exit 1
import json, sys
hf = open(sys.argv[1], encoding="utf-8", newline="").read().split("\n")
ids_hf, text_hf = json.loads(hf[0]), json.loads(hf[1])
ids_duet = json.loads(open(sys.argv[2]).read())
if ids_hf != ids_duet:
    i = next((k for k in range(min(len(ids_hf), len(ids_duet))) if ids_hf[k] != ids_duet[k]), None)
    print(f"FAIL ({sys.argv[3]}): ids differ: {len(ids_hf)} from @huggingface/tokenizers, {len(ids_duet)} from duet; "
          f"first difference at {i}: {ids_hf[i:i+8] if i is not None else ''} vs {ids_duet[i:i+8] if i is not None else ''}")
    sys.exit(1)
print(f"{sys.argv[3]}: {len(ids_hf)} ids identical")
PY
done

# 400 KB of KJV prose as well (ASCII, so a byte slice is valid UTF-8)
tail -c 400000 "$work/kjv.txt" > "$work/kjv400k.txt"
timeout 60 node "$hf" "$work/tok" "$work/kjv400k.txt" > "$work/hf.kjv" || fail "node reference failed on KJV"
timeout 60 "$DUET_BIN/duet-tokenize" --model "$work/tok" < "$work/kjv400k.txt" > "$work/duet.kjv" || fail "duet-tokenize failed on KJV"
python3 - "$work/hf.kjv" "$work/duet.kjv" <<'PY' || exit 1
import json, sys
a, b = (json.loads(open(p).read().split("\n")[0]) for p in sys.argv[1:3])
if a != b:
    print(f"FAIL: KJV slice ids differ ({len(a)} vs {len(b)})"); sys.exit(1)
print(f"KJV 400 KB: {len(a)} ids identical")
PY

# decode: duet's text must equal the reference's decode of the same ids
timeout 60 "$DUET_BIN/duet-tokenize" --model "$work/tok" --decode < "$work/duet.special" > "$work/duet.text" \
  || fail "duet-tokenize --decode failed"
python3 - "$work/hf.special" "$work/duet.text" <<'PY' || exit 1
import json, sys
want = json.loads(open(sys.argv[1], encoding="utf-8", newline="").read().split("\n")[1])
got = open(sys.argv[2], encoding="utf-8", newline="").read()
if got != want:
    print("FAIL: decode differs from @huggingface/tokenizers' decode"); sys.exit(1)
print("decode identical")
PY
echo "PASS"
