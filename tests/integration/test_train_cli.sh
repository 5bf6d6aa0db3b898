#!/bin/bash
# duet-train refuses what it would otherwise crash on, silently ignore, or
# discover only at the first checkpoint: NaN/absurd hyper-parameters, a
# NaN --val-frac, an --out that is not a directory, shape flags with
# --init, run flags with --resume; repeated --data flags all count; an
# explicit --head-dim lifts the dim % heads rule; grads ids must fit an int;
# --qk-norm (Qwen3) and --qkv-bias (Qwen2) exclude each other.
set -u
BIN="${DUET_BIN:?}/duet-train"
TMP=$(mktemp -d /tmp/duet-train-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
/usr/bin/python3 - "$TMP/a.txt" "$TMP/b.txt" <<'PY'
import random, sys
r = random.Random(7)
w = "the lord said unto him and it was so in the beginning god created heaven earth light darkness day night".split()
for path in sys.argv[1:]:
    with open(path, "w") as f:
        for i in range(300):
            f.write(" ".join(r.choice(w) for _ in range(4 + i % 7)) + ".\n")
PY
C=(--data "$TMP/a.txt" --tokenizer fixtures/train/tok --dim 16 --layers 1 --heads 2 --hidden 32 --seq 16 --batch 2
   --steps 2 --eval-every 0 --eval-windows 2 --quiet)
# expect WANT ARGS...: exit status 1 or 2 (not a crash), WANT in stderr
expect() {
  local want=$1; shift
  out=$(timeout 60 "$BIN" "$@" 2>&1); rc=$?
  { [ $rc = 1 ] || [ $rc = 2 ]; } && [[ "$out" == *"$want"* ]] && ok || bad "$* -> rc $rc: $out"
}
expect "finite" "${C[@]}" --lr nan --steps 1 --out "$TMP/o"
expect "finite" "${C[@]}" --lr inf --out "$TMP/o"
expect "in [0, 1)" "${C[@]}" --beta1 1 --out "$TMP/o"
expect "in [0, 1]" "${C[@]}" --min-lr-frac -5 --out "$TMP/o"
expect "positive" "${C[@]}" --eps 0 --out "$TMP/o"
expect "finite" "${C[@]}" --val-frac nan --out "$TMP/o"
expect "is not in (0, 1)" "${C[@]}" --val-frac 1.5 --out "$TMP/o"
[ ! -e "$TMP/o" ] && ok || bad "a refused run wrote its --out directory"
: > "$TMP/file"
expect "exists and is not a directory" "${C[@]}" --steps 1000 --out "$TMP/file"
timeout 60 "$BIN" "${C[@]}" --out "$TMP/m" && ok || bad "training run"
expect "would be ignored" "${C[@]}" --init "$TMP/m" --out "$TMP/o"
expect "cannot be changed" --resume "$TMP/m" --data "$TMP/a.txt" --steps 20
expect "cannot be changed" --resume "$TMP/m" --data "$TMP/a.txt" --lr 1
# repeated --data: both files, same as one --data with both
timeout 60 "$BIN" "${C[@]}" --data "$TMP/b.txt" --val-text "$TMP/v1" --out "$TMP/d1" &&
timeout 60 "$BIN" --data "$TMP/a.txt" "$TMP/b.txt" "${C[@]:2}" --val-text "$TMP/v2" --out "$TMP/d2" &&
  cmp -s "$TMP/v1" "$TMP/v2" && cmp -s "$TMP/d1/model.safetensors" "$TMP/d2/model.safetensors" && ok ||
  bad "repeated --data differs from one --data with both files"
timeout 60 "$BIN" "${C[@]}" --dim 20 --heads 3 --kv-heads 1 --head-dim 8 --out "$TMP/hd" && ok ||
  bad "--head-dim with dim %% heads != 0"
expect "does not divide into 3 heads" "${C[@]}" --dim 16 --heads 3 --out "$TMP/o"
expect "expected comma-separated ids" grads --model "$TMP/m" --tokens 4294967297,2 --targets 1,2 --out "$TMP/g"
expect "two architectures" "${C[@]}" --qk-norm --qkv-bias --out "$TMP/o"
expect "would be ignored" --data "$TMP/a.txt" --init "$TMP/m" --qkv-bias --out "$TMP/o"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
